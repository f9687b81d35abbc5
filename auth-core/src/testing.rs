//! Test helpers for applications and store crates (feature `testing`).
//!
//! - [`conformance`]: the store contract as one async function. A custom
//!   store crate proves itself with one test, on a multi-thread runtime
//!   (the suite races operations against each other for real):
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use auth_core::{MemoryStore, ManualClock, testing::conformance};
//!
//! conformance(|clock: ManualClock| async move { MemoryStore::with_clock(Arc::new(clock)) }).await;
//! # });
//! ```
//!
//! - [`counter_conformance`]: the same for a [`CounterStore`].
//!
//! - [`CountingStore`]: wraps any store and counts calls per operation, to
//!   assert how many reads and writes a request costs.
//! - [`FailingStore`]: wraps any store and fails on demand, to test outages.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

use crate::clock::{Clock, ManualClock};
use crate::record::{ClientMeta, SessionData, SessionKind, SessionLifetime, SessionRecord};
use crate::revocation::{Revocation, Revocations, Subscription};
use crate::store::{SessionStore, StoreError};
use crate::throttle::CounterStore;
use crate::token::{SessionId, SessionKey, SessionToken};

/// Implements [`SessionStore`] for a wrapper `$ty<S>` with field `inner`,
/// calling `self.$hook(index)?` (index 0..8 in trait order) before
/// delegating each operation; `subscribe` is passed through.
macro_rules! intercepting_store {
    ($ty:ident, $hook:ident) => {
        #[async_trait]
        impl<S: SessionStore> SessionStore for $ty<S> {
            async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
                self.$hook(0)?;
                self.inner.create(record).await
            }
            async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
                self.$hook(1)?;
                self.inner.load(key).await
            }
            async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
                self.$hook(2)?;
                self.inner.update(record).await
            }
            async fn touch(
                &self,
                key: &SessionKey,
                idle_expires_at: OffsetDateTime,
                last_refresh_at: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                self.$hook(3)?;
                self.inner
                    .touch(key, idle_expires_at, last_refresh_at)
                    .await
            }
            async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
                self.$hook(4)?;
                self.inner.delete(key).await
            }
            async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
                self.$hook(5)?;
                self.inner.list_user(user_id).await
            }
            async fn delete_user(
                &self,
                user_id: &str,
                keep: Option<&SessionKey>,
            ) -> Result<Vec<SessionKey>, StoreError> {
                self.$hook(6)?;
                self.inner.delete_user(user_id, keep).await
            }
            async fn announce(
                &self,
                revocation: &Revocation,
                keep: std::time::Duration,
            ) -> Result<(), StoreError> {
                self.$hook(7)?;
                self.inner.announce(revocation, keep).await
            }
            fn subscribe(&self, sink: &Revocations) -> Result<Option<Subscription>, StoreError> {
                self.inner.subscribe(sink)
            }
        }
    };
}

intercepting_store!(CountingStore, count);
intercepting_store!(FailingStore, check);

/// Counters pass through (and fail with the switch); they are not counted.
#[async_trait]
impl<S: crate::throttle::CounterStore> crate::throttle::CounterStore for FailingStore<S> {
    async fn increment(
        &self,
        key: &str,
        window: std::time::Duration,
    ) -> Result<(u64, std::time::Duration), StoreError> {
        self.check(8)?;
        self.inner.increment(key, window).await
    }
    async fn decrement(&self, key: &str) -> Result<(), StoreError> {
        self.check(8)?;
        self.inner.decrement(key).await
    }
    async fn count(&self, key: &str) -> Result<(u64, std::time::Duration), StoreError> {
        self.check(8)?;
        self.inner.count(key).await
    }
    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.check(8)?;
        self.inner.reset(key).await
    }
}

/// Calls made to a [`CountingStore`], per operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCalls {
    /// `create` calls.
    pub create: usize,
    /// `load` calls.
    pub load: usize,
    /// `update` calls.
    pub update: usize,
    /// `touch` calls.
    pub touch: usize,
    /// `delete` calls.
    pub delete: usize,
    /// `list_user` calls.
    pub list_user: usize,
    /// `delete_user` calls.
    pub delete_user: usize,
    /// `announce` calls (revocations told to other instances; neither a
    /// read nor a write of sessions).
    pub announce: usize,
}

impl StoreCalls {
    /// Calls that read without writing.
    pub fn reads(&self) -> usize {
        self.load + self.list_user
    }

    /// Calls that write.
    pub fn writes(&self) -> usize {
        self.create + self.update + self.touch + self.delete + self.delete_user
    }
}

