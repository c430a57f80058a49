-- tests/lua/clone_spec.lua: a transform cloned any number of times fits
-- exactly as the original (a clone of a clone once lost "all columns" and
-- did nothing), and grid_search's best score is cross_validate's for the
-- same parameters (the search scores clones of the pipeline).
local mb = require "moonbench"

local NaN = 0 / 0

-- numeric and categorical columns, both with missing values; y the target
local function frame()
  return mb.frame({ x = { 1, 2, 3, NaN, 8, 0.5 }, w = { -0.5, 0, 4, 2, NaN, 1 },
    c = { "a", "b", "a", false, "c", "b" }, y = { 0, 1, 0, 1, 1, 0 } },
    { order = { "x", "w", "c", "y" }, target = "y" })
end

-- the applied frames have the same columns, in order, with identical values
local function same_frame(a, b, what)
  local ca, cb = a:columns(), b:columns()
  assert.are.same(ca, cb, what .. ": columns")
  for _, name in ipairs(ca) do
    local va, vb = a:col(name):totable(), b:col(name):totable()
    assert.are.equal(#va, #vb)
    for i = 1, #va do
      local x, y = va[i], vb[i]
      assert.is_true(x == y or (x ~= x and y ~= y), what .. ": " .. name .. " row " .. i)
    end
  end
end

describe("clone: every transform kind", function()
  local kinds = {
    { "standardize" }, { "minmax" }, { "impute" }, { "impute", { strategy = "most_frequent" } },
    { "onehot" }, { "ordinal" }, { "log1p" }, { "clip", { lo = 0, hi = 2 } }, { "poly2" },
  }
  for _, k in ipairs(kinds) do
    local kind, opts = k[1], k[2]
    it(kind .. (opts and " (with options)" or "") .. ": clones of clones fit and apply as the original", function()
      local f = frame()
      local t = mb[kind](opts)
      local want = t:fit(f):apply(f)
      -- the original does something, so "did nothing" cannot pass as equal
      local changed = #want:columns() ~= #f:columns()
      if not changed then
        for _, name in ipairs(f:columns()) do
          local a, b = f:col(name):totable(), want:col(name):totable()
          for i = 1, #a do
            if not (a[i] == b[i] or (a[i] ~= a[i] and b[i] ~= b[i])) then changed = true end
          end
        end
      end
      assert.is_true(changed, kind .. " changed nothing on the test frame")
      local c = t
      for n = 1, 4 do
        c = c:clone()
        assert.is_false(c:fitted())
        same_frame(want, c:fit(f):apply(f), kind .. " clone " .. n)
      end
    end)
  end

  it("explicit columns survive cloning too", function()
    local f = frame()
    local t = mb.standardize { "x" }
    local want = t:fit(f):apply(f)
    same_frame(want, t:clone():clone():clone():fit(f):apply(f), "standardize{x}")
    assert.are.same(f:col("w"):totable()[1], want:col("w"):totable()[1])
  end)
end)

describe("clone: searches score what they say", function()
  it("grid_search's best score equals cross_validate of the best parameters (standardised pipeline)", function()
    local bc = mb.open("datasets/breast_cancer.h5")
    local p = mb.pipeline { mb.standardize(), mb.model("linear") }
    local s = mb.grid_search(p, bc, { grid = { alpha = { 0.01, 1 } }, k = 3, seed = 1, metric = "accuracy",
      refit = false })
    local cv = mb.cross_validate(mb.pipeline { mb.standardize(), mb.model("linear", s.best_params) }, bc,
      { k = 3, seed = 1 })
    assert.near(cv.mean.accuracy, s.best_score, 1e-12)
    -- and scaling matters here: unscaled the same model scores lower
    local raw = mb.cross_validate(mb.pipeline { mb.model("linear", s.best_params) }, bc, { k = 3, seed = 1 })
    assert.is_true(s.best_score > raw.mean.accuracy)
  end)

  it("random_search with onehot runs, and its best score equals cross_validate's", function()
    local cg = mb.open("datasets/credit_g.h5")
    local p = mb.pipeline { mb.onehot(), mb.standardize(), mb.model("linear") }
    local s = mb.random_search(p, cg, { space = { alpha = { 0.01, 10, "log" } }, n = 2, k = 3, seed = 2,
      metric = "accuracy", refit = false })
    local cv = mb.cross_validate(mb.pipeline { mb.onehot(), mb.standardize(), mb.model("linear", s.best_params) },
      cg, { k = 3, seed = 2 })
    assert.near(cv.mean.accuracy, s.best_score, 1e-12)
  end)
end)
