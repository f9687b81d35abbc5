//! Tables keyed by [`SessionKey`], for the stores that keep sessions in
//! this process (the memory store and the cache in front of any store).
//!
//! A session key is 16 random bytes this crate generated
//! ([`SessionToken::generate`](crate::SessionToken::generate)), so its
//! bits are already uniform: hashing them again (SipHash, the default) is
//! wasted work on every request. Only the server inserts keys; a client can
//! present any key, but lookups of keys it chose cannot lengthen the
//! probes of a table whose entries it did not place.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::token::SessionKey;

/// Takes a session key's first eight bytes as its hash. The shard of a
/// key is chosen by another byte ([`shard_of`]), so that the hash's top
/// bits, which the table compares first, still differ within a shard.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map from session keys.
pub(crate) type KeyMap<V> = HashMap<SessionKey, V, BuildHasherDefault<KeyHasher>>;
/// A set of session keys.
pub(crate) type KeySet = HashSet<SessionKey, BuildHasherDefault<KeyHasher>>;

/// Which of `shards` tables holds `key`: by its ninth byte, outside the
/// bytes [`KeyHasher`] uses.
pub(crate) fn shard_of(key: &SessionKey, shards: usize) -> usize {
    usize::from(key.as_bytes()[8]) % shards
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn keys_hash_to_their_first_eight_bytes_and_shard_by_the_ninth() {
        let mut bytes = [0_u8; 16];
        bytes[..8].copy_from_slice(&0x0102_0304_0506_0708_u64.to_be_bytes());
        bytes[8] = 70;
        let key = SessionKey::from_bytes(bytes);
        let hasher = BuildHasherDefault::<KeyHasher>::default();
        assert_eq!(hasher.hash_one(key), 0x0102_0304_0506_0708);
        assert_eq!(shard_of(&key, 64), 6);
        assert_eq!(shard_of(&key, 16), 6);
    }
}
