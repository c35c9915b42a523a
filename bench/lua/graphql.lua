-- wrk script for the Gatehouse benchmark (bench/run.sh drives it; see bench/README.md).
--
-- Environment:
--   BENCH_MODE          "static": POST the JSON body in BENCH_BODY_FILE on every request;
--                       "write":  alternate addComment / likePost bodies built from the
--                                 Lua table returned by BENCH_WRITE_CONF (see bench.py).
--   BENCH_CHECK_ERRORS  "1": count responses whose body carries a GraphQL "errors" key.
--   BENCH_OUT           where done() writes its JSON summary.
--   BENCH_PHASE         write mode: which set of writer accounts this run uses (bench.py
--                       gives each warm-up and timed run its own: a like is never repeated
--                       across runs).

local mode = os.getenv("BENCH_MODE") or "static"
local check_errors = os.getenv("BENCH_CHECK_ERRORS") == "1"
local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local conf
local n = 0
gql_errors = 0
sample_error = nil

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  if mode == "static" then
    local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
    wrk.body = f:read("*a")
    f:close()
  else
    conf = dofile(os.getenv("BENCH_WRITE_CONF"))
  end
end

local function json_string(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n') .. '"'
end

if mode == "write" then
  request = function()
    n = n + 1
    local k = math.floor(n / 2)
    local decades = conf.decades
    -- Published posts only (ids not divisible by 10); each (writer, post) pair once.
    local post = 10 * (k % decades) + 1 + (math.floor(k / decades) % 9)
    local round = math.floor(k / (decades * 9))
    local phase = tonumber(os.getenv("BENCH_PHASE") or "1")
    local per = conf.per_thread
    local base = (phase * conf.threads + (tid - 1)) * per
    local w = conf.writers[base + (round % per) + 1]
    local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
    if w.token then
      headers["Authorization"] = "Bearer " .. w.token
    end
    local body
    if n % 2 == 0 then
      body = conf.comment(post, w, n)
    else
      body = conf.like(post, w, n)
    end
    return wrk.format("POST", conf.path, headers, body)
  end
end

if check_errors then
  response = function(status, headers, body)
    if body and body:find('"errors"', 1, true) then
      gql_errors = gql_errors + 1
      if not sample_error then
        sample_error = body:sub(1, 300)
      end
    end
  end
end

function done(summary, latency, requests)
  local errs = 0
  local sample = ""
  for _, t in ipairs(threads) do
    errs = errs + (tonumber(t:get("gql_errors")) or 0)
    local s = t:get("sample_error")
    if s and sample == "" then
      sample = s
    end
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"graphql_errors":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"sample_error":%s}',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, errs, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, json_string(sample))
  local path = os.getenv("BENCH_OUT")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
  end
  io.write(out .. "\n")
end
