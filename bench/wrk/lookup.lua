-- Okta's lookup before every push: GET /Users?filter=userName eq "<random existing userName>".
-- args: <file of userNames> <token>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done
local names, token

function init(args)
  names = c.read_lines(args[1])
  token = args[2]
  math.randomseed(os.time() + (thread_index or 0) * 7919)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Accept"] = "application/scim+json"
end

function request()
  local name = names[math.random(#names)]
  return wrk.format("GET", "/scim/v2/Users?filter=" .. c.urlencode('userName eq "' .. name .. '"'))
end
