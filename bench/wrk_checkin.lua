-- wrk script for bench/checkin_bench.py: hello, naive insert, or the real check-in.
-- args: mode tokens_file lessons_file offset client_time lat lon
-- Every check-in request is a new event id for a new (trainee, lesson) pair, so all are accepted.

local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local mode, offset, client_time, base_lat, base_lon
local tokens, lessons = {}, {}
local counter, step = 0, 1

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

function init(args)
  mode = args[1]
  tokens = lines(args[2])
  lessons = lines(args[3])
  offset = tonumber(args[4])
  client_time = args[5]
  base_lat = tonumber(args[6])
  base_lon = tonumber(args[7])
  step = tonumber(args[8]) or 1
  counter = tid or 0
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

local function hex4()
  return string.format("%04x", math.random(0, 65535))
end

local function uuid4()
  return hex4() .. hex4() .. "-" .. hex4() .. "-4" .. string.sub(hex4(), 2) .. "-a" ..
         string.sub(hex4(), 2) .. "-" .. hex4() .. hex4() .. hex4()
end

function request()
  if mode == "hello" then
    return wrk.format("GET", "/bench/hello")
  end
  local i = offset + counter
  counter = counter + step
  local t = (i % #tokens) + 1
  local l = lessons[(math.floor(i / #tokens) % #lessons) + 1]
  -- Each phone a little apart (up to ~50 m), as real phones in one room are.
  local lat = base_lat + (math.random() - 0.5) * 0.0008
  local lon = base_lon + (math.random() - 0.5) * 0.0008
  local body = string.format(
    '{"event_id":"%s","lesson_id":%s,"kind":"check_in","lat":%.7f,"lon":%.7f,' ..
    '"accuracy_m":12.5,"coord_sys":"wgs84","client_time":"%s"}',
    uuid4(), l, lat, lon, client_time)
  local headers = {["Authorization"] = "Bearer " .. tokens[t], ["Content-Type"] = "application/json"}
  local path = "/api/v1/attendance"
  if mode == "naive" then path = "/bench/naive" end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