#[derive(Default)]
struct Counters([AtomicUsize; 8]);

/// A store wrapper that counts calls. Clones share the counters.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use auth_core::{MemoryStore, SessionStore, testing::CountingStore};
///
/// let store = CountingStore::new(MemoryStore::new());
/// store.list_user("alice").await.unwrap();
/// assert_eq!(store.calls().reads(), 1);
/// assert_eq!(store.take_calls().writes(), 0);
/// assert_eq!(store.calls().reads(), 0);
/// # });
/// ```
#[derive(Clone)]
pub struct CountingStore<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S: fmt::Debug> fmt::Debug for CountingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingStore")
            .field("inner", &self.inner)
            .field("calls", &self.calls())
            .finish()
    }
}

impl<S> CountingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The calls so far.
    pub fn calls(&self) -> StoreCalls {
        self.read_calls(|c| c.load(Ordering::SeqCst))
    }

    /// The calls so far, resetting the counters.
    pub fn take_calls(&self) -> StoreCalls {
        self.read_calls(|c| c.swap(0, Ordering::SeqCst))
    }

    fn read_calls(&self, read: impl Fn(&AtomicUsize) -> usize) -> StoreCalls {
        let [
            create,
            load,
            update,
            touch,
            delete,
            list_user,
            delete_user,
            announce,
        ] = self.counters.0.each_ref().map(read);
        StoreCalls {
            create,
            load,
            update,
            touch,
            delete,
            list_user,
            delete_user,
            announce,
        }
    }

    fn count(&self, i: usize) -> Result<(), StoreError> {
        self.counters.0[i].fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A store wrapper that fails on demand with [`StoreError::Unavailable`],
/// as a database outage would. Clones share the switch.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use auth_core::{MemoryStore, SessionStore, testing::FailingStore};
///
/// let store = FailingStore::new(MemoryStore::new());
/// store.set_failing(true);
/// let err = store.list_user("alice").await.unwrap_err();
/// assert!(err.is_retryable());
/// store.set_failing(false);
/// assert!(store.list_user("alice").await.is_ok());
/// # });
/// ```
#[derive(Clone)]
pub struct FailingStore<S> {
    inner: S,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl<S: fmt::Debug> fmt::Debug for FailingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailingStore")
            .field("inner", &self.inner)
            .field("failing", &self.is_failing())
            .finish()
    }
}

impl<S> FailingStore<S> {
    /// Wraps `inner`, healthy.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            failing: Arc::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Makes every call fail (`true`) or pass through (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Whether calls fail.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::SeqCst)
    }

    fn check(&self, _op: usize) -> Result<(), StoreError> {
        if self.is_failing() {
            Err(StoreError::unavailable(
                "store switched off by FailingStore",
            ))
        } else {
            Ok(())
        }
    }
}

/// A record for `user` that the conformance suite (or your own tests) can
/// store: idle expiry `idle` from `now`, absolute expiry an hour later.
pub fn sample_record(user: &str, now: OffsetDateTime, idle: Duration) -> SessionRecord {
    let token = SessionToken::generate().expect("system random source");
    let mut data = SessionData::new();
    data.set_value("n", Some(serde_json::json!(0)));
    SessionRecord {
        id: token.key().id(),
        user_id: user.to_owned(),
        kind: SessionKind::Browser,
        verifier: token.verifier(),
        generation: 0,
        rotated_at: now,
        tokens_not_before: None,
        roles: vec!["user".into()],
        created_at: now,
        idle_expires_at: now + idle,
        absolute_expires_at: now + idle + Duration::hours(1),
        last_refresh_at: now,
        data,
        client: ClientMeta::new(Some("conformance/1"), Some("127.0.0.1".into())),
        lifetime: SessionLifetime::Standard,
        version: 1,
    }
}

/// `record` with a new token: what a rotation writes (with
/// [`SessionStore::update`]).
fn rotated(record: &SessionRecord) -> SessionRecord {
    let token = SessionToken::rotate(record.key()).expect("system random source");
    let mut next = record.clone();
    next.verifier = token.verifier();
    next.generation += 1;
    next
}

fn unique_user(tag: &str) -> String {
    let id = SessionId::generate().expect("system random source");
    format!("conformance-{tag}-{id}")
}

fn keys(records: &[SessionRecord]) -> HashSet<SessionKey> {
    records.iter().map(SessionRecord::key).collect()
}

