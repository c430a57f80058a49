-- tests/lua/explain_spec.lua: mb.explain and mb.permutation_importance
-- from Lua: contributions add up to the raw margin (the logit of
-- predict_proba for a loaded binary bundle, the prediction of a fitted
-- regression model); one-hot levels come back as their input column; a
-- feature the model never splits on has importance exactly 0.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("explain", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  it("a loaded binary bundle: contributions + expected value = logit(p)", function()
    local d = mb.open("datasets/breast_cancer.h5")
    mb.pipeline { mb.model("gbdt", { n_trees = 20 }) }:fit(d):save(path)
    local q = mb.load(path)
    local shap, info = mb.explain(q, d)
    assert.are.equal("treeshap", info.method)
    assert.is_false(info.mapped)
    local p = q:predict_proba(d):col("benign"):totable()
    local cols, worst = shap:columns(), 0
    assert.are.equal("expected_value", cols[#cols])
    local sums = {}
    for _, c in ipairs(cols) do
      for i, v in ipairs(shap:col(c):totable()) do sums[i] = (sums[i] or 0) + v end
    end
    for i = 1, #p do
      if p[i] > 0.01 and p[i] < 0.99 then
        worst = math.max(worst, math.abs(math.log(p[i] / (1 - p[i])) - sums[i]))
      end
    end
    assert.is_true(worst < 1e-4, "worst " .. worst)
  end)

  it("a one-hot pipeline reports its input columns", function()
    local v = mb.open("datasets/table/vote.h5")
    mb.pipeline { mb.impute { strategy = "most_frequent" }, mb.onehot(), mb.model("linear") }:fit(v):save(path)
    local shap, info = mb.explain(mb.load(path), v)
    assert.is_true(info.mapped)
    assert.are.equal(16, #info.columns)
    assert.are.equal(17, #shap:columns())
    assert.is_true(info.mean_abs["physician-fee-freeze"] > 0)
  end)

  it("a fitted regression model: contributions + expected value = prediction", function()
    local d = mb.open("datasets/diabetes.h5")
    local m = mb.model("linear", { alpha = 0.1 }):fit(d)
    local shap, info = mb.explain(m, d)
    assert.are.equal("linear", info.method)
    local pred, sums = m:predict(d):totable(), {}
    for _, c in ipairs(shap:columns()) do
      for i, v in ipairs(shap:col(c):totable()) do sums[i] = (sums[i] or 0) + v end
    end
    for i = 1, #pred do assert.is_true(math.abs(pred[i] - sums[i]) < 1e-3 * math.max(1, math.abs(pred[i]))) end
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }:fit(d)
    assert.matches("save it and mb.load it", errmsg(mb.explain, p, d), 1, true)
  end)

  it("permutation importance: an unused feature scores exactly 0", function()
    local d = mb.open("datasets/breast_cancer.h5")
    local m = mb.model("gbdt", { n_trees = 1, max_depth = 1, learning_rate = 1 }):fit(d) -- one split on one feature
    local r = mb.permutation_importance(m, d, { repeats = 3, seed = 7 })
    assert.are.equal("accuracy", r.metric)
    local used = r.ranking[1]
    assert.is_true(r.features[used].mean > 0)
    local zeros = 0
    for name, f in pairs(r.features) do
      if name ~= used then
        assert.are.equal(0, f.mean)
        assert.are.same({ 0, 0, 0 }, f.scores)
        zeros = zeros + 1
      end
    end
    assert.are.equal(29, zeros)
    local again = mb.permutation_importance(m, d, { repeats = 3, seed = 7 })
    assert.are.same(r.features[used].scores, again.features[used].scores)
    assert.matches("metric 'nope'", errmsg(mb.permutation_importance, m, d, { metric = "nope" }), 1, true)
  end)
end)

describe("partial_dependence", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  -- the brute force: the mean prediction with the column set to v
  local function mean_pred(predict, f, col, v)
    local g = f:derive(col, function() return v end)
    local p, s = predict(g), 0
    for i = 1, #p do s = s + p[i] end
    return s / #p
  end

  it("a fitted regression model: the average is the mean prediction at each grid point", function()
    local d = mb.open("datasets/diabetes.h5")
    local m = mb.model("gbdt", { n_trees = 15 }):fit(d)
    local r = mb.partial_dependence(m, d, { features = "bmi", grid = 6, kind = "both" })
    assert.are.same({ "bmi" }, r.features)
    assert.are.equal(6, #r.grid[1])
    assert.are.equal(#d, #r.individual)
    for g, v in ipairs(r.grid[1]) do
      local want = mean_pred(function(f) return m:predict(f):totable() end, d, "bmi", v)
      assert.is_true(math.abs(r.average[g] - want) < 1e-4 * math.abs(want), g)
      local s = 0
      for i = 1, #d do s = s + r.individual[i][g] end
      assert.is_true(math.abs(s / #d - r.average[g]) < 1e-9)
    end
  end)

  it("a loaded multiclass pipeline: per-class curves of probabilities that sum to 1; 2-D grid", function()
    local d = mb.open("datasets/iris.h5")
    mb.pipeline { mb.standardize(), mb.model("gbdt", { n_trees = 10 }) }:fit(d):save(path)
    local q = mb.load(path)
    local col = "petal length (cm)"
    local r = mb.partial_dependence(q, d, { features = { col, "sepal width (cm)" }, grid = 3 })
    assert.are.equal(9, #r.average.setosa)
    for g = 1, 9 do
      local s = r.average.setosa[g] + r.average.versicolor[g] + r.average.virginica[g]
      assert.is_true(math.abs(s - 1) < 1e-5)
    end
    local r1 = mb.partial_dependence(q, d, { features = col, grid = 4 })
    for g, v in ipairs(r1.grid[1]) do
      local want = mean_pred(function(f) return q:predict_proba(f):col("virginica"):totable() end, d, col, v)
      assert.is_true(math.abs(r1.average.virginica[g] - want) < 1e-5, g)
    end
    assert.is_nil(r1.individual)
  end)

  it("errors name the problem", function()
    local d = mb.open("datasets/iris.h5")
    local m = mb.model("linear"):fit(d)
    assert.matches("no column 'nope'", errmsg(mb.partial_dependence, m, d, { features = "nope" }))
    assert.matches("one or two", errmsg(mb.partial_dependence, m, d, { features = { "a", "b", "c" } }))
    assert.matches("kind is", errmsg(mb.partial_dependence, m, d, { features = "petal length (cm)", kind = "x" }))
    assert.matches("quantiles", errmsg(mb.partial_dependence, m, d,
      { features = "petal length (cm)", grid = 200, percentiles = { 0.9, 0.1 } }))
  end)
end)
