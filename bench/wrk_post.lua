-- Pre-signed, distinct POSTs for wrk: args = <file of "signature\tbody" lines> <path>.
-- Thread k of n sends lines k, k+n, k+2n, ...; none is sent twice (a thread that runs out
-- sends its last request again and counts it as `reused`, which the benchmark reports).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  file, path = args[1], args[2]
  reqs = {}
  local i = 0
  local n = tonumber(args[3])
  for line in io.lines(file) do
    if i % n == id then
      local tab = line:find("\t", 1, true)
      table.insert(reqs, {line:sub(1, tab - 1), line:sub(tab + 1)})
    end
    i = i + 1
  end
  idx, answered, other, reused = 0, 0, 0, 0
end

function request()
  idx = idx + 1
  local r = reqs[idx]
  if r == nil then
    reused = reused + 1
    r = reqs[#reqs]
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded",
                                   ["X-Twilio-Signature"] = r[1]}, r[2])
end

function response(status, headers, body)
  if status == 200 then answered = answered + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local a, o, u = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answered"); o = o + t:get("other"); u = u + t:get("reused")
  end
  io.write(string.format(
    'WRK {"requests": %d, "answered": %d, "non200": %d, "reused": %d, "duration_us": %d, ' ..
    '"errors": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, a, o, u, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
