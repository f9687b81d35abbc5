//! A local cache in front of any store: [`CachedStore`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::keyed::KeyMap;
use super::{Announcements, SessionStore, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::record::SessionRecord;
use crate::revocation::{DEFAULT_MAX_STALENESS, Revocation, Revocations, Subscription};
use crate::token::SessionKey;

/// Default time a record is served from the cache: 2 seconds.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Default number of records kept: 100 000.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

const SHARDS: usize = 16;

struct Entry {
    /// Shared with the requests that read it.
    record: Arc<SessionRecord>,
    /// When the load that produced it started: an eviction announced after
    /// that makes it stale.
    loaded_at: Instant,
}

/// A bounded, short-lived cache of session records in this process, in
/// front of any [`SessionStore`]: a request whose session was read here
/// less than the [TTL](Self::with_ttl) ago costs no store command.
///
/// Every write that goes through it (update, touch, delete, delete of a
/// user's sessions) changes or drops the local copy, and the ones that end
/// or change a session (a rotation is an update) are announced to the
/// other instances ([`Announcements::announce`], as
/// [`Revocation::StaleSession`] and [`Revocation::StaleUser`]): each instance's
/// cache subscribes to the store and drops the named sessions as soon as
/// the announcement arrives (through Redis pub/sub, typically within a
/// millisecond). A copy loaded before an announcement arrived is never
/// served after it. What can still be seen late, for at most the TTL, is
/// what is not announced: another instance's sliding refresh of the idle
/// expiry, which only ever moves it later.
///
/// The cache holds at most [`capacity`](Self::with_capacity) records,
/// dropping arbitrary ones when full, and never serves an expired one.
/// While the store's delivery of announcements is disconnected (or not
/// proved current within [`DEFAULT_MAX_STALENESS`]), it serves nothing and
/// every read goes to the store. [`load`](SessionStore::load), which
/// rotations decide on, always reads the store.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use auth_core::{Authenticator, CachedStore, MemoryStore};
///
/// let store = CachedStore::new(MemoryStore::new())?
///     .with_ttl(Duration::from_secs(1))
///     .with_capacity(50_000);
/// let auth = Authenticator::builder(store).build()?;
/// # let _ = auth;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct CachedStore<S> {
    inner: Arc<S>,
    shards: Arc<[Mutex<KeyMap<Entry>>]>,
    evictions: Revocations,
    ttl: Duration,
    capacity_per_shard: usize,
    clock: Arc<dyn Clock>,
    _subscription: Option<Arc<Subscription>>,
}

impl<S> Clone for CachedStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shards: self.shards.clone(),
            evictions: self.evictions.clone(),
            ttl: self.ttl,
            capacity_per_shard: self.capacity_per_shard,
            clock: self.clock.clone(),
            _subscription: self._subscription.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for CachedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedStore")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .field("capacity", &(self.capacity_per_shard * SHARDS))
            .field("cached", &self.len())
            .finish()
    }
}

impl<S: SessionStore> CachedStore<S> {
    /// A cache in front of `inner`, subscribed to its announcements (which
    /// for `auth-redis` needs a Tokio runtime). Fails if the store should
    /// deliver announcements but cannot start.
    pub fn new(inner: S) -> Result<Self, StoreError> {
        let evictions = Revocations::new(DEFAULT_CACHE_TTL * 2);
        let subscription = super::subscribe(&inner, &evictions)?.map(Arc::new);
        let shards: Vec<_> = (0..SHARDS).map(|_| Mutex::default()).collect();
        Ok(Self {
            inner: Arc::new(inner),
            shards: shards.into(),
            evictions,
            ttl: DEFAULT_CACHE_TTL,
            capacity_per_shard: DEFAULT_CACHE_CAPACITY.div_ceil(SHARDS),
            clock: Arc::new(SystemClock),
            _subscription: subscription,
        })
    }
}