/// How many times each race is run: enough for a store without the
/// atomicity it needs to be caught.
const TRIALS: usize = 40;

/// Panics unless the current Tokio runtime runs tasks in parallel: the
/// races below prove nothing on one thread.
fn require_parallel_runtime(suite: &str) {
    let flavor = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor())
        .unwrap_or_else(|_| panic!("{suite} needs a Tokio runtime"));
    assert!(
        flavor == tokio::runtime::RuntimeFlavor::MultiThread,
        "run {suite} on a multi-thread runtime, as \
         #[tokio::test(flavor = \"multi_thread\", worker_threads = 2)]: \
         its races need tasks that really run at the same time"
    );
}

/// A task of a race.
type Task<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs `tasks` together: each waits at one barrier before its work.
async fn race<T: Send + 'static>(tasks: Vec<Task<T>>) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(tasks.len()));
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("a racing task panicked"));
    }
    out
}

/// Runs the whole store contract against stores built by `make`, on a
/// multi-thread Tokio runtime.
///
/// `make` receives a [`ManualClock`] and returns a fresh store; clones of a
/// store stand for other instances of the app on the same backend (the
/// suite checks that announcements travel between them). Stores that judge
/// expiry by the clock they are given (like [`MemoryStore`](crate::MemoryStore))
/// are tested by moving it; stores that rely on their backend's own clock
/// (Redis TTLs) should ignore it: the suite also waits out short real
/// expiries, so both kinds pass. Users are unique per run, so a shared
/// backend can be used. Panics with a description of the first broken rule.
///
/// Beyond each operation on its own, it races them: updates from one
/// version (exactly one wins), rotations against the deletion of the
/// user's sessions (nothing survives), creation against that deletion
/// (what it reports is what it did), touches against deletes (no
/// resurrection), and checks that a session rotated many times stays one
/// record.
pub async fn conformance<F, Fut, S>(make: F)
where
    F: Fn(ManualClock) -> Fut,
    Fut: Future<Output = S>,
    S: SessionStore + Clone,
{
    require_parallel_runtime("the store conformance suite");
    create_load_duplicate(&make(ManualClock::starting_now()).await).await;
    versioned_update(&make(ManualClock::starting_now()).await).await;
    shared_loads(&make(ManualClock::starting_now()).await).await;
    touch_changes_expiry_only(&make(ManualClock::starting_now()).await).await;
    delete(&make(ManualClock::starting_now()).await).await;
    rotation_keeps_one_record(&make(ManualClock::starting_now()).await).await;
    user_index(&make(ManualClock::starting_now()).await).await;
    concurrent_updates(&make(ManualClock::starting_now()).await).await;
    let store = Arc::new(make(ManualClock::starting_now()).await);
    one_update_wins(&store).await;
    rotation_against_delete_user(&store).await;
    creation_against_delete_user(&store).await;
    touch_against_delete(&store).await;
    announcements(&make(ManualClock::starting_now()).await).await;
    many_users(&make(ManualClock::starting_now()).await).await;
    let clock = ManualClock::starting_now();
    expiry(&make(clock.clone()).await, &clock).await;
}

