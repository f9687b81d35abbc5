//! Login throttling: login attempts counted per account and per client
//! address in a [`CounterStore`], with a limit and a lockout window.
//!
//! An attempt is **reserved before the password is checked**: the counters
//! are incremented first and compared after, in one atomic store operation
//! each, so however many attempts arrive at once, at most the limit of them
//! get a password check in a window. A right password releases the
//! reservation (the account's count is cleared, the address's decremented);
//! a wrong one keeps it.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use auth_core::MemoryStore;
//! use auth_core::throttle::{LoginThrottle, Throttled};
//!
//! let throttle = LoginThrottle::new(MemoryStore::new())
//!     .with_user_limit(3)
//!     .with_window(Duration::from_secs(15 * 60));
//! for _ in 0..3 {
//!     let attempt = throttle.reserve("alice", Some("198.51.100.7")).await?;
//!     // … the password was wrong:
//!     attempt.failed();
//! }
//! let err = throttle.reserve("alice", None).await.unwrap_err();
//! assert!(matches!(err, Throttled::Limited { retry_after, .. } if retry_after <= Duration::from_secs(900)));
//! # Ok::<(), Throttled>(())
//! # }).unwrap();
//! ```
//!
//! A locked account is refused without the password being checked, and
//! without telling whether it was right. Counter keys are SHA-256 hashes of
//! the user id and address, so hostile input cannot make them long. A store
//! error is an error, never a pass: the login is refused with 503.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// Fixed-window counters with expiry: what [`LoginThrottle`] keeps its
/// counts in. [`MemoryStore`](crate::MemoryStore) implements it, and so
/// do `auth-redis`'s store and the PostgreSQL example.
///
/// Each operation is atomic on its key: `n` increments of a key, however
/// they race, return the counts `1..=n` once each (the conformance suite,
/// [`testing::counter_conformance`](crate::testing), checks it).
#[async_trait]
pub trait CounterStore: Send + Sync + fmt::Debug + 'static {
    /// Adds one to `key`, which expires `window` after its first increment.
    /// Returns the new count and how long until it expires.
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError>;

    /// Takes one back from `key`, never below zero, keeping its expiry;
    /// nothing if it is absent or expired.
    async fn decrement(&self, key: &str) -> Result<(), StoreError>;

    /// The count of `key` and how long until it expires; `(0, ZERO)` when
    /// absent or expired.
    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError>;

    /// Forgets `key`.
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: CounterStore + ?Sized> CounterStore for Arc<S> {
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError> {
        (**self).increment(key, window).await
    }
    async fn decrement(&self, key: &str) -> Result<(), StoreError> {
        (**self).decrement(key).await
    }
    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError> {
        (**self).count(key).await
    }
    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        (**self).reset(key).await
    }
}

/// Default login attempts per account in a window: 10.
pub const DEFAULT_USER_LIMIT: u64 = 10;
/// Default login attempts per client address in a window: 100 (an office
/// behind one address has many users).
pub const DEFAULT_ADDRESS_LIMIT: u64 = 100;
/// Default window: 15 minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a login may not be attempted now.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Throttled {
    /// Too many attempts: answer 429 with `Retry-After`.
    #[error("too many failed logins; retry in {}s", retry_after.as_secs())]
    Limited {
        /// Whether the account or the client address hit its limit.
        scope: ThrottleScope,
        /// When the window ends.
        retry_after: Duration,
    },
    /// The counters could not be read: answer 503.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleScope {
    /// The account's.
    User,
    /// The client address's.
    Address,
}

impl ThrottleScope {
    /// `user` or `address`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Address => "address",
        }
    }
}

/// Counts login attempts and refuses those past the limits; see the
/// [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct LoginThrottle {
    store: Arc<dyn CounterStore>,
    user_limit: u64,
    address_limit: u64,
    window: Duration,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("user_limit", &self.user_limit)
            .field("address_limit", &self.address_limit)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

