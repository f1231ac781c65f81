-- Shared by the benchmark's wrk scripts (loaded with dofile from the script's folder).
-- Every script is driven with: wrk ... -s X.lua URL -- <data file> <token> <threads>
-- and prints one line "BENCHJSON {...}" from done(), which scripts/bench parses.
local M = {}

function M.read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  assert(#lines > 0, "no lines in " .. path)
  return lines
end

function M.urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- Threads are numbered in setup() (main Lua state) so each can take its own slice of the data.
local counter = 0
function M.setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter)
end

function M.done(summary, latency, requests)
  local errs = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    errs.connect, errs.read, errs.write, errs.status, errs.timeout))
end

return M
