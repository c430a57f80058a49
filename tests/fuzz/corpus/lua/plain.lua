local t = {}
for i = 1, 100 do t[#t + 1] = string.rep("x", i % 7) .. i end
print(table.concat(t, ","):find("(x+)%d"), load("return 1 + 1")(), pcall(error, {}))
local co = coroutine.wrap(function(a) coroutine.yield(a * 2) end)
print(co(21), string.format("%q", 1 / 3), utf8.char(0x263a), select("#", 1, nil, 3))
