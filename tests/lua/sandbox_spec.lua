-- tests/lua/sandbox_spec.lua: Lua steps of bundles are code from whoever
-- wrote the file (docs/security.md). mb.load refuses them unless allowed,
-- and then runs them in a restricted environment: what that environment
-- holds is checked by a probe step that, once loaded, reports what it sees.
local mb = require "moonbench"

local iris = mb.open("datasets/iris.h5")

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

-- A bundle whose Lua step behaves while it is fitted (the author's own
-- globals, with os) and runs probe(state, frame) once loaded from the file.
local function bundle_with(probe_src, path)
  local src = [[
local mb = require "moonbench"
local probe = ]] .. probe_src .. [[

return {
  fit = function(state, frame) state.mean = frame:col("petal length (cm)"):mean() end,
  apply = function(state, frame)
    if os then return frame:derive("pc", frame:col("petal length (cm)") - state.mean) end
    return probe(state, frame) or frame:derive("pc", frame:col("petal length (cm)") - state.mean)
  end,
}]]
  mb.pipeline { mb.lua_transform(src), mb.model("linear") }:fit(iris):save(path)
  return path
end

describe("Lua steps of bundles", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  it("are refused unless allowed, naming the file, the step and the option", function()
    bundle_with("function() end", path)
    local e = errmsg(mb.load, path)
    assert.matches(path .. ": pipeline step 1 is a Lua transform; loading it runs code from the bundle: "
      .. "pass --allow-lua (or {allow_lua=true}) if you trust it", e, 1, true)
    -- anything but allow_lua = true is no permission
    errmsg(mb.load, path, { allow_lua = 1 })
    errmsg(mb.load, path, {})
  end)

  it("once allowed, predict as the fitted pipeline did", function()
    local p = mb.pipeline { mb.lua_transform [[
      return { fit = function(s, f) s.m = f:col("petal length (cm)"):mean() end,
               apply = function(s, f) return f:derive("pc", f:col("petal length (cm)") - s.m) end }]],
      mb.model("linear") }:fit(iris)
    p:save(path)
    local q = mb.load(path, { allow_lua = true })
    local a, b = p:predict(iris), q:predict(iris)
    for i = 1, #iris do assert.are.equal(a[i], b[i]) end
    assert.are.equal(p.steps[1].state.m, q.steps[1].state.m)
  end)

  it("see only pure functions and frames: no os, io, package, debug, load or metatables", function()
    bundle_with([[function()
      local seen = {}
      for k in pairs(_G) do seen[#seen + 1] = k end
      table.sort(seen)
      error("env: " .. table.concat(seen, " "), 0)
    end]], path)
    local q = mb.load(path, { allow_lua = true })
    local e = errmsg(q.predict, q, iris)
    assert.matches("env: _G assert coroutine error ipairs math next pairs pcall rawequal rawget rawlen rawset "
      .. "require select string table tonumber tostring type utf8 xpcall", e, 1, true)
  end)

  it("get no string.dump, no math.randomseed, and only moonbench from require", function()
    bundle_with([[function()
      local mb = require "moonbench"
      local ok, e = pcall(require, "os")
      error(table.concat({ tostring(string.dump), tostring(math.randomseed), tostring(mb.open),
        tostring(mb.load), tostring(mb.model), tostring(mb.lua_transform), tostring(mb.vector ~= nil), e }, "|"), 0)
    end]], path)
    local e = errmsg(mb.load(path, { allow_lua = true }).predict, mb.load(path, { allow_lua = true }), iris)
    assert.matches("nil|nil|nil|nil|nil|nil|true|require 'os': a Lua step from a bundle may require only "
      .. "\"moonbench\"", e, 1, true)
  end)

  it("cannot write files, not even through frame:save", function()
    local out = os.tmpname()
    os.remove(out)
    bundle_with("function(state, frame) frame:save(" .. string.format("%q", out) .. ") end", path)
    local q = mb.load(path, { allow_lua = true })
    local e = errmsg(q.predict, q, iris)
    assert.matches("writing '" .. out .. "' is not allowed: a Lua step from a bundle is running", e, 1, true)
    assert.is_nil(io.open(out))
    -- and after the step, the script may write again
    iris:head(2):save(out)
    assert.is_not_nil(io.open(out))
    os.remove(out)
  end)

  it("cannot change what the script shares (math, string, the module)", function()
    bundle_with([[function()
      math.floor = nil; string.rep = nil; require("moonbench").vector = nil
    end]], path)
    local q = mb.load(path, { allow_lua = true })
    q:predict(iris)
    assert.is_function(math.floor)
    assert.is_function(string.rep)
    assert.is_function(mb.vector)
  end)

  it("a state text that is code, not data, runs without the script's globals", function()
    -- forge the bundle's state: its text runs in an environment with only math.huge
    local p = mb.pipeline { mb.lua_transform [[return { apply = function(s, f) return f end }]], mb.model("linear") }
    p:fit(iris)
    p.steps[1].state = { x = 1 }
    p:save(path)
    local q = mb.load(path, { allow_lua = true })
    assert.are.equal(1, q.steps[1].state.x)
    local t = errmsg(mb._restricted_transform, "return { apply = function(s, f) return f end }",
      "return os.execute('true')", "B: pipeline step 1")
    assert.matches("B: pipeline step 1: state:1: attempt to index a nil value (global 'os')", t, 1, true)
    t = errmsg(mb._restricted_transform, "return { apply = function(s, f) return f end }", "return 1",
      "B: pipeline step 1")
    assert.matches("B: pipeline step 1: the Lua step's state is not a table", t, 1, true)
  end)
end)

describe("mb.lua_transform (the user's own)", function()
  it("keeps the script's globals, as documented", function()
    local t = mb.lua_transform [[
      assert(os and io and load, "the script's globals")
      return { apply = function(s, f) assert(os.time()) return f end }]]
    assert.are.equal(#iris, #t:fit(iris):apply(iris))
  end)
end)
