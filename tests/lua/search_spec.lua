-- tests/lua/search_spec.lua: cross-validation, grid and random search and
-- the comparison leaderboard: the shape of what they return, the folds
-- they use, progress callbacks and bad options.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local iris = mb.open("datasets/iris.h5")
local diabetes = mb.open("datasets/diabetes.h5")

describe("search: mb.cross_validate", function()
  it("returns a report per fold, and mean and std of each metric", function()
    local cv = mb.cross_validate(mb.pipeline { mb.standardize(), mb.model("linear") }, iris, { k = 3, seed = 1 })
    assert.are.equal(3, #cv.folds)
    for _, fold in ipairs(cv.folds) do
      assert.are.equal(50, fold.n_test)
      assert.are.equal(100, fold.n_train)
      assert.are.equal(50, fold.n)
      assert.are.equal("multiclass", fold.task)
    end
    local s = 0
    for _, fold in ipairs(cv.folds) do s = s + fold.accuracy end
    assert.near(s / 3, cv.mean.accuracy, 1e-12)
    assert.is_true(cv.mean.accuracy > 0.9)
    assert.is_number(cv.std.accuracy)
    assert.is_number(cv.mean.roc_auc)
    assert.is_nil(cv.mean.n)
    assert.matches("cross-validation: 3 folds", tostring(cv), 1, true)
    assert.matches("accuracy", tostring(cv), 1, true)
  end)

  it("stratifies a categorical target by default; repeats multiply the folds", function()
    local cv = mb.cross_validate(mb.model("baseline"), iris, { k = 5, repeats = 2, seed = 3 })
    assert.are.equal(10, #cv.folds)
    for _, fold in ipairs(cv.folds) do
      -- stratified: 10 rows of each class per test fold
      for _, c in ipairs(fold.classes) do assert.are.equal(10, c.support) end
    end
  end)

  it("regression: RMSE, MAE, R2", function()
    local cv = mb.cross_validate(mb.model("linear"), diabetes, { k = 4 })
    assert.are.equal(4, #cv.folds)
    assert.is_true(cv.mean.r2 > 0.4)
    assert.is_nil(cv.mean.accuracy)
    assert.is_number(cv.std.rmse)
  end)

  it("calls a progress function once per fold", function()
    local seen = {}
    mb.cross_validate(mb.model("baseline"), iris, { k = 3, progress = function(frac, msg) seen[#seen + 1] = { frac, msg } end })
    assert.are.equal(3, #seen)
    assert.near(1 / 3, seen[1][1], 1e-12)
    assert.are.same({ 1, "fold 3/3" }, seen[3])
  end)

  it("never fits the pipeline it was given", function()
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }
    mb.cross_validate(p, iris, { k = 3 })
    assert.is_nil(p.fitted)
    assert.is_false(p.steps[1]:fitted())
  end)

  it("cross-validates a pipeline with onehot", function()
    local credit = mb.open("datasets/table/credit_g.h5")
    credit = credit:derive("bad", mb.where(credit:col("class"):eq("bad"), 1, 0)):set_target("bad"):drop("class")
    local cv = mb.cross_validate(mb.pipeline { mb.onehot(), mb.standardize(), mb.model("linear") }, credit, { k = 3 })
    assert.is_true(cv.mean.accuracy > 0.7)
  end)
end)

describe("search: grid and random search", function()
  it("grid_search tries every combination, best first, and refits the best", function()
    local s = mb.grid_search(mb.model("knn"), iris, {
      grid = { n_neighbors = { 1, 5, 15 }, weights = { "uniform", "distance" } }, k = 3, seed = 2,
    })
    assert.are.equal(6, #s.results)
    assert.are.equal("accuracy", s.metric)       -- the default for classification
    assert.are.equal(3, s.k)
    for i = 2, #s.results do assert.is_true(s.results[i - 1].mean >= s.results[i].mean) end
    assert.are.same(s.results[1].params, s.best_params)
    assert.are.equal(s.results[1].mean, s.best_score)
    assert.are.equal(3, #s.results[1].cv.folds)
    assert.is_true(s.best:info().fitted)
    assert.are.equal(tostring(s.best_params.n_neighbors), s.best:params().n_neighbors)
    assert.matches("search: 6 candidates, metric accuracy (3-fold cross-validation)", tostring(s), 1, true)
  end)

  it("grid_search with a metric where lower is better, without refit", function()
    local s = mb.grid_search(mb.pipeline { mb.standardize(), mb.model("linear") }, diabetes, {
      grid = { alpha = { 0.1, 1000 } }, k = 3, refit = false, metric = "rmse",
    })
    assert.are.equal("rmse", s.metric)
    assert.is_true(s.results[1].mean <= s.results[2].mean)
    assert.is_nil(s.best)
  end)

  it("random_search draws n candidates reproducibly for a seed", function()
    local opts = { space = { alpha = { 0.01, 100, "log" }, max_iter = { 50, 200, "int" } }, n = 4, k = 3, seed = 5,
      refit = false }
    local a = mb.random_search(mb.model("linear"), iris, opts)
    local b = mb.random_search(mb.model("linear"), iris, opts)
    assert.are.equal(4, #a.results)
    local function drawn(s)
      local t = {}
      for _, r in ipairs(s.results) do t[#t + 1] = string.format("%.12g/%d", r.params.alpha, r.params.max_iter) end
      table.sort(t)
      return t
    end
    assert.are.same(drawn(a), drawn(b))
    for _, r in ipairs(a.results) do
      assert.is_true(r.params.alpha >= 0.01 and r.params.alpha <= 100)
      assert.is_true(r.params.max_iter >= 50 and r.params.max_iter <= 200)
      assert.are.equal(r.params.max_iter, math.floor(r.params.max_iter))
    end
  end)

  it("reports progress per candidate", function()
    local n = 0
    mb.grid_search(mb.model("knn"), iris, { grid = { n_neighbors = { 1, 3 } }, k = 2, refit = false,
      progress = function() n = n + 1 end })
    assert.are.equal(2, n)
  end)

  it("bad options", function()
    assert.matches("grid_search: expected {grid = {param = {values}}}", errmsg(mb.grid_search, mb.model("knn"), iris, {}),
      1, true)
    assert.matches("random_search: expected {space = {param = {lo, hi[, kind]}}}",
      errmsg(mb.random_search, mb.model("knn"), iris), 1, true)
    assert.matches("search: unknown metric 'speed'",
      errmsg(mb.grid_search, mb.model("knn"), iris, { grid = { n_neighbors = { 1 } }, k = 2, metric = "speed" }), 1, true)
    assert.matches("n_neighbors: '0' is out of range",
      errmsg(mb.grid_search, mb.model("knn"), iris, { grid = { n_neighbors = { 0 } }, k = 2 }), 1, true)
  end)
end)

describe("search: mb.compare", function()
  it("ranks pipelines on the same folds, with p-values against the best", function()
    local board = mb.compare({
      linear = mb.pipeline { mb.standardize(), mb.model("linear") },
      knn = mb.model("knn"),
      baseline = mb.model("baseline"),
    }, iris, { k = 5, seed = 1 })
    assert.are.equal(3, #board)
    assert.are.equal("accuracy", board.metric)
    assert.are.equal(5, board.k)
    assert.are.equal(1, board.repeats)
    assert.are.equal("baseline", board[3].name)
    for i, e in ipairs(board) do
      assert.are.equal(5, #e.scores)
      assert.are.equal(5, #e.cv.folds)
      if i > 1 then
        assert.is_true(board[i - 1].mean >= e.mean)
        assert.is_number(e.p)
      end
    end
    assert.is_nil(board[1].p)
    assert.is_true(board[3].p < 0.05)
    local s = tostring(board)
    assert.matches("leaderboard: accuracy, 5 folds x 1 repeats", s, 1, true)
    assert.matches("baseline", s, 1, true)
  end)

  it("regression: lower RMSE ranks first", function()
    local board = mb.compare({ linear = mb.model("linear"), baseline = mb.model("baseline") }, diabetes,
      { k = 3, repeats = 2 })
    assert.are.equal("rmse", board.metric)
    assert.are.equal("linear", board[1].name)
    assert.are.equal(6, #board[1].scores)
    assert.matches("compare: unknown metric 'speed'",
      errmsg(mb.compare, { linear = mb.model("linear") }, diabetes, { k = 3, metric = "speed" }), 1, true)
  end)
end)
