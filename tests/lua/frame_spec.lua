-- tests/lua/frame_spec.lua: frames in Lua: opening the three file layouts,
-- inspection (shape, columns, types, head, describe), new frames from old
-- (select, drop, filter, derive, sample, take, concat, copy) and save +
-- reopen. Run from the repository root:
--   build/moonbench run /usr/bin/busted -o TAP tests/lua
local mb = require "moonbench"

local IRIS = "datasets/iris.h5"
local IRIS_FEATURES = { "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)" }

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

-- A small frame with a numeric, a categorical (one missing) and a target column.
local function small()
  return mb.frame({ x = { 1, 2, 3, 4 }, c = { "a", "b", false, "a" }, y = { 0, 1, 0, 1 } },
    { order = { "x", "c", "y" }, target = "y" })
end

describe("frames: opening", function()
  it("opens the HDF5 matrix layout with its declared target", function()
    local f = mb.open(IRIS)
    local rows, cols = f:shape()
    assert.are.equal(150, rows)
    assert.are.equal(5, cols)
    assert.are.equal(150, #f)
    assert.are.equal("target", f:target())
    assert.are.same({ IRIS_FEATURES[1], IRIS_FEATURES[2], IRIS_FEATURES[3], IRIS_FEATURES[4], "target" },
      f:columns())
    assert.are.equal("numeric", f:types()["sepal length (cm)"])
    assert.are.equal("categorical", f:types().target)
    assert.are.same({ "setosa", "versicolor", "virginica" }, f:col("target"):levels())
  end)

  it("opens a CSV file; the target is named with set_target or {target =}", function()
    local f = mb.open("datasets/csv/iris.csv")
    assert.are.same({ 150, 5 }, { f:shape() })
    assert.is_nil(f:target())
    assert.are.equal(f, f:set_target("target"))
    assert.are.equal("target", f:target())
    local g = mb.open("datasets/csv/iris.csv", { target = "target" })
    assert.are.equal("target", g:target())
    assert.are.equal("categorical", g:types().target)
    -- same values as the HDF5 file (stored as float32)
    assert.near(5.1, g:col("sepal length (cm)")[1], 1e-6)
    assert.near(mb.open(IRIS):col("petal width (cm)"):sum(), g:col("petal width (cm)"):sum(), 1e-3)
  end)

  it("opens a pandas table with categorical columns and missing values", function()
    local f = mb.open("datasets/table/vote.h5")
    assert.are.same({ 435, 17 }, { f:shape() })
    assert.are.equal("Class", f:target())
    local types = f:types()
    for _, name in ipairs(f:columns()) do assert.are.equal("categorical", types[name]) end
    local v = f:col("handicapped-infants")
    assert.are.same({ "n", "y" }, v:levels())
    assert.are.equal(423, v:count())            -- 12 missing
    assert.are.equal(12, v:isnan():sum())
    assert.is_nil(v[3])                         -- a missing category reads as nil
    assert.are.equal("n", v[1])
  end)

  it("opens a row range of an HDF5 file", function()
    local all = mb.open(IRIS)
    local part = mb.open(IRIS, { rows = { 11, 5 } })
    assert.are.same({ 5, 5 }, { part:shape() })
    assert.are.equal(all:col("sepal length (cm)")[11], part:col("sepal length (cm)")[1])
    assert.are.equal(all:col("sepal length (cm)")[15], part:col("sepal length (cm)")[5])
  end)

  it("builds a frame from Lua tables: order, target, missing values", function()
    local f = small()
    assert.are.same({ "x", "c", "y" }, f:columns())
    assert.are.same({ x = "numeric", c = "categorical", y = "numeric" }, f:types())
    assert.are.equal("y", f:target())
    assert.is_nil(f:col("c")[3])
    assert.are.equal(3, f:col("c"):count())
    -- without order: columns sorted by name
    assert.are.same({ "a", "b" }, mb.frame({ b = { 1 }, a = { 2 } }):columns())
    -- a vector is a column too
    local g = mb.frame({ v = mb.vector { 1, 2 }, w = { "p", "q" } })
    assert.are.same({ v = "numeric", w = "categorical" }, g:types())
  end)
end)

describe("frames: inspection", function()
  it("f.column and f:col(name) give the column as a vector", function()
    local f = small()
    assert.are.equal("vector(4) [1, 2, 3, 4]", tostring(f.x))
    assert.are.equal(tostring(f.x), tostring(f:col("x")))
    -- methods come first: a column named like a method needs f:col
    local g = mb.open(IRIS)
    assert.are.equal("function", type(g.target))
    assert.are.equal(150, #g:col("target"))
  end)

  it("head gives the first rows (5 by default)", function()
    local f = mb.open(IRIS)
    assert.are.equal(5, #f:head())
    local h = f:head(2)
    assert.are.same({ 2, 5 }, { h:shape() })
    assert.are.equal("target", h:target())
    assert.are.equal(f:col("sepal width (cm)")[2], h:col("sepal width (cm)")[2])
    assert.are.equal(150, #f:head(1000))
    assert.are.equal(0, #f:head(0))
  end)

  it("tostring shows size, target and an aligned preview", function()
    local s = tostring(small())
    assert.matches("frame: 4 rows x 3 columns, target y", s, 1, true)
    assert.matches("nil", s, 1, true)
    assert.matches("... 140 more rows", tostring(mb.open(IRIS)), 1, true)
  end)

  it("describe gives statistics per column", function()
    local d = small():describe()
    assert.are.equal(3, #d)
    local x, c = d[1], d[2]
    assert.are.equal("x", x.name)
    assert.are.equal("numeric", x.type)
    assert.are.equal(4, x.count)
    assert.are.equal(0, x.missing)
    assert.near(2.5, x.mean, 1e-12)
    assert.near(math.sqrt(5 / 3), x.std, 1e-6)  -- sample standard deviation
    assert.are.equal(1, x.min)
    assert.are.equal(4, x.max)
    assert.near(2.5, x.q50, 1e-12)
    assert.are.equal("categorical", c.type)
    assert.are.equal(3, c.count)
    assert.are.equal(1, c.missing)
    assert.are.equal(2, c.distinct)
    assert.are.same({ "a", 2 }, c.top[1])
  end)
end)

describe("frames: new frames from old", function()
  it("select keeps the listed columns in order (and the target)", function()
    local f = mb.open(IRIS)
    local s = f:select { "petal width (cm)", "sepal length (cm)" }
    assert.are.same({ "petal width (cm)", "sepal length (cm)", "target" }, s:columns())
    assert.are.same({ "sepal width (cm)", "target" }, f:select("sepal width (cm)"):columns())
    assert.are.same({ 150, 5 }, { f:shape() }) -- the original is unchanged
  end)

  it("drop removes the listed columns; the target stays", function()
    local f = mb.open(IRIS)
    assert.are.same({ "sepal length (cm)", "petal length (cm)", "target" },
      f:drop { "sepal width (cm)", "petal width (cm)" }:columns())
    assert.are.same(f:columns(), f:drop("target"):columns())
  end)

  it("filter keeps the rows of a 0/1 mask", function()
    local f = small()
    local g = f:filter(f.x:gt(2))
    assert.are.equal(2, #g)
    assert.are.equal("vector(2) [3, 4]", tostring(g.x))
    assert.are.equal("y", g:target())
    assert.are.equal(0, #f:filter(f.x:gt(10)))
    -- NaN in a mask counts as false
    assert.are.equal(1, #f:filter(mb.vector { 0 / 0, 1, 0, 0 }))
  end)

  it("filter keeps the rows for which a function of the row is true", function()
    local f = small()
    local seen = {}
    local g = f:filter(function(row)
      seen[#seen + 1] = row
      return row.c == "a"
    end)
    assert.are.equal("vector(2) [1, 4]", tostring(g.x))
    assert.are.equal(4, #seen)
    assert.are.same({ x = 3, y = 0 }, seen[3])  -- a missing value is absent (nil)
    assert.are.same({ x = 1, c = "a", y = 0 }, seen[1])
    local iris = mb.open(IRIS)
    assert.are.equal(50, #iris:filter(function(r) return r.target == "virginica" end))
  end)

  it("derive adds (or replaces) a column from a vector", function()
    local f = small()
    local g = f:derive("x2", f.x * 2 + 1)
    assert.are.same({ "x", "c", "y", "x2" }, g:columns())
    assert.are.equal("vector(4) [3, 5, 7, 9]", tostring(g.x2))
    assert.are.equal(3, #f:columns())          -- f is unchanged
    local h = f:derive("x", f.x * 10)
    assert.are.same({ "x", "c", "y" }, h:columns())
    assert.are.equal("vector(4) [10, 20, 30, 40]", tostring(h.x))
    -- a categorical vector gives a categorical column
    local k = f:derive("c2", f.c)
    assert.are.equal("categorical", k:types().c2)
    assert.are.equal("vector(4, categorical) [a, b, nil, a]", tostring(k.c2))
  end)

  it("derive computes a column with a function of the row", function()
    local f = small()
    local g = f:derive("big", function(r) return r.x > 2 and "yes" or "no" end)
    assert.are.equal("categorical", g:types().big)
    assert.are.equal("vector(4, categorical) [no, no, yes, yes]", tostring(g.big))
    local h = f:derive("n", function(r) if r.c then return r.x * 10 end end)
    assert.are.equal("numeric", h:types().n)
    assert.are.equal("vector(4) [10, 20, nan, 40]", tostring(h.n))
  end)

  it("sample is deterministic for a seed", function()
    local f = mb.open(IRIS)
    local a, b, c = f:sample(10, 7), f:sample(10, 7), f:sample(10, 8)
    assert.are.equal(10, #a)
    assert.are.same(a:col("sepal length (cm)"):totable(), b:col("sepal length (cm)"):totable())
    assert.are_not.same(a:col("petal length (cm)"):totable(), c:col("petal length (cm)"):totable())
    assert.are.equal(75, #f:sample(0.5, 1))
    -- without replacement: all rows, each once
    local all = f:sample(150, 3)
    assert.near(f:col("petal length (cm)"):sum(), all:col("petal length (cm)"):sum(), 1e-6)
  end)

  it("take picks rows by 1-based index, in the given order, repeats allowed", function()
    local f = small()
    local g = f:take { 4, 1, 1 }
    assert.are.equal("vector(3) [4, 1, 1]", tostring(g.x))
    assert.are.equal("y", g:target())
    assert.are.equal(0, #f:take {})
  end)

  it("concat stacks rows (f:concat, mb.concat and ..)", function()
    local f = small()
    local g = f:concat(f:head(2))
    assert.are.equal(6, #g)
    assert.are.equal("vector(6) [1, 2, 3, 4, 1, 2]", tostring(g.x))
    assert.are.equal(8, #mb.concat(f, f))
    assert.are.equal(8, #(f .. f))
    assert.are.equal("vector(8, categorical) [a, b, nil, a, a, b, nil, a]", tostring((f .. f).c))
  end)

  it("copy is a deep, independent copy", function()
    local f = small()
    local g = f:copy()
    assert.are.equal(tostring(f), tostring(g))
    g:set_target("x")
    assert.are.equal("y", f:target())
  end)
end)

describe("frames: save and reopen", function()
  it("saves to HDF5 and reopens the same columns, types, values and target", function()
    local path = os.tmpname()
    local f = small():derive("z", function(r) return r.x / 4 end)
    assert.are.equal(f, f:save(path))
    local g = mb.open(path)
    os.remove(path)
    assert.are.same(f:columns(), g:columns())
    assert.are.same(f:types(), g:types())
    assert.are.equal("y", g:target())
    assert.are.equal(tostring(f.c), tostring(g.c))
    assert.are.same(f.z:totable(), g.z:totable())
  end)

  it("saves a bundled data set and reads it back identically", function()
    local path = os.tmpname()
    local f = mb.open("datasets/table/credit_g.h5")
    f:save(path)
    local g = mb.open(path)
    os.remove(path)
    assert.are.same({ f:shape() }, { g:shape() })
    assert.are.equal(f:target(), g:target())
    assert.are.same(f:col("purpose"):totable(), g:col("purpose"):totable())
    assert.are.equal(f:col("credit_amount"):sum(), g:col("credit_amount"):sum())
  end)
end)

describe("frames: bad input", function()
  it("a target column that does not exist", function()
    local msg = errmsg(mb.open, IRIS, { target = "species" })
    assert.matches("no column named 'species' to use as target", msg, 1, true)
    assert.matches("petal width (cm)", msg, 1, true) -- the message lists the columns
    msg = errmsg(function() return mb.open(IRIS):set_target("species") end)
    assert.matches("no column named 'species'", msg, 1, true)
  end)

  it("a missing file", function()
    assert.matches("no/such/file.h5: No such file or directory", errmsg(mb.open, "no/such/file.h5"), 1, true)
  end)

  it("an unknown column", function()
    local f = mb.open(IRIS)
    assert.matches("frame has no method or column 'species'", errmsg(function() return f.species end), 1, true)
    assert.matches("no column named 'species'", errmsg(f.col, f, "species"), 1, true)
    assert.matches("species", errmsg(f.select, f, { "species" }), 1, true)
  end)

  it("f:col(unknown) says 'to use as target'", function()
    local f = mb.open(IRIS)
    local msg = errmsg(f.col, f, "species")
    assert.matches("no column named 'species'", msg, 1, true)
    assert.is_nil(msg:find("target (", 1, true))
  end)

  it("lengths that do not match the frame", function()
    local f = small()
    assert.matches("filter: the mask has 2 values, the frame 4 rows",
      errmsg(f.filter, f, mb.vector { 1, 0 }), 1, true)
    assert.matches("derive: the vector has 3 values, the frame 4 rows",
      errmsg(f.derive, f, "z", mb.vector { 1, 2, 3 }), 1, true)
  end)

  it("mb.frame with columns of different lengths (leaks in ASan)", function()
    assert.matches("mb.frame: column 'b' has 3 values, the first column 2",
      errmsg(mb.frame, { a = { 1, 2 }, b = { 1, 2, 3 } }), 1, true)
    assert.matches("number expected", errmsg(mb.frame, { a = { 1, 2 }, b = { 1, {} } }), 1, true)
  end)

  it("rows out of range", function()
    local f = small()
    assert.matches("take: row 5 out of range 1..4", errmsg(f.take, f, { 5 }), 1, true)
    assert.matches("take: row 0 out of range 1..4", errmsg(f.take, f, { 0 }), 1, true)
    assert.matches("sample: ", errmsg(f.sample, f, 5), 1, true)
    assert.matches("rows = {...} needs an HDF5 file",
      errmsg(mb.open, "datasets/csv/iris.csv", { rows = { 1, 5 } }), 1, true)
  end)
end)