async fn create_load_duplicate<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let mut rec = sample_record(&unique_user("create"), now, Duration::minutes(30));
    rec.kind = SessionKind::Refresh;
    rec.generation = 7;
    rec.tokens_not_before = Some(now);
    assert!(
        store.load(&rec.key()).await.unwrap().is_none(),
        "load of an unknown key must be None"
    );
    store.create(&rec).await.expect("create");
    let loaded = store
        .load(&rec.key())
        .await
        .unwrap()
        .expect("created record loads");
    assert_eq!(loaded.id, rec.id);
    assert_eq!(loaded.user_id, rec.user_id);
    assert_eq!(loaded.kind, rec.kind);
    assert_eq!(
        loaded.verifier, rec.verifier,
        "the verifier is kept exactly"
    );
    assert_eq!(loaded.generation, rec.generation);
    assert_eq!(loaded.roles, rec.roles);
    assert_eq!(loaded.data, rec.data);
    assert_eq!(loaded.client, rec.client);
    assert_eq!(
        loaded.version, rec.version,
        "create stores the version as given"
    );
    // Times survive at millisecond precision at least.
    let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    assert_eq!(ms(loaded.created_at), ms(rec.created_at));
    assert_eq!(ms(loaded.rotated_at), ms(rec.rotated_at));
    assert_eq!(
        loaded.tokens_not_before.map(ms),
        rec.tokens_not_before.map(ms)
    );
    assert_eq!(ms(loaded.idle_expires_at), ms(rec.idle_expires_at));
    assert_eq!(ms(loaded.absolute_expires_at), ms(rec.absolute_expires_at));

    let mut other = rotated(&rec);
    other.roles = vec!["intruder".into()];
    match store.create(&other).await {
        Err(StoreError::DuplicateKey) => {}
        other => panic!("create on a taken key must be DuplicateKey, got {other:?}"),
    }
    let still = store.load(&rec.key()).await.unwrap().unwrap();
    assert_eq!(
        still.roles, rec.roles,
        "a duplicate create must not overwrite"
    );
    assert_eq!(
        still.verifier, rec.verifier,
        "a duplicate create must not overwrite"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

async fn versioned_update<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("update"), now, Duration::minutes(30));
    store.create(&rec).await.unwrap();

    let mut a = store.load(&rec.key()).await.unwrap().unwrap();
    let b = a.clone();
    a.data.set_value("n", Some(serde_json::json!(1)));
    let v = store
        .update(&a)
        .await
        .expect("update at the stored version");
    assert_eq!(v, rec.version + 1, "update returns the new version");
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    assert_eq!(loaded.version, v);
    assert_eq!(loaded.data.get::<i64>("n").unwrap(), Some(1));

    match store.update(&b).await {
        Err(StoreError::Conflict) => {}
        other => panic!("a stale update must be Conflict, got {other:?}"),
    }
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    assert_eq!(
        loaded.data.get::<i64>("n").unwrap(),
        Some(1),
        "a stale update must not write"
    );

    let ghost = sample_record(&rec.user_id, now, Duration::minutes(30));
    match store.update(&ghost).await {
        Err(StoreError::NotFound) => {}
        other => panic!("update of a missing session must be NotFound, got {other:?}"),
    }
    assert!(
        store.load(&ghost.key()).await.unwrap().is_none(),
        "update must not create"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

/// `load_shared` answers as `load` does, and what it handed out is a
/// snapshot: later writes do not change it.
async fn shared_loads<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("shared"), now, Duration::minutes(30));
    let key = rec.key();
    store.create(&rec).await.unwrap();
    let shared = store
        .load_shared(&key)
        .await
        .unwrap()
        .expect("load_shared finds a live session");
    assert_eq!(
        Some(&*shared),
        store.load(&key).await.unwrap().as_ref(),
        "load_shared answers as load does"
    );
    let read_version = shared.version;
    let read_idle = shared.idle_expires_at;
    let read_n = shared.data.get::<i64>("n").unwrap();
    let mut changed = SessionRecord::clone(&shared);
    changed.data.set_value("n", Some(serde_json::json!(7)));
    let version = store.update(&changed).await.unwrap();
    let later = now + Duration::minutes(10);
    assert!(
        store
            .touch(&key, later + Duration::minutes(30), later)
            .await
            .unwrap()
    );
    assert_eq!(shared.version, read_version, "a shared read is a snapshot");
    assert_eq!(
        shared.idle_expires_at, read_idle,
        "a shared read is a snapshot"
    );
    assert_eq!(
        shared.data.get::<i64>("n").unwrap(),
        read_n,
        "a shared read is a snapshot"
    );
    let again = store.load_shared(&key).await.unwrap().unwrap();
    assert_eq!(again.version, version, "load_shared sees the update");
    assert_eq!(again.data.get::<i64>("n").unwrap(), Some(7));
    assert_eq!(
        Some(&*again),
        store.load(&key).await.unwrap().as_ref(),
        "load_shared answers as load does after writes"
    );
    store.delete(&key).await.unwrap();
    assert!(
        store.load_shared(&key).await.unwrap().is_none(),
        "load_shared finds no deleted session"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

async fn touch_changes_expiry_only<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("touch"), now, Duration::minutes(30));
    store.create(&rec).await.unwrap();
    let later = now + Duration::minutes(10);
    let new_idle = later + Duration::minutes(30);
    assert!(
        store.touch(&rec.key(), new_idle, later).await.unwrap(),
        "touch of a live session"
    );
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    assert_eq!(ms(loaded.idle_expires_at), ms(new_idle));
    assert_eq!(ms(loaded.last_refresh_at), ms(later));
    assert_eq!(
        loaded.version, rec.version,
        "touch must not change the version"
    );
    assert_eq!(loaded.data, rec.data);
    assert_eq!(loaded.verifier, rec.verifier);
    let missing = sample_record(&rec.user_id, now, Duration::minutes(30));
    assert!(
        !store.touch(&missing.key(), new_idle, later).await.unwrap(),
        "touch of a missing session"
    );
    assert!(
        store.load(&missing.key()).await.unwrap().is_none(),
        "touch must not create"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

async fn delete<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("delete");
    let rec = sample_record(&user, now, Duration::minutes(30));
    let other = sample_record(&user, now, Duration::minutes(30));
    store.create(&rec).await.unwrap();
    store.create(&other).await.unwrap();
    assert!(
        store.delete(&rec.key()).await.unwrap(),
        "delete of a live session returns true"
    );
    assert!(
        store.load(&rec.key()).await.unwrap().is_none(),
        "deleted session must not load"
    );
    assert!(
        !store.delete(&rec.key()).await.unwrap(),
        "second delete returns false"
    );
    let listed = store.list_user(&user).await.unwrap();
    assert_eq!(
        keys(&listed),
        HashSet::from([other.key()]),
        "index after delete"
    );
    store.delete_user(&user, None).await.unwrap();
}

