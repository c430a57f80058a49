-- tests/lua/pipeline_spec.lua: pipelines: construction, fit, predict,
-- transform, clone, save + mb.load giving identical predictions (with C
-- transforms, a Lua transform, portable and plugin-backed models), and
-- the bad-input messages.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function same_labels(a, b)
  assert.are.equal(#a, #b)
  for i = 1, #a do
    if a[i] ~= b[i] then error(string.format("row %d: %s vs %s", i, tostring(a[i]), tostring(b[i])), 2) end
  end
end

local function max_diff(p, q)
  local worst = 0
  for _, c in ipairs(p:columns()) do
    worst = math.max(worst, mb.abs(p:col(c) - q:col(c)):max())
  end
  return worst
end

local CENTER = [[
return {
  fit = function(state, frame)
    state.mean = frame:col("petal length (cm)"):mean()
    state.name = "petal_centered"
  end,
  apply = function(state, frame)
    return frame:derive(state.name, frame:col("petal length (cm)") - state.mean)
  end,
}]]

local iris = mb.open("datasets/iris.h5")

describe("pipelines: fit and predict", function()
  it("runs the steps then the model", function()
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }
    assert.are.equal("pipeline: standardize -> model linear (linear)", tostring(p))
    assert.are.equal(p, p:fit(iris))
    assert.are.equal("pipeline: standardize -> model linear (linear), fitted", tostring(p))
    local pred = p:predict(iris)
    assert.are.equal(150, #pred)
    assert.are.same({ "setosa", "versicolor", "virginica" }, pred:levels())
    local proba = p:predict_proba(iris)
    assert.are.same({ "setosa", "versicolor", "virginica" }, proba:columns())
    assert.are.equal("multiclass", p:info().task)
    -- the model saw standardized features
    local x = p:transform(iris)
    assert.near(0, x:col("sepal length (cm)"):mean(), 1e-5)
    assert.are.same(p.model:predict(x):totable(), pred:totable())
  end)

  it("takes a Lua transform as a step", function()
    local lt = mb.lua_transform(CENTER)
    local p = mb.pipeline { lt, mb.standardize(), mb.model("linear") }
    p:fit(iris)
    assert.is_true(lt:fitted())
    assert.near(3.758, lt.state.mean, 1e-3)
    assert.are.same({ "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)",
      "petal_centered" }, p:info().features)
  end)

  it("a model alone is a pipeline", function()
    local p = mb.pipeline { mb.model("knn") }:fit(iris)
    assert.are.equal("pipeline: model knn (template), fitted", tostring(p))
    assert.are.equal(150, #p:predict(iris))
  end)

  it("fit options reach the model", function()
    local calls = 0
    mb.pipeline { mb.standardize(), mb.model("linear") }:fit(iris, { progress = function() calls = calls + 1 end })
    assert.is_true(calls > 0)
  end)

  it("clone gives unfitted steps and model, with parameters overridden", function()
    local p = mb.pipeline { mb.lua_transform(CENTER), mb.standardize(), mb.model("linear", { alpha = 2 }) }:fit(iris)
    local c = p:clone { alpha = 0.5 }
    assert.is_nil(c.fitted)
    assert.is_false(c.steps[1]:fitted())
    assert.is_false(c.steps[2]:fitted())
    assert.are.equal("0.5", c.model:params().alpha)
    assert.are.equal("2", p.model:params().alpha)
    c:fit(iris)
    assert.are.equal(150, #c:predict(iris))
  end)
end)

describe("pipelines: save and load", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  it("a loaded pipeline predicts as the fitted one (C and Lua steps)", function()
    local train, test = mb.split(iris, { test = 0.3, stratify = true, seed = 5 })
    local p = mb.pipeline { mb.lua_transform(CENTER), mb.standardize(), mb.model("linear") }:fit(train)
    p:save(path, { source = "datasets/iris.h5" })
    local q = mb.load(path, { allow_lua = true }) -- a Lua step runs only when allowed (sandbox_spec)
    assert.are.equal("pipeline: lua -> standardize -> loaded model linear", tostring(q))
    same_labels(p:predict(test), q:predict(test))
    assert.is_true(max_diff(p:predict_proba(test), q:predict_proba(test)) < 1e-6)
    -- the Lua transform's state came back
    assert.near(p.steps[1].state.mean, q.steps[1].state.mean, 0)
    local info = q:info()
    assert.are.equal("multiclass", info.task)
    assert.are.equal("linear", info.model)
    assert.are.equal("linear", info.plugin)
    assert.are.equal("target", info.target)
    assert.are.same({ "setosa", "versicolor", "virginica" }, info.classes)
    assert.are.same({ "lua", "standardize" }, { info.steps[1].kind, info.steps[2].kind })
    assert.are.same({ "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)" }, info.inputs)
  end)

  it("regression and categorical encoders round-trip too", function()
    local d = mb.open("datasets/diabetes.h5")
    local p = mb.pipeline { mb.poly2 { "bmi", "bp" }, mb.standardize(), mb.model("linear", { alpha = 0.1 }) }:fit(d)
    p:save(path)
    local q = mb.load(path)
    assert.is_true(mb.abs(p:predict(d) - q:predict(d)):max() < 1e-3)
    assert.matches("predict_proba: a regression model", errmsg(q.predict_proba, q, d), 1, true)

    -- a 0/1 number as target
    local credit = mb.open("datasets/table/credit_g.h5")
    credit = credit:derive("bad", mb.where(credit:col("class"):eq("bad"), 1, 0)):set_target("bad"):drop("class")
    local e = mb.pipeline { mb.impute { strategy = "most_frequent" }, mb.onehot(), mb.standardize(),
      mb.model("linear") }:fit(credit:head(300))
    e:save(path)
    local l = mb.load(path)
    same_labels(e:predict(credit), l:predict(credit))
    assert.is_true(max_diff(e:predict_proba(credit), l:predict_proba(credit)) < 1e-5)
  end)

  it("a plugin-backed model (no portable form) loads through its plugin", function()
    local p = mb.pipeline { mb.model("knn", { n_neighbors = 3 }) }:fit(iris)
    p:save(path)
    local q = mb.load(path)
    same_labels(p:predict(iris), q:predict(iris))
    assert.is_true(max_diff(p:predict_proba(iris), q:predict_proba(iris)) < 1e-6)
  end)

  it("a loaded pipeline cannot be refitted", function()
    mb.pipeline { mb.model("baseline") }:fit(iris):save(path)
    local q = mb.load(path)
    assert.matches("clone: a loaded pipeline cannot be refitted", errmsg(q.clone, q), 1, true)
  end)
end)

describe("pipelines: bad input", function()
  it("predict on a frame missing a trained column names the column", function()
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }:fit(iris)
    assert.matches("predict: the data has no column 'sepal width (cm)', which the pipeline was trained on",
      errmsg(p.predict, p, iris:drop("sepal width (cm)")), 1, true)
    assert.matches("no column 'sepal width (cm)'", errmsg(p.predict_proba, p, iris:drop("sepal width (cm)")), 1, true)
    local path = os.tmpname()
    p:save(path)
    local q = mb.load(path)
    os.remove(path)
    assert.matches("predict: the data has no column 'petal width (cm)', which the pipeline was trained on",
      errmsg(q.predict, q, iris:drop("petal width (cm)")), 1, true)
  end)

  it("predict before fit: the first unfitted step", function()
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }
    assert.matches("pipeline: step 1 (standardize) applied before fit", errmsg(p.predict, p, iris), 1, true)
    local m = mb.pipeline { mb.model("linear") }
    assert.matches("model 'linear' is not fitted", errmsg(m.predict, m, iris), 1, true)
  end)

  it("fit on a frame without a target", function()
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }
    assert.matches("pipeline:fit: the frame has no target column (frame:set_target(name))",
      errmsg(p.fit, p, mb.frame { x = { 1, 2, 3 } }), 1, true)
  end)

  it("an error inside a Lua step surfaces with its message", function()
    local bad = mb.lua_transform [[return { apply = function(s, f) return f:derive("z", f:col("nope")) end }]]
    local p = mb.pipeline { bad, mb.model("linear") }
    assert.matches("no column named 'nope'", errmsg(p.fit, p, iris), 1, true)
  end)

  it("save before fit; save and load of bad paths", function()
    local p = mb.pipeline { mb.model("linear") }
    assert.matches("save: the pipeline is not fitted", errmsg(p.save, p, "/tmp/never.h5"), 1, true)
    assert.matches("/no/such/bundle.h5", errmsg(mb.load, "/no/such/bundle.h5"), 1, true)
    local path = os.tmpname()
    local fh = assert(io.open(path, "w"))
    fh:write("not a bundle")
    fh:close()
    local msg = errmsg(mb.load, path)
    os.remove(path)
    assert.matches(path, msg, 1, true)
  end)

  it("mb.pipeline needs a model last", function()
    assert.matches("mb.pipeline: expected {transforms..., model}", errmsg(mb.pipeline, {}), 1, true)
    assert.matches("mb.pipeline: the last element must be a model (mb.model(...))",
      errmsg(mb.pipeline, { mb.standardize() }), 1, true)
  end)
end)
