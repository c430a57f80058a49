-- tests/lua/split_spec.lua: train/test splits (fraction, count,
-- stratified, grouped), k folds, determinism for a seed, and the
-- messages for bad sizes.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local iris = mb.open("datasets/iris.h5")

-- Rows of iris numbered 1..150 in a column, to see which rows went where.
local function numbered(f)
  local ids = {}
  for i = 1, #f do ids[i] = i end
  return f:derive("id", mb.vector(ids))
end

local function ids_of(f)
  local t = f:col("id"):totable()
  table.sort(t)
  return t
end

describe("splits: mb.split", function()
  it("a fraction gives ceil(fraction * n) test rows; the rest train; no overlap", function()
    local f = numbered(iris)
    local train, test = mb.split(f, { test = 0.2, seed = 1 })
    assert.are.equal(30, #test)
    assert.are.equal(120, #train)
    assert.are.equal("target", train:target())
    local seen = {}
    for _, id in ipairs(ids_of(train)) do seen[id] = "train" end
    for _, id in ipairs(ids_of(test)) do
      assert.is_nil(seen[id], "row " .. id .. " is on both sides")
      seen[id] = "test"
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.are.equal(150, n)
    -- a default of a quarter
    local _, t2 = mb.split(f)
    assert.are.equal(38, #t2)
    local _, t3 = mb.split(f, { test = 0.01 })
    assert.are.equal(2, #t3)
  end)

  it("a count of rows", function()
    local train, test = mb.split(iris, { test = 7, seed = 3 })
    assert.are.equal(7, #test)
    assert.are.equal(143, #train)
  end)

  it("is deterministic for a seed, different across seeds", function()
    local f = numbered(iris)
    local _, a = mb.split(f, { test = 0.2, seed = 11 })
    local _, b = mb.split(f, { test = 0.2, seed = 11 })
    local _, c = mb.split(f, { test = 0.2, seed = 12 })
    assert.are.same(ids_of(a), ids_of(b))
    assert.are_not.same(ids_of(a), ids_of(c))
  end)

  it("stratified: each class keeps its proportion", function()
    local f = mb.open("datasets/wine.h5")         -- 59 / 71 / 48 rows
    local train, test = mb.split(f, { test = 0.25, stratify = true, seed = 2 })
    assert.are.equal(#f, #train + #test)
    local y = test:col("target")
    for class, total in pairs { class_0 = 59, class_1 = 71, class_2 = 48 } do
      local want = total * #test / #f
      assert.is_true(math.abs(y:eq(class):sum() - want) <= 1, class .. ": " .. y:eq(class):sum() .. " vs " .. want)
    end
    local _, t = mb.split(iris, { test = 0.2, stratify = true, seed = 9 })
    for _, class in ipairs { "setosa", "versicolor", "virginica" } do
      assert.are.equal(10, t:col("target"):eq(class):sum())
    end
  end)

  it("grouped: a group's rows all go to one side", function()
    local g = {}
    for i = 1, 150 do g[i] = (i - 1) // 10 end  -- 15 groups of 10 rows
    local f = numbered(iris):derive("g", mb.vector(g))
    local train, test = mb.split(f, { test = 0.25, group = "g", seed = 4 })
    assert.are.equal(150, #train + #test)
    assert.are.equal(0, #test % 10)
    local side = {}
    for _, v in ipairs(train:col("g"):totable()) do side[v] = "train" end
    for _, v in ipairs(test:col("g"):totable()) do
      assert.are_not.equal("train", side[v], "group " .. v .. " is split")
    end
  end)
end)

describe("splits: mb.kfold", function()
  it("k folds: each row in exactly one test part", function()
    local f = numbered(iris)
    local folds = mb.kfold(f, { k = 4, seed = 1 })
    assert.are.equal(4, #folds)
    local count = {}
    for _, part in ipairs(folds) do
      assert.are.equal(150, #part.train + #part.test)
      assert.is_true(#part.test == 37 or #part.test == 38)
      for _, id in ipairs(ids_of(part.test)) do count[id] = (count[id] or 0) + 1 end
    end
    for i = 1, 150 do assert.are.equal(1, count[i]) end
  end)

  it("shuffle = false keeps contiguous folds in row order", function()
    local folds = mb.kfold(numbered(iris), { k = 3, shuffle = false })
    local first = ids_of(folds[1].test)
    assert.are.equal(1, first[1])
    assert.are.equal(50, first[50])
    assert.are.equal(101, ids_of(folds[3].test)[1])
  end)

  it("stratified folds, deterministic for a seed", function()
    local a = mb.kfold(numbered(iris), { k = 5, stratify = true, seed = 7 })
    local b = mb.kfold(numbered(iris), { k = 5, stratify = true, seed = 7 })
    for i = 1, 5 do
      assert.are.same(ids_of(a[i].test), ids_of(b[i].test))
      assert.are.equal(10, a[i].test:col("target"):eq("virginica"):sum())
    end
  end)
end)

describe("splits: bad input", function()
  it("a split fraction out of range", function()
    assert.matches("split: test = 1.5; expected a fraction in (0, 1) or a row count in [1, 150)",
      errmsg(mb.split, iris, { test = 1.5 }), 1, true)
    assert.matches("split: test = 0; expected a fraction in (0, 1)", errmsg(mb.split, iris, { test = 0 }), 1, true)
    assert.matches("split: test = -0.2;", errmsg(mb.split, iris, { test = -0.2 }), 1, true)
    assert.matches("split: test = 150; expected a fraction in (0, 1) or a row count in [1, 150)",
      errmsg(mb.split, iris, { test = 150 }), 1, true)
    assert.matches("split: test = x;", errmsg(mb.split, iris, { test = "x" }), 1, true)
  end)

  it("group splits need a fraction and an existing column", function()
    local f = iris:derive("g", mb.floor(iris:col("sepal length (cm)")))
    assert.matches("split: with a group column, test must be a fraction in (0, 1), got 3",
      errmsg(mb.split, f, { test = 3, group = "g" }), 1, true)
    assert.matches("group: no column named 'nope'", errmsg(mb.split, f, { test = 0.2, group = "nope" }), 1, true)
  end)

  it("stratifying needs a target; k needs at least 2", function()
    assert.matches("stratify: the frame has no target column",
      errmsg(mb.split, mb.frame { x = { 1, 2, 3, 4 } }, { test = 0.5, stratify = true }), 1, true)
    assert.matches("kfold: k = 1; expected an integer in [2, 150]", errmsg(mb.kfold, iris, { k = 1 }), 1, true)
    assert.matches("cross_validate: k = 200; expected an integer in [2, 150]",
      errmsg(mb.cross_validate, mb.pipeline { mb.model("baseline") }, iris, { k = 200 }), 1, true)
  end)
end)
