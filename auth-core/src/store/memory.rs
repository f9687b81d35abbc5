//! The embedded, in-process store.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use time::OffsetDateTime;

use super::keyed::{KeyMap, KeySet};
use super::{Announcements, SessionStore, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::record::SessionRecord;
use crate::revocation::{Revocation, Revocations, Subscription, WeakRevocations};
use crate::throttle::CounterStore;
use crate::token::SessionKey;

const SHARDS: usize = 64;
/// A shard is swept when it has grown to twice its size after the last
/// sweep, and never below this many entries.
const MIN_SWEEP: usize = 64;

/// The per-user index: each user's session keys.
type UserIndex = HashMap<Box<str>, UserKeys>;

/// One user's session keys. Most users have one session, which then needs
/// no set (a set's table is about 150 bytes).
enum UserKeys {
    One(SessionKey),
    Many(KeySet),
}

impl UserKeys {
    fn insert(&mut self, key: SessionKey) {
        match self {
            Self::One(one) if *one == key => {}
            Self::One(one) => {
                let mut set = KeySet::default();
                set.insert(*one);
                set.insert(key);
                *self = Self::Many(set);
            }
            Self::Many(set) => {
                set.insert(key);
            }
        }
    }

    /// Keeps the keys `keep` accepts; whether none is left.
    fn retain(&mut self, mut keep: impl FnMut(&SessionKey) -> bool) -> bool {
        match self {
            Self::One(one) => !keep(one),
            Self::Many(set) => {
                set.retain(|key| keep(key));
                set.is_empty()
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(set) => set.len(),
        }
    }

    fn into_keys(self) -> Vec<SessionKey> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(set) => set.into_iter().collect(),
        }
    }
}

/// Adds `key` to `user`'s keys.
fn index(users: &mut UserIndex, user: &str, key: SessionKey) {
    match users.get_mut(user) {
        Some(keys) => keys.insert(key),
        None => {
            users.insert(user.into(), UserKeys::One(key));
        }
    }
}

struct SessionShard {
    // Behind a pointer: the table then holds 40 bytes per slot instead of
    // 312, and a hash table keeps up to half its slots empty. An `Arc`, so
    // a read hands out a reference rather than a copy; a write replaces
    // the `Arc` (or copies the record, if a reader still holds it).
    map: KeyMap<Arc<SessionRecord>>,
    sweep_at: usize,
}

/// Sessions in this process's memory: the default store, for development,
/// tests and single-instance apps.
///
/// - Reads take a shared lock on one of 64 shards, so concurrent requests
///   never wait on a global lock.
/// - Expired sessions are invisible the moment they expire (the store asks
///   its [`Clock`]) and are reclaimed by amortised sweeps: a shard is swept
///   whenever it has doubled since its last sweep, so memory stays within a
///   small factor of the live sessions without a background task.
/// - A per-user index serves the device list and logout-everywhere.
///
/// Clones share the same sessions. Everything is lost when the process
/// exits; use a shared store (Redis) to run several instances.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use auth_core::{MemoryStore, SessionStore};
///
/// let store = MemoryStore::new();
/// assert!(store.list_user("alice").await.unwrap().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    sessions: Box<[RwLock<SessionShard>]>,
    users: Box<[Mutex<UserIndex>]>,
    user_hasher: RandomState,
    /// Revocation lists of the authenticators built on this store.
    subscribers: Mutex<Vec<(u64, WeakRevocations)>>,
    next_subscriber: std::sync::atomic::AtomicU64,
    /// Throttle counters: count and expiry, swept when the map doubles.
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    map: HashMap<String, (u64, OffsetDateTime)>,
    sweep_at: usize,
}

