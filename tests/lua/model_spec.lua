-- tests/lua/model_spec.lua: plugins and models from Lua: mb.plugins,
-- mb.model with good and bad parameters, fit / predict / predict_proba,
-- params, info, clone, fit options (progress, validation frame) and the
-- errors. Uses the linear and template (knn, baseline) plugins only.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function find_model(name)
  for _, p in ipairs(mb.plugins()) do
    for _, m in ipairs(p.models) do
      if m.name == name then return m, p end
    end
  end
end

describe("models: plugins", function()
  it("mb.plugins lists plugins, their models, tasks and parameters", function()
    local m, p = find_model("linear")
    assert.is_not_nil(m, "the linear plugin is installed")
    assert.are.equal("linear", p.name)
    assert.matches("^%d+%.%d+%.%d+$", p.version)
    assert.matches("linear%.so$", p.path)
    assert.are.same({ "regression", "binary", "multiclass" }, m.tasks)
    local names = {}
    for _, prm in ipairs(m.params) do names[prm.name] = prm end
    assert.are.equal("l2", names.penalty.default)
    assert.are.equal("1", names.alpha.default)
    assert.matches("alpha: real in [0, inf], default 1", names.alpha.help, 1, true)
    local knn, tp = find_model("knn")
    assert.are.equal("template", tp.name)
    assert.is_not_nil(find_model("baseline"))
    assert.are.equal(knn.name, "knn")
  end)
end)

describe("models: mb.model", function()
  it("makes an unfitted model with defaults and overrides", function()
    local m = mb.model("linear", { alpha = 0.5, fit_intercept = false, penalty = "l1" })
    assert.are.equal("model linear (linear)", tostring(m))
    local p = m:params()
    assert.are.equal("0.5", p.alpha)
    assert.are.equal("false", p.fit_intercept)
    assert.are.equal("l1", p.penalty)
    assert.are.equal("1e-4", p.tol)            -- a default
    local info = m:info()
    assert.are.equal("linear", info.name)
    assert.are.equal("linear", info.plugin)
    assert.is_false(info.fitted)
    assert.are.equal("3", mb.model("knn", { n_neighbors = 3 }):params().n_neighbors)
  end)

  it("bad parameters: the message names the parameter and its range", function()
    assert.matches("model 'linear': alpha: '-1' is out of range; alpha: real in [0, inf]",
      errmsg(mb.model, "linear", { alpha = -1 }), 1, true)
    assert.matches("model 'linear': penalty: 'l3' is not one of the choices; penalty: one of l2, l1, elasticnet, none",
      errmsg(mb.model, "linear", { penalty = "l3" }), 1, true)
    assert.matches("model 'linear': unknown parameter in 'depth=3' (parameters: penalty, alpha",
      errmsg(mb.model, "linear", { depth = 3 }), 1, true)
    assert.matches("model 'knn': n_neighbors: 'many' is not an integer",
      errmsg(mb.model, "knn", { n_neighbors = "many" }), 1, true)
    assert.matches("model 'knn': n_neighbors: '0' is out of range",
      errmsg(mb.model, "knn", { n_neighbors = 0 }), 1, true)
  end)

  it("an unknown model lists the available ones", function()
    local msg = errmsg(mb.model, "svm")
    assert.matches("no model named 'svm' (available: ", msg, 1, true)
    assert.matches("linear", msg, 1, true)
    assert.matches("knn", msg, 1, true)
  end)
end)

