-- GET /Users/{id} with random existing ids.
-- args: <file of ids> <token>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done
local ids

function init(args)
  ids = c.read_lines(args[1])
  math.randomseed(os.time() + (thread_index or 0) * 7919)
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Accept"] = "application/scim+json"
end

function request()
  return wrk.format("GET", "/scim/v2/Users/" .. ids[math.random(#ids)])
end
