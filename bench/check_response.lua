-- wrk script: check every response (status 200 and a complete page), so an error is never
-- counted as throughput. Each wrk thread has its own Lua state: the counters live there and
-- done() collects them through the thread objects kept in setup().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good = 0
  bad = 0
end

function response(status, headers, body)
  if status == 200 and string.find(body, "</html>", 1, true) then
    good = good + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_good, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_good = total_good + thread:get("good")
    total_bad = total_bad + thread:get("bad")
  end
  io.write(string.format("CHECKED good=%d bad=%d\n", total_good, total_bad))
end