/// A rotation is an update of the one record: however many there are, the
/// user has one session, and only the newest verifier is kept.
async fn rotation_keeps_one_record<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("rotate");
    let mut record = sample_record(&user, now, Duration::minutes(30));
    store.create(&record).await.unwrap();
    for _ in 0..300 {
        let mut next = rotated(&record);
        next.version = store.update(&next).await.expect("a rotation");
        record = next;
    }
    let listed = store.list_user(&user).await.unwrap();
    assert_eq!(listed.len(), 1, "300 rotations leave one record");
    assert_eq!(listed[0].verifier, record.verifier);
    assert_eq!(listed[0].generation, 300);
    store.delete_user(&user, None).await.unwrap();
}

async fn user_index<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("index");
    let bystander = unique_user("bystander");
    let recs: Vec<_> = (0..4)
        .map(|_| sample_record(&user, now, Duration::minutes(30)))
        .collect();
    let theirs = sample_record(&bystander, now, Duration::minutes(30));
    for r in &recs {
        store.create(r).await.unwrap();
    }
    store.create(&theirs).await.unwrap();
    assert_eq!(keys(&store.list_user(&user).await.unwrap()), keys(&recs));
    assert!(
        store
            .list_user(&unique_user("nobody"))
            .await
            .unwrap()
            .is_empty()
    );

    let deleted = store
        .delete_user(&user, Some(&recs[0].key()))
        .await
        .unwrap();
    assert_eq!(
        deleted.into_iter().collect::<HashSet<_>>(),
        keys(&recs[1..]),
        "delete_user with keep deletes all others and says which"
    );
    assert_eq!(
        keys(&store.list_user(&user).await.unwrap()),
        HashSet::from([recs[0].key()])
    );
    for r in &recs[1..] {
        assert!(store.load(&r.key()).await.unwrap().is_none());
    }
    assert!(store.load(&recs[0].key()).await.unwrap().is_some());

    assert_eq!(
        store.delete_user(&user, None).await.unwrap(),
        vec![recs[0].key()]
    );
    assert!(store.list_user(&user).await.unwrap().is_empty());
    assert!(store.load(&recs[0].key()).await.unwrap().is_none());
    assert!(store.delete_user(&user, None).await.unwrap().is_empty());
    assert!(
        store.load(&theirs.key()).await.unwrap().is_some(),
        "other users untouched"
    );
    store.delete_user(&bystander, None).await.unwrap();
}

