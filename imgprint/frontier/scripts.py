"""The frontier's Lua scripts: each step that must be atomic is one script.

Every key of one crawl shares the hash tag ``{crawl}`` (``imgprint:{name}:...``),
so the scripts also run unchanged on Redis Cluster, where a script may only
touch keys of one slot. Times are the server's (``TIME``), so workers on
machines with skewed clocks agree on lease deadlines.

Keys (``KEYS`` order is given per script): ``queue`` (zset id -> score: lower
first; score = -priority x 1e13 + push time in ms), ``reqs`` (hash id ->
serialized request), ``scores`` (hash id -> score, to requeue), ``leases``
(zset id -> deadline in ms), ``owner`` (hash id -> worker token), ``tries``
(hash id -> times its lease expired), ``failed`` (hash id -> request given up
after too many expired leases), ``seen`` (set of request fingerprints),
``recorded`` (set of image URLs with a record), ``popped`` (hash worker token
-> nonce:id of its last pop), ``pages:<url>`` (list: the pages
that referenced an image not yet recorded, in order), ``seedhosts`` (set),
``records`` (count of images recorded).
"""

NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: seen, queue, reqs, scores. ARGV: fingerprint ('' = don't filter), id,
# data, score. Returns nil when the fingerprint was seen, else {queue length,
# pages queued}.
PUSH = """
if ARGV[1] ~= '' and redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return false end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
return {redis.call('ZCARD', KEYS[2]), redis.call('ZCOUNT', KEYS[2], '-inf', '(0')}
"""

# Expired leases back to the queue (or to ``failed`` after ARGV max_tries).
# Uses KEYS[1] queue, [3] leases, [4] scores, [5] owner, [7] tries, [8] failed,
# [2] reqs; ARGV[3] limit, ARGV[4] max tries.
_REAP = """
local requeued, failed = 0, 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[5], id)
  local score = redis.call('HGET', KEYS[4], id)
  if redis.call('HINCRBY', KEYS[7], id, 1) > tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[8], id, redis.call('HGET', KEYS[2], id) or '')
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[4], id)
    failed = failed + 1
  elseif score then
    redis.call('ZADD', KEYS[1], score, id)
    requeued = requeued + 1
  end
end
"""

# KEYS: queue, reqs, leases, scores, owner, seedhosts, tries, failed, popped.
# ARGV: worker token, lease ms, reap limit, max tries, call nonce, '0' to lease
# no page (only a request of priority <= 0: a score from 0 up) or '1'.
# Returns {id or nil, data, queue length, requeued, failed, seed hosts, pages
# queued (priority >= 1: a score below 0)}.
# A call repeated with the same nonce (the client retried after the connection
# broke, e.g. a Redis restart, and the first reply was lost) gets the request
# the first call leased, instead of leaving it leased to nobody until it expires.
POP = NOW + _REAP + """
local hosts = redis.call('SCARD', KEYS[6])
local last = redis.call('HGET', KEYS[9], ARGV[1])
if last and string.sub(last, 1, #ARGV[5] + 1) == ARGV[5] .. ':' then
  local id = string.sub(last, #ARGV[5] + 2)
  if redis.call('HGET', KEYS[5], id) == ARGV[1] then
    local data = redis.call('HGET', KEYS[2], id) or ''
    return {id, data, redis.call('ZCARD', KEYS[1]), requeued, failed, hosts,
            redis.call('ZCOUNT', KEYS[1], '-inf', '(0')}
  end
end
local top
if ARGV[6] == '0' then
  top = redis.call('ZRANGEBYSCORE', KEYS[1], 0, '+inf', 'LIMIT', 0, 1)
  if #top > 0 then redis.call('ZREM', KEYS[1], top[1]) end
else
  top = redis.call('ZPOPMIN', KEYS[1])
end
if #top == 0 then return {false, false, 0, requeued, failed, hosts, 0} end
local id = top[1]
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), id)
redis.call('HSET', KEYS[5], id, ARGV[1])
redis.call('HSET', KEYS[9], ARGV[1], ARGV[5] .. ':' .. id)
local data = redis.call('HGET', KEYS[2], id) or ''
return {id, data, redis.call('ZCARD', KEYS[1]), requeued, failed, hosts,
        redis.call('ZCOUNT', KEYS[1], '-inf', '(0')}
"""

# Same KEYS as POP; ARGV: unused token, unused lease, reap limit, max tries.
# Returns {queue length, leases out, requeued, failed}.
STATE = NOW + _REAP + """
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[3]), requeued, failed}
"""

_RELEASE = """
local function release(id, token)
  if id == '' or redis.call('HGET', KEYS[4], id) ~= token then return 0 end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  return 1
end
"""

# KEYS: leases, reqs, scores, owner, tries. ARGV: id, token. 1: acknowledged,
# 0: the lease was not this worker's any more (it expired).
ACK = _RELEASE + """
return release(ARGV[1], ARGV[2])
"""

# KEYS: leases, owner. ARGV: token, lease ms, ids... Returns the ids renewed.
RENEW = NOW + """
local renewed = {}
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[i])
    table.insert(renewed, ARGV[i])
  end
end
return renewed
"""

# KEYS: recorded, pages:<url>. ARGV: url, page.
# 1: first sighting (request it), 0: page added, 3: page known, 2: recorded.
# The first page finding the image again (its worker died before the page was
# done) gets 1 again: the request's fingerprint keeps a second copy out.
FOUND = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 2 end
if redis.call('LPOS', KEYS[2], ARGV[2]) then
  if redis.call('LINDEX', KEYS[2], 0) == ARGV[2] then return 1 end
  return 3
end
if redis.call('RPUSH', KEYS[2], ARGV[2]) == 1 then return 1 end
return 0
"""

# KEYS: recorded, pages:<url1>, pages:<url2>, ... ARGV: page, url1, url2, ...
# FOUND for each image of one page, in one round trip: a list of codes.
FOUND_MANY = """
local codes = {}
for i = 2, #ARGV do
  local url, key, code = ARGV[i], KEYS[i], 0
  if redis.call('SISMEMBER', KEYS[1], url) == 1 then code = 2
  elseif redis.call('LPOS', key, ARGV[1]) then
    if redis.call('LINDEX', key, 0) == ARGV[1] then code = 1 else code = 3 end
  elseif redis.call('RPUSH', key, ARGV[1]) == 1 then code = 1
  end
  codes[i - 1] = code
end
return codes
"""

# KEYS: recorded, pages:<url>. ARGV: url. nil when recorded, else its pages.
TAKE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return false end
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# KEYS: leases, reqs, scores, owner, tries, recorded, pages:<url>, records.
# ARGV: id, token, url, pages taken. Returns {1 if newly recorded, pages added
# since the take}.
COMMIT = _RELEASE + """
local new = redis.call('SADD', KEYS[6], ARGV[3])
local rest = redis.call('LRANGE', KEYS[7], tonumber(ARGV[4]), -1)
redis.call('DEL', KEYS[7])
if new == 1 then redis.call('INCR', KEYS[8]) end
release(ARGV[1], ARGV[2])
return {new, rest}
"""