/// Removes a subscriber from the store when its subscription is dropped.
struct Unsubscribe {
    store: std::sync::Weak<Inner>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(inner) = self.store.upgrade() {
            inner.subscribers.lock().retain(|(id, _)| *id != self.id);
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

fn shard_of(key: &SessionKey) -> usize {
    super::keyed::shard_of(key, SHARDS)
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store that judges expiry by `clock`. Give it the same clock
    /// as the [`Authenticator`](crate::Authenticator).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                sessions: (0..SHARDS)
                    .map(|_| {
                        RwLock::new(SessionShard {
                            map: KeyMap::default(),
                            sweep_at: MIN_SWEEP,
                        })
                    })
                    .collect(),
                users: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                subscribers: Mutex::new(Vec::new()),
                counters: Mutex::new(Counters {
                    map: HashMap::new(),
                    sweep_at: MIN_SWEEP,
                }),
                next_subscriber: std::sync::atomic::AtomicU64::new(0),
                user_hasher: RandomState::new(),
            }),
        }
    }

    /// How many records the store holds, including expired ones not yet
    /// reclaimed.
    pub fn stored_len(&self) -> usize {
        self.inner.sessions.iter().map(|s| s.read().map.len()).sum()
    }

    /// How many live sessions the store holds.
    pub fn len(&self) -> usize {
        self.live_at(self.inner.clock.now())
    }

    /// How many sessions are live at `now`.
    pub(crate) fn live_at(&self, now: OffsetDateTime) -> usize {
        self.inner
            .sessions
            .iter()
            .map(|s| s.read().map.values().filter(|r| !r.is_expired(now)).count())
            .sum()
    }

    /// Whether the store holds no live session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reclaims every expired session now. Not needed for correctness:
    /// the store sweeps as it grows.
    pub fn sweep(&self) {
        for i in 0..SHARDS {
            self.sweep_shard(i);
        }
    }

    /// The live record under `key`.
    fn get(&self, key: &SessionKey) -> Option<Arc<SessionRecord>> {
        let now = self.inner.clock.now();
        let shard = self.inner.sessions[shard_of(key)].read();
        shard
            .map
            .get(key)
            .filter(|r| !r.is_expired(now))
            .map(Arc::clone)
    }

    fn user_shard(&self, user_id: &str) -> &Mutex<UserIndex> {
        let i = (self.inner.user_hasher.hash_one(user_id) as usize) % SHARDS;
        &self.inner.users[i]
    }

    fn sweep_shard(&self, i: usize) {
        let now = self.inner.clock.now();
        let mut removed = Vec::new();
        {
            let mut shard = self.inner.sessions[i].write();
            shard.map.retain(|key, rec| {
                let live = !rec.is_expired(now);
                if !live {
                    removed.push((*key, rec.user_id.clone()));
                }
                live
            });
            shard.sweep_at = (shard.map.len() * 2).max(MIN_SWEEP);
        }
        for (key, user) in removed {
            let mut users = self.user_shard(&user).lock();
            unindex(&mut users, &user, &key);
        }
    }
}

fn unindex(users: &mut UserIndex, user: &str, key: &SessionKey) {
    if let Some(keys) = users.get_mut(user)
        && keys.retain(|k| k != key)
    {
        users.remove(user);
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let now = self.inner.clock.now();
        let key = record.key();
        let i = shard_of(&key);
        let needs_sweep;
        {
            let mut users = self.user_shard(&record.user_id).lock();
            let mut shard = self.inner.sessions[i].write();
            match shard.map.entry(key) {
                Entry::Occupied(e) if !e.get().is_expired(now) => {
                    return Err(StoreError::DuplicateKey);
                }
                Entry::Occupied(mut e) => {
                    // An expired record under the same key: replace it. Its
                    // index entry is for the same key, so it stays valid.
                    e.insert(Arc::new(record.clone()));
                }
                Entry::Vacant(e) => {
                    e.insert(Arc::new(record.clone()));
                }
            }
            index(&mut users, &record.user_id, key);
            needs_sweep = shard.map.len() >= shard.sweep_at;
        }
        if needs_sweep {
            self.sweep_shard(i);
        }
        Ok(())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.get(key).map(|r| SessionRecord::clone(&r)))
    }

    async fn load_shared(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        Ok(self.get(key))
    }

    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        Some(Ok(self.get(key)))
    }

    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        let key = record.key();
        let mut shard = self.inner.sessions[shard_of(&key)].write();
        let stored = match shard.map.get_mut(&key) {
            Some(stored) if !stored.is_expired(now) => stored,
            _ => return Err(StoreError::NotFound),
        };
        if stored.version != record.version {
            return Err(StoreError::Conflict);
        }
        if stored.user_id != record.user_id {
            return Err(StoreError::backend(
                "update may not change a session's owner",
            ));
        }
        let mut record = record.clone();
        record.version += 1;
        let version = record.version;
        *stored = Arc::new(record);
        Ok(version)
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let mut shard = self.inner.sessions[shard_of(key)].write();
        match shard.map.get_mut(key) {
            Some(stored) if !stored.is_expired(now) => {
                let stored = Arc::make_mut(stored);
                stored.idle_expires_at = idle_expires_at;
                stored.last_refresh_at = last_refresh_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let i = shard_of(key);
        let user = match self.inner.sessions[i].read().map.get(key) {
            Some(rec) => rec.user_id.clone(),
            None => return Ok(false),
        };
        let mut users = self.user_shard(&user).lock();
        let removed = self.inner.sessions[i].write().map.remove(key);
        unindex(&mut users, &user, key);
        Ok(removed.is_some_and(|r| !r.is_expired(now)))
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let now = self.inner.clock.now();
        let mut users = self.user_shard(user_id).lock();
        let Some(keys) = users.get_mut(user_id) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(keys.len());
        let none_left = keys.retain(|key| {
            let shard = self.inner.sessions[shard_of(key)].read();
            match shard.map.get(key) {
                Some(rec) if !rec.is_expired(now) => {
                    out.push(SessionRecord::clone(rec));
                    true
                }
                // Expired or gone: the sweep will drop the record itself.
                _ => false,
            }
        });
        if none_left {
            users.remove(user_id);
        }
        Ok(out)
    }

    /// Atomic with respect to `create` for the same user: both hold the
    /// user's index lock, so a session is either created before (and
    /// deleted) or after (and kept).
    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let now = self.inner.clock.now();
        let mut users = self.user_shard(user_id).lock();
        let Some(keys) = users.remove(user_id) else {
            return Ok(Vec::new());
        };
        let mut deleted = Vec::new();
        let mut kept = None;
        for key in keys.into_keys() {
            if Some(&key) == keep {
                kept = Some(key);
                continue;
            }
            let removed = self.inner.sessions[shard_of(&key)].write().map.remove(&key);
            if removed.is_some_and(|r| !r.is_expired(now)) {
                deleted.push(key);
            }
        }
        if let Some(kept) = kept {
            users.insert(user_id.into(), UserKeys::One(kept));
        }
        Ok(deleted)
    }

    fn announcements(&self) -> Option<&dyn Announcements> {
        Some(self)
    }
}

