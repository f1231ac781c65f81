-- Okta's deactivate/reactivate: PATCH /Users/{id} {"op":"replace","value":{"active":false|true}}.
-- Each thread owns its own slice of the ids and flips each user it picks, so every request changes a
-- row (a PATCH that changes nothing would be answered without writing).
-- args: <file of ids> <token> <threads>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done
local ids, active = {}, {}

function init(args)
  local threads = tonumber(args[3] or "1")
  local me = (thread_index or 1) - 1
  for i, id in ipairs(c.read_lines(args[1])) do
    if (i - 1) % threads == me then ids[#ids + 1] = id end
  end
  math.randomseed(os.time() + me * 7919)
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/scim+json"
  wrk.headers["Accept"] = "application/scim+json"
end

function request()
  local id = ids[math.random(#ids)]
  local now = active[id]
  if now == nil then now = true end
  active[id] = not now
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
    '"Operations":[{"op":"replace","value":{"active":' .. tostring(not now) .. '}}]}'
  return wrk.format("PATCH", "/scim/v2/Users/" .. id, nil, body)
end
