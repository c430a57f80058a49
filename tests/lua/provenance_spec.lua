-- tests/lua/provenance_spec.lua: what a pipeline saved from Lua records of
-- its training: rows_used is the number of rows it was fitted on (it was
-- 0: the pipeline kept only its inputs' 0-row schema). Read back with
-- h5dump, independently of moonbench's reader.
local mb = require "moonbench"

local function rows_used(path)
  local h = assert(io.popen("h5dump -a /provenance/rows_used " .. path .. " 2>&1"))
  local out = h:read("a")
  h:close()
  return tonumber(out:match("%(0%): (%d+)"))
end

describe("provenance: a pipeline saved from Lua", function()
  it("records the rows it was fitted on", function()
    local iris = mb.open("datasets/iris.h5")
    local path = os.tmpname()
    mb.pipeline({ mb.standardize(), mb.model("linear") }):fit(iris):save(path, { source = "datasets/iris.h5" })
    assert.are.equal(150, rows_used(path))
    local part = iris:head(97)
    mb.pipeline({ mb.model("baseline") }):fit(part):save(path)
    assert.are.equal(97, rows_used(path))
    os.remove(path)
  end)
end)