async fn concurrent_updates<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("merge"), now, Duration::minutes(30));
    store.create(&rec).await.unwrap();
    // Eight writers each add their own key with read-modify-write and retry
    // on conflict: if the store reports every lost race, all eight survive.
    let writer = |i: usize| {
        let key = rec.key();
        async move {
            for _ in 0..200 {
                let mut r = store.load(&key).await.unwrap().unwrap();
                r.data
                    .set_value(&format!("w{i}"), Some(serde_json::json!(i)));
                tokio::task::yield_now().await;
                match store.update(&r).await {
                    Ok(_) => return,
                    Err(StoreError::Conflict) => continue,
                    Err(e) => panic!("update failed: {e}"),
                }
            }
            panic!("writer {i} never won a race");
        }
    };
    futures_join_all((0..8).map(writer)).await;
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    for i in 0..8 {
        assert_eq!(
            loaded.data.get::<usize>(&format!("w{i}")).unwrap(),
            Some(i),
            "an update was lost without a Conflict"
        );
    }
    assert_eq!(
        loaded.version,
        rec.version + 8,
        "one version per successful update"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

/// Compare-and-set under a real race: of several updates from one
/// version, released together, exactly one succeeds and the others
/// conflict; the winner's verifier is what the store holds.
async fn one_update_wins<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("cas");
    for trial in 0..TRIALS {
        let rec = sample_record(&user, now, Duration::minutes(30));
        store.create(&rec).await.unwrap();
        let attempts: Vec<SessionRecord> = (0..4).map(|_| rotated(&rec)).collect();
        let tasks: Vec<Task<Result<u64, StoreError>>> = attempts
            .iter()
            .cloned()
            .map(|next| {
                let store = store.clone();
                Box::pin(async move { store.update(&next).await }) as Task<_>
            })
            .collect();
        let results = race(tasks).await;
        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "trial {trial}: updates from one version must have exactly one winner: {results:?}"
        );
        for (i, result) in results.iter().enumerate() {
            if i != winners[0] {
                assert!(
                    matches!(result, Err(StoreError::Conflict)),
                    "trial {trial}: a losing update must be Conflict, got {result:?}"
                );
            }
        }
        let stored = store.load(&rec.key()).await.unwrap().unwrap();
        assert_eq!(
            stored.verifier, attempts[winners[0]].verifier,
            "trial {trial}: the store holds the winner's rotation"
        );
        store.delete(&rec.key()).await.unwrap();
    }
}

/// A session rotated in a loop while the user's sessions are deleted:
/// once the deletion has answered, the session is gone and no rotation
/// brings it back.
async fn rotation_against_delete_user<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    for trial in 0..TRIALS {
        let user = unique_user("rotate-vs-delete");
        let rec = sample_record(&user, now, Duration::minutes(30));
        store.create(&rec).await.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let rotator = tokio::spawn({
            let (store, barrier, mut current) = (store.clone(), barrier.clone(), rec.clone());
            async move {
                barrier.wait().await;
                for _ in 0..50 {
                    let mut next = rotated(&current);
                    match store.update(&next).await {
                        Ok(version) => {
                            next.version = version;
                            current = next;
                        }
                        Err(StoreError::NotFound) => return,
                        Err(e) => panic!("rotation failed: {e}"),
                    }
                }
            }
        });
        let deleter = tokio::spawn({
            let (store, barrier, user, key) =
                (store.clone(), barrier.clone(), user.clone(), rec.key());
            async move {
                barrier.wait().await;
                let deleted = store.delete_user(&user, None).await.unwrap();
                // Once answered, no rotation may bring it back.
                let after = store.load(&key).await.unwrap();
                (deleted, after)
            }
        });
        let (deleted, after) = deleter.await.expect("the deletion");
        rotator.await.expect("the rotations");
        assert!(
            after.is_none(),
            "trial {trial}: a session rotated while its user's sessions were deleted survived"
        );
        assert_eq!(
            deleted,
            vec![rec.key()],
            "trial {trial}: delete_user reports the session"
        );
        assert!(
            store.load(&rec.key()).await.unwrap().is_none(),
            "trial {trial}: the session came back after the deletion answered"
        );
        assert!(store.list_user(&user).await.unwrap().is_empty());
    }
}

/// Sessions created while the user's sessions are deleted: each one is
/// either deleted (and reported) or live (and not reported), the index
/// agrees, and every session that existed before is gone.
async fn creation_against_delete_user<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    for trial in 0..TRIALS / 4 {
        let user = unique_user("create-vs-delete");
        let before = sample_record(&user, now, Duration::minutes(30));
        store.create(&before).await.unwrap();
        let fresh: Vec<SessionRecord> = (0..3)
            .map(|_| sample_record(&user, now, Duration::minutes(30)))
            .collect();
        let mut tasks: Vec<Task<Option<Vec<SessionKey>>>> = fresh
            .iter()
            .cloned()
            .map(|r| {
                let store = store.clone();
                Box::pin(async move {
                    store.create(&r).await.unwrap();
                    None
                }) as Task<_>
            })
            .collect();
        tasks.push({
            let store = store.clone();
            let user = user.clone();
            Box::pin(async move { Some(store.delete_user(&user, None).await.unwrap()) })
        });
        let deleted: HashSet<SessionKey> =
            race(tasks).await.into_iter().flatten().flatten().collect();
        assert!(
            deleted.contains(&before.key()),
            "trial {trial}: a session older than the deletion survived it"
        );
        let live = keys(&store.list_user(&user).await.unwrap());
        for r in &fresh {
            let exists = store.load(&r.key()).await.unwrap().is_some();
            assert_eq!(
                exists,
                !deleted.contains(&r.key()),
                "trial {trial}: delete_user's report disagrees with what it did"
            );
            assert_eq!(
                exists,
                live.contains(&r.key()),
                "trial {trial}: the index disagrees with the sessions"
            );
        }
        store.delete_user(&user, None).await.unwrap();
    }
}