impl<S> CachedStore<S> {
    /// How long a record is served without asking the store (default 2 s).
    /// Bounds how late a change that is not announced (another instance's
    /// sliding refresh) is seen.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// At most this many records are kept (default 100 000).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity_per_shard = capacity.div_ceil(SHARDS).max(1);
        self
    }

    /// The clock that judges expiry (default the system clock): the same
    /// as the [`Authenticator`](crate::Authenticator)'s.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Whether other instances' changes are reaching this cache, so that it
    /// serves from memory: false until its subscription has caught up, and
    /// while it is disconnected.
    pub fn is_current(&self) -> bool {
        self.evictions.is_current(DEFAULT_MAX_STALENESS)
    }

    /// How many records are cached now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &SessionKey) -> &Mutex<KeyMap<Entry>> {
        &self.shards[super::keyed::shard_of(key, SHARDS)]
    }

    fn cached(&self, key: &SessionKey, now: OffsetDateTime) -> Option<Arc<SessionRecord>> {
        if !self.evictions.is_current(DEFAULT_MAX_STALENESS) {
            // Other instances' changes may not be arriving: every read
            // goes to the store until they are.
            return None;
        }
        let mut shard = self.shard(key).lock();
        let entry = shard.get(key)?;
        let fresh = entry.loaded_at.elapsed() < self.ttl
            && !entry.record.is_expired(now)
            && !self.evictions.feed_lost_since(entry.loaded_at)
            && !self.evictions.is_stale(
                entry.record.id.as_str(),
                &entry.record.user_id,
                entry.loaded_at,
            );
        if fresh {
            Some(Arc::clone(&entry.record))
        } else {
            shard.remove(key);
            None
        }
    }

    fn insert(&self, record: Arc<SessionRecord>, loaded_at: Instant) {
        let key = record.key();
        let mut shard = self.shard(&key).lock();
        if shard.len() >= self.capacity_per_shard
            && !shard.contains_key(&key)
            && let Some(victim) = shard.keys().next().copied()
        {
            shard.remove(&victim);
        }
        shard.insert(key, Entry { record, loaded_at });
    }

    fn forget(&self, key: &SessionKey) {
        self.shard(key).lock().remove(key);
    }

    fn forget_user(&self, user_id: &str, keep: Option<&SessionKey>) {
        for shard in self.shards.iter() {
            shard
                .lock()
                .retain(|key, e| e.record.user_id != user_id || Some(key) == keep);
        }
    }
}

impl<S: SessionStore> CachedStore<S> {
    /// Tells every instance's cache that copies of these sessions are stale.
    async fn announce_stale(&self, stale: Revocation) -> Result<(), StoreError> {
        let keep = self.announce_keep();
        self.evictions.apply(&stale, keep);
        super::announce(&*self.inner, &stale, keep).await
    }

