-- The lookup spread over many organisations: each line of the data file is "<token>\t<userName>".
-- args: <file of token<TAB>userName lines>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
setup, done = c.setup, c.done
local pairs_ = {}

function init(args)
  for _, line in ipairs(c.read_lines(args[1])) do
    local token, name = line:match("^([^\t]+)\t(.+)$")
    pairs_[#pairs_ + 1] = { "Bearer " .. token, "/scim/v2/Users?filter=" .. c.urlencode('userName eq "' .. name .. '"') }
  end
  math.randomseed(os.time() + (thread_index or 0) * 7919)
end

function request()
  local p = pairs_[math.random(#pairs_)]
  return wrk.format("GET", p[2], { ["Authorization"] = p[1], ["Accept"] = "application/scim+json" })
end
