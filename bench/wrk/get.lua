-- wrk script: GET a random plant among the first COUNT created with PLANT_PREFIX by upsert.lua.
-- Environment: API_KEY, PLANT_PREFIX, COUNT, TARGET_PREFIX (the path before the id).
local prefix = os.getenv("PLANT_PREFIX") or "70705751"
-- (wrk builds one request per thread before the run starts: serial 1 is never sent.)
local count = math.max(2, tonumber(os.getenv("COUNT") or "2"))
local key = os.getenv("API_KEY") or ""
local base = os.getenv("TARGET_PREFIX") or "/api/plant/test/getDataForImport/"
local headers = { ["api-key"] = key }

local function check_digit(body)
  local sum, weight = 0, 3
  for i = #body, 1, -1 do
    sum = sum + tonumber(body:sub(i, i)) * weight
    weight = 4 - weight
  end
  return tostring((10 - sum % 10) % 10)
end

request = function()
  local body17 = prefix .. string.format("%09d", math.random(2, count))
  return wrk.format("GET", base .. body17 .. check_digit(body17), headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d,"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
