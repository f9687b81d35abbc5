//! Throttle counters on Redis: windows by Redis's own expiry, standalone
//! and Cluster.

use std::time::Duration;

use auth_core::throttle::CounterStore;
use auth_redis::RedisStore;
use auth_redis::testing::{RedisCluster, RedisServer};

async fn counts_within_a_window(store: &RedisStore) {
    let window = Duration::from_millis(400);
    assert_eq!(store.count("k").await.unwrap(), (0, Duration::ZERO));
    for n in 1..=3 {
        let (count, left) = store.increment("k", window).await.unwrap();
        assert_eq!(count, n);
        assert!(left <= window && left > Duration::ZERO, "{left:?}");
    }
    let (count, left) = store.count("k").await.unwrap();
    assert_eq!(count, 3);
    assert!(left <= window);
    store.reset("k").await.unwrap();
    assert_eq!(store.count("k").await.unwrap().0, 0);

    // The window starts at the first increment and is not extended.
    store.increment("w", window).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    store.increment("w", window).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.count("w").await.unwrap(), (0, Duration::ZERO));
    assert_eq!(store.increment("w", window).await.unwrap().0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_counters() {
    let server = RedisServer::start().await;
    let store = RedisStore::from_url(&server.url())
        .unwrap()
        .with_prefix("c1:");
    counts_within_a_window(&store).await;
    let keys = server.cli(&["KEYS", "*"]).unwrap();
    assert!(
        keys.lines().all(|k| k.is_empty() || k.starts_with("c1:")),
        "{keys}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_counters() {
    let cluster = RedisCluster::start().await;
    let store = RedisStore::cluster(&cluster.urls()).unwrap();
    counts_within_a_window(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_an_error_not_a_zero() {
    let mut server = RedisServer::start().await;
    let store = RedisStore::from_url(&server.url())
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    store.increment("k", Duration::from_secs(60)).await.unwrap();
    server.stop().await;
    let err = store.count("k").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
