-- binary.lua: binary classification on the breast cancer data (569 tumours,
-- 30 numeric measurements, malignant or benign), the usual way:
-- standardize the features, fit a logistic regression, judge it on held-out
-- rows, look at the ROC curve, save the fitted pipeline and load it back.
--
--   build/moonbench run lua/examples/binary.lua [DATA.h5]
--
-- Paths are relative to the repository root. The script ends with error()
-- when the scores are not what this data set should give.
local mb = require "moonbench"

local path = arg[1] or "datasets/breast_cancer.h5"
local data = mb.open(path)              -- the matrix layout declares its target
local rows, cols = data:shape()
print(string.format("%s: %d rows x %d columns, target '%s'", path, rows, cols, data:target()))

-- 1. Hold out a quarter of the rows, keeping the malignant/benign proportion
--    (stratified) so that the test set looks like the whole.
local train, test = mb.split(data, { test = 0.25, stratify = true, seed = 1 })
print(string.format("train %d rows, test %d rows", #train, #test))

-- 2. The pipeline: each step is fitted on the training rows only, then
--    applied to any frame. mb.model("linear") on a two-class target is an
--    L2-penalised logistic regression (alpha = 1 is scikit-learn's C = 1).
local pipe = mb.pipeline {
  mb.standardize(),                     -- (x - mean) / std for every numeric column
  mb.model("linear", { penalty = "l2", alpha = 1 }),
}
pipe:fit(train)

-- 3. The report: accuracy, per-class precision / recall / F1, ROC AUC,
--    log-loss, the confusion matrix. It prints as a table and is also a
--    plain table of numbers (report.accuracy, report.roc_auc, ...).
local report = mb.evaluate(pipe, test)
print(report)

-- 4. The ROC curve of the positive class (the second class: benign):
--    false positive rate (x), true positive rate (y) and threshold per point.
local roc = mb.curve("roc", pipe, test)
print(string.format("ROC curve: %d points; the first ones:", #roc.x))
print(string.format("  %10s %10s %12s", "fpr", "tpr", "threshold"))
for i = 1, math.min(5, #roc.x) do
  print(string.format("  %10.4f %10.4f %12.6g", roc.x[i], roc.y[i], roc.threshold[i]))
end

-- 5. Save the fitted pipeline (a sealed HDF5 bundle: the standardize state,
--    the model, the input schema), load it back and check that it predicts
--    exactly as the pipeline in memory does.
local bundle = os.tmpname()             -- a fresh file name under /tmp
pipe:save(bundle, { source = path })
local loaded = mb.load(bundle)
print("saved and loaded: " .. tostring(loaded))
local a, b = pipe:predict(test), loaded:predict(test)
for i = 1, #a do
  if a[i] ~= b[i] then error(string.format("row %d: predicted %s before saving, %s after", i, a[i], b[i])) end
end
local pa, pb = pipe:predict_proba(test), loaded:predict_proba(test)
local positive = pa:columns()[2]          -- one column per class; the second is "benign"
local drift = mb.abs(pa:col(positive) - pb:col(positive)):max()
print(string.format("the loaded pipeline predicts the same %d labels (largest probability difference %.2g)", #a, drift))
os.remove(bundle)
if drift > 1e-6 then error("the loaded pipeline's probabilities differ by " .. drift) end

-- 6. A sanity check worth keeping in a script that runs unattended.
if not (report.accuracy > 0.93 and report.roc_auc > 0.98) then
  error(string.format("scores too low: accuracy %.4f (want > 0.93), ROC AUC %.4f (want > 0.98)",
    report.accuracy, report.roc_auc))
end
print(string.format("ok: accuracy %.4f, ROC AUC %.4f", report.accuracy, report.roc_auc))
