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
//! - [`counter_conformance`]: the same for a [`CounterStore`](crate::throttle::CounterStore).
//! - [`Inventory`]: what a store holds, counted through the store, so tests
//!   assert what is left behind alike on every store; proved by
//!   [`inventory_conformance`].
//!
//! - [`CountingStore`]: wraps any store and counts calls per operation, to
//!   assert how many reads and writes a request costs.
//! - [`FailingStore`]: wraps any store and fails on demand, to test outages.
//! - [`TestRequest`], [`TestResponse`]: drive the
//!   [`Exchange`](crate::adapter::Exchange) without a web framework.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

mod conformance;
mod exchange;
mod inventory;

pub use conformance::{conformance, counter_conformance};
pub use exchange::{TestRequest, TestResponse};
pub use inventory::{Inventory, inventory_conformance};

use crate::record::{ClientMeta, SessionData, SessionKind, SessionLifetime, SessionRecord};
use crate::revocation::{Revocation, Revocations, Subscription};
use crate::store::{Announcements, SessionStore, StoreError};
use crate::token::{SessionKey, SessionToken};

/// Implements [`SessionStore`] for a wrapper `$ty<S>` with field `inner`,
/// calling `self.$hook(index)?` (index 0..8 in trait order) before
/// delegating each operation (announcements included); `subscribe` is
/// passed through.
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
            fn announcements(&self) -> Option<&dyn Announcements> {
                // Itself, so announcements are intercepted too.
                self.inner
                    .announcements()
                    .map(|_| self as &dyn Announcements)
            }
        }

        #[async_trait]
        impl<S: SessionStore> Announcements for $ty<S> {
            async fn announce(
                &self,
                revocation: &Revocation,
                keep: std::time::Duration,
            ) -> Result<(), StoreError> {
                self.$hook(7)?;
                crate::store::announce(&self.inner, revocation, keep).await
            }
            fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError> {
                crate::store::subscribe_through(&self.inner, sink)
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
