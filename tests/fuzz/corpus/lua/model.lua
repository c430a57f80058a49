local mb = require "moonbench"
local f = mb.open("iris.h5")
local p = mb.pipeline { mb.standardize(), mb.model("baseline") }
p:fit(f)
print(mb.evaluate(p, f))
local t = mb.lua_transform("return function(x) return x end")
