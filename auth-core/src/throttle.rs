//! Login throttling: failed logins counted per account and per client
//! address in a [`CounterStore`], with a limit and a lockout window.
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
//!     throttle.check("alice", Some("198.51.100.7")).await?;
//!     // … the password was wrong:
//!     throttle.record_failure("alice", Some("198.51.100.7")).await?;
//! }
//! let err = throttle.check("alice", None).await.unwrap_err();
//! assert!(matches!(err, Throttled::Limited { retry_after, .. } if retry_after <= Duration::from_secs(900)));
//! # Ok::<(), Throttled>(())
//! # }).unwrap();
//! ```
//!
//! Check before verifying the password (a locked account is refused
//! without the work, and without telling whether the password was right);
//! record a failure after a wrong one, a success after a right one (which
//! clears the account's count, not the address's). Counter keys are SHA-256
//! hashes of the user id and address, so hostile input cannot make them
//! long. A store error is an error, never a pass: the login is refused
//! with 503.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// Fixed-window counters with expiry: what [`LoginThrottle`] keeps its
/// counts in. [`MemoryStore`](crate::MemoryStore) implements it, and so
/// does `auth-redis`'s store.
#[async_trait]
pub trait CounterStore: Send + Sync + fmt::Debug + 'static {
    /// Adds one to `key`, which expires `window` after its first increment.
    /// Returns the new count and how long until it expires.
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError>;

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
    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError> {
        (**self).count(key).await
    }
    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        (**self).reset(key).await
    }
}

/// Default failed logins per account in a window: 10.
pub const DEFAULT_USER_LIMIT: u64 = 10;
/// Default failed logins per client address in a window: 100 (an office
/// behind one address has many users).
pub const DEFAULT_ADDRESS_LIMIT: u64 = 100;
/// Default window: 15 minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a login may not be attempted now.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Throttled {
    /// Too many failures: answer 429 with `Retry-After`.
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

/// Counts failed logins and refuses attempts past the limits; see the
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

    /// Failed logins allowed per account in a window.
    #[must_use]
    pub fn with_user_limit(mut self, limit: u64) -> Self {
        self.user_limit = limit.max(1);
        self
    }

    /// Failed logins allowed per client address in a window.
    #[must_use]
    pub fn with_address_limit(mut self, limit: u64) -> Self {
        self.address_limit = limit.max(1);
        self
    }

    /// The window, which is also the lockout: counts expire this long
    /// after the first failure.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_secs(1));
        self
    }

    /// Whether `user` from `address` may try to log in now.
    pub async fn check(&self, user: &str, address: Option<&str>) -> Result<(), Throttled> {
        let (count, left) = self.store.count(&counter_key("u", user)).await?;
        if count >= self.user_limit {
            return Err(self.limited(ThrottleScope::User, left));
        }
        if let Some(address) = address {
            let (count, left) = self.store.count(&counter_key("a", address)).await?;
            if count >= self.address_limit {
                return Err(self.limited(ThrottleScope::Address, left));
            }
        }
        Ok(())
    }

    fn limited(&self, scope: ThrottleScope, left: Duration) -> Throttled {
        tracing::warn!(scope = scope.as_str(), "login refused: too many failures");
        crate::telemetry::throttled(scope.as_str());
        Throttled::Limited {
            scope,
            retry_after: left.max(Duration::from_secs(1)),
        }
    }

    /// Counts a failed login of `user` from `address`.
    pub async fn record_failure(
        &self,
        user: &str,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store
            .increment(&counter_key("u", user), self.window)
            .await?;
        if let Some(address) = address {
            self.store
                .increment(&counter_key("a", address), self.window)
                .await?;
        }
        Ok(())
    }

    /// Clears the account's count after a successful login.
    pub async fn record_success(&self, user: &str) -> Result<(), StoreError> {
        self.store.reset(&counter_key("u", user)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::clock::ManualClock;
    use crate::testing::FailingStore;

    #[tokio::test]
    async fn limits_per_user_and_address_with_a_window() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        let throttle = LoginThrottle::new(store)
            .with_user_limit(3)
            .with_address_limit(5)
            .with_window(Duration::from_secs(600));
        for _ in 0..3 {
            throttle.check("alice", Some("10.0.0.1")).await.unwrap();
            throttle
                .record_failure("alice", Some("10.0.0.1"))
                .await
                .unwrap();
        }
        match throttle.check("alice", Some("10.0.0.2")).await {
            Err(Throttled::Limited {
                scope: ThrottleScope::User,
                retry_after,
            }) => assert_eq!(retry_after, Duration::from_secs(600)),
            other => panic!("{other:?}"),
        }
        // Other accounts from the address go on, up to its own limit.
        throttle.check("bob", Some("10.0.0.1")).await.unwrap();
        throttle
            .record_failure("bob", Some("10.0.0.1"))
            .await
            .unwrap();
        throttle
            .record_failure("carol", Some("10.0.0.1"))
            .await
            .unwrap();
        assert!(matches!(
            throttle.check("dave", Some("10.0.0.1")).await,
            Err(Throttled::Limited {
                scope: ThrottleScope::Address,
                ..
            })
        ));
        assert!(throttle.check("dave", Some("10.0.0.9")).await.is_ok());

        // The window ends; the lockout with it.
        clock.advance(time::Duration::seconds(599));
        assert!(throttle.check("alice", None).await.is_err());
        clock.advance(time::Duration::seconds(2));
        assert!(throttle.check("alice", Some("10.0.0.1")).await.is_ok());
    }

    #[tokio::test]
    async fn success_clears_the_account_and_errors_fail_closed() {
        let store = FailingStore::new(MemoryStore::new());
        let throttle = LoginThrottle::new(store.clone()).with_user_limit(2);
        throttle.record_failure("alice", None).await.unwrap();
        throttle.record_success("alice").await.unwrap();
        throttle.record_failure("alice", None).await.unwrap();
        assert!(throttle.check("alice", None).await.is_ok());
        store.set_failing(true);
        assert!(matches!(
            throttle.check("alice", None).await,
            Err(Throttled::Store(ref e)) if e.is_retryable()
        ));
    }

    #[test]
    fn keys_are_bounded_hashes() {
        let long = "x".repeat(100_000);
        let key = counter_key("u", &long);
        assert_eq!(key.len(), "throttle:u:".len() + 32);
        assert_ne!(counter_key("u", "alice"), counter_key("a", "alice"));
    }
}
