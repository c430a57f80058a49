-- tests/lua/rows_spec.lua: the row-wise frame methods (src/script/lrows.c):
-- sort (stable, missing last, categorical by text) against a brute-force
-- order, filter and derive by a Lua expression against the same written
-- as a function of the row, the names an expression sees, progress, and
-- errors that name the row. Run from the repository root:
--   build/moonbench run /usr/bin/busted -o TAP tests/lua/rows_spec.lua
local mb = require "moonbench"

local IRIS = "datasets/iris.h5"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

-- x with ties and missing values, a categorical c, a row number id
local function ties()
  return mb.frame({ x = { 3, 1, 0 / 0, 2, 1, 3, 0 / 0, 2 }, c = { "b", "a", "c", false, "b", "a", "a", "c" },
    id = { 1, 2, 3, 4, 5, 6, 7, 8 } }, { order = { "x", "c", "id" } })
end

-- the oracle: table.sort over {key, row} with the row as tie-break, missing last
local function brute(keys, desc)
  local rows = {}
  for i = 1, #keys do rows[i] = i end
  table.sort(rows, function(a, b)
    local ka, kb = keys[a], keys[b]
    if ka == nil or kb == nil then
      if ka == nil and kb == nil then return a < b end
      return kb == nil
    end
    if ka ~= kb then
      if desc then return ka > kb end
      return ka < kb
    end
    return a < b
  end)
  return rows
end

local function ids(f) return f.id:totable() end

describe("frames: sort", function()
  it("is stable, ascending or descending, with missing values last", function()
    local f = ties()
    local x = { 3, 1, nil, 2, 1, 3, nil, 2 }
    assert.are.same(brute(x, false), ids(f:sort("x")))
    assert.are.same({ 2, 5, 4, 8, 1, 6, 3, 7 }, ids(f:sort("x")))
    assert.are.same(brute(x, true), ids(f:sort("x", true)))
    assert.are.same({ 1, 6, 4, 8, 2, 5, 3, 7 }, ids(f:sort("x", { desc = true })))
  end)

  it("orders a categorical column by its levels' text", function()
    local f = ties()
    local c = { "b", "a", "c", nil, "b", "a", "a", "c" }
    assert.are.same(brute(c, false), ids(f:sort("c")))
    assert.are.same(brute(c, true), ids(f:sort("c", true)))
  end)

  it("matches a brute-force order on iris, keeps the target, reports progress", function()
    local f = mb.open(IRIS)
    local col = "sepal length (cm)"
    local seen = {}
    local g = f:sort(col, { desc = true, progress = function(frac, what) seen[#seen + 1] = { frac, what } end })
    local v = f:col(col):totable()
    local order = brute(v, true)
    local got = g:col(col):totable()
    local t = f:col("target"):totable()
    local gt = g:col("target"):totable()
    for i = 1, #order do
      assert.are.equal(v[order[i]], got[i])
      assert.are.equal(t[order[i]], gt[i])
    end
    assert.are.equal("target", g:target())
    assert.are.equal(0, seen[1][1])
    assert.are.equal(1, seen[#seen][1])
    assert.are.equal("sort", seen[1][2])
  end)

  it("an unknown column or a failing progress is an error", function()
    local f = ties()
    assert.matches("sort: no column named 'nope' (columns: x, c, id)", errmsg(f.sort, f, "nope"), 1, true)
    assert.matches("stop here", errmsg(f.sort, f, "x", { progress = function() error("stop here") end }), 1, true)
    assert.matches("progress: expected a function", errmsg(f.sort, f, "x", { progress = 3 }), 1, true)
  end)
end)

describe("frames: expressions over rows", function()
  it("filter by an expression keeps the rows a row function keeps", function()
    local f = mb.open(IRIS)
    local g = f:filter('petal_length_cm > 4 and target == "virginica"')
    local h = f:filter(function(r) return r["petal length (cm)"] > 4 and r.target == "virginica" end)
    assert.are.equal(#h, #g)
    assert.are.equal(50, #g) -- awk -F, '$3 > 4 && $5 == "virginica"' datasets/csv/iris.csv
    assert.are.same(h:col("sepal width (cm)"):totable(), g:col("sepal width (cm)"):totable())
    -- the exact name through col[...], globals as usual
    assert.are.equal(#g, #f:filter('col["petal length (cm)"] > 4 and target == "virginica"'))
    assert.are.equal(50, #f:filter('math.floor(col["petal width (cm)"]) >= 1 and target ~= "versicolor"'))
  end)

  it("a missing value is nil; an error names the row", function()
    local f = ties()
    assert.are.same({ 3, 7 }, ids(f:filter("x == nil")))
    assert.are.same({ 1, 6 }, ids(f:filter("x and x > 2")))
    assert.matches("filter: row 3: .*attempt to compare", errmsg(f.filter, f, "x > 1"))
    assert.matches("filter: the expression is not valid Lua", errmsg(f.filter, f, "x >"), 1, true)
    assert.matches("'nope' is not a column (columns: x, c, id) nor a global", errmsg(f.filter, f, "nope > 1"), 1, true)
    assert.matches([[col["z"]: no such column (columns: x, c, id)]], errmsg(f.filter, f, 'col["z"] > 1'), 1, true)
    assert.matches("filter: row 2: boom", errmsg(f.filter, f, function(r) if r.id == 2 then error("boom", 0) end end))
  end)

  it("names that are not identifiers: letters, digits and _ when unambiguous", function()
    local f = mb.frame({ ["a b"] = { 1, 2 }, ["a-b"] = { 3, 4 }, ["2x"] = { 5, 6 }, ["end"] = { 7, 8 } },
      { order = { "a b", "a-b", "2x", "end" } })
    assert.matches([=['a_b' could be column 'a b' or 'a-b': write col["..."]]=], errmsg(f.filter, f, "a_b > 0"), 1, true)
    assert.are.equal(1, #f:filter("_2x > 5"))
    assert.are.equal(1, #f:filter('col["end"] > 7 and col["a b"] == 2'))
  end)

  it("derive by an expression: numbers, strings, booleans, nil", function()
    local f = ties()
    local g = f:derive("x2", "x and x * 2")
    assert.are.equal("numeric", g:types().x2)
    assert.are.equal("vector(8) [6, 2, nan, 4, 2, 6, nan, 4]", tostring(g.x2))
    local h = f:derive("big", 'x and (x > 1 and "yes" or "no")')
    assert.are.equal("categorical", h:types().big)
    assert.are.equal("vector(8, categorical) [yes, no, nil, yes, no, yes, nil, yes]", tostring(h.big))
    assert.are.equal("vector(8) [0, 0, 0, 1, 0, 0, 0, 1]", tostring(f:derive("b", "id % 4 == 0").b))
    assert.are.equal("vector(8) [nan, nan, nan, nan, nan, nan, nan, nan]", tostring(f:derive("n", "nil").n))
    -- the same as a function of the row
    local k = f:derive("x2", function(r) return r.x and r.x * 2 end)
    assert.are.equal(tostring(g.x2), tostring(k.x2))
    local seen = 0
    f:derive("z", "id", { progress = function() seen = seen + 1 end })
    assert.is_true(seen >= 2)
  end)

  it("derive refuses mixed or odd results, naming the row", function()
    local f = ties()
    assert.matches("derive: row 2 gives a string, the rows before it numbers",
      errmsg(f.derive, f, "m", 'id == 1 and 1 or "a"'), 1, true)
    assert.matches("derive: row 1 gives a table",
      errmsg(f.derive, f, "m", "{}"), 1, true)
  end)
end)
