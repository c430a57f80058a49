-- tests/lua/transform_spec.lua: every transform kind through its Lua
-- constructor (fit on one frame, apply to it or another), hand-checked
-- values, clone, Lua-written transforms, and the bad-input messages.
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function near_all(want, v, tol)
  local got = v:totable()
  assert.are.equal(#want, #got)
  for i = 1, #want do
    if want[i] ~= want[i] then
      assert.is_true(got[i] ~= got[i], "row " .. i .. ": NaN expected")
    else
      assert.near(want[i], got[i], tol or 1e-6)
    end
  end
end

local NaN = 0 / 0

-- x: 1, 2, 3, missing; z: constant; c: a, b, a, missing; y: the target.
local function small()
  return mb.frame({ x = { 1, 2, 3, NaN }, z = { 10, 10, 10, 10 }, c = { "a", "b", "a", false }, y = { 0, 1, 0, 1 } },
    { order = { "x", "z", "c", "y" }, target = "y" })
end

local function fit_apply(t, f) return t:fit(f):apply(f) end

describe("transforms: each kind", function()
  it("standardize: (x - mean) / population std; constant columns -> 0; NaN passes", function()
    local t = mb.standardize()
    assert.are.equal("standardize", t:kind())
    assert.is_false(t:fitted())
    local g = fit_apply(t, small())
    assert.is_true(t:fitted())
    local s = math.sqrt(2 / 3)
    near_all({ -1 / s, 0, 1 / s, NaN }, g.x)
    near_all({ 0, 0, 0, 0 }, g.z)
    assert.are.equal("vector(4, categorical) [a, b, a, nil]", tostring(g.c)) -- not numeric: untouched
    assert.are.same({ 0, 1, 0, 1 }, g.y:totable())                           -- the target never changes
    assert.are.same({ "x", "z", "c", "y" }, g:columns())
  end)

  it("standardize with the statistics of the training frame", function()
    local t = mb.standardize { "x" }:fit(small())
    local other = mb.frame({ x = { 2, 4 }, z = { 0, 0 }, y = { 0, 1 } }, { order = { "x", "z", "y" }, target = "y" })
    local g = t:apply(other)
    local s = math.sqrt(2 / 3)
    near_all({ 0, 2 / s }, g.x)
    near_all({ 0, 0 }, g.z)                    -- not listed: unchanged
  end)

  it("minmax: to [0, 1] on the training range", function()
    local g = fit_apply(mb.minmax(), small())
    near_all({ 0, 0.5, 1, NaN }, g.x)
    near_all({ 0, 0, 0, 0 }, g.z)
  end)

  it("impute: mean (default), median with an indicator, most_frequent, constant", function()
    local g = fit_apply(mb.impute(), small())
    near_all({ 1, 2, 3, 2 }, g.x)
    assert.are.equal("vector(4, categorical) [a, b, a, nil]", tostring(g.c)) -- mean: numeric columns only
    g = fit_apply(mb.impute { strategy = "median", add_indicator = true }, small())
    assert.are.same({ "x", "x_missing", "z", "c", "y" }, g:columns())
    near_all({ 1, 2, 3, 2 }, g.x)
    assert.are.same({ 0, 0, 0, 1 }, g.x_missing:totable())
    g = fit_apply(mb.impute { strategy = "most_frequent" }, small())
    near_all({ 1, 2, 3, 1 }, g.x)              -- ties go to the smallest value
    assert.are.equal("vector(4, categorical) [a, b, a, a]", tostring(g.c))
    g = fit_apply(mb.impute { strategy = "constant", fill = -1, fill_text = "?" }, small())
    near_all({ 1, 2, 3, -1 }, g.x)
    assert.are.equal("vector(4, categorical) [a, b, a, ?]", tostring(g.c))
  end)

  it("onehot: one 0/1 column per training level; missing and unknown -> zeros", function()
    local t = mb.onehot():fit(small())
    local g = t:apply(small())
    assert.are.same({ "x", "z", "c=a", "c=b", "y" }, g:columns())
    assert.are.same({ 1, 0, 1, 0 }, g:col("c=a"):totable())
    assert.are.same({ 0, 1, 0, 0 }, g:col("c=b"):totable())
    local new = mb.frame({ x = { 1 }, z = { 1 }, c = { "q" }, y = { 0 } }, { order = { "x", "z", "c", "y" }, target = "y" })
    local h = t:apply(new)
    assert.are.same({ 0 }, h:col("c=a"):totable())
    assert.are.same({ 0 }, h:col("c=b"):totable())
  end)

  it("onehot with unknown = 'error' names the column, the level and the row", function()
    local t = mb.onehot { unknown = "error" }:fit(small())
    local new = mb.frame({ x = { 1, 1 }, z = { 1, 1 }, c = { "a", "q" }, y = { 0, 0 } },
      { order = { "x", "z", "c", "y" }, target = "y" })
    assert.matches("transform 'onehot': column 'c' has level 'q' at row 2, which was not seen in training",
      errmsg(t.apply, t, new), 1, true)
  end)

  it("ordinal: the training level code; missing -> NaN", function()
    local g = fit_apply(mb.ordinal(), small())
    near_all({ 0, 1, 0, NaN }, g.c)
    assert.are.equal("numeric", g:types().c)
  end)

  it("log1p and clip on listed columns", function()
    local g = fit_apply(mb.log1p { "x" }, small())
    near_all({ math.log(2), math.log(3), math.log(4), NaN }, g.x)
    near_all({ 10, 10, 10, 10 }, g.z)
    g = fit_apply(mb.clip { "x", lo = 1.5, hi = 2.5 }, small())
    near_all({ 1.5, 2, 2.5, NaN }, g.x)
    g = fit_apply(mb.clip { columns = { "x", "z" }, hi = 2 }, small())
    near_all({ 1, 2, 2, NaN }, g.x)
    near_all({ 2, 2, 2, 2 }, g.z)
  end)

  it("poly2: every product of the listed columns, after the others", function()
    local g = fit_apply(mb.poly2 { "x", "z" }, small())
    assert.are.same({ "x", "z", "c", "y", "x^2", "x*z", "z^2" }, g:columns())
    near_all({ 1, 4, 9, NaN }, g:col("x^2"))
    near_all({ 10, 20, 30, NaN }, g:col("x*z"))
    near_all({ 100, 100, 100, 100 }, g:col("z^2"))
  end)

  it("select_columns and drop_columns", function()
    assert.are.same({ "c", "x", "y" }, fit_apply(mb.select_columns { "c", "x" }, small()):columns())
    assert.are.same({ "x", "y" }, fit_apply(mb.drop_columns { "z", "c" }, small()):columns())
  end)

  it("mb.transform_new is the constructor behind them all", function()
    local t = mb.transform_new("minmax", { columns = { "x" } })
    near_all({ 0, 0.5, 1, NaN }, fit_apply(t, small()).x)
    assert.are.equal("transform minmax (fitted)", tostring(t))
    assert.are.equal("transform standardize", tostring(mb.standardize()))
  end)

  it("apply returns a new frame and leaves its input unchanged", function()
    local f = small()
    local before = tostring(f)
    fit_apply(mb.standardize(), f)
    fit_apply(mb.onehot(), f)
    assert.are.equal(before, tostring(f))
  end)

  it("a refit replaces the state", function()
    local t = mb.minmax { "x" }
    t:fit(small())
    t:fit(mb.frame({ x = { 0, 10 }, y = { 0, 1 } }, { target = "y" }))
    near_all({ 0.1, 0.2, 0.3, NaN }, t:apply(small()).x)
  end)
end)

describe("transforms: clone", function()
  it("a clone is unfitted and keeps the options", function()
    local t = mb.impute { "x", strategy = "median" }:fit(small())
    local c = t:clone()
    assert.is_false(c:fitted())
    assert.are.equal("impute", c:kind())
    near_all({ 1, 2, 3, 2 }, fit_apply(c, small()).x)
  end)

  it("the clone of mb.standardize() standardizes every numeric column", function()
    local c = mb.standardize():clone()
    local g = fit_apply(c, small())
    local s = math.sqrt(2 / 3)
    near_all({ -1 / s, 0, 1 / s, NaN }, g.x)
    local o = fit_apply(mb.onehot():clone(), small())
    assert.are.same({ "x", "z", "c=a", "c=b", "y" }, o:columns())
  end)
end)

describe("transforms: written in Lua", function()
  local SRC = [[
return {
  fit = function(state, frame) state.mean = frame:col("x"):mean() end,
  apply = function(state, frame) return frame:derive("x_centered", frame:col("x") - state.mean) end,
}]]

  it("fit keeps a state table; apply uses it", function()
    local t = mb.lua_transform(SRC)
    assert.are.equal("lua", t:kind())
    assert.is_false(t:fitted())
    assert.are.equal("transform lua", tostring(t))
    t:fit(small())
    assert.is_true(t:fitted())
    assert.are.equal(2, t.state.mean)
    near_all({ -1, 0, 1, NaN }, t:apply(small()).x_centered)
    assert.is_false(t:clone():fitted())
  end)

  it("a transform without fit gets an empty state", function()
    local t = mb.lua_transform [[return { apply = function(state, f) return f:derive("two", f:col("x") * 2) end }]]
    near_all({ 2, 4, 6, NaN }, t:fit(small()):apply(small()).two)
  end)

  it("bad sources and results are errors", function()
    assert.matches("mb.lua_transform: expected the transform's source text", errmsg(mb.lua_transform, 42), 1, true)
    assert.matches("mb.lua_transform: the source must return a table with an apply function",
      errmsg(mb.lua_transform, "return {}"), 1, true)
    assert.matches("mb.lua_transform: lua_transform:1:", errmsg(mb.lua_transform, "return {"), 1, true)
    local t = mb.lua_transform [[return { apply = function(state, f) return 42 end }]]:fit(small())
    assert.matches("transform 'lua': apply must return a frame", errmsg(t.apply, t, small()), 1, true)
  end)
end)

describe("transforms: bad input", function()
  it("a transform applied before fit", function()
    local t = mb.standardize()
    assert.matches("transform 'standardize' applied before fit", errmsg(t.apply, t, small()), 1, true)
    local o = mb.onehot()
    assert.matches("transform 'onehot' applied before fit", errmsg(o.apply, o, small()), 1, true)
    local l = mb.lua_transform [[return { apply = function(s, f) return f end }]]
    assert.matches("transform 'lua' applied before fit", errmsg(l.apply, l, small()), 1, true)
  end)

  it("a frame without a column the transform was fitted on", function()
    local t = mb.onehot():fit(small())
    assert.matches("transform 'onehot': the data has no column 'c', which it was fitted on",
      errmsg(t.apply, t, small():select { "x", "z" }), 1, true)
  end)

  it("unknown kinds, strategies and columns; wrong column types", function()
    assert.matches("unknown transform 'scale' (kinds: standardize, minmax", errmsg(mb.transform_new, "scale"), 1, true)
    assert.matches("transform 'impute': unknown strategy 'mode' (mean, median, most_frequent, constant)",
      errmsg(mb.impute, { strategy = "mode" }), 1, true)
    local t = mb.standardize { "w" }
    assert.matches("transform 'standardize': the training data has no column 'w'", errmsg(t.fit, t, small()), 1, true)
    t = mb.standardize { "c" }
    assert.matches("transform 'standardize': column 'c' is categorical; standardize needs numeric columns",
      errmsg(t.fit, t, small()), 1, true)
    t = mb.impute { "c", strategy = "mean" }
    assert.matches("strategy 'mean' needs numeric columns", errmsg(t.fit, t, small()), 1, true)
  end)
end)
