//! The [`CounterStore`] contract.

use std::future::Future;
use std::sync::Arc;

use time::Duration;

use super::{TRIALS, Task, race, require_parallel_runtime};
use crate::clock::ManualClock;
use crate::throttle::CounterStore;
use crate::token::SessionId;

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
