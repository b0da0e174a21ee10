-- wrk script for bench/guardrails (the C client of the throughput figure): every request is a
-- POST /api/v1/guardrails/check by the next of the 50 agents' tokens (wrk does not tell a
-- script which connection sends, so 50 connections cycle through 50 agents), for a random
-- prospect (1 in 20 suppressed), as bench/guardrails/run.py's _body. The tokens come from the
-- file named by GUARDRAILS_TOKENS (one a line). done() prints one line, "WRK <json>".
-- apps and counts are globals: done() reads them from each thread with thread:get.
local tokens, n = {}, 0
apps, counts = {}, { allow = 0, deny = 0, other = 0 }

function init(args)
  for line in io.lines(os.getenv("GUARDRAILS_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  math.randomseed(os.time())
end

function request()
  n = n + 1
  local token = tokens[(n % #tokens) + 1]
  local r = math.random(0, 999999999)
  local unit
  if r % 20 == 0 then unit = "gone" .. (r % 2000) .. "@example.com"
  else unit = "prospect" .. r .. "@example.com" end
  local body = '{"action":"email","channel":"email","unit":"' .. unit ..
    '","estimated_cost":0.02,"currency":"EUR","run_id":"run-' .. (r % 5000) ..
    '","step":' .. (r % 30) .. ',"region":"EU"}'
  return wrk.format("POST", "/api/v1/guardrails/check",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status ~= 200 then counts.other = counts.other + 1 return end
  if body:find('"decision":"allow"', 1, true) then counts.allow = counts.allow + 1
  else counts.deny = counts.deny + 1 end
  local timing = headers["Server-Timing"] or headers["server-timing"] or ""
  local app = timing:match("app;dur=([%d%.]+)")
  if app then apps[#apps + 1] = tonumber(app) end
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, requests)
  local all, allow, deny, other = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    allow, deny, other = allow + c.allow, deny + c.deny, other + c.other
    for _, v in ipairs(thread:get("apps")) do all[#all + 1] = v end
  end
  table.sort(all)
  local function pct(p) return #all > 0 and all[math.max(1, math.floor(#all * p))] or 0 end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %.2f, "allow": %d, "deny": %d, "non_200": %d, ' ..
    '"socket_errors": %d, "server_p50": %.2f, "server_p95": %.2f, ' ..
    '"client_p50": %.2f, "client_p95": %.2f}\n',
    summary.requests, summary.duration / 1e6, allow, deny, other,
    e.connect + e.read + e.write + e.timeout, pct(0.5), pct(0.95),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
