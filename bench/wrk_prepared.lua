-- wrk script for bench/checkin_bench.py: replays prepared request lines, the same work for every server.
-- args: requests_file path host
-- requests_file holds one request per line: "<token>\t<json body>" (made by the bench script, each a
-- distinct trainee, lesson pair and event id). init() formats all of them before the clock starts, so
-- request() only hands out the next string: wrk's per-request cost is the same whatever the server.

local prepared = {}
local counter = 0

function init(args)
  local file, path, host = args[1], args[2], args[3]
  for line in io.lines(file) do
    local tab = string.find(line, "\t", 1, true)
    if tab then
      local token, body = string.sub(line, 1, tab - 1), string.sub(line, tab + 1)
      prepared[#prepared + 1] = wrk.format("POST", path, {
        ["Host"] = host, ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
    end
  end
end

function request()
  counter = counter + 1
  if counter > #prepared then
    -- Out of prepared lines: the bench sizes the file for the run, so this shows up as errors.
    return wrk.format("GET", "/out-of-prepared-requests")
  end
  return prepared[counter]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