/// A touch racing a delete never brings the session back.
async fn touch_against_delete<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("touch-vs-delete");
    for trial in 0..TRIALS {
        let rec = sample_record(&user, now, Duration::minutes(30));
        store.create(&rec).await.unwrap();
        let key = rec.key();
        let later = now + Duration::minutes(5);
        let toucher = {
            let store = store.clone();
            Box::pin(async move {
                for _ in 0..5 {
                    store
                        .touch(&key, later + Duration::minutes(30), later)
                        .await
                        .unwrap();
                }
            }) as Task<()>
        };
        let deleter = {
            let store = store.clone();
            Box::pin(async move {
                store.delete(&key).await.unwrap();
            }) as Task<()>
        };
        race(vec![toucher, deleter]).await;
        assert!(
            store.load(&key).await.unwrap().is_none(),
            "trial {trial}: a touch brought a deleted session back"
        );
        assert!(store.list_user(&user).await.unwrap().is_empty());
    }
}

/// What a store announces reaches the subscribers of every handle on the
/// same backend, and a store that delivers says when its feed is current.
async fn announcements<S: SessionStore + Clone>(store: &S) {
    let other = store.clone();
    let sink = Revocations::new(std::time::Duration::from_secs(60));
    let Some(subscription) = other.subscribe(&sink).expect("subscribe") else {
        // Says it cannot deliver: the authenticator then refuses it unless
        // the app is its only instance. Announcing must still succeed.
        store
            .announce(
                &Revocation::Session { sid: "x".into() },
                std::time::Duration::from_secs(1),
            )
            .await
            .expect("announce of a store without delivery");
        return;
    };
    let staleness = crate::revocation::DEFAULT_MAX_STALENESS;
    eventually("the feed to report itself current", || async {
        sink.is_current(staleness)
    })
    .await;
    let sid = SessionId::generate().unwrap();
    let user = unique_user("announced");
    let now_ms = crate::record::unix_millis::to_millis(OffsetDateTime::now_utc());
    let keep = std::time::Duration::from_secs(30);
    store
        .announce(
            &Revocation::Session {
                sid: sid.as_str().into(),
            },
            keep,
        )
        .await
        .expect("announce");
    store
        .announce(
            &Revocation::UserBefore {
                user: user.clone(),
                issuer: Some("https://idp.example".into()),
                not_before: now_ms,
            },
            keep,
        )
        .await
        .expect("announce");
    let iat = now_ms / 1000;
    eventually(
        "an announcement to reach another handle's subscriber",
        || async {
            sink.is_revoked(Some(sid.as_str()), "anyone", None, iat)
                && sink.is_revoked(None, &user, Some("https://idp.example"), iat)
        },
    )
    .await;
    assert!(
        !sink.is_revoked(None, &user, None, iat),
        "an external identity's revocation must not reach the local user of that name"
    );
    assert!(
        !sink.is_revoked(None, &user, Some("https://idp.example"), iat + 1),
        "tokens issued after the revocation stay valid"
    );
    drop(subscription);
}

/// Polls `check` for up to ten seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("waited 10 s for {what}");
}

async fn futures_join_all<F: Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in futs.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

async fn many_users<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let users: Vec<String> = (0..50).map(|i| unique_user(&format!("many{i}"))).collect();
    let mut all = Vec::new();
    for (i, u) in users.iter().enumerate() {
        for _ in 0..(i % 4 + 1) {
            let r = sample_record(u, now, Duration::minutes(30));
            store.create(&r).await.unwrap();
            all.push(r);
        }
    }
    for (i, u) in users.iter().enumerate() {
        let listed = store.list_user(u).await.unwrap();
        assert_eq!(listed.len(), i % 4 + 1, "sessions of {u}");
        assert!(listed.iter().all(|r| &r.user_id == u));
    }
    for r in &all {
        assert_eq!(
            store.load(&r.key()).await.unwrap().unwrap().user_id,
            r.user_id
        );
    }
    for u in &users {
        store.delete_user(u, None).await.unwrap();
    }
}

