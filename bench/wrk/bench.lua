-- wrk script for the moat benchmark. Arguments (after --):
--   hot   KIND N        uniform random ids 0..N-1 of /api/KIND/{id}
--   zipf  KIND N S      Zipf(S)-distributed ids over 0..N-1 (rank r has weight 1/r^S)
--   unique KIND TAG     a new id on every request: /api/KIND/TAG-{counter}
-- A last argument "gzip" adds Accept-Encoding: gzip to every request.
-- done() prints one JSON line prefixed with "WRKJSON " for the runner.

local mode, kind, reqs, n, cdf, tag, counter

local function zipf_cdf(count, s)
  local c, sum = {}, 0
  for r = 1, count do
    sum = sum + 1 / (r ^ s)
    c[r] = sum
  end
  for r = 1, count do c[r] = c[r] / sum end
  return c
end

local function zipf_rank()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function init(args)
  mode, kind = args[1], args[2]
  if args[#args] == "gzip" then
    wrk.headers["Accept-Encoding"] = "gzip"
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
  if mode == "hot" then
    n = tonumber(args[3])
    reqs = {}
    for i = 0, n - 1 do
      reqs[i + 1] = wrk.format(nil, "/api/" .. kind .. "/" .. i)
    end
  elseif mode == "zipf" then
    n = tonumber(args[3])
    cdf = zipf_cdf(n, tonumber(args[4]))
  elseif mode == "unique" then
    tag = args[3] .. "-" .. math.random(1, 1000000000)
    counter = 0
  else
    error("bench.lua: unknown mode " .. tostring(mode))
  end
end

function request()
  if mode == "hot" then
    return reqs[math.random(n)]
  elseif mode == "zipf" then
    return wrk.format(nil, "/api/" .. kind .. "/" .. (zipf_rank() - 1))
  end
  counter = counter + 1
  return wrk.format(nil, "/api/" .. kind .. "/" .. tag .. "-" .. counter)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
