-- bench/pipeline.lua: the wrk script of bench/wrk_vs_nginx.py's pipelined mode. Every
-- write on a connection carries DEPTH GET requests for the URL's path (HTTP/1.1
-- pipelining, as the well-known plaintext benchmarks send them; DEPTH is the argument
-- after "--", 16 if none is given). wrk counts every response as a request, so its
-- Requests/sec counts each answered request; its latency is that of a whole write of
-- DEPTH requests (wrk records it once all of them are answered).
function init(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format("GET")
  end
  pipeline = table.concat(requests)
end

function request()
  return pipeline
end
