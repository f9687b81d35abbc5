//! Throttle counters on Redis: windows by Redis's own expiry, standalone
//! and Cluster.

use std::time::Duration;

use auth_core::testing::counter_conformance;
use auth_core::throttle::CounterStore;
use auth_redis::RedisStore;
use auth_redis::testing::{RedisCluster, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_counters_pass_the_counter_conformance_suite() {
    let server = RedisServer::start().await;
    let url = server.url();
    counter_conformance(|_clock| {
        let url = url.clone();
        async move { RedisStore::from_url(&url).unwrap().with_prefix("c1:") }
    })
    .await;
    let keys = server.cli(&["KEYS", "*"]).unwrap();
    assert!(
        keys.lines().all(|k| k.is_empty() || k.starts_with("c1:")),
        "{keys}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_counters_pass_the_counter_conformance_suite() {
    let cluster = RedisCluster::start().await;
    let urls = cluster.urls();
    counter_conformance(|_clock| {
        let urls = urls.clone();
        async move { RedisStore::cluster(&urls).unwrap() }
    })
    .await;
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
