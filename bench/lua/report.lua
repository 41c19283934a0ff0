-- Prints one machine-readable line after wrk's report:
-- BENCH <req/s> <p50 ms> <p99 ms> <errors> <requests>
-- (errors: connect/read/write/timeout, and any status >= 400).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %.1f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout + e.status, summary.requests))
end