    fn announce_keep(&self) -> Duration {
        // Receivers must remember an eviction for as long as a copy loaded
        // before it may be cached.
        (self.ttl * 2).max(Duration::from_secs(1))
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for CachedStore<S> {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    /// Always from the store: `load` is the authoritative read that
    /// rotations and refreshes decide on.
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load(key).await
    }

    async fn load_shared(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        if let Some(record) = self.cached(key, self.clock.now()) {
            return Ok(Some(record));
        }
        let loaded_at = Instant::now();
        let record = self.inner.load_shared(key).await?;
        if let Some(record) = &record
            && self.evictions.is_current(DEFAULT_MAX_STALENESS)
        {
            self.insert(Arc::clone(record), loaded_at);
        }
        Ok(record)
    }

    /// A record this cache holds, fresh; otherwise `None`, and
    /// `load_shared` asks the store.
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        self.cached(key, self.clock.now())
            .map(|record| Ok(Some(record)))
    }

    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        self.forget(&record.key());
        let version = self.inner.update(record).await?;
        self.announce_stale(Revocation::StaleSession {
            sid: record.id.as_str().to_owned(),
        })
        .await?;
        Ok(version)
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let loaded_at = Instant::now();
        let touched = self
            .inner
            .touch(key, idle_expires_at, last_refresh_at)
            .await?;
        let mut shard = self.shard(key).lock();
        if touched {
            if let Some(entry) = shard.get_mut(key) {
                let record = Arc::make_mut(&mut entry.record);
                record.idle_expires_at = idle_expires_at;
                record.last_refresh_at = last_refresh_at;
                entry.loaded_at = entry.loaded_at.max(loaded_at);
            }
        } else {
            shard.remove(key);
        }
        Ok(touched)
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.forget(key);
        let existed = self.inner.delete(key).await?;
        self.announce_stale(Revocation::StaleSession {
            sid: key.id().as_str().to_owned(),
        })
        .await?;
        Ok(existed)
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_user(user_id).await
    }

    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        self.forget_user(user_id, keep);
        let deleted = self.inner.delete_user(user_id, keep).await?;
        // Every copy of the user's sessions elsewhere is dropped; the kept
        // one is merely read again.
        self.announce_stale(Revocation::StaleUser {
            user: user_id.to_owned(),
        })
        .await?;
        Ok(deleted)
    }

    fn announcements(&self) -> Option<&dyn Announcements> {
        self.inner.announcements()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::clock::ManualClock;
    use crate::testing::{CountingStore, conformance, sample_record};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        conformance(|clock: ManualClock| async move {
            let clock: Arc<dyn Clock> = Arc::new(clock);
            CachedStore::new(MemoryStore::with_clock(clock.clone()))
                .unwrap()
                .with_clock(clock)
        })
        .await;
    }

    /// Two instances (caches) on one shared store, and the store's calls.
    fn two_instances() -> (
        CachedStore<CountingStore<MemoryStore>>,
        CachedStore<CountingStore<MemoryStore>>,
        CountingStore<MemoryStore>,
    ) {
        let shared = MemoryStore::new();
        let counted = CountingStore::new(shared.clone());
        let a = CachedStore::new(CountingStore::new(shared.clone())).unwrap();
        let b = CachedStore::new(counted.clone()).unwrap();
        (a, b, counted)
    }

    /// A read as the authenticator makes it: at once if the cache can
    /// answer, from the store otherwise.
    async fn cached(
        store: &CachedStore<CountingStore<MemoryStore>>,
        record: &SessionRecord,
    ) -> Option<Arc<SessionRecord>> {
        match store.load_now(&record.key()) {
            Some(answer) => answer,
            None => store.load_shared(&record.key()).await,
        }
        .unwrap()
    }

    #[tokio::test]
    async fn a_cached_read_costs_no_store_command() {
        let (a, b, b_calls) = two_instances();
        let record = sample_record(
            "ann",
            OffsetDateTime::now_utc(),
            time::Duration::minutes(30),
        );
        a.create(&record).await.unwrap();
        assert_eq!(cached(&b, &record).await.unwrap().id, record.id);
        b_calls.take_calls();
        for _ in 0..10 {
            assert!(cached(&b, &record).await.is_some());
        }
        let calls = b_calls.take_calls();
        assert_eq!((calls.reads(), calls.writes(), calls.announce), (0, 0, 0));
        assert_eq!(b.len(), 1);
        // `load`, which rotations decide on, always asks the store.
        b.load(&record.key()).await.unwrap().unwrap();
        assert_eq!(b_calls.take_calls().reads(), 1);
        // Unknown keys are never cached: each one asks the store.
        let unknown = sample_record(
            "bob",
            OffsetDateTime::now_utc(),
            time::Duration::minutes(30),
        );
        assert!(cached(&b, &unknown).await.is_none());
        assert!(cached(&b, &unknown).await.is_none());
        assert_eq!(b_calls.take_calls().reads(), 2);
    }

    #[tokio::test]
    async fn changes_on_one_instance_reach_the_others_cache() {
        let (a, b, _) = two_instances();
        let now = OffsetDateTime::now_utc();
        let mut record = sample_record("ann", now, time::Duration::minutes(30));
        a.create(&record).await.unwrap();
        cached(&b, &record).await.unwrap();

        // A data write elsewhere is seen at once.
        record.roles = vec!["admin".into()];
        record.version = a.update(&record).await.unwrap();
        assert_eq!(cached(&b, &record).await.unwrap().roles, ["admin"]);

        // So is a rotation (a new verifier).
        let token = crate::SessionToken::rotate(record.key()).unwrap();
        record.verifier = token.verifier();
        record.version = a.update(&record).await.unwrap();
        assert_eq!(
            cached(&b, &record).await.unwrap().verifier,
            token.verifier()
        );

        // So is a logout.
        a.delete(&record.key()).await.unwrap();
        assert!(cached(&b, &record).await.is_none());

        // Logout everywhere, keeping one.
        let kept = sample_record("ann", now, time::Duration::minutes(30));
        let other = sample_record("ann", now, time::Duration::minutes(30));
        a.create(&kept).await.unwrap();
        a.create(&other).await.unwrap();
        cached(&b, &kept).await.unwrap();
        cached(&b, &other).await.unwrap();
        assert_eq!(
            a.delete_user("ann", Some(&kept.key())).await.unwrap(),
            vec![other.key()]
        );
        assert!(cached(&b, &other).await.is_none());
        assert!(cached(&b, &kept).await.is_some());
    }

    #[tokio::test]
    async fn entries_expire_with_the_ttl_and_the_session() {
        let clock = ManualClock::starting_now();
        let shared = MemoryStore::with_clock(Arc::new(clock.clone()));
        let counted = CountingStore::new(shared.clone());
        let cache = CachedStore::new(counted.clone())
            .unwrap()
            .with_clock(Arc::new(clock.clone()))
            .with_ttl(Duration::from_millis(30));
        let record = sample_record("ann", clock.now(), time::Duration::minutes(30));
        shared.create(&record).await.unwrap();
        cache.load_shared(&record.key()).await.unwrap().unwrap();
        counted.take_calls();
        std::thread::sleep(Duration::from_millis(40));
        cache.load_shared(&record.key()).await.unwrap().unwrap();
        assert_eq!(counted.take_calls().reads(), 1, "read again after the TTL");

        // An expired session is never served from the cache.
        let cache = cache.with_ttl(Duration::from_secs(3600));
        cache.load_shared(&record.key()).await.unwrap().unwrap();
        clock.advance(time::Duration::minutes(31));
        assert!(cache.load_shared(&record.key()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let shared = MemoryStore::new();
        let cache = CachedStore::new(shared.clone()).unwrap().with_capacity(64);
        for i in 0..1_000 {
            let r = sample_record(
                &format!("u{i}"),
                OffsetDateTime::now_utc(),
                time::Duration::minutes(5),
            );
            shared.create(&r).await.unwrap();
            cache.load_shared(&r.key()).await.unwrap().unwrap();
        }
        assert!(cache.len() <= 64, "{} cached", cache.len());
    }

    #[tokio::test]
    async fn a_copy_loaded_before_an_eviction_is_not_served_after_it() {
        let (a, b, _) = two_instances();
        let record = sample_record(
            "ann",
            OffsetDateTime::now_utc(),
            time::Duration::minutes(30),
        );
        a.create(&record).await.unwrap();
        // B's read started before the eviction arrived, and lands after it.
        let loaded_at = Instant::now();
        let copy = b.inner().load(&record.key()).await.unwrap().unwrap();
        b.evictions.apply(
            &Revocation::StaleSession {
                sid: record.id.as_str().to_owned(),
            },
            Duration::from_secs(5),
        );
        b.insert(Arc::new(copy), loaded_at);
        b.inner().take_calls();
        assert!(cached(&b, &record).await.is_some());
        assert_eq!(
            b.inner().take_calls().reads(),
            1,
            "read from the store again"
        );
    }

    #[tokio::test]
    async fn nothing_is_served_while_announcements_may_be_missing() {
        let (a, b, b_calls) = two_instances();
        let record = sample_record(
            "ann",
            OffsetDateTime::now_utc(),
            time::Duration::minutes(30),
        );
        a.create(&record).await.unwrap();
        cached(&b, &record).await.unwrap();
        b_calls.take_calls();
        // The delivery of other instances' changes is lost.
        b.evictions.feed_connecting();
        b.evictions.feed_lost();
        cached(&b, &record).await.unwrap();
        cached(&b, &record).await.unwrap();
        assert_eq!(b_calls.take_calls().reads(), 2, "every read asks the store");
        // Back: served from the cache again (what is read from now on,
        // which the clock tells apart from the loss).
        std::thread::sleep(Duration::from_millis(5));
        b.evictions.feed_live();
        cached(&b, &record).await.unwrap();
        cached(&b, &record).await.unwrap();
        assert_eq!(b_calls.take_calls().reads(), 1);
    }
}
