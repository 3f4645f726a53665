"""The Lua scripts that make Redis writes atomic: each runs whole or not at all."""

from __future__ import annotations

# KEYS: model hash, name key, models zset, seq counter
# ARGV: model id, meta JSON, safetensors bytes, name ("" = unnamed), created_at, checksum
# Returns {"ok"}, {"same"} (this exact record is already stored: a retried put),
# {"exists"} (the id holds another record) or {"name", holder id}.
PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local held = redis.call('HMGET', KEYS[1], 'meta', 'tensors')
  if held[1] == ARGV[2] and held[2] == ARGV[3] then return {'same'} end
  return {'exists'}
end
if ARGV[4] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if holder then return {'name', holder} end
end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'tensors', ARGV[3], 'name', ARGV[4],
           'created_at', ARGV[5], 'seq', seq, 'checksum', ARGV[6])
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('ZADD', KEYS[3], seq, ARGV[1])
return {'ok'}
"""

# KEYS: model hash, models zset, invalidation stream
# ARGV: model id, the name-key prefix, the most entries the stream keeps (about)
# Returns nil when absent, else {name, created_at, meta} of what it removed; the
# name key is dropped only if it still points at this id. The id is appended to the
# stream in the same script, so no replica can miss a delete that happened.
DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local held = redis.call('HMGET', KEYS[1], 'name', 'created_at', 'meta')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local name = held[1] or ''
if name ~= '' and redis.call('GET', ARGV[2] .. name) == ARGV[1] then
  redis.call('DEL', ARGV[2] .. name)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[1])
return {name, held[2] or '0', held[3] or ''}
"""

# KEYS: models zset
# ARGV: start bound ("(seq", "-inf" or "+inf"), limit, name prefix, most entries to
#       examine, the model-key prefix, "1" for newest first
# Walks the zset from the bound, keeping ids whose name starts with the prefix; stops
# at limit hits or after examining that many entries, so one call never holds Redis long.
# Returns {flat {id, seq, ...}, the bound to resume from, 1 if the zset is exhausted}.
PAGE_BY_PREFIX = """
local cursor, limit, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local budget, desc = tonumber(ARGV[4]), ARGV[6] == '1'
local found, hits = {}, 0
while budget > 0 do
  local step = math.min(budget, 256)
  local batch
  if desc then
    batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], cursor, '-inf', 'WITHSCORES', 'LIMIT', 0, step)
  else
    batch = redis.call('ZRANGEBYSCORE', KEYS[1], cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, step)
  end
  for i = 1, #batch, 2 do
    local id, seq = batch[i], batch[i + 1]
    cursor = '(' .. seq
    local name = redis.call('HGET', ARGV[5] .. id, 'name')
    if name and string.sub(name, 1, #prefix) == prefix then
      found[#found + 1] = id
      found[#found + 1] = seq
      hits = hits + 1
      if hits == limit then return {found, cursor, 0} end
    end
  end
  if #batch < 2 * step then return {found, cursor, 1} end
  budget = budget - step
end
return {found, cursor, 0}
"""
