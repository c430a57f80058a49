-- tests/lua/eval_spec.lua: reports (classification, regression), curves
-- and the t-test, against values worked out by hand on tiny data. The
-- predictions come from a stub: mb.evaluate and mb.curve take anything
-- with predict / predict_proba methods.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

-- A "pipeline" that returns fixed predictions.
local function stub(labels, proba)
  return {
    predict = function() return mb.vector(labels) end,
    predict_proba = function() return proba end,
  }
end

-- y:     a  a  b  b
-- pred:  a  b  b  b
-- P(b): .1 .6 .7 .9
local function binary_case()
  local frame = mb.frame({ x = { 1, 2, 3, 4 }, y = { "a", "a", "b", "b" } }, { target = "y" })
  local proba = mb.frame({ a = { 0.9, 0.4, 0.3, 0.1 }, b = { 0.1, 0.6, 0.7, 0.9 } }, { order = { "a", "b" } })
  return stub({ "a", "b", "b", "b" }, proba), frame
end

describe("evaluation: classification report", function()
  it("matches the hand-computed values", function()
    local p, f = binary_case()
    local r = mb.evaluate(p, f)
    assert.are.equal("binary", r.task)
    assert.are.equal(4, r.n)
    assert.near(0.75, r.accuracy, 1e-12)
    assert.near(0.75, r.balanced_accuracy, 1e-12)  -- (1/2 + 2/2) / 2
    assert.are.same({ { 1, 1 }, { 0, 2 } }, r.confusion)
    local a, b = r.classes[1], r.classes[2]
    assert.are.equal("a", a.class)
    assert.near(1, a.precision, 1e-12)
    assert.near(0.5, a.recall, 1e-12)
    assert.near(2 / 3, a.f1, 1e-12)
    assert.are.equal(2, a.support)
    assert.near(2 / 3, b.precision, 1e-12)
    assert.near(1, b.recall, 1e-12)
    assert.near(0.8, b.f1, 1e-12)
    assert.near((2 / 3 + 0.8) / 2, r.f1_macro, 1e-12)
    assert.near((1 + 2 / 3) / 2, r.precision_macro, 1e-12)
    assert.near(0.75, r.recall_macro, 1e-12)
    assert.near(1, r.roc_auc, 1e-12)               -- every b scores above every a
    assert.near(1, r.pr_auc, 1e-12)
    local ll = -(math.log(0.9) + math.log(0.4) + math.log(0.7) + math.log(0.9)) / 4
    assert.near(ll, r.log_loss, 1e-6)
    assert.near((0.01 + 0.36 + 0.09 + 0.01) / 4, r.brier, 1e-6)
  end)

  it("prints as a table", function()
    local p, f = binary_case()
    local s = tostring(mb.evaluate(p, f))
    assert.matches("classification report (n = 4)", s, 1, true)
    assert.matches("accuracy 0.7500", s, 1, true)
    assert.matches("ROC AUC 1.0000", s, 1, true)
    assert.matches("confusion matrix (rows: true class, columns: predicted)", s, 1, true)
  end)

  it("numeric class labels are compared as text", function()
    local f = mb.frame({ x = { 1, 2, 3, 4 }, y = { 0, 0, 1, 1 } }, { target = "y" })
    local proba = mb.frame({ ["0"] = { 0.9, 0.4, 0.3, 0.1 }, ["1"] = { 0.1, 0.6, 0.7, 0.9 } }, { order = { "0", "1" } })
    local r = mb.evaluate(stub({ "0", "1", "1", "1" }, proba), f)
    assert.near(0.75, r.accuracy, 1e-12)
    assert.are.same({ { 1, 1 }, { 0, 2 } }, r.confusion)
  end)

  it("multiclass: accuracy, macro averages and one-vs-rest AUC", function()
    local f = mb.frame({ x = { 1, 2, 3, 4, 5, 6 }, y = { "a", "a", "b", "b", "c", "c" } }, { target = "y" })
    local proba = mb.frame({
      a = { 0.8, 0.1, 0.1, 0.1, 0.1, 0.1 }, b = { 0.1, 0.8, 0.8, 0.8, 0.1, 0.1 }, c = { 0.1, 0.1, 0.1, 0.1, 0.8, 0.8 },
    }, { order = { "a", "b", "c" } })
    local r = mb.evaluate(stub({ "a", "b", "b", "b", "c", "c" }, proba), f)
    assert.are.equal("multiclass", r.task)
    assert.near(5 / 6, r.accuracy, 1e-12)
    assert.are.same({ { 1, 1, 0 }, { 0, 2, 0 }, { 0, 0, 2 } }, r.confusion)
    assert.near((1 + 0.5 + 1) / 3, r.recall_macro, 1e-12)
    assert.near((1 + 2 / 3 + 1) / 3, r.precision_macro, 1e-12)
    -- one-vs-rest AUC, ties count half: a (0.8, 0.1 vs four 0.1) = 6/8; b (0.8, 0.8 vs
    -- 0.1, 0.8, 0.1, 0.1) = 7/8; c = 1; macro average 0.875
    assert.near(0.875, r.roc_auc, 1e-12)
  end)

  it("with a real model", function()
    local iris = mb.open("datasets/iris.h5")
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }:fit(iris)
    local r = mb.evaluate(p, iris)
    assert.are.equal(150, r.n)
    assert.is_true(r.accuracy > 0.95)
    local total = 0
    for _, row in ipairs(r.confusion) do for _, v in ipairs(row) do total = total + v end end
    assert.are.equal(150, total)
  end)

  it("a frame without a target", function()
    local p = binary_case()
    assert.matches("evaluate: the frame has no target column", errmsg(mb.evaluate, p, mb.frame { x = { 1 } }), 1, true)
  end)

  it("labels the model never saw (leaks in ASan)", function()
    local p, f = binary_case()
    local g = f:derive("y", mb.vector { "a", "a", "b", "z" })
    assert.matches("report: the label of row 4 has class 'z', not one of the model's classes",
      errmsg(mb.evaluate, p, g), 1, true)
  end)
