-- tests/bench/explain_shap.lua: the moonbench half of tests/bench/explain.sh.
--   fit DATA.h5 BUNDLE.h5 TRAIN_ROWS   a 200-tree depth-6 GBDT on the first TRAIN_ROWS rows
--   shap DATA.h5 BUNDLE.h5 FIRST ROWS  TreeSHAP of ROWS rows from FIRST (0-based), 2 threads;
--                                      one JSON line: rows, seconds (wall, mb.explain only), rows_per_s
local mb = require "moonbench"
local mode, data, bundle = arg[1], arg[2], arg[3]
local f = mb.open(data)
if mode == "fit" then
  local n = math.tointeger(tonumber(arg[4]))
  local m = mb.model("gbdt", { n_trees = 200, max_depth = 6, learning_rate = 0.1, max_bins = 255 })
  mb.pipeline { m }:fit(f:head(n)):save(bundle)
  return
end
local first, n = math.tointeger(tonumber(arg[4])), math.tointeger(tonumber(arg[5]))
local idx = {}
for i = 1, n do idx[i] = first + i end
local test = f:take(idx)
local q = mb.load(bundle)
local t0 = mb.clock()
local shap, info = mb.explain(q, test, { threads = 2 })
local s = mb.clock() - t0
assert(info.method == "treeshap" and #shap == n)
print(string.format('{"rows": %d, "seconds": %.6f, "rows_per_s": %.1f}', n, s, n / s))
