-- tests/lua/scorer_spec.lua: a fitted pipeline's predict and predict_proba
-- are the C scorer's: the same pipeline saved and scored by `moonbench
-- score` (another process, the core's mb_scorer_predict_frame, HDF5 output
-- so the float32 values arrive whole) gives the same labels, values and
-- probabilities, bit for bit: all-C pipelines (portable and plugin-backed
-- models, classification and regression) and one with a Lua step.
local mb = require "moonbench"

local MOONBENCH = os.getenv("MOONBENCH") or "build/moonbench"

local CENTER = [[
return {
  fit = function(state, frame) state.mean = frame:col("petal length (cm)"):mean() end,
  apply = function(state, frame)
    return frame:derive("petal_centered", frame:col("petal length (cm)") - state.mean)
  end,
}]]

-- `moonbench score BUNDLE DATA -o OUT.h5 [flags]`, its output as a frame
local function score(bundle, data, flags)
  local out = os.tmpname() .. ".h5"
  local cmd = string.format("%s score %s %s -o %s %s 2>&1", MOONBENCH, bundle, data, out, flags or "")
  local h = io.popen(cmd)
  local log = h:read("a")
  local ok = h:close()
  assert(ok, "moonbench score failed: " .. log)
  local f = mb.open(out)
  os.remove(out)
  return f
end

-- as float32, the type both sides compute in (a frame column reaches Lua
-- as the float's shortest decimal, a vector of predictions as its double)
local function f32(x)
  if type(x) ~= "number" then return x end
  return (string.unpack("f", string.pack("f", x)))
end

local function same(what, a, b)
  assert.are.equal(#a, #b)
  for i = 1, #a do
    if f32(a[i]) ~= f32(b[i]) then
      error(string.format("%s, row %d: pipeline %s, moonbench score %s", what, i, tostring(a[i]), tostring(b[i])), 2)
    end
  end
end

-- fit on train, save, and compare on the whole file
local function check(p, path, flags)
  local data = mb.open(path)
  local train = mb.split(data, { test = 0.3, seed = 3 })
  p:fit(train)
  local bundle = os.tmpname()
  p:save(bundle, { source = path })
  local s = score(bundle, path, flags)
  os.remove(bundle)
  local pred = p:predict(data)
  same("prediction", pred, s:col("prediction"))
  local classes = p:info().classes or {}
  if #classes > 0 then
    local proba = p:predict_proba(data)
    for _, c in ipairs(classes) do same("P(" .. c .. ")", proba:col(c), s:col("proba_" .. c)) end
  end
  return pred
end

describe("pipeline predict is the C scorer's", function()
  it("all C, multiclass, portable linear form", function()
    check(mb.pipeline { mb.standardize(), mb.model("linear") }, "datasets/iris.h5")
  end)

  it("all C, regression with derived features", function()
    local v = check(mb.pipeline { mb.poly2 { "bmi", "bp" }, mb.standardize(), mb.model("linear", { alpha = 0.1 }) },
      "datasets/diabetes.h5")
    assert.is_true(v:max() > v:min()) -- real predictions, not a constant
  end)

  it("all C, categorical encoders and a tree ensemble", function()
    check(mb.pipeline { mb.impute { strategy = "most_frequent" }, mb.onehot(), mb.model("gbdt", { n_trees = 20 }) },
      "datasets/table/credit_g.h5")
  end)

  it("all C, a plugin-backed model (no portable form)", function()
    check(mb.pipeline { mb.standardize(), mb.model("knn", { n_neighbors = 3 }) }, "datasets/iris.h5")
  end)

  it("a Lua step between C steps (scored with --allow-lua)", function()
    local p = mb.pipeline { mb.standardize(), mb.lua_transform(CENTER), mb.model("linear") }
    check(p, "datasets/iris.h5", "--allow-lua")
  end)

  it("a refit pipeline predicts with its new fit", function()
    local iris = mb.open("datasets/iris.h5")
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }:fit(iris:head(60)) -- two classes only
    local before = p:predict(iris)
    p:fit(iris)
    local after = p:predict(iris)
    local differ = false
    for i = 1, #iris do if before[i] ~= after[i] then differ = true end end
    assert.is_true(differ)
    check(p, "datasets/iris.h5")
  end)

  it("one scorer over frames of changing size answers as a fresh one", function()
    -- the scorer keeps its output buffer between calls: small after large,
    -- large after small, labels and probabilities as from a new scorer
    local iris = mb.open("datasets/iris.h5")
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }:fit(iris)
    local bundle = os.tmpname()
    p:save(bundle, { source = "datasets/iris.h5" })
    local q = mb.load(bundle)
    for _, n in ipairs { 150, 7, 1, 150, 40 } do
      local part = iris:head(n)
      local fresh = mb.load(bundle)
      same("prediction (" .. n .. " rows)", q:predict(part), fresh:predict(part))
      local a, b = q:predict_proba(part), fresh:predict_proba(part)
      for _, c in ipairs(p:info().classes) do same("P(" .. c .. ") (" .. n .. " rows)", a:col(c), b:col(c)) end
      same("fitted pipeline (" .. n .. " rows)", p:predict(part), fresh:predict(part))
    end
    os.remove(bundle)
  end)
end)
