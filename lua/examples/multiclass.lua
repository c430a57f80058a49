-- multiclass.lua: three-class classification on the wine data (178 wines,
-- 13 chemical measurements, three cultivars). Judges a standardized
-- softmax regression by 5-fold cross-validation, then ranks it against
-- k-nearest neighbours and a constant baseline on the same folds.
--
--   build/moonbench run lua/examples/multiclass.lua [DATA.h5]
--
-- Paths are relative to the repository root. The script ends with error()
-- when the scores are not what this data set should give.
local mb = require "moonbench"

local path = arg[1] or "datasets/wine.h5"
local data = mb.open(path)
local target = data:target()
print(string.format("%s: %d rows, target '%s' with classes %s", path, #data, target,
  table.concat(data:col(target):levels(), ", ")))

-- How many rows per class? A categorical vector compares by level text.
for _, class in ipairs(data:col(target):levels()) do
  print(string.format("  %-10s %3d rows", class, data:col(target):eq(class):sum()))
end

-- 1. The pipeline. With three classes mb.model("linear") fits a
--    multinomial (softmax) logistic regression.
local softmax = mb.pipeline { mb.standardize(), mb.model("linear") }

-- 2. 5-fold cross-validation: each fold fits a fresh copy of the pipeline on
--    4/5 of the rows and scores the remaining 1/5. Folds are stratified by
--    default for a categorical target. The result prints mean +- std of
--    every metric; cv.folds holds the report of each fold.
local cv = mb.cross_validate(softmax, data, { k = 5, seed = 1 })
print(cv)
for i, fold in ipairs(cv.folds) do
  print(string.format("  fold %d: train %3d rows, test %2d rows, accuracy %.4f", i, fold.n_train, fold.n_test,
    fold.accuracy))
end

-- 3. A leaderboard: every candidate sees the same folds; the best one is
--    compared with each other by the corrected resampled t-test. Models can
--    go in directly, or inside pipelines (knn standardizes by itself).
local board = mb.compare({
  ["standardize+linear"] = softmax,
  knn = mb.model("knn", { n_neighbors = 7 }),
  baseline = mb.model("baseline"),
}, data, { k = 5, seed = 1, metric = "accuracy" })
print(board)

-- 4. Sanity checks.
local acc = cv.mean.accuracy
if not (acc > 0.9) then error(string.format("mean cross-validated accuracy %.4f, want > 0.9", acc)) end
if board[#board].name ~= "baseline" then error("the constant baseline should rank last, not " .. board[#board].name) end
print(string.format("ok: mean accuracy %.4f over %d folds; best on the leaderboard: %s", acc, #cv.folds,
  board[1].name))
