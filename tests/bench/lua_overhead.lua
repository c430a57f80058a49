-- tests/bench/lua_overhead.lua DATA.h5 [MODEL [key=value...]]: what the Lua
-- layer adds to a plugin's fit. Times, on the training part (the first 80%
-- of rows, as the peers split), model:fit(frame) from Lua, which includes
-- turning the frame into the plugin's dataset, and a standardize + model
-- pipeline's fit and predict. Prints one JSON line; tests/bench/lua.sh
-- compares the fit with bench_fit's plugin-only fit time.
local mb = require "moonbench"
local path, name = arg[1], arg[2] or "linear"
local params = {}
for i = 3, #arg do
  local k, v = arg[i]:match("^([^=]+)=(.*)$")
  params[k] = tonumber(v) or v
end
local f = mb.open(path)
local n = #f
local ntrain = n - math.floor(0.2 * n + 0.5)
local idx = {}
for i = 1, ntrain do idx[i] = i end
local train = f:take(idx)

local function best_of(k, fn)
  local best = math.huge
  for _ = 1, k do
    local t0 = mb.clock()
    fn()
    best = math.min(best, mb.clock() - t0)
  end
  return best
end

local fit = best_of(3, function() mb.model(name, params):fit(train, { threads = 2 }) end)
local p = mb.pipeline{ mb.standardize(), mb.model(name, params) }
local pipe_fit = best_of(3, function() p:fit(train, { threads = 2 }) end)
local predict = best_of(3, function() p:predict(f) end)
print(string.format('{"library": "moonbench (Lua)", "model": "%s", "rows": %d, "lua_fit_seconds": %.4f, ' ..
  '"pipeline_fit_seconds": %.4f, "pipeline_predict_seconds": %.4f}', name, ntrain, fit, pipe_fit, predict))
