-- tests/lua/hostile_spec.lua: scripts that try to break the binding
-- (a sandboxed script may be hostile): lying __len metamethods, closing a
-- frame or model from inside a callback, hidden metatables. Each must end
-- in a Lua error, never in memory corruption (the ASan build runs these).
local mb = require "moonbench"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("hostile scripts", function()
  it("refuses lists whose __len lies", function()
    local f = mb.frame { a = { 1, 2, 3 } }
    local neg = setmetatable({}, { __len = function() return -1 end })
    local huge = setmetatable({}, { __len = function() return 1 << 61 end, __index = function() return 1 end })
    assert.matches("a table of length -1", errmsg(f.select, f, neg), 1, true)
    assert.matches("a table of length 2305843009213693952", errmsg(mb.ttest, huge, huge, 0.2), 1, true)
    assert.matches("a table of length -1", errmsg(f.take, f, neg), 1, true)
    assert.matches("a table of length", errmsg(mb.vector, huge), 1, true)
  end)

  it("hides __gc and __close behind the metatable's name", function()
    assert.are.equal("moonbench.frame", getmetatable(mb.frame { a = { 1 } }))
    assert.are.equal("moonbench.vector", getmetatable(mb.vector { 1 }))
    assert.are.equal("moonbench.model", getmetatable(mb.model("baseline")))
  end)

  it("a frame closed by a filter predicate is an error, not a crash", function()
    local f = mb.frame { a = { 1, 2, 3 } }
    local e = errmsg(f.filter, f, function()
      do local x <close> = f end
      return true
    end)
    assert.matches("the frame was closed by the predicate", e, 1, true)
  end)

  it("a model or frame cannot be closed while the model fits", function()
    local f = mb.open("datasets/iris.h5")
    local m = mb.model("linear")
    local e = errmsg(m.fit, m, f, { progress = function()
      do local x <close> = m end
    end })
    assert.matches("cannot close a model while a model is fitting", e, 1, true)
    e = errmsg(m.fit, m, f, { progress = function()
      do local x <close> = f end
    end })
    assert.matches("cannot close a frame while a model is fitting", e, 1, true)
    -- and both still work afterwards
    assert.are.equal(150, #f)
    assert.is_true(m:fit(f):info().fitted)
  end)

  -- Calls that raise while C memory is held must free it first (STYLE 23);
  -- the ASan build runs this file under LeakSanitizer, and test_lua.c fails
  -- every Lua allocation in turn over the same calls.
  it("errors raised in the middle of a call leak no C memory", function()
    local f = mb.open("datasets/iris.h5")
    local boom = setmetatable({}, { __index = function() error("boom from __index") end })
    assert.matches("boom from __index", errmsg(mb.transform_new, "impute", boom), 1, true)
    assert.matches("boom from __index", errmsg(mb.transform_new, "impute",
      setmetatable({ columns = { "a", "b" } }, { __index = function() error("boom from __index") end })), 1, true)
    assert.matches("no column named 'nope'", errmsg(f.select, f, { "petal width (cm)", "nope" }), 1, true)
    local y = mb.vector { "a", "b", "c" }
    assert.matches("not one of the model's classes", errmsg(mb._class_report, y, y, nil, { "a", "b" }), 1, true)
    assert.matches("probabilities must be 3 rows x 3 classes",
      errmsg(mb._class_report, y, y, mb.frame { p = { 1, 2 } }, { "a", "b", "c" }), 1, true)
    local m = mb.model("linear")
    assert.matches("n_neighbors", errmsg(m.clone, m, { n_neighbors = 3, alpha = 1 }), 1, true)
    assert.matches("'x'", errmsg(mb.model, "linear", { alpha = "x", tol = 1, [1] = 2 }), 1, true)
  end)
end)
