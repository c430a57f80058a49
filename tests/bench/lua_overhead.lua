-- tests/bench/lua_overhead.lua DATA.h5 [MODEL [BUNDLE.h5 [key=value...]]]:
-- what the Lua layer adds to a plugin's fit and to a pipeline's predict.
-- Times, on the training part (the first 80% of rows, as the peers split),
-- model:fit(frame) from Lua, which includes turning the frame into the
-- plugin's dataset, and a standardize + model pipeline's fit; then the
-- pipeline's predict over the whole file, and, when BUNDLE is given, saves
-- the pipeline there and times mb.load(BUNDLE):predict too. Prints one JSON
-- line; tests/bench/lua.sh compares the fit with bench_fit's plugin-only
-- fit, and the predicts with bench_score's C scorer on BUNDLE.
local mb = require "moonbench"
local path, name, bundle = arg[1], arg[2] or "linear", arg[3]
local params = {}
for i = 4, #arg do
  local k, v = arg[i]:match("^([^=]+)=(.*)$")
  params[k] = tonumber(v) or v
end
local f = mb.open(path)
local n = #f
local ntrain = n - math.floor(0.2 * n + 0.5)
local idx = {}
for i = 1, ntrain do idx[i] = i end
local train = f:take(idx)

-- Each timing starts with the previous ones' garbage collected (frames and
-- models hold C memory the collector cannot see the size of), as the C
-- yardsticks start each in a fresh process.
local function best_of(k, fn)
  local best = math.huge
  for _ = 1, k do
    collectgarbage()
    local t0 = mb.clock()
    fn()
    best = math.min(best, mb.clock() - t0)
  end
  return best
end

local fit = best_of(3, function() mb.model(name, params):fit(train, { threads = 2 }) end)
local p = mb.pipeline{ mb.standardize(), mb.model(name, params) }
local pipe_fit = best_of(3, function() p:fit(train, { threads = 2 }) end)
-- The two predicts alternate, round by round: whichever ran first came out
-- some 10% slower (the allocator's state after the fits, not the path).
local predict, loaded = math.huge, -1
local q
if bundle then
  p:save(bundle, { source = path })
  q = mb.load(bundle)
  loaded = math.huge
end
for _ = 1, 3 do
  predict = math.min(predict, best_of(1, function() p:predict(f) end))
  if q then loaded = math.min(loaded, best_of(1, function() q:predict(f) end)) end
end
print(string.format('{"library": "moonbench (Lua)", "model": "%s", "rows": %d, "lua_fit_seconds": %.4f, ' ..
  '"pipeline_fit_seconds": %.4f, "pipeline_predict_seconds": %.4f, "loaded_predict_seconds": %.4f}',
  name, ntrain, fit, pipe_fit, predict, loaded))
