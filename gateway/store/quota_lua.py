"""Client-key quotas as one Redis Lua script: each admit or settle is one atomic step.

A mirror of ``QuotaBook`` in ``gateway/store/quota.py`` (keep the two in step; the tests run
both stores through the same expectations, calendar boundaries included). A Python string so
it ships inside the wheel.

KEYS: the request log (ZSET id → admitted at), the token log (ZSET id → admitted at), the
token weights (HASH id → tokens, plus ``#`` → their sum), the spend (HASH ``d``/``dv`` the UTC
day and its USD, ``m``/``mv`` the UTC month and its USD).

ARGV[1] ``admit`` | ``settle``, ARGV[2] the request id, ARGV[3] now_ms ('' for the server's own
``TIME``, the one clock every replica shares). Admit then takes tokens, rpm, tpm, usd_day,
usd_month ('' for none) and returns ``{allowed 0|1, limit (1-based in LIMITS, 0 when allowed),
retry_after_ms}``; settle takes used tokens ('' to keep the reservation) and the cost in USD.
"""

from __future__ import annotations

SCRIPT = r"""
local WINDOW, DAY, SPEND_TTL = 60000, 86400000, 32 * 86400000
local requests, tokens_log, weights, spend = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, id = ARGV[1], ARGV[2]
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end

-- The UTC month of an epoch day, and the first day of a month (H. Hinnant's civil algorithms).
local function month_of(day)
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y * 12 + m - 1
end

local function month_start(index)
  local y, m = math.floor(index / 12), index % 12 + 1
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5)
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return (era * 146097 + doe - 719468) * DAY
end

local function int(x) return string.format('%d', x) end

local function trim_requests()
  redis.call('ZREMRANGEBYSCORE', requests, '-inf', now - WINDOW)
  return redis.call('ZCARD', requests)
end

local function trim_tokens()
  local old = redis.call('ZRANGEBYSCORE', tokens_log, '-inf', now - WINDOW)
  local total = tonumber(redis.call('HGET', weights, '#') or '0')
  if #old > 0 then
    for _, member in ipairs(old) do
      total = total - tonumber(redis.call('HGET', weights, member))
      redis.call('HDEL', weights, member)
    end
    redis.call('ZREMRANGEBYSCORE', tokens_log, '-inf', now - WINDOW)
    redis.call('HSET', weights, '#', int(total))
  end
  return total
end

local function retry_tokens(total, weight, limit)
  local over = total + weight - limit
  local entries = redis.call('ZRANGE', tokens_log, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    over = over - tonumber(redis.call('HGET', weights, entries[i]))
    if over <= 0 then return tonumber(entries[i + 1]) + WINDOW - now end
  end
  return WINDOW
end

local function load_spend()
  local f = redis.call('HMGET', spend, 'd', 'dv', 'm', 'mv')
  return tonumber(f[1] or '-1'), tonumber(f[2] or '0'), tonumber(f[3] or '-1'), tonumber(f[4] or '0')
end

local day = math.floor(now / DAY)
local month = month_of(day)

if op == 'admit' then
  local tokens, rpm, tpm = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local usd_day, usd_month = tonumber(ARGV[7]), tonumber(ARGV[8])
  local d, dv, m, mv = load_spend()
  if usd_day and d == day and dv >= usd_day then
    return {0, 3, int((day + 1) * DAY - now)}
  end
  if usd_month and m == month and mv >= usd_month then
    return {0, 4, int(month_start(month + 1) - now)}
  end
  if rpm then
    local count = trim_requests()
    if count + 1 > rpm then
      local oldest = redis.call('ZRANGE', requests, count - rpm, count - rpm, 'WITHSCORES')
      return {0, 1, int(tonumber(oldest[2]) + WINDOW - now)}
    end
  end
  local weight, total = 0, 0
  if tpm then
    weight = math.max(0, math.min(tokens, tpm))
    total = trim_tokens()
    if total + weight > tpm then
      return {0, 2, int(retry_tokens(total, weight, tpm))}
    end
  end
  if rpm then
    redis.call('ZADD', requests, int(now), id)
    redis.call('PEXPIRE', requests, WINDOW)
  end
  if tpm then
    redis.call('ZADD', tokens_log, int(now), id)
    redis.call('HSET', weights, id, int(weight), '#', int(total + weight))
    redis.call('PEXPIRE', tokens_log, WINDOW)
    redis.call('PEXPIRE', weights, WINDOW)
  end
  return {1, 0, 0}
end

-- settle
if ARGV[4] ~= '' and redis.call('EXISTS', tokens_log) == 1 then
  local total = trim_tokens()
  local reserved = redis.call('HGET', weights, id)
  if reserved then  -- not yet aged out of the minute it was counted in
    local used = tonumber(ARGV[4])
    redis.call('HSET', weights, id, int(used), '#', int(total + used - tonumber(reserved)))
  end
end
local cost = tonumber(ARGV[5])
if cost > 0 then
  local d, dv, m, mv = load_spend()
  if d ~= day then dv = 0 end
  if m ~= month then mv = 0 end
  redis.call('HSET', spend, 'd', int(day), 'dv', string.format('%.17g', dv + cost),
             'm', int(month), 'mv', string.format('%.17g', mv + cost))
  redis.call('PEXPIRE', spend, SPEND_TTL)
end
return 0
"""
