-- lua/moonbench/core.lua: the Lua half of the `moonbench` module: transform
-- constructors, Lua-written transforms, pipelines (fit, predict, save,
-- load), splits, evaluation reports, cross-validation, parameter search
-- and the comparison leaderboard. The C half (src/script) gives frames,
-- vectors, models, C transforms and the numeric kernels; this file is
-- embedded in the executable and the Lua module by the build.
return function(mb)

local fmt = string.format

-- {====== reports print as aligned tables ======}

local function num(x, w)
  w = w or 8
  local s = (x ~= x) and "-" or fmt("%.4f", x)
  if w == 0 then return s end
  return fmt("%" .. w .. "s", s)
end

local report_mt = {}
report_mt.__index = report_mt

function report_mt.__tostring(r)
  local out = {}
  if r.task == "regression" then
    out[#out + 1] = fmt("regression report (n = %d)", r.n)
    out[#out + 1] = fmt("RMSE %s   MAE %s   R2 %s   MAPE %s", num(r.rmse, 0), num(r.mae, 0),
      num(r.r2, 0), num(r.mape, 0))
    return table.concat(out, "\n")
  end
  out[#out + 1] = fmt("classification report (n = %d)", r.n)
  local w = 5
  for _, c in ipairs(r.classes) do w = math.max(w, #c.class) end
  w = math.min(w, 24)
  out[#out + 1] = fmt("%-" .. w .. "s %9s %8s %8s %8s", "class", "precision", "recall", "f1", "support")
  for _, c in ipairs(r.classes) do
    out[#out + 1] = fmt("%-" .. w .. "s %9s %8s %8s %8d", c.class:sub(1, w), num(c.precision, 9),
      num(c.recall), num(c.f1), c.support)
  end
  out[#out + 1] = fmt("accuracy %s  balanced %s  F1 macro %s  F1 weighted %s", num(r.accuracy, 0),
    num(r.balanced_accuracy, 0), num(r.f1_macro, 0), num(r.f1_weighted, 0))
  out[#out + 1] = fmt("ROC AUC %s  PR AUC %s  log-loss %s  Brier %s", num(r.roc_auc, 0), num(r.pr_auc, 0),
    num(r.log_loss, 0), num(r.brier, 0))
  out[#out + 1] = "confusion matrix (rows: true class, columns: predicted)"
  local head = { fmt("%-" .. w .. "s", "") }
  for _, c in ipairs(r.classes) do head[#head + 1] = fmt("%9s", c.class:sub(1, 9)) end
  out[#out + 1] = table.concat(head, " ")
  for i, row in ipairs(r.confusion) do
    local line = { fmt("%-" .. w .. "s", r.classes[i].class:sub(1, w)) }
    for _, v in ipairs(row) do line[#line + 1] = fmt("%9d", v) end
    out[#out + 1] = table.concat(line, " ")
  end
  return table.concat(out, "\n")
end

-- {====== transforms ======}

local kinds = { "standardize", "minmax", "impute", "onehot", "ordinal", "log1p", "clip", "poly2" }

-- mb.standardize{"a", "b"} or mb.standardize{columns = {...}}, and the others alike
local function options(opts)
  opts = opts or {}
  if opts[1] ~= nil and opts.columns == nil then
    local cols = {}
    for i, c in ipairs(opts) do cols[i] = c end
    local o = {}
    for k, v in pairs(opts) do if type(k) ~= "number" then o[k] = v end end
    o.columns = cols
    return o
  end
  return opts
end

-- mb.clip and mb.log1p are also the C vector functions: a vector or a number
-- as first argument goes there, a table of options makes a transform.
local vector_mt = getmetatable(mb.vector {})
local vector_fn = { clip = mb.clip, log1p = mb.log1p }
for _, kind in ipairs(kinds) do
  local vfn = vector_fn[kind]
  mb[kind] = function(opts, ...)
    if vfn and (type(opts) == "number" or getmetatable(opts) == vector_mt) then return vfn(opts, ...) end
    return mb.transform_new(kind, options(opts))
  end
end
mb.select_columns = function(cols) return mb.transform_new("select", options(cols)) end
mb.drop_columns = function(cols) return mb.transform_new("drop", options(cols)) end

-- A state table as Lua source: numbers, strings, booleans and tables of them.
local function serialize(v, depth)
  depth = depth or 0
  if depth > 50 then error("Lua transform state: nested too deep", 0) end
  local t = type(v)
  if t == "number" then
    if v ~= v then return "0/0" end
    if v == math.huge then return "math.huge" end
    if v == -math.huge then return "-math.huge" end
    if math.type(v) == "integer" then return tostring(v) end
    return fmt("%.17g", v)
  elseif t == "string" then return fmt("%q", v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "table" then
    local parts = {}
    for k, x in pairs(v) do
      parts[#parts + 1] = "[" .. serialize(k, depth + 1) .. "]=" .. serialize(x, depth + 1)
    end
    table.sort(parts)
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error("Lua transform state: cannot store a " .. t, 0)
end

local lua_transform_mt = {}
lua_transform_mt.__index = lua_transform_mt
lua_transform_mt.__tostring = function(t) return "transform lua" .. (t.state and " (fitted)" or "") end

-- {====== Lua steps from bundles: a restricted environment ======}
-- A bundle's Lua step is code from whoever wrote the file. It runs only
-- when the caller allows it (mb.load(path, {allow_lua = true})), in an
-- environment of its own: the pure functions of the standard library
-- (no os, io, package, debug, load, dofile, collectgarbage, string.dump,
-- getmetatable or setmetatable: without metatables nothing it defines can
-- run later, as a finalizer or metamethod, outside its calls), and from
-- moonbench only vectors, frames and C transforms. While its code runs,
-- moonbench refuses every file write (mb._restrict; frame:save and the
-- others check it). docs/security.md lists what is guaranteed.
local base = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = rawset, select = select,
  tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall,
}
local base_libs = { math = math, string = string, table = table, utf8 = utf8, coroutine = coroutine }
local lib_denied = { dump = true, randomseed = true }
local mb_allowed = {
  "abs", "ceil", "clip", "concat", "cos", "exp", "expm1", "floor", "frame", "log", "log1p", "round",
  "sin", "sqrt", "tanh", "vector", "where", "version", "ttest", "format_table", "transform_new",
  "standardize", "minmax", "impute", "onehot", "ordinal", "poly2", "select_columns", "drop_columns",
}
local pcall_, error_, load_ = pcall, error, load

local function restricted_env()
  local env = {}
  for k, v in pairs(base) do env[k] = v end
  for name, lib in pairs(base_libs) do
    local t = {}
    for k, v in pairs(lib) do if not lib_denied[k] then t[k] = v end end
    env[name] = t
  end
  local m = {}
  for _, k in ipairs(mb_allowed) do m[k] = mb[k] end
  env.require = function(name)
    if name == "moonbench" then return m end
    error_(fmt("require '%s': a Lua step from a bundle may require only \"moonbench\"", tostring(name)), 2)
  end
  env._G = env
  return env
end

-- Run fn(...) (one result) with file writes refused, whatever it raises.
local function contained(fn, ...)
  mb._restrict(1)
  local ok, res = pcall_(fn, ...)
  mb._restrict(-1)
  if not ok then error_(res, 0) end
  return res
end

local function new_lua_transform(source, state, restricted, level)
  if type(source) ~= "string" then error("mb.lua_transform: expected the transform's source text", level) end
  local chunk, err
  if restricted then
    chunk, err = load_(source, "=lua_transform", "t", restricted_env())
  else
    chunk, err = load_(source, "=lua_transform", "t") -- the caller's globals: they wrote it
  end
  if not chunk then error("mb.lua_transform: " .. err, level) end
  local impl = restricted and contained(chunk) or chunk()
  if type(impl) ~= "table" or (restricted and type(rawget(impl, "apply")) or type(impl.apply)) ~= "function" then
    error("mb.lua_transform: the source must return a table with an apply function (and optionally fit)", level)
  end
  return setmetatable({ source = source, impl = impl, state = state, restricted = restricted }, lua_transform_mt)
end

-- mb.lua_transform(source): source returns {fit = function(state, frame), apply = function(state, frame) -> frame}
function mb.lua_transform(source, state)
  local t = new_lua_transform(source, state, false, 3) -- not a tail call: level 3 is our caller
  return t
end

-- A Lua step of a bundle: its source and its state text (a table
-- constructor written by serialize), both run in the restricted
-- environment. what names the step in messages ("PATH: pipeline step 2").
function mb._restricted_transform(source, state_text, what)
  local f, err = load_(state_text, "=state", "t", { math = { huge = math.huge } })
  if not f then error(fmt("%s: the Lua step's state does not parse: %s", what, err), 0) end
  local ok, t = pcall_(function()
    local state = contained(f)
    if type(state) ~= "table" then error("the Lua step's state is not a table", 0) end
    return new_lua_transform(source, state, true, 0)
  end)
  if not ok then error(fmt("%s: %s", what, tostring(t)), 0) end
  return t
end

function lua_transform_mt:fit(frame)
  self.state = {}
  local fit = self.restricted and rawget(self.impl, "fit") or self.impl.fit
  if fit then
    if self.restricted then contained(fit, self.state, frame) else fit(self.state, frame) end
  end
  return self
end

function lua_transform_mt:apply(frame)
  if not self.state then error("transform 'lua' applied before fit", 2) end
  local out
  if self.restricted then
    out = contained(rawget(self.impl, "apply"), self.state, frame)
  else
    out = self.impl.apply(self.state, frame)
  end
  if getmetatable(out) ~= getmetatable(frame) then
    error("transform 'lua': apply must return a frame", 2)
  end
  return out
end

function lua_transform_mt:fitted() return self.state ~= nil end
function lua_transform_mt:kind() return "lua" end
function lua_transform_mt:clone() return new_lua_transform(self.source, nil, self.restricted, 2) end

-- {====== pipelines ======}

local pipeline_mt = {}
pipeline_mt.__index = pipeline_mt

local function is_model(x) return tostring(x):match("^model ") ~= nil end

-- mb.pipeline{ transform, ..., model }
function mb.pipeline(parts)
  if type(parts) ~= "table" or #parts == 0 then
    error("mb.pipeline: expected {transforms..., model}", 2)
  end
  local steps = {}
  for i = 1, #parts - 1 do steps[i] = parts[i] end
  local model = parts[#parts]
  if not is_model(model) then error("mb.pipeline: the last element must be a model (mb.model(...))", 2) end
  return setmetatable({ steps = steps, model = model }, pipeline_mt)
end

function pipeline_mt.__tostring(p)
  local names = {}
  for _, s in ipairs(p.steps) do names[#names + 1] = s:kind() end
  names[#names + 1] = tostring(p.model)
  return "pipeline: " .. table.concat(names, " -> ")
end

-- Run the fitted steps over a frame.
function pipeline_mt:transform(frame)
  for i, s in ipairs(self.steps) do
    if not s:fitted() then error(fmt("pipeline: step %d (%s) applied before fit", i, s:kind()), 2) end
    frame = s:apply(frame)
  end
  return frame
end

function pipeline_mt:fit(frame, opts)
  if not frame:target() then error("pipeline:fit: the frame has no target column (frame:set_target(name))", 2) end
  if opts and type(opts.weights) == "string" then
    -- the weights column is no feature: set it apart before the transforms
    local w = frame:col(opts.weights)
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.weights, opts, frame = w, o, frame:drop(opts.weights)
  end
  self.inputs, self.rows_used, self._scorer, self.fitted = frame:head(0), #frame, nil, nil
  for _, s in ipairs(self.steps) do
    s:fit(frame)
    frame = s:apply(frame)
  end
  self.model:fit(frame, opts)
  self.fitted = true
  return self
end

-- Columns the pipeline was trained on that a frame lacks: a clear message.
local function check_inputs(p, frame)
  if not p.input_names then return end
  local have = {}
  for _, c in ipairs(frame:columns()) do have[c] = true end
  for _, c in ipairs(p.input_names) do
    if not have[c] then
      error(fmt("predict: the data has no column '%s', which the pipeline was trained on", c), 3)
    end
  end
end

local function input_names(p)
  if p.input_names then return p.input_names end
  if not p.inputs then return nil end
  local names, target = {}, p.inputs:target()
  for _, c in ipairs(p.inputs:columns()) do if c ~= target then names[#names + 1] = c end end
  return names
end

-- A fitted pipeline predicts through the core's one scorer, on its bundle
-- built in memory (mb._pipeline_scorer; fit drops it): its predictions
-- are those of the saved bundle under `moonbench score`. A loaded
-- pipeline has its scorer already.
local function scorer_of(p)
  if p.scorer then return p.scorer end
  if not p._scorer then
    local steps = {}
    for i, s in ipairs(p.steps) do steps[i] = s:kind() == "lua" and { kind = "lua" } or s end
    p._scorer = mb._pipeline_scorer{ steps = steps, model = p.model, inputs = p.inputs }
    p._all_c = true
    for _, s in ipairs(p.steps) do if s:kind() == "lua" then p._all_c = false end end
  end
  return p._scorer
end

-- Steps and model: in one C call when every step is C; else C steps
-- through the scorer and Lua steps here, then the model.
local function score(p, frame, labels_only)
  p.input_names = p.input_names or input_names(p)
  check_inputs(p, frame)
  if not p.fitted then -- not by p:fit: step by step (an unfitted step says so)
    local x = p:transform(frame)
    if labels_only then return p.model:predict(x) end
    return nil, p.model:predict_proba(x)
  end
  local sc = scorer_of(p)
  if p._all_c then return sc:score(frame, labels_only) end
  for i, s in ipairs(p.steps) do
    if s:kind() == "lua" then
      if not s:fitted() then error(fmt("pipeline: step %d (lua) applied before fit", i), 3) end
      frame = s:apply(frame)
    else
      frame = sc:step(i, frame)
    end
  end
  return sc:predict(frame, labels_only)
end

function pipeline_mt:predict(frame)
  return (score(self, frame, true))
end

function pipeline_mt:predict_proba(frame)
  local _, proba = score(self, frame, false)
  if not proba then error("predict_proba: a regression model", 2) end
  return proba
end

function pipeline_mt:info()
  if self.scorer then return self.loaded_info end
  return self.model:info()
end

-- A fresh, unfitted copy; params override model parameters ({alpha = 0.1}).
function pipeline_mt:clone(params)
  if self.scorer then error("clone: a loaded pipeline cannot be refitted; build it again", 2) end
  local steps = {}
  for i, s in ipairs(self.steps) do steps[i] = s:clone() end
  steps[#steps + 1] = self.model:clone(params)
  return mb.pipeline(steps)
end

-- p:save(path[, {source = "data.h5", script = text, threshold = P}]); threshold:
-- a binary model's decision threshold, stored for every scoring path
function pipeline_mt:save(path, info)
  if not self.fitted then error("save: the pipeline is not fitted", 2) end
  info = info or {}
  local steps = {}
  for i, s in ipairs(self.steps) do
    if s:kind() == "lua" then
      steps[i] = { kind = "lua", source = s.source, state = "return " .. serialize(s.state) }
    else
      steps[i] = s
    end
  end
  local source = info.source or ""
  mb._save_pipeline(path, {
    steps = steps, model = self.model, inputs = self.inputs, rows = self.rows_used,
    source = source, source_file = info.source_file or source:match("^(.-):/") or source,
    script = info.script or mb.script_text, threshold = info.threshold,
  })
  return self
end

-- mb.load(path[, {allow_lua = true}]): a pipeline that predicts as the saved
-- one did. A Lua step is code from the bundle: refused unless allowed, and
-- then run in the restricted environment above.
function mb.load(path, opts)
  local allow = type(opts) == "table" and opts.allow_lua == true
  local scorer, info = mb._load_pipeline(path)
  local steps = {}
  for i, s in ipairs(info.steps) do
    local what = fmt("%s: pipeline step %d", path, i)
    if s.kind == "lua" then
      if not allow then
        error(what .. " is a Lua transform; loading it runs code from the bundle: pass --allow-lua "
          .. "(or {allow_lua=true}) if you trust it", 2)
      end
      steps[i] = mb._restricted_transform(s.source, s.state, what)
    else
      local idx = i
      steps[i] = {
        kind = function() return s.kind end, fitted = function() return true end,
        apply = function(_, frame) return scorer:step(idx, frame) end,
      }
    end
  end
  local all_c = true
  for _, s in ipairs(info.steps) do if s.kind == "lua" then all_c = false end end
  local p = setmetatable({ steps = steps, scorer = scorer, fitted = true, loaded_info = info,
    model = scorer, _all_c = all_c }, pipeline_mt)
  p.input_names = #info.inputs > 0 and info.inputs or info.features
  return p
end

-- {====== splits ======}

-- mb.split(frame, {test = 0.2, stratify = true, seed = 1, group = "col"}): train, test
function mb.split(frame, opts)
  opts = opts or {}
  local t = opts.test or 0.25
  if type(t) ~= "number" or t <= 0 or (t >= 1 and (t ~= math.floor(t) or t >= #frame)) then
    error(fmt("split: test = %s; expected a fraction in (0, 1) or a row count in [1, %d)", tostring(t), #frame), 2)
  end
  local tr, te = mb._split(frame, opts)
  return frame:take(tr), frame:take(te)
end

-- mb.kfold(frame, {k = 5, stratify = true, seed = 1, group = "col"}): {{train =, test =}, ...}
function mb.kfold(frame, opts)
  opts = opts or {}
  local k = opts.k or 5
  if math.type(k) ~= "integer" or k < 2 or k > #frame then
    error(fmt("kfold: k = %s; expected an integer in [2, %d] (the number of rows)", tostring(k), #frame), 2)
  end
  local fold = mb._folds(frame, opts)
  local parts = {}
  for i = 1, k do parts[i] = { train = {}, test = {} } end
  for row, f in ipairs(fold) do
    for i = 1, k do
      local side = (i == f) and parts[i].test or parts[i].train
      side[#side + 1] = row
    end
  end
  local out = {}
  for i = 1, k do
    out[i] = { train = frame:take(parts[i].train), test = frame:take(parts[i].test) }
  end
  return out
end

-- {====== evaluation ======}

local greater_is_better = {
  accuracy = true, balanced_accuracy = true, f1_macro = true, f1_weighted = true,
  precision_macro = true, recall_macro = true, roc_auc = true, pr_auc = true, r2 = true,
  log_loss = false, brier = false, rmse = false, mae = false, mape = false,
}

-- mb.evaluate(pipeline_or_model, frame): a report (a table of numbers that prints as a table)
function mb.evaluate(p, frame)
  local target = frame:target()
  if not target then error("evaluate: the frame has no target column", 2) end
  local y = frame:col(target)
  local pred = p:predict(frame)
  local r
  if y:levels() or (pred:levels() and not y:levels()) then
    local classes = pred:levels()
    if not y:levels() then
      -- numeric labels of a classifier: compare as text ("0", "1")
      local t = {}
      for i = 1, #y do t[i] = fmt("%.9g", y[i]) end
      y = mb.vector(t)
    end
    local proba = p:predict_proba(frame)
    r = mb._class_report(y, pred, proba, classes)
    r.task = #classes == 2 and "binary" or "multiclass"
  else
    r = mb._reg_report(y, pred)
    r.task = "regression"
  end
  return setmetatable(r, report_mt)
end

-- ROC / PR / calibration points for a binary classifier: mb.curve("roc", p, frame)
function mb.curve(kind, p, frame, bins)
  local target = frame:target()
  local y = frame:col(target)
  local proba = p:predict_proba(frame)
  local cols = proba:columns()
  if #cols ~= 2 then error("curve: binary classification only", 2) end
  local y01 = y:levels() and y:eq(cols[2]) or y:eq(tonumber(cols[2]) or 1)
  return mb._curve(kind, y01, proba:col(cols[2]), bins)
end

local cv_mt = {}
cv_mt.__index = cv_mt
function cv_mt.__tostring(cv)
  local out = { fmt("cross-validation: %d folds", #cv.folds) }
  local keys = {}
  for k in pairs(cv.mean) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    out[#out + 1] = fmt("%-20s %s +- %s", k, num(cv.mean[k], 0), num(cv.std[k], 0))
  end
  return table.concat(out, "\n")
end

local function scalar_metrics(r)
  local m = {}
  for k, v in pairs(r) do if type(v) == "number" and k ~= "n" then m[k] = v end end
  return m
end

local function progress(opts, frac, msg)
  if opts and opts.progress then opts.progress(frac, msg, 0/0, 0/0) end
end

-- mb.cross_validate(pipeline, frame, {k = 5, stratify = true, seed = 0, repeats = 1, group = col})
-- Each fold fits a fresh clone of the pipeline. Returns {folds = {reports}, mean, std}.
function mb.cross_validate(p, frame, opts)
  opts = opts or {}
  local k, repeats = opts.k or 5, opts.repeats or 1
  if math.type(k) ~= "integer" or k < 2 or k > #frame then
    error(fmt("cross_validate: k = %s; expected an integer in [2, %d] (the number of rows)", tostring(k), #frame), 2)
  end
  if math.type(repeats) ~= "integer" or repeats < 1 then
    error(fmt("cross_validate: repeats = %s; expected an integer >= 1", tostring(repeats)), 2)
  end
  local stratify = opts.stratify
  if stratify == nil then
    local t = frame:target()
    stratify = t ~= nil and frame:types()[t] == "categorical"
  end
  local folds, total, done = {}, k * repeats, 0
  for r = 1, repeats do
    local parts = mb.kfold(frame, { k = k, stratify = stratify, seed = (opts.seed or 0) + r - 1, group = opts.group })
    for _, part in ipairs(parts) do
      if mb.interrupted() then error("interrupted", 0) end
      local q = p:clone()
      q:fit(part.train, { threads = opts.threads, seed = opts.seed })
      local rep = mb.evaluate(q, part.test)
      rep.n_train, rep.n_test = #part.train, #part.test
      folds[#folds + 1] = rep
      done = done + 1
      progress(opts, done / total, fmt("fold %d/%d", done, total))
    end
  end
  local mean, std = {}, {}
  for key in pairs(scalar_metrics(folds[1])) do
    if key ~= "n_train" and key ~= "n_test" then
      local s, s2 = 0, 0
      for _, f in ipairs(folds) do s = s + f[key] end
      local m = s / #folds
      for _, f in ipairs(folds) do s2 = s2 + (f[key] - m) ^ 2 end
      mean[key], std[key] = m, #folds > 1 and math.sqrt(s2 / (#folds - 1)) or 0/0
    end
  end
  return setmetatable({ folds = folds, mean = mean, std = std }, cv_mt)
end

local function default_metric(frame)
  local t = frame:target()
  return frame:types()[t] == "categorical" and "accuracy" or "rmse"
end

local function better(metric, a, b)
  if greater_is_better[metric] == false then return a < b end
  return a > b
end

-- All combinations of a grid {alpha = {0.1, 1}, l1_ratio = {0.2, 0.8}}, in a stable order.
local function combinations(grid)
  local keys = {}
  for k in pairs(grid) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = { {} }
  for _, k in ipairs(keys) do
    local nxt = {}
    for _, base in ipairs(out) do
      for _, v in ipairs(grid[k]) do
        local c = {}
        for kk, vv in pairs(base) do c[kk] = vv end
        c[k] = v
        nxt[#nxt + 1] = c
      end
    end
    out = nxt
  end
  return out
end

local search_mt = {}
search_mt.__index = search_mt
function search_mt.__tostring(s)
  local out = { fmt("search: %d candidates, metric %s (%d-fold cross-validation)", #s.results, s.metric, s.k) }
  for i, r in ipairs(s.results) do
    local ps = {}
    for k, v in pairs(r.params) do ps[#ps + 1] = k .. "=" .. tostring(v) end
    table.sort(ps)
    out[#out + 1] = fmt("%3d  %s +- %s  %s", i, num(r.mean, 0), num(r.std, 0), table.concat(ps, " "))
  end
  return table.concat(out, "\n")
end

local function run_search(p, frame, candidates, opts)
  local metric = opts.metric or default_metric(frame)
  local results = {}
  for i, params in ipairs(candidates) do
    local cv = mb.cross_validate(p:clone(params), frame, { k = opts.k or 5, seed = opts.seed, stratify = opts.stratify,
      group = opts.group, threads = opts.threads })
    if cv.mean[metric] == nil then error("search: unknown metric '" .. metric .. "'", 3) end
    results[#results + 1] = { params = params, mean = cv.mean[metric], std = cv.std[metric], cv = cv }
    progress(opts, i / #candidates, fmt("candidate %d/%d", i, #candidates))
  end
  table.sort(results, function(a, b) return better(metric, a.mean, b.mean) end)
  local best = results[1]
  local s = setmetatable({ results = results, metric = metric, k = opts.k or 5, best_params = best.params,
    best_score = best.mean }, search_mt)
  if opts.refit ~= false then s.best = p:clone(best.params):fit(frame) end
  return s
end

-- mb.grid_search(pipeline, frame, {grid = {alpha = {...}}, k = 5, metric = "accuracy"})
function mb.grid_search(p, frame, opts)
  if not opts or type(opts.grid) ~= "table" then error("grid_search: expected {grid = {param = {values}}}", 2) end
  return run_search(p, frame, combinations(opts.grid), opts)
end

-- mb.random_search(pipeline, frame, {space = {alpha = {lo, hi, "log"}, depth = {2, 8, "int"}}, n = 20, seed = 0})
function mb.random_search(p, frame, opts)
  if not opts or type(opts.space) ~= "table" then error("random_search: expected {space = {param = {lo, hi[, kind]}}}", 2) end
  local state = (opts.seed or 0) * 2654435761 % 4294967296 + 1
  local function rand() -- a small LCG: reproducible for a seed on every platform
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  end
  local keys = {}
  for k in pairs(opts.space) do keys[#keys + 1] = k end
  table.sort(keys)
  local candidates = {}
  for i = 1, opts.n or 10 do
    local c = {}
    for _, k in ipairs(keys) do
      local lo, hi, kind = table.unpack(opts.space[k])
      local u = rand()
      if kind == "log" then c[k] = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
      elseif kind == "int" then c[k] = math.floor(lo + u * (hi - lo + 1))
      elseif type(lo) == "table" then c[k] = lo[1 + math.floor(u * #lo)]
      else c[k] = lo + u * (hi - lo) end
    end
    candidates[i] = c
  end
  return run_search(p, frame, candidates, opts)
end

local board_mt = {}
board_mt.__index = board_mt
function board_mt.__tostring(b)
  local out = { fmt("leaderboard: %s, %d folds x %d repeats (corrected resampled t-test vs the best)",
    b.metric, b.k, b.repeats) }
  out[#out + 1] = fmt("%-4s %-24s %10s %10s %10s", "rank", "pipeline", "mean", "std", "p-value")
  for i, e in ipairs(b) do
    out[#out + 1] = fmt("%-4d %-24s %10s %10s %10s%s", i, e.name:sub(1, 24), num(e.mean, 10), num(e.std, 10),
      i == 1 and "-" or num(e.p, 10), (i > 1 and e.p < 0.05) and " *" or "")
  end
  out[#out + 1] = "* significantly worse than the best at the 5% level"
  return table.concat(out, "\n")
end

-- mb.compare({name = pipeline, ...}, frame, {k = 10, repeats = 1, metric = ..., seed = 0})
-- Every pipeline sees the same folds; the best is tested against each other.
function mb.compare(pipelines, frame, opts)
  opts = opts or {}
  local metric = opts.metric or default_metric(frame)
  local k, repeats = opts.k or 10, opts.repeats or 1
  local names = {}
  for name in pairs(pipelines) do names[#names + 1] = name end
  table.sort(names)
  local entries = {}
  for _, name in ipairs(names) do
    local cv = mb.cross_validate(pipelines[name], frame, { k = k, repeats = repeats, seed = opts.seed,
      stratify = opts.stratify, group = opts.group, threads = opts.threads })
    local scores = {}
    for i, f in ipairs(cv.folds) do scores[i] = f[metric] end
    if scores[1] == nil then error("compare: unknown metric '" .. metric .. "'", 2) end
    entries[#entries + 1] = { name = name, mean = cv.mean[metric], std = cv.std[metric], scores = scores, cv = cv }
  end
  table.sort(entries, function(a, b) return better(metric, a.mean, b.mean) end)
  local ratio = 1 / (k - 1) -- test/train size ratio of k-fold
  for i = 2, #entries do
    entries[i].p, entries[i].t = mb.ttest(entries[1].scores, entries[i].scores, ratio)
  end
  entries.metric, entries.k, entries.repeats = metric, k, repeats
  return setmetatable(entries, board_mt)
end

-- Tables of reports (describe) print aligned too.
function mb.format_table(rows, columns)
  local widths = {}
  for i, c in ipairs(columns) do
    widths[i] = #c
    for _, r in ipairs(rows) do
      local v = r[c]
      local s = type(v) == "number" and fmt("%.4g", v) or tostring(v == nil and "" or v)
      widths[i] = math.min(math.max(widths[i], #s), 24)
    end
  end
  local out, head = {}, {}
  for i, c in ipairs(columns) do head[i] = fmt("%" .. widths[i] .. "s", c) end
  out[1] = table.concat(head, "  ")
  for _, r in ipairs(rows) do
    local line = {}
    for i, c in ipairs(columns) do
      local v = r[c]
      local s = type(v) == "number" and fmt("%.4g", v) or tostring(v == nil and "" or v)
      line[i] = fmt("%" .. widths[i] .. "s", s:sub(1, widths[i]))
    end
    out[#out + 1] = table.concat(line, "  ")
  end
  return table.concat(out, "\n")
end

end
