//! The store contract, on a real Redis: standalone and Cluster.

use std::time::Duration;

use auth_core::testing::{conformance, inventory_conformance, sample_record};
use auth_core::{SessionRecord, SessionStore, SessionToken, StoreError};
use auth_redis::RedisStore;
use auth_redis::testing::{RedisCluster, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_passes_the_conformance_suite() {
    let server = RedisServer::start().await;
    let url = server.url();
    conformance(|_clock| {
        let url = url.clone();
        async move { RedisStore::from_url(&url).unwrap() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_passes_the_inventory_conformance() {
    let server = RedisServer::start().await;
    let url = server.url();
    inventory_conformance(|_clock| {
        let url = url.clone();
        async move {
            RedisStore::from_url(&url)
                .unwrap()
                .with_prefix("inventory:")
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_passes_the_conformance_suite() {
    let cluster = RedisCluster::start().await;
    let urls = cluster.urls();
    conformance(|_clock| {
        let urls = urls.clone();
        async move { RedisStore::cluster(&urls).unwrap() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_hold_strings_and_carry_prefix_ttl_and_format() {
    let server = RedisServer::start().await;
    let store = RedisStore::from_url(&server.url())
        .unwrap()
        .with_prefix("t1:");
    let token = SessionToken::generate().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut record = sample_record("alice", now, time::Duration::minutes(30));
    record.id = token.key().id();
    record.verifier = token.verifier();
    store.create(&record).await.unwrap();

    // Two keys: the session under its id's raw bytes, and the index.
    assert_eq!(server.cli(&["DBSIZE"]).as_deref(), Some("2"));
    let key = [&b"t1:s:"[..], token.key().as_bytes()].concat();
    assert_eq!(store.session_key(&token.key()), key);
    assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), b"1");
    assert_eq!(server.cli(&["TYPE", "t1:u:alice"]).as_deref(), Some("zset"));
    let members = server
        .command(&[b"ZRANGE", b"t1:u:alice", b"0", b"-1"])
        .unwrap();
    assert_eq!(
        members,
        token.key().as_bytes(),
        "the index names the raw id"
    );
    let dump = server.command(&[b"GET", &key]).unwrap();
    let secret = token.expose().split_once('.').unwrap().1.to_owned();
    assert!(
        !String::from_utf8_lossy(&dump).contains(&secret),
        "no token secret in Redis"
    );
    assert_eq!(dump[0], 3, "format version");
    let ttl: i64 = String::from_utf8(server.command(&[b"PTTL", &key]).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (29 * 60_000..=30 * 60_000).contains(&ttl),
        "Redis expires it: {ttl}"
    );
    let index_ttl: i64 = server
        .cli(&["PTTL", "t1:u:alice"])
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        index_ttl >= ttl,
        "the index outlives its sessions: {index_ttl}"
    );
}

/// A session id is 16 random bytes, any of which may be a NUL or a
/// newline (one id in sixteen holds a NUL): the key and the index entry
/// carry them exactly, and a logout everywhere finds the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_with_nul_and_newline_bytes_are_stored_exactly() {
    let server = RedisServer::start().await;
    let store = RedisStore::from_url(&server.url()).unwrap();
    // Whole seconds: Redis keeps times to the millisecond.
    let now =
        time::OffsetDateTime::from_unix_timestamp(time::OffsetDateTime::now_utc().unix_timestamp())
            .unwrap();
    let mut record = sample_record("alice", now, time::Duration::minutes(30));
    let id = *b"\0\nsession\0id\r\n\0\xff";
    record.id = auth_core::SessionKey::from_bytes(id).id();
    store.create(&record).await.unwrap();

    let key = store.session_key(&record.key());
    assert_eq!(key, [&b"auth:s:"[..], &id].concat());
    assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), b"1");
    assert_eq!(
        server
            .command(&[b"ZRANGE", b"auth:u:alice", b"0", b"-1"])
            .unwrap(),
        id,
        "the index names the raw id"
    );
    assert_eq!(
        store.load(&record.key()).await.unwrap(),
        Some(record.clone())
    );
    let dump = server.dump();
    assert!(dump.windows(key.len()).any(|bytes| bytes == key), "dumped");
    assert_eq!(
        store.delete_user("alice", None).await.unwrap(),
        vec![record.key()]
    );
    assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), b"0");
}

/// A server with one session of alice's: the store, the record and its
/// Redis key.
async fn alice_stored() -> (RedisServer, RedisStore, SessionRecord, Vec<u8>) {
    let server = RedisServer::start().await;
    let store = RedisStore::from_url(&server.url()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let record = sample_record("alice", now, time::Duration::minutes(30));
    store.create(&record).await.unwrap();
    let key = store.session_key(&record.key());
    (server, store, record, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_format_and_corrupt_records_are_backend_errors_not_absence() {
    let (server, store, record, key) = alice_stored().await;
    // Another format byte.
    server.command(&[b"SETRANGE", &key, b"0", b"c"]).unwrap();
    let err = store.load(&record.key()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(_)) && !err.is_retryable(),
        "{err:?}"
    );
    // The right format byte, then bytes that are no record.
    server
        .command(&[b"SET", &key, b"\x03not a record"])
        .unwrap();
    assert!(matches!(
        store.load(&record.key()).await,
        Err(StoreError::Backend(_))
    ));
    // Still there: an error never deletes a session.
    assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), b"1");
}

/// A session an earlier version stored as a hash is not read (its user
/// signs in again), and a logout everywhere still deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_the_hash_format_are_absent_and_deleted_with_their_user() {
    let (server, store, record, key) = alice_stored().await;
    server.command(&[b"DEL", &key]).unwrap();
    server
        .command(&[b"HSET", &key, b"f", b"2", b"u", b"alice", b"d", b"{}"])
        .unwrap();
    assert_eq!(store.load(&record.key()).await.unwrap(), None);
    store.delete_user("alice", None).await.unwrap();
    assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), b"0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_is_unavailable_and_recovery_needs_no_restart() {
    let mut server = RedisServer::start().await;
    let store = RedisStore::from_url(&server.url())
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    let now = time::OffsetDateTime::now_utc();
    let record = sample_record("alice", now, time::Duration::minutes(30));
    store.create(&record).await.unwrap();

    server.stop().await;
    for _ in 0..3 {
        let err = store.load(&record.key()).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(err.is_retryable());
    }
    let err = store
        .create(&sample_record("bob", now, time::Duration::minutes(5)))
        .await
        .unwrap_err();
    assert!(err.is_retryable());

    server.start_again().await;
    let mut loaded = None;
    for _ in 0..20 {
        match store.load(&record.key()).await {
            Ok(found) => {
                loaded = found;
                break;
            }
            Err(err) => {
                assert!(err.is_retryable(), "{err:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let loaded = loaded.expect("the session survived the restart");
    assert_eq!(loaded.user_id, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let store = RedisStore::from_url(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    // The store's own timeout answers; the outer one only keeps a broken
    // timeout from hanging the suite.
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        store.load(&SessionToken::generate().unwrap().key()),
    )
    .await
    .expect("the store's timeout fired")
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
}
