-- regression.lua: predicting disease progression one year on (a number)
-- from ten baseline measurements of 442 diabetes patients, with ridge
-- regression whose penalty is tuned by a small grid search.
--
--   build/moonbench run lua/examples/regression.lua [DATA.h5]
--
-- Paths are relative to the repository root. The script ends with error()
-- when the scores are not what this data set should give.
local mb = require "moonbench"

local path = arg[1] or "datasets/diabetes.h5"
local data = mb.open(path)
local y = data:col(data:target())
print(string.format("%s: %d rows; target '%s' from %g to %g, mean %.1f, std %.1f", path, #data,
  data:target(), y:min(), y:max(), y:mean(), y:std()))

-- 1. Keep a fifth of the rows aside; the search never sees them.
local train, test = mb.split(data, { test = 0.2, seed = 1 })

-- 2. Ridge regression: mb.model("linear") on a numeric target with the L2
--    penalty minimises ||y - Xw - b||^2 + alpha ||w||^2 (scikit-learn's Ridge).
local ridge = mb.pipeline {
  mb.standardize(),
  mb.model("linear", { penalty = "l2" }),
}

-- 3. Grid search over alpha: every candidate is scored by 5-fold
--    cross-validation on the training rows (R^2 here; the default metric
--    for regression is RMSE). The best candidate is refitted on all
--    training rows as search.best.
local search = mb.grid_search(ridge, train, {
  grid = { alpha = { 0.01, 0.1, 1, 10, 100 } },
  k = 5, seed = 1, metric = "r2",
})
print(search)
print(string.format("best alpha %g (cross-validated R^2 %.4f)", search.best_params.alpha, search.best_score))

-- 4. The untouched test rows decide how good the tuned model is.
local report = mb.evaluate(search.best, test)
print(report)

-- A few predictions next to the truth.
local pred = search.best:predict(test)
local truth = test:col(test:target())
for i = 1, 5 do print(string.format("  row %d: predicted %6.1f, actual %6.1f", i, pred[i], truth[i])) end

if not (report.r2 > 0.4) then error(string.format("test R^2 %.4f, want > 0.4", report.r2)) end
print(string.format("ok: test R^2 %.4f, RMSE %.2f with alpha %g", report.r2, report.rmse, search.best_params.alpha))
