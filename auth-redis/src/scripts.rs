//! The Lua scripts. Each touches the one key it is given and nothing else,
//! so every script stays on one slot of a cluster.
//!
//! A session is a string laid out as `record.rs` describes: the scripts
//! read and write its fixed header in place (`struct` is Redis's Lua
//! library for binary numbers). Every script that writes a session sets
//! its expiry to the earlier of its idle and absolute expiry, so Redis
//! itself removes expired sessions. A session is created with `SET NX
//! PXAT`, which needs no script.

use deadpool_redis::redis::Script;

/// KEYS: record. ARGV: expected version, user, the new value (its
/// version the next). The new version, or -1 missing, -2 stale version,
/// -3 other owner. The absolute expiry stays the stored one.
pub(crate) fn update() -> Script {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
local len = struct.unpack('>I2', v, 34)
if string.sub(v, 36, 35 + len) ~= ARGV[2] then return -3 end
local n = struct.unpack('>I8', v, 2)
if n ~= tonumber(ARGV[1]) then return -2 end
local new = string.sub(ARGV[3], 1, 25) .. string.sub(v, 26, 33) .. string.sub(ARGV[3], 34)
-- (One value each: struct.unpack also returns the next position.)
local e = math.min((struct.unpack('>i8', new, 10)), (struct.unpack('>i8', v, 26)))
redis.call('SET', KEYS[1], new, 'PXAT', string.format('%d', e))
return n + 1
",
    )
}

/// KEYS: record. ARGV: idle expiry, last refresh (ms). 1 if touched, 0 if
/// missing.
pub(crate) fn touch() -> Script {
    Script::new(
        r"
local h = redis.call('GETRANGE', KEYS[1], 0, 32)
if #h < 33 then return 0 end
local i = tonumber(ARGV[1])
redis.call('SETRANGE', KEYS[1], 9, struct.pack('>i8i8', i, tonumber(ARGV[2])))
local e = math.min(i, (struct.unpack('>i8', h, 26)))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))
return 1
",
    )
}

/// KEYS: record. The owner's user id if it existed (and is now gone). A
/// hash left by an earlier version is deleted too.
pub(crate) fn delete() -> Script {
    Script::new(
        r"
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return false end
local u
if t == 'hash' then
  u = redis.call('HGET', KEYS[1], 'u')
else
  local len = struct.unpack('>I2', redis.call('GETRANGE', KEYS[1], 33, 34))
  u = redis.call('GETRANGE', KEYS[1], 35, 34 + len)
end
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
