-- wrk script for benchmarks/http_wrk.py: rotate pre-built requests, report as one JSON line.
--
--   wrk -t1 -c4 -d10s -s wrk_rotate.lua http://127.0.0.1:8765 -- PATH METHOD [BODIES_FILE]
--
-- BODIES_FILE holds one JSON request body per line; every request takes the next one, so
-- consecutive requests carry different products (no cache can answer for the forecast).
-- Requests are formatted once in init(): request() only picks one, so wrk stays cheap.

local prepared = {}
local counter = 0

function setup(thread)
  -- Threads start at different places in the rotation.
  thread:set("offset", math.random(0, 100000))
end

function init(args)
  local path, method, file = args[1], args[2], args[3]
  if file then
    local headers = { ["Content-Type"] = "application/json" }
    for line in io.lines(file) do
      prepared[#prepared + 1] = wrk.format(method, path, headers, line)
    end
  else
    prepared[1] = wrk.format(method, path)
  end
  counter = offset or 0
end

function request()
  counter = counter + 1
  return prepared[(counter % #prepared) + 1]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "non_2xx_3xx": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