async fn expiry<S: SessionStore>(store: &S, clock: &ManualClock) {
    let start = clock.now();
    let user = unique_user("expiry");
    // Idle expiry one second away, absolute expiry far away.
    let idle = sample_record(&user, start, Duration::seconds(1));
    // Absolute expiry one second away, idle expiry far away (a record
    // whose idle expiry was pushed past its absolute one by a bad writer).
    let mut absolute = sample_record(&user, start, Duration::minutes(30));
    absolute.absolute_expires_at = start + Duration::seconds(1);
    let live = sample_record(&user, start, Duration::minutes(30));
    for r in [&idle, &absolute, &live] {
        store.create(r).await.unwrap();
    }
    assert_eq!(store.list_user(&user).await.unwrap().len(), 3);

    // Move the store's clock, and let real time pass for stores that use
    // their backend's clock.
    clock.advance(Duration::milliseconds(1500));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    for (r, what) in [(&idle, "idle"), (&absolute, "absolute")] {
        assert!(
            store.load(&r.key()).await.unwrap().is_none(),
            "{what}-expired record must not load"
        );
        assert!(
            !store
                .touch(&r.key(), start + Duration::hours(1), clock.now())
                .await
                .unwrap(),
            "{what}-expired record must not be touched back to life"
        );
        let mut stale = r.clone();
        stale.data.set_value("n", Some(serde_json::json!(9)));
        assert!(
            matches!(store.update(&stale).await, Err(StoreError::NotFound)),
            "{what}-expired record must not be updated"
        );
    }
    assert_eq!(
        keys(&store.list_user(&user).await.unwrap()),
        HashSet::from([live.key()]),
        "expired records must not be listed"
    );
    // An expired key is free again.
    let mut reborn = idle.clone();
    reborn.idle_expires_at = clock.now() + Duration::minutes(30);
    reborn.absolute_expires_at = clock.now() + Duration::hours(1);
    store
        .create(&reborn)
        .await
        .expect("an expired key is free again");
    assert_eq!(store.delete_user(&user, None).await.unwrap().len(), 2);
    assert!(store.list_user(&user).await.unwrap().is_empty());
}

/// The [`CounterStore`] contract against a store built by `make`, on a
/// multi-thread Tokio runtime: increments that race are each counted once,
/// decrements and resets, and expiry with the window (by the clock given,
/// or by waiting a second for stores on their backend's clock).
pub async fn counter_conformance<F, Fut, S>(make: F)
where
    F: Fn(ManualClock) -> Fut,
    Fut: Future<Output = S>,
    S: CounterStore,
{
    require_parallel_runtime("the counter conformance suite");
    let window = std::time::Duration::from_secs(60);
    let store = Arc::new(make(ManualClock::starting_now()).await);
    for trial in 0..TRIALS / 4 {
        let key = format!("conformance:count:{}", SessionId::generate().unwrap());
        let tasks = (0..16)
            .map(|_| {
                let store = store.clone();
                let key = key.clone();
                Box::pin(async move { store.increment(&key, window).await.unwrap().0 }) as Task<u64>
            })
            .collect();
        let mut counts = race(tasks).await;
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=16).collect::<Vec<u64>>(),
            "trial {trial}: 16 racing increments must count 1..=16 once each"
        );
        let (count, left) = store.count(&key).await.unwrap();
        assert_eq!(count, 16);
        assert!(left > std::time::Duration::ZERO && left <= window);
        store.decrement(&key).await.unwrap();
        assert_eq!(
            store.count(&key).await.unwrap().0,
            15,
            "decrement takes one back"
        );
        store.reset(&key).await.unwrap();
        assert_eq!(
            store.count(&key).await.unwrap(),
            (0, std::time::Duration::ZERO)
        );
        store.decrement(&key).await.unwrap();
        assert_eq!(
            store.count(&key).await.unwrap().0,
            0,
            "a decrement of nothing stays at nothing"
        );
    }
    let clock = ManualClock::starting_now();
    let store = make(clock.clone()).await;
    let key = format!("conformance:expiry:{}", SessionId::generate().unwrap());
    let short = std::time::Duration::from_secs(1);
    assert_eq!(store.increment(&key, short).await.unwrap().0, 1);
    assert_eq!(store.increment(&key, short).await.unwrap().0, 2);
    clock.advance(Duration::milliseconds(1500));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        store.count(&key).await.unwrap(),
        (0, std::time::Duration::ZERO),
        "a counter expires with its window"
    );
    assert_eq!(
        store.increment(&key, short).await.unwrap().0,
        1,
        "an expired counter starts again"
    );
}
