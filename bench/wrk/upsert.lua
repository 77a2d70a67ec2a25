-- wrk script: POST a distinct plant (valid GS1 check digit, a small grid hierarchy) per request.
-- Environment: API_KEY, TARGET_PATH (default the plant upsert), PLANT_PREFIX (8 digits: the
-- serial goes after it, so each round of a bench uses its own prefix and creates new plants).
local counter = 0
local prefix = os.getenv("PLANT_PREFIX") or "70705751"
local key = os.getenv("API_KEY") or ""
local path = os.getenv("TARGET_PATH") or "/api/import/test/plant"
local headers = { ["api-key"] = key, ["content-type"] = "application/json" }

local function check_digit(body)
  local sum, weight = 0, 3
  for i = #body, 1, -1 do
    sum = sum + tonumber(body:sub(i, i)) * weight
    weight = 4 - weight
  end
  return tostring((10 - sum % 10) % 10)
end

request = function()
  counter = counter + 1
  local body17 = prefix .. string.format("%09d", counter)
  local cp = counter % 200
  local payload = string.format(
    '{"meteringPointId":"%s","consumptionCode":35,"industrialClassification":"98.000",' ..
    '"connectionPoint":{"name":"CP-%d","transformer":{"name":"T-%d",' ..
    '"netStation":{"name":"NS-%d"}}}}',
    body17 .. check_digit(body17), cp, cp % 40, cp % 8)
  return wrk.format("POST", path, headers, payload)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d,"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
