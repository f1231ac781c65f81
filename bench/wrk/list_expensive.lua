-- An organisation's expensive lists: a substring filter on title, which no index serves, so every
-- request scans the organisation's users and counts them.
-- args: <token>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done

function init(args)
  math.randomseed(os.time() + (thread_index or 0) * 7919)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Accept"] = "application/scim+json"
end

function request()
  local needle = "nobody" .. math.random(1000)
  return wrk.format("GET", "/scim/v2/Users?count=100&filter=" .. c.urlencode('title co "' .. needle .. '"'))
end
