-- categorical.lua: a table of categorical columns with missing values, as
-- pandas wrote it: the 1984 US congressional voting records (435
-- representatives, 16 votes each "y", "n" or missing; the target is the
-- party). Looks at the columns, derives features with vectorised
-- arithmetic, filters rows, then fits impute -> one-hot -> standardize ->
-- logistic regression and judges it on held-out rows.
--
--   build/moonbench run lua/examples/categorical.lua [datasets/table/vote.h5]
--
-- Also runs on datasets/table/credit_g.h5 (20 mixed columns, target
-- "class"), where accuracy above 0.7 is what a linear model gets. Paths are
-- relative to the repository root; the script ends with error() when the
-- score is not what the data should give.
local mb = require "moonbench"

local path = arg[1] or "datasets/table/vote.h5"
local want = path:match("credit_g") and 0.7 or 0.9
local data = mb.open(path)   -- a pandas table (df.to_hdf(..., format="table")) opens like any file
local target = data:target()
print(string.format("%s: %d rows x %d columns, target '%s'", path, #data, #data:columns(), target))

-- 1. What is in the columns: describe() gives one table per column (count,
--    missing, and mean/std/quantiles for numbers or distinct/top levels for
--    categories); mb.format_table prints a list of such tables aligned.
local desc = data:describe()
for _, d in ipairs(desc) do
  if d.top then d.top_level = string.format("%s (%d)", d.top[1][1], d.top[1][2]) end
end
print(mb.format_table(desc, { "name", "type", "count", "missing", "distinct", "top_level", "mean", "std" }))

-- 2. Derived columns with vectorised arithmetic: a comparison gives a 0/1
--    vector, and vectors add up element by element (in C, not in a Lua
--    loop). Categorical columns compare by level text.
local cats = {}
for name, kind in pairs(data:types()) do
  if name ~= target and kind == "categorical" then cats[#cats + 1] = name end
end
table.sort(cats)
local missing
for _, name in ipairs(cats) do
  local m = data:col(name):isnan()              -- 1 where the value is missing
  missing = missing and missing + m or m
end
data = data:derive("n_missing", missing)
if data:types()["handicapped-infants"] then
  -- vote: how many of the 16 votes were "y"
  local yes
  for _, name in ipairs(cats) do
    local v = data:col(name):eq("y")
    yes = yes and yes + v or v
  end
  data = data:derive("n_yes", yes)
  print(string.format("'y' votes per representative: mean %.1f of %d", yes:mean(), #cats))
else
  -- credit_g: the monthly instalment, a ratio of two numeric columns
  data = data:derive("per_month", data:col("credit_amount") / data:col("duration"))
end
print(string.format("missing values per row: mean %.2f, max %d", data:col("n_missing"):mean(),
  math.floor(data:col("n_missing"):max())))

-- 3. Filters: with a 0/1 mask (fast, vectorised) or with a Lua function of
--    the row (a table column -> value; missing values are nil).
local before = #data
data = data:filter(data:col("n_missing"):le(8))  -- drop ballots that are mostly blank
print(string.format("kept %d of %d rows with at most 8 missing values", #data, before))
local first_class = data:col(target):levels()[1]
local some = data:filter(function(row) return row[target] == first_class end)
print(string.format("%d rows of class '%s'", #some, first_class))

-- 4. The pipeline: fill missing categories with the most frequent level,
--    one-hot encode the categories (one 0/1 column per level), standardize
--    everything, then an L2 logistic regression.
local train, test = mb.split(data, { test = 0.25, stratify = true, seed = 1 })
local pipe = mb.pipeline {
  mb.impute { strategy = "most_frequent" },
  mb.onehot(),
  mb.standardize(),
  mb.model("linear"),
}
pipe:fit(train)
local features = pipe:transform(train)
print(string.format("the model sees %d features after one-hot encoding", #features:columns() - 1))
local report = mb.evaluate(pipe, test)
print(report)

if not (report.accuracy > want) then
  error(string.format("test accuracy %.4f, want > %g", report.accuracy, want))
end
print(string.format("ok: test accuracy %.4f on %d held-out rows", report.accuracy, #test))