describe("models: fit and predict", function()
  local iris = mb.open("datasets/iris.h5")

  it("classification: labels as a categorical vector, probabilities as a frame", function()
    local m = mb.model("linear")
    assert.are.equal(m, m:fit(iris))
    assert.are.equal("model linear (linear), fitted", tostring(m))
    local info = m:info()
    assert.is_true(info.fitted)
    assert.are.equal("multiclass", info.task)
    assert.are.same({ "setosa", "versicolor", "virginica" }, info.classes)
    assert.are.same({ "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)" },
      info.features)
    local pred = m:predict(iris)
    assert.are.equal(150, #pred)
    assert.are.same({ "setosa", "versicolor", "virginica" }, pred:levels())
    assert.is_true(pred:eq("setosa"):sum() == 50)
    local correct = 0
    local y = iris:col("target")
    for i = 1, #y do if y[i] == pred[i] then correct = correct + 1 end end
    assert.is_true(correct >= 140, "training accuracy " .. correct .. "/150")
    local proba = m:predict_proba(iris)
    assert.are.same({ 150, 3 }, { proba:shape() })
    assert.are.same({ "setosa", "versicolor", "virginica" }, proba:columns())
    local total = proba:col("setosa") + proba:col("versicolor") + proba:col("virginica")
    assert.near(1, total:min(), 1e-5)
    assert.near(1, total:max(), 1e-5)
  end)

  it("prediction ignores the target and extra columns, matches columns by name", function()
    local m = mb.model("knn"):fit(iris)
    local shuffled = iris:select { "petal width (cm)", "petal length (cm)", "sepal width (cm)", "sepal length (cm)" }
      :derive("extra", function() return 1 end)
    assert.are.same(m:predict(iris):totable(), m:predict(shuffled):totable())
  end)

  it("regression: numbers; a numeric 0/1 target is binary classification", function()
    local d = mb.open("datasets/diabetes.h5")
    local m = mb.model("linear"):fit(d)
    assert.are.equal("regression", m:info().task)
    local pred = m:predict(d)
    assert.is_nil(pred:levels())
    assert.near(d:col("target"):mean(), pred:mean(), 1e-2)
    assert.matches("predict_proba: model 'linear' is a regression model", errmsg(m.predict_proba, m, d), 1, true)
    local b = mb.frame({ x = { 1, 2, 3, 4, 5, 6 }, y = { 0, 0, 0, 1, 1, 1 } }, { target = "y" })
    local lb = mb.model("linear", { alpha = 0.01 }):fit(b)
    assert.are.equal("binary", lb:info().task)
    assert.are.same({ "0", "1" }, lb:info().classes)
    assert.are.same({ "0", "0", "0", "1", "1", "1" }, lb:predict(b):totable())
  end)

  it("the baseline predicts the mean, or the class priors", function()
    -- not all whole numbers: regression (a few integers would read as classes)
    local f = mb.frame({ x = { 1, 2, 3, 4 }, y = { 1.5, 2.5, 3.5, 10.5 } }, { target = "y" })
    local m = mb.model("baseline", { strategy = "mean" }):fit(f)
    assert.are.same({ 4.5, 4.5, 4.5, 4.5 }, m:predict(f):totable())
    local c = mb.model("baseline"):fit(iris)
    local p = c:predict_proba(iris:head(1))
    assert.near(1 / 3, p:col("setosa")[1], 1e-6)
  end)

  it("clone gives an unfitted copy, with parameters overridden", function()
    local m = mb.model("knn", { n_neighbors = 3, weights = "distance" }):fit(iris)
    local c = m:clone()
    assert.is_false(c:info().fitted)
    assert.are.equal("3", c:params().n_neighbors)
    assert.are.equal("distance", c:params().weights)
    local d = m:clone { n_neighbors = 9 }
    assert.are.equal("9", d:params().n_neighbors)
    assert.are.equal("distance", d:params().weights)
    assert.are.equal("3", m:params().n_neighbors) -- the original keeps its own
    assert.matches("n_neighbors: '0' is out of range", errmsg(m.clone, m, { n_neighbors = 0 }), 1, true)
  end)

  it("fit options: a progress function, threads, seed, a validation frame", function()
    local calls, last = 0, nil
    local m = mb.model("linear"):fit(iris, {
      threads = 1, seed = 3, valid = iris:head(30),
      progress = function(frac, msg, train_loss, valid_loss)
        calls = calls + 1
        assert.is_true(frac >= 0 and frac <= 1)
        assert.are.equal("string", type(msg))
        assert.are.equal("number", type(train_loss))
        assert.are.equal("number", type(valid_loss))
        last = msg
      end,
    })
    assert.is_true(calls > 0)
    assert.matches("linear", last, 1, true)
    assert.is_true(m:info().fitted)
  end)

  it("an error in the progress function stops the fit and is raised", function()
    local m = mb.model("linear")
    local msg = errmsg(m.fit, m, iris, { progress = function() error("stop right here") end })
    assert.matches("stop right here", msg, 1, true)
    assert.is_false(m:info().fitted)
  end)
end)

describe("models: bad input", function()
  local iris = mb.open("datasets/iris.h5")

  it("predict with an unfitted model", function()
    local m = mb.model("linear")
    assert.matches("model 'linear' is not fitted", errmsg(m.predict, m, iris), 1, true)
  end)

  it("predict on a frame missing a trained column names the column", function()
    local m = mb.model("linear"):fit(iris)
    assert.matches("predict: the data has no column 'petal length (cm)', which the model was trained on",
      errmsg(m.predict, m, iris:drop("petal length (cm)")), 1, true)
  end)

  it("fit without a target, or with missing feature values", function()
    local m = mb.model("linear")
    assert.matches("no target column", errmsg(m.fit, m, mb.frame { x = { 1, 2 } }), 1, true)
    local v = mb.open("datasets/vote.h5")        -- one-hot with NaN for missing votes
    assert.matches("is missing (NaN); linear models need finite features", errmsg(m.fit, m, v), 1, true)
  end)

  it("fit with a categorical feature column", function()
    local f = mb.frame({ x = { 1, 2, 3, 4 }, c = { "a", "b", "a", "b" }, y = { 0, 1, 0, 1 } }, { target = "y" })
    local m = mb.model("linear")
    assert.matches("column 'c' is categorical; models take numbers: encode it first", errmsg(m.fit, m, f), 1, true)
  end)

  it("a categorical target without a declared task is classification", function()
    local f = mb.frame({ x = { 1, 2, 3, 4, 5, 6 }, y = { "no", "no", "no", "yes", "yes", "yes" } }, { target = "y" })
    local m = mb.model("linear", { alpha = 0.01 }):fit(f)
    assert.are.equal("binary", m:info().task)
    assert.are.same({ "no", "no", "no", "yes", "yes", "yes" }, m:predict(f):totable())
    local csv = mb.open("datasets/csv/iris.csv", { target = "target" })
    assert.are.equal("multiclass", mb.model("knn"):fit(csv):info().task)
    local vote = mb.open("datasets/table/vote.h5")
    local enc = mb.onehot():fit(vote)
    assert.are.equal("binary", mb.model("baseline"):fit(enc:apply(vote)):info().task)
  end)
end)

describe("sample weights", function()
  local f = mb.open("datasets/diabetes.h5")
  local function weighted_frame()
    local w = {}
    for i = 1, #f do w[i] = i <= 100 and 2 or 1 end
    return f:derive("w", mb.vector(w))
  end

  it("a weight of 2 equals the row twice (column name, pipeline)", function()
    local idx = {}
    for i = 1, #f do idx[#idx + 1] = i end
    for i = 1, 100 do idx[#idx + 1] = i end
    local a = mb.pipeline{ mb.standardize(), mb.model("linear", { alpha = 0.5 }) }:fit(weighted_frame(), { weights = "w" })
    local b = mb.pipeline{ mb.standardize(), mb.model("linear", { alpha = 0.5 }) }:fit(f:take(idx))
    -- the weights column is no feature of the fitted model
    assert.are.same(f:columns()[1], a:info().features[1])
    assert.are.equal(#f:columns() - 1, #a:info().features)
    local pa = a:predict(f)
    local pb = b:predict(f)
    -- standardize's statistics are unweighted, so compare the model alone too
    local m1 = mb.model("linear", { alpha = 0.5 }):fit(weighted_frame(), { weights = "w" })
    local m2 = mb.model("linear", { alpha = 0.5 }):fit(f:take(idx))
    local d = 0
    local p1, p2 = m1:predict(f), m2:predict(f)
    for i = 1, #f do d = math.max(d, math.abs(p1[i] - p2[i])) end
    assert.is_true(d < 1e-3)
    assert.are.equal(#f, #pa)
    assert.are.equal(#f, #pb)
  end)

  it("refuses negative weights and unknown columns, naming them", function()
    local g = f:derive("w", f:col("age") - 100)
    local ok, e = pcall(function() return mb.model("linear"):fit(g, { weights = "w" }) end)
    assert.is_false(ok)
    assert.matches("must be finite and >= 0", tostring(e), 1, true)
    ok, e = pcall(function() return mb.model("linear"):fit(f, { weights = "nope" }) end)
    assert.is_false(ok)
    assert.matches("no column named 'nope' for the sample weights", tostring(e), 1, true)
  end)
end)


describe("fit_info", function()
  it("reports what the fit found as named numbers (model:info().fit)", function()
    local f = mb.open("datasets/iris.h5")
    local fit = mb.model("knn", { n_neighbors = 200 }):fit(f):info().fit
    assert.are.equal(150, fit.n_train)
    assert.are.equal(150, fit.n_neighbors) -- fewer neighbours than asked: the data is smaller
    assert.are.same({}, mb.model("baseline"):fit(f):info().fit) -- nothing to report
    assert.is_nil(mb.model("knn"):info().fit) -- not fitted
  end)
end)
