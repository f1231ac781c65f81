-- GET one fixed path, with a bearer token when one is given: the server's cost per request without
-- the database (the benchmark's "floor" scenario).
-- args: <path> [token]
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done
local path

function init(args)
  path = args[1]
  if args[2] then wrk.headers["Authorization"] = "Bearer " .. args[2] end
  wrk.headers["Accept"] = "application/scim+json"
end

function request()
  return wrk.format("GET", path)
end
