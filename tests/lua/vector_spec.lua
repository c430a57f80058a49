-- tests/lua/vector_spec.lua: vectors: construction, arithmetic, math
-- functions, comparisons and masks, categorical eq/isin, reductions,
-- access, and the errors on mismatched lengths and types.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function values(v) return v:totable() end

local function near_all(want, v, tol)
  local got = v:totable()
  assert.are.equal(#want, #got)
  for i = 1, #want do assert.near(want[i], got[i], tol or 1e-12) end
end

describe("vectors: construction and access", function()
  it("mb.vector makes numeric and categorical vectors", function()
    local v = mb.vector { 1, 2.5, 3 }
    assert.are.equal(3, #v)
    assert.are.equal(2.5, v[2])
    assert.is_nil(v:levels())
    assert.are.equal("vector(3) [1, 2.5, 3]", tostring(v))
    local c = mb.vector { "b", "a", "b" }
    assert.are.same({ "b", "a" }, c:levels())  -- first-appearance order
    assert.are.equal("a", c[2])
    assert.are.equal("vector(3, categorical) [b, a, b]", tostring(c))
  end)

  it("missing values: NaN for numbers, nil when read", function()
    local v = mb.vector { 1, 0 / 0, 3 }
    assert.is_nil(v[2])
    assert.are.equal(2, v:count())
    local t = v:totable()
    assert.are.equal(3, #t)
    assert.is_true(t[2] ~= t[2])               -- NaN keeps the array hole-free
    local c = mb.vector { "a", nil, "b" }        -- nil inside the table: missing
    assert.are.equal(3, #c)
    assert.is_nil(c[2])
    assert.are.same({ "a", false, "b" }, c:totable()) -- false marks a missing category
  end)

  it("totable gives numbers or level texts", function()
    assert.are.same({ 1, 2 }, values(mb.vector { 1, 2 }))
    assert.are.same({ "x", "y", "x" }, values(mb.vector { "x", "y", "x" }))
  end)

  it("an index out of range is an error", function()
    local v = mb.vector { 1, 2 }
    assert.matches("vector index 3 out of range 1..2", errmsg(function() return v[3] end), 1, true)
    assert.matches("vector index 0 out of range 1..2", errmsg(function() return v[0] end), 1, true)
  end)
end)

describe("vectors: arithmetic", function()
  local a, b = mb.vector { 1, 2, 3, 4 }, mb.vector { 4, 3, 2, 1 }

  it("vector with vector, element by element", function()
    assert.are.same({ 5, 5, 5, 5 }, values(a + b))
    assert.are.same({ -3, -1, 1, 3 }, values(a - b))
    assert.are.same({ 4, 6, 6, 4 }, values(a * b))
    near_all({ 0.25, 2 / 3, 1.5, 4 }, a / b)
    assert.are.same({ 1, 8, 9, 4 }, values(a ^ b))
    assert.are.same({ 1, 2, 1, 0 }, values(a % b))
    assert.are.same({ -1, -2, -3, -4 }, values(-a))
  end)

  it("vector with number, either side", function()
    assert.are.same({ 3, 5, 7, 9 }, values(a * 2 + 1))
    assert.are.same({ 9, 8, 7, 6 }, values(10 - a))
    assert.are.same({ 12, 6, 4, 3 }, values(12 / a))
    assert.are.same({ 1, 4, 9, 16 }, values(a ^ 2))
    assert.are.same({ 1, 0, 1, 0 }, values(a % 2))
    assert.are.same({ 0, 1, 2, 3 }, values(-1 % a))   -- floored modulo, as Lua's
  end)

  it("NaN and division by zero follow IEEE", function()
    local v = mb.vector { 1, 0 / 0 } / 0
    assert.are.equal(math.huge, v[1])
    assert.is_nil(v[2])
  end)

  it("errors on length mismatch and on categorical vectors", function()
    assert.matches("vector arithmetic: lengths differ (4 and 2)",
      errmsg(function() return a + mb.vector { 1, 2 } end), 1, true)
    assert.matches("vector arithmetic: a categorical vector has no numbers",
      errmsg(function() return mb.vector { "a" } * 2 end), 1, true)
    assert.matches("vector arithmetic: expected a vector or a number, got string",
      errmsg(function() return a + "x" end), 1, true)
  end)
end)

describe("vectors: math functions", function()
  local v = mb.vector { 1, 4, 9 }

  it("apply to vectors and to numbers", function()
    near_all({ 0, math.log(4), math.log(9) }, mb.log(v))
    near_all({ 1, 2, 3 }, mb.sqrt(v))
    near_all({ math.exp(1), math.exp(4), math.exp(9) }, mb.exp(v), 1e-9)
    near_all({ 1.5, 2.5 }, mb.abs(mb.vector { -1.5, 2.5 }))
    near_all({ 1, -2 }, mb.floor(mb.vector { 1.5, -1.5 }))
    near_all({ 2, -1 }, mb.ceil(mb.vector { 1.5, -1.5 }))
    near_all({ 2, 3, -1 }, mb.round(mb.vector { 1.5, 2.5, -0.5 }))  -- half away from zero
    near_all({ 0, 1 }, mb.sin(mb.vector { 0, math.pi / 2 }))
    near_all({ 1 }, mb.cos(mb.vector { 0 }))
    near_all({ (math.exp(2) - 1) / (math.exp(2) + 1) }, mb.tanh(mb.vector { 1 }))
    near_all({ 0 }, mb.expm1(mb.vector { 0 }))
    assert.near(2, mb.sqrt(4), 1e-12)
    assert.are.equal(2, mb.abs(-2))
  end)

  it("where picks from two vectors or numbers by a mask", function()
    local m = v:gt(3)
    assert.are.same({ 0, 4, 9 }, values(mb.where(m, v, 0)))
    assert.are.same({ 1, -1, -1 }, values(mb.where(m, -1, v)))
    assert.matches("mb.where: lengths differ", errmsg(mb.where, m, mb.vector { 1 }, 0), 1, true)
  end)

  it("fillnan replaces missing numbers", function()
    assert.are.same({ 1, 0, 3 }, values(mb.vector { 1, 0 / 0, 3 }:fillnan(0)))
    assert.matches("fillnan: a categorical vector", errmsg(function() return mb.vector { "a" }:fillnan(0) end),
      1, true)
  end)

  it("mb.clip(v, lo, hi) and mb.log1p(v) work on vectors", function()
    assert.are.same({ 2, 2, 3 }, values(mb.clip(mb.vector { 1, 2, 5 }, 2, 3)))
    near_all({ 0, math.log(2) }, mb.log1p(mb.vector { 0, 1 }))
    assert.near(math.log(2), mb.log1p(1), 1e-12)
    -- and the transforms still work
    assert.are.equal("clip", mb.clip { lo = 0, hi = 1 }:kind())
    assert.are.equal("log1p", mb.log1p():kind())
  end)
end)

describe("vectors: comparisons and masks", function()
  local v = mb.vector { 1, 2, 3, 0 / 0 }

  it("compare with a number or a vector; NaN compares false", function()
    assert.are.same({ 1, 0, 0, 0 }, values(v:lt(2)))
    assert.are.same({ 1, 1, 0, 0 }, values(v:le(2)))
    assert.are.same({ 0, 0, 1, 0 }, values(v:gt(2)))
    assert.are.same({ 0, 1, 1, 0 }, values(v:ge(2)))
    assert.are.same({ 0, 1, 0, 0 }, values(v:eq(2)))
    assert.are.same({ 1, 0, 1, 0 }, values(v:ne(2)))
    assert.are.same({ 0, 1, 0, 0 }, values(v:eq(mb.vector { 0, 2, 4, 1 })))
    assert.are.same({ 0, 0, 0, 1 }, values(v:isnan()))
  end)

  it("combine with & | ~", function()
    assert.are.same({ 0, 1, 0, 0 }, values(v:gt(1) & v:lt(3)))
    assert.are.same({ 1, 0, 1, 0 }, values(v:lt(2) | v:gt(2)))
    assert.are.same({ 0, 1, 1, 1 }, values(~v:lt(2)))
  end)

  it("categorical vectors compare by level text: eq, ne, isin", function()
    local c = mb.vector { "oslo", "rome", "oslo", "paris" }
    assert.are.same({ 1, 0, 1, 0 }, values(c:eq("oslo")))
    assert.are.same({ 0, 1, 0, 1 }, values(c:ne("oslo")))
    assert.are.same({ 0, 0, 0, 0 }, values(c:eq("lima")))  -- an unknown level matches nothing
    assert.are.same({ 0, 1, 0, 1 }, values(c:isin { "rome", "paris", "lima" }))
    assert.are.same({ 1, 0, 1, 0 }, values(mb.vector { 1, 2, 1, 3 }:isin { 1 }))
    -- a missing category is neither eq nor ne
    local m = mb.open("datasets/table/vote.h5"):col("crime")
    assert.are.equal(#m - m:count(), #m - m:eq("y"):sum() - m:ne("y"):sum())
  end)

  it("categorical vectors refuse ordering comparisons", function()
    assert.matches("a categorical vector compares with eq/ne/isin only",
      errmsg(function() return mb.vector { "a" }:lt("b") end), 1, true)
  end)

  it("errors on length mismatch", function()
    assert.matches("comparison: lengths differ (4 and 2)",
      errmsg(function() return v:lt(mb.vector { 1, 2 }) end), 1, true)
    assert.matches("mask operation: lengths differ (4 and 1)",
      errmsg(function() return v:lt(2) & mb.vector { 1 } end), 1, true)
  end)
end)

describe("vectors: reductions", function()
  it("sum, mean, min, max, std, count skip NaN", function()
    local v = mb.vector { 2, 4, 0 / 0, 6 }
    assert.are.equal(12, v:sum())
    assert.are.equal(4, v:mean())
    assert.are.equal(2, v:min())
    assert.are.equal(6, v:max())
    assert.near(2, v:std(), 1e-12)             -- sample standard deviation
    assert.are.equal(3, v:count())
    assert.are.equal(4, #v)
  end)

  it("an empty or all-missing vector gives NaN (sum 0)", function()
    local v = mb.vector { 0 / 0 }
    assert.are.equal(0, v:sum())
    assert.is_true(v:mean() ~= v:mean())
    assert.is_true(v:max() ~= v:max())
    assert.are.equal(0, v:count())
    assert.is_true(mb.vector { 1 }:std() ~= mb.vector { 1 }:std())
  end)

  it("a mask's sum counts the rows where it holds", function()
    local f = mb.open("datasets/iris.h5")
    assert.are.equal(50, f:col("target"):eq("setosa"):sum())
    assert.near(3.758, f:col("petal length (cm)"):mean(), 1e-3)
  end)
end)
