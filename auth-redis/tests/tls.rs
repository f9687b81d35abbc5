//! `rediss://`: the store over TLS, verified against the server's CA.

use auth_core::testing::{conformance, sample_record};
use auth_core::{SessionStore, StoreError};
use auth_redis::RedisStore;
use auth_redis::testing::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_over_tls_and_verifies_the_server() {
    let server = RedisServer::start_tls().await;
    let url = server.tls_url().unwrap();
    let ca = server.ca_pem().unwrap();
    conformance(|_clock| {
        let store = RedisStore::from_tls_url(&url, &ca).unwrap();
        async move { store }
    })
    .await;

    let record = sample_record(
        "tls-user",
        time::OffsetDateTime::now_utc(),
        time::Duration::minutes(5),
    );
    // A server whose certificate no trusted CA signed is refused: the
    // system's roots do not know the test CA.
    let untrusting = RedisStore::from_url(&url).unwrap();
    assert!(matches!(
        untrusting.create(&record).await,
        Err(StoreError::Backend(_) | StoreError::Unavailable(_))
    ));
    // Plain text to the TLS port fails too, never silently in the clear.
    let plain = RedisStore::from_url(&url.replace("rediss://", "redis://")).unwrap();
    assert!(plain.create(&record).await.is_err());
    let trusting = RedisStore::from_tls_url(&url, &ca).unwrap();
    trusting.create(&record).await.unwrap();
    assert!(trusting.load(&record.key()).await.unwrap().is_some());
}
