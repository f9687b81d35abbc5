//! The Lua scripts. Each touches the one key it is given and nothing else,
//! so every script stays on one slot of a cluster.
//!
//! A record is a hash: `f` format version, `u` user id, `d` the record as
//! JSON, `i` idle expiry (ms), `l` last refresh (ms), `a` absolute expiry
//! (ms), `n` version. `i`, `l` and `n` override the copies inside `d`.
//! Every script that writes a record sets `PEXPIREAT` to the earlier of
//! `i` and `a`, so Redis itself removes expired sessions.

use deadpool_redis::redis::Script;

/// KEYS: record. ARGV: f u d i l a n. 1 if created, 0 if the key is taken.
pub(crate) fn create() -> Script {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'f', ARGV[1], 'u', ARGV[2], 'd', ARGV[3], 'i', ARGV[4], 'l', ARGV[5], 'a', ARGV[6], 'n', ARGV[7])
local e = math.min(tonumber(ARGV[4]), tonumber(ARGV[6]))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))
return 1
",
    )
}

/// KEYS: record. ARGV: expected version, user, d, i, l.
/// The new version, or -1 missing, -2 stale version, -3 other owner.
pub(crate) fn update() -> Script {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'n', 'u', 'a')
if not cur[1] then return -1 end
if cur[2] ~= ARGV[2] then return -3 end
if cur[1] ~= ARGV[1] then return -2 end
local n = tonumber(cur[1]) + 1
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'i', ARGV[4], 'l', ARGV[5], 'n', string.format('%d', n))
local e = math.min(tonumber(ARGV[4]), tonumber(cur[3]))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))
return n
",
    )
}

/// KEYS: record. ARGV: i l. 1 if touched, 0 if missing.
pub(crate) fn touch() -> Script {
    Script::new(
        r"
local a = redis.call('HGET', KEYS[1], 'a')
if not a then return 0 end
redis.call('HSET', KEYS[1], 'i', ARGV[1], 'l', ARGV[2])
local e = math.min(tonumber(ARGV[1]), tonumber(a))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))
return 1
",
    )
}

/// KEYS: record. The owner's user id if it existed (and is now gone).
pub(crate) fn delete() -> Script {
    Script::new(
        r"
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return false end
redis.call('DEL', KEYS[1])
return u
",
    )
}

/// KEYS: index. ARGV: score member absolute-expiry-ms. Adds a member and
/// makes the index live at least as long as that session can.
pub(crate) fn index_add() -> Script {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return 1
",
    )
}

/// KEYS: the revocation set. ARGV: revocation, keep (ms), channel.
/// Adds the revocation (score: when to forget it, by the server's clock),
/// drops forgotten ones, extends the set's life and publishes
/// `"{keep} {revocation}"` on the channel.
pub(crate) fn announce() -> Script {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = tonumber(ARGV[2])
local forget = now + keep
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
redis.call('ZADD', KEYS[1], 'GT', string.format('%d', forget), ARGV[1])
if redis.call('PEXPIRETIME', KEYS[1]) < forget then
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', forget))
end
redis.call('PUBLISH', ARGV[3], string.format('%d', keep) .. ' ' .. ARGV[1])
return 1
",
    )
}

/// KEYS: the revocation set. The revocations not yet forgotten, as
/// `{now, member, forget, member, forget, ...}` by the server's clock.
pub(crate) fn recent_revocations() -> Script {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = { string.format('%d', now) }
local live = redis.call('ZRANGE', KEYS[1], string.format('(%d', now), '+inf', 'BYSCORE', 'WITHSCORES')
for i = 1, #live do out[#out + 1] = live[i] end
return out
",
    )
}

/// KEYS: the counter. ARGV: window (ms). `{count, ms left}`: the count
/// after one more, and how long until the window (started by the first
/// increment) ends.
pub(crate) fn increment() -> Script {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return { n, left }
",
    )
}

/// KEYS: the counter. Takes one back, never below zero, keeping the
/// expiry; nothing if it is gone.
pub(crate) fn decrement() -> Script {
    Script::new(
        r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 1
",
    )
}
