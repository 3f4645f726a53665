"""The Lua scripts that make Redis writes atomic: each runs whole or not at all."""

from __future__ import annotations

# KEYS: model hash, name key, models zset, seq counter
# ARGV: model id, meta JSON, safetensors bytes, name ("" = unnamed), created_at
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
           'created_at', ARGV[5], 'seq', seq)
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('ZADD', KEYS[3], seq, ARGV[1])
return {'ok'}
"""

# KEYS: model hash, models zset
# ARGV: model id, the name-key prefix, the invalidation channel
# Returns nil when absent, else {name, created_at, meta} of what it removed; the
# name key is dropped only if it still points at this id.
DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local held = redis.call('HMGET', KEYS[1], 'name', 'created_at', 'meta')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local name = held[1] or ''
if name ~= '' and redis.call('GET', ARGV[2] .. name) == ARGV[1] then
  redis.call('DEL', ARGV[2] .. name)
end
redis.call('PUBLISH', ARGV[3], ARGV[1])
return {name, held[2] or '0', held[3] or ''}
"""