fn counter_key(scope: &str, value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut key = format!("throttle:{scope}:");
    for b in &digest[..16] {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

impl LoginThrottle {
    /// A throttle with the default limits, counting in `store`.
    pub fn new(store: impl CounterStore) -> Self {
        Self::new_shared(Arc::new(store))
    }

    /// A throttle counting in a store that is already shared.
    pub fn new_shared(store: Arc<dyn CounterStore>) -> Self {
        Self {
            store,
            user_limit: DEFAULT_USER_LIMIT,
            address_limit: DEFAULT_ADDRESS_LIMIT,
            window: DEFAULT_WINDOW,
        }
    }

    /// Login attempts allowed per account in a window (that did not
    /// succeed).
    #[must_use]
    pub fn with_user_limit(mut self, limit: u64) -> Self {
        self.user_limit = limit.max(1);
        self
    }

    /// Login attempts allowed per client address in a window (that did
    /// not succeed).
    #[must_use]
    pub fn with_address_limit(mut self, limit: u64) -> Self {
        self.address_limit = limit.max(1);
        self
    }

    /// The window, which is also the lockout: counts expire this long
    /// after the first attempt.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_secs(1));
        self
    }

    /// Reserves an attempt of `user` from `address`: counts it, and
    /// refuses it if that takes either count past its limit. Call it
    /// before checking the password, then [`LoginAttempt::failed`] or
    /// [`LoginAttempt::succeeded`].
    pub async fn reserve(
        &self,
        user: &str,
        address: Option<&str>,
    ) -> Result<LoginAttempt, Throttled> {
        let user_key = counter_key("u", user);
        let (count, left) = self.store.increment(&user_key, self.window).await?;
        if count > self.user_limit {
            return Err(self.limited(ThrottleScope::User, left));
        }
        let address_key = match address {
            Some(address) => {
                let key = counter_key("a", address);
                let (count, left) = self.store.increment(&key, self.window).await?;
                if count > self.address_limit {
                    // This attempt is not made: it does not count against
                    // the account.
                    self.store.decrement(&user_key).await?;
                    return Err(self.limited(ThrottleScope::Address, left));
                }
                Some(key)
            }
            None => None,
        };
        Ok(LoginAttempt {
            reserved: Some(Reserved {
                throttle: self.clone(),
                user_key,
                address_key,
            }),
        })
    }

    fn limited(&self, scope: ThrottleScope, left: Duration) -> Throttled {
        tracing::warn!(scope = scope.as_str(), "login refused: too many attempts");
        crate::telemetry::throttled(scope.as_str());
        Throttled::Limited {
            scope,
            retry_after: left.max(Duration::from_secs(1)),
        }
    }
}

/// A login attempt counted by [`LoginThrottle::reserve`] (or, without a
/// throttle, nothing): say how it went.
#[derive(Debug)]
#[must_use = "a reserved attempt counts as failed unless `succeeded` releases it"]
pub struct LoginAttempt {
    reserved: Option<Reserved>,
}

#[derive(Debug)]
struct Reserved {
    throttle: LoginThrottle,
    user_key: String,
    address_key: Option<String>,
}

impl LoginAttempt {
    /// An attempt that no throttle counts.
    pub fn unthrottled() -> Self {
        Self { reserved: None }
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(self) {}

    /// The password was right: the account's count is cleared and the
    /// address's reservation released.
    pub async fn succeeded(self) -> Result<(), StoreError> {
        let Some(reserved) = self.reserved else {
            return Ok(());
        };
        let store = &reserved.throttle.store;
        store.reset(&reserved.user_key).await?;
        if let Some(key) = &reserved.address_key {
            store.decrement(key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::clock::ManualClock;
    use crate::testing::FailingStore;

    /// `n` wrong passwords of `user` from `address`.
    async fn fail(throttle: &LoginThrottle, user: &str, address: Option<&str>, n: usize) {
        for _ in 0..n {
            throttle.reserve(user, address).await.unwrap().failed();
        }
    }

    #[tokio::test]
    async fn limits_per_user_and_address_with_a_window() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        let throttle = LoginThrottle::new(store)
            .with_user_limit(3)
            .with_address_limit(5)
            .with_window(Duration::from_secs(600));
        fail(&throttle, "alice", Some("10.0.0.1"), 3).await;
        match throttle.reserve("alice", Some("10.0.0.2")).await {
            Err(Throttled::Limited {
                scope: ThrottleScope::User,
                retry_after,
            }) => assert_eq!(retry_after, Duration::from_secs(600)),
            other => panic!("{other:?}"),
        }
        // Other accounts from the address go on, up to its own limit.
        fail(&throttle, "bob", Some("10.0.0.1"), 1).await;
        fail(&throttle, "carol", Some("10.0.0.1"), 1).await;
        assert!(matches!(
            throttle.reserve("dave", Some("10.0.0.1")).await,
            Err(Throttled::Limited {
                scope: ThrottleScope::Address,
                ..
            })
        ));
        // Refused for its address, dave's attempt does not count against him.
        fail(&throttle, "dave", Some("10.0.0.9"), 3).await;
        assert!(throttle.reserve("dave", Some("10.0.0.9")).await.is_err());

        // The window ends; the lockout with it.
        clock.advance(time::Duration::seconds(599));
        assert!(throttle.reserve("alice", None).await.is_err());
        clock.advance(time::Duration::seconds(2));
        assert!(throttle.reserve("alice", Some("10.0.0.1")).await.is_ok());
    }

    #[tokio::test]
    async fn success_releases_its_reservation_and_errors_fail_closed() {
        let store = FailingStore::new(MemoryStore::new());
        let throttle = LoginThrottle::new(store.clone())
            .with_user_limit(2)
            .with_address_limit(2);
        fail(&throttle, "alice", Some("10.0.0.1"), 1).await;
        let attempt = throttle.reserve("alice", Some("10.0.0.1")).await.unwrap();
        attempt.succeeded().await.unwrap();
        // The account's count is cleared, the address's reservation given
        // back: two more attempts for alice, one left for the address.
        fail(&throttle, "alice", None, 2).await;
        assert!(throttle.reserve("alice", None).await.is_err());
        fail(&throttle, "bob", Some("10.0.0.1"), 1).await;
        assert!(throttle.reserve("carol", Some("10.0.0.1")).await.is_err());
        store.set_failing(true);
        assert!(matches!(
            throttle.reserve("zoe", None).await,
            Err(Throttled::Store(ref e)) if e.is_retryable()
        ));
    }

    /// A burst of attempts released together: however they interleave, at
    /// most the limit get through to a password check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrent_burst_never_passes_the_limit() {
        for trial in 0..20 {
            let throttle = LoginThrottle::new(MemoryStore::new())
                .with_user_limit(10)
                .with_address_limit(1_000);
            let barrier = Arc::new(tokio::sync::Barrier::new(40));
            let tasks: Vec<_> = (0..40)
                .map(|i| {
                    let (throttle, barrier) = (throttle.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let address = format!("10.0.0.{i}");
                        match throttle.reserve("alice", Some(&address)).await {
                            Ok(attempt) => {
                                // The password check takes a while.
                                tokio::task::yield_now().await;
                                attempt.failed();
                                true
                            }
                            Err(Throttled::Limited { .. }) => false,
                            Err(err) => panic!("{err}"),
                        }
                    })
                })
                .collect();
            let mut checked = 0;
            for task in tasks {
                checked += usize::from(task.await.unwrap());
            }
            assert_eq!(
                checked, 10,
                "trial {trial}: {checked} passwords checked, limit 10"
            );
        }
    }

    #[test]
    fn keys_are_bounded_hashes() {
        let long = "x".repeat(100_000);
        let key = counter_key("u", &long);
        assert_eq!(key.len(), "throttle:u:".len() + 32);
        assert_ne!(counter_key("u", "alice"), counter_key("a", "alice"));
    }
}