end)

describe("evaluation: regression report", function()
  it("matches the hand-computed values", function()
    -- y 1 2 3 4, prediction 1 2 3 5: one error of 1
    local f = mb.frame({ x = { 0, 0, 0, 0 }, y = { 1.5, 2.5, 3.5, 4.5 } }, { target = "y" })
    local r = mb.evaluate(stub({ 1.5, 2.5, 3.5, 5.5 }), f)
    assert.are.equal("regression", r.task)
    assert.are.equal(4, r.n)
    assert.near(0.5, r.rmse, 1e-9)
    assert.near(0.25, r.mae, 1e-9)
    assert.near(1 - 1 / 5, r.r2, 1e-9)
    assert.near((1 / 4.5) / 4, r.mape, 1e-9)
    assert.matches("RMSE 0.5000   MAE 0.2500   R2 0.8000", tostring(r), 1, true)
  end)
end)

describe("evaluation: curves", function()
  it("ROC: one point per distinct score from (0, 0) at +inf", function()
    local p, f = binary_case()
    local c = mb.curve("roc", p, f)
    assert.are.same({ 0, 0, 0, 0.5, 1 }, c.x)
    assert.are.same({ 0, 0.5, 1, 1, 1 }, c.y)
    assert.are.equal(math.huge, c.threshold[1])
    assert.near(0.9, c.threshold[2], 1e-6)
    assert.near(0.1, c.threshold[5], 1e-6)
  end)

  it("PR: recall decreasing to 0 at precision 1", function()
    local p, f = binary_case()
    local c = mb.curve("pr", p, f)
    assert.are.equal(0, c.x[#c.x])
    assert.are.equal(1, c.y[#c.y])
    assert.are.equal(1, c.x[1])
    for i = 2, #c.x do assert.is_true(c.x[i] <= c.x[i - 1]) end
  end)

  it("calibration: mean prediction and fraction of positives per bin", function()
    local p, f = binary_case()
    local c = mb.curve("calibration", p, f, 2)
    -- bins [0, .5): 0.1 (a); [.5, 1]: 0.6 (a), 0.7 (b), 0.9 (b)
    assert.are.equal(2, #c.x)
    assert.near(0.1, c.x[1], 1e-6)
    assert.near(0, c.y[1], 1e-12)
    assert.near((0.6 + 0.7 + 0.9) / 3, c.x[2], 1e-6)
    assert.near(2 / 3, c.y[2], 1e-12)
    assert.are.same({ 1, 3 }, c.threshold)       -- counts per bin
  end)

  it("binary classification only", function()
    local iris = mb.open("datasets/iris.h5")
    local p = mb.pipeline { mb.model("baseline") }:fit(iris)
    assert.matches("curve: binary classification only", errmsg(mb.curve, "roc", p, iris), 1, true)
  end)
end)

describe("evaluation: the corrected resampled t-test", function()
  it("gives a p-value and t for paired scores", function()
    local p, t = mb.ttest({ 0.9, 0.92, 0.91, 0.93 }, { 0.8, 0.81, 0.79, 0.8 }, 1 / 3)
    assert.is_true(p > 0 and p < 0.05)
    assert.is_true(t > 0)
    local p2 = mb.ttest({ 1, 2, 3 }, { 1, 2, 3 }, 0.25)
    assert.is_true(p2 ~= p2)                     -- all differences equal: NaN
    -- hand-computed: d = 0.1, 0.2, 0.3; mean 0.2, var 0.01; t = 0.2 / sqrt((1/3 + 0.25) * 0.01)
    local _, t3 = mb.ttest({ 1.1, 1.2, 1.3 }, { 1, 1, 1 }, 0.25)
    assert.near(0.2 / math.sqrt((1 / 3 + 0.25) * 0.01), t3, 1e-9)
    assert.matches("ttest: two lists of the same length (>= 2) expected",
      errmsg(mb.ttest, { 1 }, { 2 }, 0.25), 1, true)
  end)
end)
