-- wrk script of the end-to-end benchmark: checks every response (status and
-- body length, given as `-- STATUS BYTES`) and prints one JSON line with the
-- counts and latency percentiles (microseconds).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expect_status = tonumber(args[1])
  expect_bytes = tonumber(args[2])
  good = 0
  bad = 0
  first_bad = ""
end

function response(status, headers, body)
  if status == expect_status and #body == expect_bytes then
    good = good + 1
  else
    if bad == 0 then first_bad = status .. " with " .. #body .. " bytes" end
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local g, b, first = 0, 0, ""
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    if first == "" then first = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '{"event":"wrk","requests":%d,"durationUs":%d,"good":%d,"bad":%d,"firstBad":"%s","p50Us":%d,"p99Us":%d,"errConnect":%d,"errRead":%d,"errWrite":%d,"errTimeout":%d,"errStatus":%d}\n',
    summary.requests, summary.duration, g, b, first, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
