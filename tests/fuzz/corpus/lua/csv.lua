local mb = require "moonbench"
local f = mb.open("iris.csv")
local a, b = mb.split(f, { test = 0.3, seed = 2 })
print(#a, #b, f:types()[f:columns()[1]])
local v = mb.where(f:col("sepal length (cm)"):gt(5), 1, 0)
print(mb.clip(v, 0, 0.5):sum(), mb.log1p(3))
