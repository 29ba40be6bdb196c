-- serve_post.lua: wrk script for `make bench-serve`: POST the file $BODY (Content-Type $TYPE,
-- default image/png) to the URL, each on a connection of its own where $CLOSE is set (Connection:
-- close), and print one RESULT line of counts and latency percentiles.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("TYPE") or "image/png"
if os.getenv("CLOSE") then -- each request on a connection of its own
  wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.status, e.timeout))
end
