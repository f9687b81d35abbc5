//! The store contract on real memcached servers, started by the tests on
//! free ports: the conformance suites with one server and with two, what
//! a server that is down does to the keys it holds, and what a restart
//! (memcached forgetting everything) does to sessions.

use std::sync::Arc;
use std::time::Duration;

use auth_core::testing::{conformance, counter_conformance, inventory_conformance, sample_record};
use auth_core::{Clock, ManualClock, SessionStore, SessionToken, StoreError};
use example_memcached_store::MemcachedStore;
use example_memcached_store::testing::MemcachedServer;

fn store_on(servers: &[&MemcachedServer], clock: ManualClock) -> MemcachedStore {
    MemcachedStore::new(servers.iter().map(|s| s.address()))
        .unwrap()
        .with_prefix(&format!(
            "t{}:",
            SessionToken::generate().unwrap().key().to_hex()
        ))
        .unwrap()
        .with_clock(Arc::new(clock))
        .with_timeout(Duration::from_millis(500))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_passes_the_conformance_suites() {
    let server = MemcachedServer::start().await;
    conformance(|clock| async { store_on(&[&server], clock) }).await;
    counter_conformance(|clock| async { store_on(&[&server], clock) }).await;
    inventory_conformance(|clock| async { store_on(&[&server], clock) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_pass_the_conformance_suites() {
    let (a, b) = (
        MemcachedServer::start().await,
        MemcachedServer::start().await,
    );
    conformance(|clock| async { store_on(&[&a, &b], clock) }).await;
    counter_conformance(|clock| async { store_on(&[&a, &b], clock) }).await;
    inventory_conformance(|clock| async { store_on(&[&a, &b], clock) }).await;
}

/// Sessions of `user` until one lands on each server: their records.
async fn sessions_on_both(
    store: &MemcachedStore,
    user: &str,
    clock: &ManualClock,
) -> Vec<auth_core::SessionRecord> {
    let mut records = Vec::new();
    for _ in 0..32 {
        let token = SessionToken::generate().unwrap();
        let mut record = sample_record(user, clock.now(), time::Duration::minutes(30));
        record.id = token.key().id();
        record.verifier = token.verifier();
        store.create(&record).await.unwrap();
        records.push(record);
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_fails_its_keys_only() {
    let (mut a, b) = (
        MemcachedServer::start().await,
        MemcachedServer::start().await,
    );
    let clock = ManualClock::starting_now();
    let store = store_on(&[&a, &b], clock.clone());
    let records = sessions_on_both(&store, "down-user", &clock).await;
    a.stop().await;
    let (mut unavailable, mut found) = (0, 0);
    for record in &records {
        match store.load(&record.key()).await {
            Ok(Some(loaded)) => {
                assert_eq!(loaded.id, record.id);
                found += 1;
            }
            Err(StoreError::Unavailable(_)) => unavailable += 1,
            other => panic!("a session is never lost to an outage: {other:?}"),
        }
    }
    assert!(
        unavailable > 0 && found > 0,
        "{unavailable} unavailable, {found} found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_forgets_sessions_and_nothing_else_breaks() {
    let mut server = MemcachedServer::start().await;
    let clock = ManualClock::starting_now();
    let store = store_on(&[&server], clock.clone());
    let records = sessions_on_both(&store, "restart-user", &clock).await;
    server.restart().await;
    for record in &records {
        assert!(
            store.load(&record.key()).await.unwrap().is_none(),
            "a forgotten session is a logout"
        );
    }
    assert!(store.list_user("restart-user").await.unwrap().is_empty());
    // The store works again at once: new sessions, and the old user's.
    let again = sessions_on_both(&store, "restart-user", &clock).await;
    assert_eq!(
        store.list_user("restart-user").await.unwrap().len(),
        again.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_counts_sessions_that_grew() {
    use auth_core::testing::Inventory;
    let server = MemcachedServer::start().await;
    let clock = ManualClock::starting_now();
    let store = store_on(&[&server], clock.clone());
    let records = sessions_on_both(&store, "inv", &clock).await;
    for r in records.iter().take(3) {
        let mut r = r.clone();
        r.data
            .set_value("big", Some(serde_json::json!("x".repeat(3000))));
        store.update(&r).await.unwrap();
    }
    assert_eq!(
        store.live_sessions(clock.now()).await.unwrap(),
        records.len()
    );
}
