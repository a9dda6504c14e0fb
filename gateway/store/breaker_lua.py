"""The breaker state machine as one Redis Lua script: each event is one atomic transition.

A line-by-line mirror of ``gateway/store/breaker_machine.py`` (keep the two in step; the
property test in ``tests/test_breaker.py`` compares them on random event sequences). It is a
Python string rather than a ``.lua`` file so that it ships inside the wheel with no
package-data entry.

KEYS[1] is the breaker's hash. ARGV: kind, lazy successes, retry_after_ms, open_ms, now_ms
('' for the server's own ``TIME``), then the rules in ``RULE_ORDER``. Returns
``{allowed 0|1, state, consecutive_failures, previous state, opened_until_ms}``. Nothing is
written when nothing changed, so an ``allow`` on a quiet closed breaker is a pure read.
"""

from __future__ import annotations

RULE_ORDER = (
    "failure_threshold", "window_ms", "failure_ratio", "min_requests", "cooldown_ms",
    "max_cooldown_ms", "half_open_probes", "probe_lease_ms", "bucket_ms", "idle_ms", "window_buckets",
)

SCRIPT = r"""
local CLOSED, OPEN, HALF_OPEN = 0, 1, 2
local ALLOW, SUCCESS, FAILURE, FORCE_OPEN, RESET = 0, 1, 2, 3, 4

local key = KEYS[1]
local kind = tonumber(ARGV[1])
local successes = tonumber(ARGV[2])
local retry_after = tonumber(ARGV[3])
local open_ms = tonumber(ARGV[4])
local now
if ARGV[5] == '' then
  -- Server time: every replica reads the same clock, whatever its own says.
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[5])
end
local r = {
  threshold = tonumber(ARGV[6]), window = tonumber(ARGV[7]), ratio = tonumber(ARGV[8]),
  min_requests = tonumber(ARGV[9]), cooldown = tonumber(ARGV[10]), max_cooldown = tonumber(ARGV[11]),
  probes = tonumber(ARGV[12]), lease = tonumber(ARGV[13]), bucket = tonumber(ARGV[14]),
  idle = tonumber(ARGV[15]), buckets = tonumber(ARGV[16]),
}

local function int(x) return string.format('%d', x) end

local function fresh()
  return {st = CLOSED, cf = 0, tr = 0, ou = 0, pr = 0, pd = 0, w = {}, ex = 0}
end

local function load()
  local h = redis.call('HGETALL', key)
  if #h == 0 then return fresh() end
  local f = {}
  for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
  local s = {st = tonumber(f.st), cf = tonumber(f.cf), tr = tonumber(f.tr), ou = tonumber(f.ou),
             pr = tonumber(f.pr), pd = tonumber(f.pd), w = {}, ex = tonumber(f.ex)}
  if s.ex <= now then return fresh() end
  for i, ok, bad in string.gmatch(f.w or '', '(%d+):(%d+):(%d+)') do
    s.w[#s.w + 1] = {tonumber(i), tonumber(ok), tonumber(bad)}
  end
  return s
end

local function window_text(w)
  local parts = {}
  for i, b in ipairs(w) do parts[i] = int(b[1]) .. ':' .. int(b[2]) .. ':' .. int(b[3]) end
  return table.concat(parts, ',')
end

local function fingerprint(s)
  return table.concat({int(s.st), int(s.cf), int(s.tr), int(s.ou), int(s.pr), int(s.pd),
                       window_text(s.w), int(s.ex)}, '|')
end

local function cooldown(trips)
  return math.min(r.cooldown * 2 ^ math.min(trips - 1, 30), r.max_cooldown)
end

local function count(s, ok, bad)
  if ok == 0 and bad == 0 then return end
  local index = math.floor(now / r.bucket)
  local kept = {}
  for _, b in ipairs(s.w) do
    if b[1] > index - r.buckets then kept[#kept + 1] = b end
  end
  local last = kept[#kept]
  if last and last[1] >= index then
    last[2] = last[2] + ok
    last[3] = last[3] + bad
  else
    kept[#kept + 1] = {index, ok, bad}
  end
  s.w = kept
end

local function totals(s)
  local oldest = math.floor(now / r.bucket) - r.buckets
  local ok, bad = 0, 0
  for _, b in ipairs(s.w) do
    if b[1] > oldest then
      ok = ok + b[2]
      bad = bad + b[3]
    end
  end
  return ok, bad
end

local function trip(s, ra)
  s.tr = s.tr + 1
  s.st = OPEN
  s.ou = now + math.max(cooldown(s.tr), ra)
  s.pr = 0
  s.pd = 0
  s.w = {}
end

local function allow(s)
  if s.st == CLOSED then
    count(s, successes, 0)
    return 1
  end
  if s.st == OPEN then
    if now < s.ou then return 0 end
    s.st = HALF_OPEN
    s.pr = 0
    s.pd = 0
  end
  if s.pr >= r.probes and now >= s.pd then s.pr = 0 end
  if s.pr < r.probes then
    s.pr = s.pr + 1
    s.pd = now + r.lease
    return 1
  end
  return 0
end

local s = load()
local before = fingerprint(s)
local previous = s.st
local allowed = 0
if kind == FORCE_OPEN then
  s.st = OPEN
  s.ou = now + math.max(0, open_ms)
  s.pr = 0
  s.pd = 0
elseif kind == RESET then
  local ex = s.ex
  s = fresh()
  s.ex = ex
elseif kind == ALLOW then
  allowed = allow(s)
elseif s.st == CLOSED then
  if kind == SUCCESS then
    count(s, successes + 1, 0)
    s.cf = 0
  else
    count(s, successes, 1)
    s.cf = s.cf + 1
    local ok, bad = totals(s)
    local total = ok + bad
    if s.cf >= r.threshold or (total >= r.min_requests and bad / total > r.ratio) then
      trip(s, retry_after)
    elseif retry_after > 0 then
      s.st = OPEN
      s.ou = now + retry_after
      s.pr = 0
      s.pd = 0
    end
  end
elseif s.st == HALF_OPEN then
  if kind == SUCCESS then
    local ex = s.ex
    s = fresh()
    s.ex = ex
  else
    s.cf = s.cf + 1
    trip(s, retry_after)
  end
elseif kind == FAILURE and retry_after > 0 then
  s.ou = math.max(s.ou, now + retry_after)
end

if fingerprint(s) ~= before then
  s.ex = now + r.idle + math.max(0, s.ou - now)
  redis.call('HSET', key, 'st', int(s.st), 'cf', int(s.cf), 'tr', int(s.tr), 'ou', int(s.ou),
             'pr', int(s.pr), 'pd', int(s.pd), 'w', window_text(s.w), 'ex', int(s.ex))
  redis.call('PEXPIRE', key, int(s.ex - now))
end
return {allowed, s.st, s.cf, previous, s.ou}
"""
