print(pcall(os.execute, "true"), pcall(io.popen, "ls"), pcall(require, "nonexistent"))
print(pcall(load, "\27Lua"), pcall(io.open, "/etc/passwd", "w"), debug)
local f = io.open("out.txt", "w"); if f then f:write("x"); f:close() end
