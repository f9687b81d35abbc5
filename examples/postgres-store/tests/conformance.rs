//! The store contract on a real PostgreSQL: one call of the conformance
//! suite, in a database created for the run and dropped after it.
//!
//! The server comes from `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth); each test
//! creates `auth_test_<random>` on it (see `testing`).

use std::sync::Arc;
use std::time::Duration;

use auth_core::testing::{conformance, counter_conformance, inventory_conformance, sample_record};
use auth_core::throttle::CounterStore;
use auth_core::{Clock, ManualClock, SessionStore, SessionToken};
use example_postgres_store::PostgresStore;
use example_postgres_store::testing::TestDatabase;
use tokio_postgres::NoTls;

/// A migrated store on the database at `url`, on `clock`.
async fn store_on(url: String, clock: ManualClock) -> PostgresStore {
    let store = PostgresStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.with_clock(Arc::new(clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let db = TestDatabase::create().await;
    conformance(|clock| store_on(db.url.clone(), clock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_inventory_conformance() {
    let db = TestDatabase::create().await;
    inventory_conformance(|clock| store_on(db.url.clone(), clock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_hold_hashes_and_cleanup_removes_expired_ones() {
    let db = TestDatabase::create().await;
    let clock = ManualClock::starting_now();
    let store = db.store().await.with_clock(Arc::new(clock.clone()));
    let token = SessionToken::generate().unwrap();
    let mut record = sample_record("alice", clock.now(), time::Duration::minutes(30));
    record.id = token.key().id();
    record.verifier = token.verifier();
    store.create(&record).await.unwrap();

    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let dump: String = client
        .query_one(
            "SELECT string_agg(key || record::text, ' ') FROM auth_sessions",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(dump.contains(&token.key().to_hex()));
    let secret = token.expose().split_once('.').unwrap().1.to_owned();
    assert!(!dump.contains(&secret), "no token secret at rest");

    assert_eq!(store.delete_expired(Duration::ZERO).await.unwrap(), 0);
    clock.advance(time::Duration::minutes(31));
    assert_eq!(
        store
            .delete_expired(Duration::from_secs(120))
            .await
            .unwrap(),
        0,
        "grace"
    );
    clock.advance(time::Duration::minutes(3));
    assert_eq!(
        store
            .delete_expired(Duration::from_secs(120))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_counter_conformance_suite() {
    let db = TestDatabase::create().await;
    let url = db.url.clone();
    counter_conformance(|clock: ManualClock| {
        let url = url.clone();
        async move {
            let store = PostgresStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            store.with_clock(Arc::new(clock))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_counters_keep_their_window() {
    let db = TestDatabase::create().await;
    let clock = ManualClock::starting_now();
    let store = db.store().await.with_clock(Arc::new(clock.clone()));
    let window = Duration::from_secs(60);
    assert_eq!(store.count("k").await.unwrap(), (0, Duration::ZERO));
    // PostgreSQL keeps microseconds; the clock has nanoseconds.
    let about = |(n, left): (u64, Duration), want: u64, secs: u64| {
        let want_left = Duration::from_secs(secs);
        n == want && want_left.saturating_sub(left) < Duration::from_millis(1) && left <= want_left
    };
    assert!(about(store.increment("k", window).await.unwrap(), 1, 60));
    clock.advance(time::Duration::seconds(30));
    assert!(
        about(store.increment("k", window).await.unwrap(), 2, 30),
        "the window is not extended"
    );
    clock.advance(time::Duration::seconds(31));
    assert_eq!(store.count("k").await.unwrap(), (0, Duration::ZERO));
    assert_eq!(store.increment("k", window).await.unwrap().0, 1);
    store.reset("k").await.unwrap();
    assert_eq!(store.count("k").await.unwrap().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_retryable_error() {
    let store = PostgresStore::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    let err = store
        .load(&SessionToken::generate().unwrap().key())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