#[async_trait]
impl Announcements for MemoryStore {
    /// Delivers to every authenticator built on this store (clones share
    /// one list of subscribers), within the process.
    async fn announce(&self, revocation: &Revocation, keep: Duration) -> Result<(), StoreError> {
        let sinks: Vec<_> = self
            .inner
            .subscribers
            .lock()
            .iter()
            .filter_map(|(_, sink)| sink.upgrade())
            .collect();
        for sink in sinks {
            sink.apply(revocation, keep);
        }
        Ok(())
    }

    fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError> {
        let id = self
            .inner
            .next_subscriber
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.subscribers.lock().push((id, sink.downgrade()));
        Ok(Subscription::new(Unsubscribe {
            store: Arc::downgrade(&self.inner),
            id,
        }))
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError> {
        let now = self.inner.clock.now();
        let mut counters = self.inner.counters.lock();
        if counters.map.len() >= counters.sweep_at {
            counters.map.retain(|_, (_, until)| *until > now);
            counters.sweep_at = (counters.map.len() * 2).max(MIN_SWEEP);
        }
        let entry = counters
            .map
            .entry(key.to_owned())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        let left = (entry.1 - now).try_into().unwrap_or(Duration::ZERO);
        Ok((entry.0, left))
    }

    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError> {
        let now = self.inner.clock.now();
        Ok(match self.inner.counters.lock().map.get(key) {
            Some((n, until)) if *until > now => {
                (*n, (*until - now).try_into().unwrap_or(Duration::ZERO))
            }
            _ => (0, Duration::ZERO),
        })
    }

    async fn decrement(&self, key: &str) -> Result<(), StoreError> {
        let now = self.inner.clock.now();
        if let Some((n, until)) = self.inner.counters.lock().map.get_mut(key)
            && *until > now
        {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.inner.counters.lock().map.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::testing::{conformance, sample_record};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        conformance(|clock: ManualClock| async move { MemoryStore::with_clock(Arc::new(clock)) })
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_inventory_conformance() {
        crate::testing::inventory_conformance(|clock: ManualClock| async move {
            MemoryStore::with_clock(Arc::new(clock))
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_counter_conformance_suite() {
        crate::testing::counter_conformance(|clock: ManualClock| async move {
            MemoryStore::with_clock(Arc::new(clock))
        })
        .await;
    }

    #[tokio::test]
    async fn expired_sessions_are_reclaimed_as_the_store_grows() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        // Many short-lived sessions, each expiring before the next batch.
        for _round in 0..20 {
            for i in 0..500 {
                let r = sample_record(&format!("u{i}"), clock.now(), time::Duration::seconds(1));
                store.create(&r).await.unwrap();
            }
            clock.advance(time::Duration::seconds(2));
        }
        // 10,000 created; the store holds a bounded multiple of one batch.
        let held = store.stored_len();
        assert!(held <= 500 * 3 + SHARDS * MIN_SWEEP, "held {held} records");
        assert_eq!(store.len(), 0);
        store.sweep();
        assert_eq!(store.stored_len(), 0);
        let users: usize = store.inner.users.iter().map(|u| u.lock().len()).sum();
        assert_eq!(users, 0, "the user index is emptied with the sessions");
    }
}
