-- fit_pipeline.lua DATA OUT MODEL PARAMS STEPS: fit a pipeline of built-in
-- transforms and a model, save it as a bundle (for tests/cli/export.bats).
-- PARAMS "k=v,k=v"; STEPS "kind:opt=v;opt=v,kind" (columns=a|b).
local mb = require "moonbench"
local data, out, model, params, steps = arg[1], arg[2], arg[3], arg[4] or "", arg[5] or ""
local function value(v)
  if v == "true" then return true elseif v == "false" then return false end
  return tonumber(v) or v
end
local p = {}
for k, v in params:gmatch("([%w_]+)=([^,]+)") do p[k] = value(v) end
local list = {}
for s in steps:gmatch("[^,]+") do
  local kind, opt = s:match("^([%w_]+):?(.*)$")
  local o = {}
  for k, v in opt:gmatch("([%w_]+)=([^;]+)") do
    if k == "columns" then
      o.columns = {}
      for c in v:gmatch("[^|]+") do o.columns[#o.columns + 1] = c end
    else
      o[k] = value(v)
    end
  end
  list[#list + 1] = mb.transform_new(kind, o)
end
list[#list + 1] = mb.model(model, p)
mb.pipeline(list):fit(mb.open(data)):save(out, { source = data })
