//! Counting what a store holds, through the store.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::sample_record;
use crate::clock::Clock;
use crate::store::{MemoryStore, SessionStore, StoreError};

/// For tests: what a store holds, counted by the store itself, so tests
/// assert what a logout or an expiry left behind the same way on every
/// store, without reading Redis keys or database rows. A store crate
/// implements it behind its own `testing` feature and proves it with
/// [`inventory_conformance`].
#[async_trait]
pub trait Inventory: Send + Sync {
    /// How many sessions (browser sessions and refresh families) the
    /// store holds that are live at `now`: neither idle nor absolute
    /// expiry has passed.
    async fn live_sessions(&self, now: OffsetDateTime) -> Result<usize, StoreError>;
}

#[async_trait]
impl Inventory for MemoryStore {
    async fn live_sessions(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        Ok(self.live_at(now))
    }
}

/// The inventory's contract: creations, deletions and expiry show in the
/// count at once. The store that `make` returns must have nothing else
/// writing to it meanwhile (a fresh database or key prefix). Panics with a
/// description of the first broken rule.
pub async fn inventory_conformance<F, Fut, S>(make: F)
where
    F: Fn(crate::ManualClock) -> Fut,
    Fut: std::future::Future<Output = S>,
    S: SessionStore + Inventory,
{
    let clock = crate::ManualClock::starting_now();
    let store = make(clock.clone()).await;
    let now = clock.now();
    let later = now + Duration::minutes(2);
    let count = async |at| store.live_sessions(at).await.expect("live_sessions");
    let (before, before_later) = (count(now).await, count(later).await);
    let user = super::conformance::unique_user("inventory");
    let records: Vec<_> = (0..3)
        .map(|_| sample_record(&user, now, Duration::hours(1)))
        .collect();
    for record in &records {
        store.create(record).await.expect("create");
    }
    assert_eq!(count(now).await, before + 3, "three sessions created");
    store.delete(&records[0].key()).await.expect("delete");
    assert_eq!(count(now).await, before + 2, "one of them deleted");
    store.delete_user(&user, None).await.expect("delete_user");
    assert_eq!(count(now).await, before, "the user's sessions deleted");
    let short = sample_record(&user, now, Duration::minutes(1));
    store.create(&short).await.expect("create");
    assert_eq!(count(now).await, before + 1, "a session live for a minute");
    assert_eq!(
        count(later).await,
        before_later,
        "a session whose idle expiry has passed is not counted"
    );
}
