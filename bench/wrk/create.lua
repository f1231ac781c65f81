-- POST /Users with a new, unique user each time (the shape Okta sends).
-- args: <run tag> <token>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done
local tag, n = "", 0

function init(args)
  tag = args[1] .. "-t" .. tostring(thread_index or 0)
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/scim+json"
  wrk.headers["Accept"] = "application/scim+json"
end

function request()
  n = n + 1
  local email = string.format("new-%s-%d@bench.example", tag, n)
  local body = string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",' ..
    '"name":{"givenName":"New","familyName":"User %d"},"displayName":"New User %d",' ..
    '"emails":[{"value":"%s","type":"work","primary":true}],"active":true,"externalId":"ext-%s-%d"}',
    email, n, n, email, tag, n)
  return wrk.format("POST", "/scim/v2/Users", nil, body)
end
