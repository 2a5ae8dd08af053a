-- tests/net/pipeline.lua: a wrk script for test_net_load.py. Every write on a connection
-- carries 16 GET requests (HTTP/1.1 pipelining), cycling through the paths given after
-- "--"; every response is counted, and those whose status is not 2xx are counted apart.
-- At the end it prints one line: "responses N non-2xx M".
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local paths = {}
  for _, path in ipairs(args) do
    paths[#paths + 1] = path
  end
  if #paths == 0 then
    paths = { "/" }
  end
  local requests = {}
  for i = 1, 16 do
    requests[i] = wrk.format("GET", paths[(i - 1) % #paths + 1])
  end
  pipeline = table.concat(requests)
  responses = 0
  non2xx = 0
end

function request()
  return pipeline
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local n, bad = 0, 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("responses")
    bad = bad + thread:get("non2xx")
  end
  io.write(string.format("responses %d non-2xx %d\n", n, bad))
end
