local mb = require "moonbench"
local f = mb.open("iris.h5")
local g = f:select { "petal length (cm)", "petal width (cm)" }
local h = f:filter(f:col("petal length (cm)"):gt(5))
local d = g:derive("area", g:col("petal length (cm)") * g:col("petal width (cm)"))
print(#h, d:shape(), d:col("area"):sum(), f:sample(10, 3):take{1, 2, 2})
