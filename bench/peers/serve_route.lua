-- wrk script for bench/serve_bench.sh: POST /api/messages/{id}/route with a Bearer token,
-- message ids taken round-robin from a file (one id a line). No body: the route endpoint
-- takes none (src/server/api.c message_route reads only the id; docs/API.md "no body").
--   KANAVA_BENCH_TOKEN=... KANAVA_BENCH_IDS=ids.txt KANAVA_BENCH_OUT=result.json \
--   wrk -t2 -c8 -d60s --latency -s bench/peers/serve_route.lua http://127.0.0.1:PORT
-- Each wrk thread starts at a different offset in the list and cycles through all of it. done() writes one JSON object
-- (requests, duration, errors by kind, latency percentiles) to $KANAVA_BENCH_OUT.

local token = os.getenv("KANAVA_BENCH_TOKEN") or error("KANAVA_BENCH_TOKEN is not set")
local ids_file = os.getenv("KANAVA_BENCH_IDS") or error("KANAVA_BENCH_IDS is not set")

local function read_ids()
  local ids = {}
  for line in io.lines(ids_file) do
    if line:match("^%d+$") then ids[#ids + 1] = line end
  end
  if #ids == 0 then error(ids_file .. ": no message ids") end
  return ids
end

local n_threads = 0

function setup(thread)
  n_threads = n_threads + 1
  thread:set("thread_index", n_threads)
end

local ids, next_i, headers

function init(args)
  ids = read_ids()
  -- spread the threads' starting points over the list (golden-ratio steps)
  next_i = math.floor((thread_index - 1) * #ids * 0.618) % #ids
  headers = { ["Authorization"] = "Bearer " .. token }
end

function request()
  local id = ids[next_i + 1]
  next_i = (next_i + 1) % #ids
  return wrk.format("POST", "/api/messages/" .. id .. "/route", headers, nil)
end

function done(summary, latency, requests)
  local out = os.getenv("KANAVA_BENCH_OUT")
  local e = summary.errors
  local s = string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"lat_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}}',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean / 1e3, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3)
  if out then
    local f = assert(io.open(out, "w"))
    f:write(s, "\n")
    f:close()
  end
  io.write(s, "\n")
end
