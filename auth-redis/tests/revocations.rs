//! Revocations announced through Redis reach every instance: live through
//! pub/sub, after a disconnection from the sorted set.

use std::time::{Duration, Instant};

use auth_core::jwt::{AccessTokens, Algorithm, JwtError, Key, NoClaims, RefreshPolicy, TokenPair};
use auth_core::{Authenticator, ClientMeta, ConfigError, Login};
use auth_redis::RedisStore;
use auth_redis::testing::{RedisCluster, RedisServer};

const ISSUER: &str = "https://auth.test";

/// One app instance: its own store handle, authenticator and verifier.
struct Instance {
    auth: Authenticator,
    tokens: AccessTokens,
}

fn instance(store: RedisStore, key: &Key) -> Instance {
    let tokens = AccessTokens::builder(ISSUER)
        .with_signing_key(key.clone())
        .build()
        .unwrap();
    let auth = Authenticator::builder(store)
        .with_access_tokens(tokens.clone())
        .with_refresh_tokens(RefreshPolicy::new().unwrap())
        .build()
        .unwrap();
    Instance { auth, tokens }
}

impl Instance {
    async fn pair(&self, user: &str) -> TokenPair {
        self.auth
            .issue_tokens(Login::new(user), ClientMeta::default())
            .await
            .unwrap()
    }

    fn check(&self, access: &str) -> Result<(), JwtError> {
        self.tokens
            .verify::<NoClaims>(access.as_bytes())
            .map(|_| ())
    }

    /// Waits for an announcement to arrive; fails after a generous bound.
    async fn until_revoked(&self, access: &str) {
        let start = Instant::now();
        while self.check(access) != Err(JwtError::Revoked) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the revocation never arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn key() -> Key {
    Key::generate("k1", Algorithm::EdDSA).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_instance_stops_the_token_on_another() {
    let server = RedisServer::start().await;
    let key = key();
    let a = instance(RedisStore::from_url(&server.url()).unwrap(), &key);
    let b = instance(RedisStore::from_url(&server.url()).unwrap(), &key);

    let pair = a.pair("alice").await;
    let other = a.pair("bob").await;
    assert_eq!(b.check(&pair.access_token), Ok(()));
    assert!(
        a.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    b.until_revoked(&pair.access_token).await;
    assert_eq!(b.check(&other.access_token), Ok(()), "only alice's session");

    // A password change on b reaches a.
    let again = a.pair("alice").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    b.auth.revoke_user_tokens("alice").await.unwrap();
    a.until_revoked(&again.access_token).await;

    // Redis holds the announcements for catching up, and no credential.
    let dump = server
        .cli(&["ZRANGE", "auth:revocations", "0", "-1"])
        .unwrap();
    assert!(dump.contains("\"session\""), "{dump}");
    assert!(dump.contains("\"user_before\""), "{dump}");
    assert!(!dump.contains(&pair.refresh_token) && !dump.contains(&pair.access_token));
    let ttl: i64 = server
        .cli(&["PTTL", "auth:revocations"])
        .unwrap()
        .parse()
        .unwrap();
    assert!(ttl > 0, "the set expires by itself: {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_catches_up_on_recent_revocations() {
    let server = RedisServer::start().await;
    let key = key();
    let a = instance(RedisStore::from_url(&server.url()).unwrap(), &key);
    let pair = a.pair("alice").await;
    assert!(
        a.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );

    let late = instance(RedisStore::from_url(&server.url()).unwrap(), &key);
    late.until_revoked(&pair.access_token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_resubscribes_after_redis_restarts() {
    let mut server = RedisServer::start().await;
    let key = key();
    let a = instance(RedisStore::from_url(&server.url()).unwrap(), &key);
    let b = instance(RedisStore::from_url(&server.url()).unwrap(), &key);
    let first = a.pair("alice").await;
    a.auth
        .revoke_refresh_token(&first.refresh_token)
        .await
        .unwrap();
    b.until_revoked(&first.access_token).await;

    server.restart().await;
    let pair = loop {
        // The pool reconnects on demand; the first calls may still fail.
        match a
            .auth
            .issue_tokens(Login::new("alice"), ClientMeta::default())
            .await
        {
            Ok(pair) => break pair,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(
        a.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    b.until_revoked(&pair.access_token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_cross_a_cluster() {
    let cluster = RedisCluster::start().await;
    let urls = cluster.urls();
    let key = key();
    let a = instance(RedisStore::cluster(&urls[..1]).unwrap(), &key);
    let b = instance(RedisStore::cluster(&urls[2..]).unwrap(), &key);
    let mut pairs = Vec::new();
    for user in ["alice", "bob", "carol", "dave"] {
        pairs.push(a.pair(user).await);
    }
    for pair in &pairs {
        assert_eq!(b.check(&pair.access_token), Ok(()));
        a.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap();
    }
    for pair in &pairs {
        b.until_revoked(&pair.access_token).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_without_subscription_urls_is_refused_with_access_tokens() {
    let server = RedisServer::start().await;
    let pool = deadpool_redis::Config::from_url(server.url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let tokens = AccessTokens::builder(ISSUER)
        .with_signing_key(key())
        .build()
        .unwrap();

    // Sessions alone need no subscription.
    assert!(
        Authenticator::builder(RedisStore::from_pool(pool.clone()))
            .build()
            .is_ok()
    );
    let err = Authenticator::builder(RedisStore::from_pool(pool.clone()))
        .with_access_tokens(tokens.clone())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::Announcements(ref m) if m.contains("with_subscription_urls")),
        "{err}"
    );
    let store = RedisStore::from_pool(pool).with_subscription_urls([server.url()]);
    assert!(
        Authenticator::builder(store)
            .with_access_tokens(tokens)
            .build()
            .is_ok()
    );
}

#[test]
fn subscribing_outside_a_runtime_is_refused() {
    let store = RedisStore::from_url("redis://127.0.0.1:1").unwrap();
    let tokens = AccessTokens::builder(ISSUER)
        .with_signing_key(key())
        .build()
        .unwrap();
    let err = Authenticator::builder(store)
        .with_access_tokens(tokens)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::Announcements(ref m) if m.contains("Tokio")),
        "{err}"
    );
}

/// Authenticates a bearer request on `instance`: its identity's user, or
/// the refusal (a store error is a 503).
async fn bearer(
    instance: &Instance,
    access: &str,
) -> Result<Option<String>, auth_core::adapter::RefusalResponse> {
    let mut req = auth_core::testing::TestRequest::get("/")
        .with_header("authorization", format!("Bearer {access}"));
    let handle = auth_core::adapter::Exchange::new(instance.auth.clone())
        .admit(&mut req)
        .await?;
    Ok(handle.identity().map(|i| i.user_id().to_owned()))
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_feed_is_down_tokens_are_checked_against_the_store() {
    let mut server = RedisServer::start().await;
    let key = key();
    let a = instance(
        RedisStore::from_url(&server.url())
            .unwrap()
            .with_timeout(Duration::from_millis(300)),
        &key,
    );
    let staleness = auth_core::revocation::DEFAULT_MAX_STALENESS;
    let revocations = a.tokens.revocations().clone();
    until("the feed is current", || revocations.is_current(staleness)).await;
    let pair = a.pair("alice").await;
    assert_eq!(
        bearer(&a, &pair.access_token).await.unwrap().as_deref(),
        Some("alice")
    );

    // Redis goes away: the listener notices, and a token can no longer be
    // taken on the list's word. Its session cannot be read either: 503,
    // never a pass.
    server.stop().await;
    until("the feed is reported lost", || {
        !revocations.is_current(staleness)
    })
    .await;
    let err = bearer(&a, &pair.access_token).await.unwrap_err();
    assert_eq!(err.status(), 503, "{err:?}");

    // Back: the listener resubscribes and catches up, and the token works
    // again, because its session still exists.
    server.start_again().await;
    until("the feed is current again", || {
        revocations.is_current(staleness)
    })
    .await;
    let start = Instant::now();
    loop {
        match bearer(&a, &pair.access_token).await {
            Ok(user) => {
                assert_eq!(user.as_deref(), Some("alice"));
                break;
            }
            Err(err) => {
                assert!(
                    err.status() == 503 && start.elapsed() < Duration::from_secs(30),
                    "{err:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_feed_refuses_a_token_whose_session_ended() {
    let server = RedisServer::start().await;
    let key = key();
    let a = instance(RedisStore::from_url(&server.url()).unwrap(), &key);
    let staleness = auth_core::revocation::DEFAULT_MAX_STALENESS;
    let revocations = a.tokens.revocations().clone();
    until("the feed is current", || revocations.is_current(staleness)).await;
    let pair = a.pair("alice").await;
    // The session ends where this instance's list does not hear of it
    // (the delete goes straight to Redis), and the feed is lost.
    let family = pair.refresh_token.split('.').next().unwrap();
    let record_key = [
        &b"auth:s:"[..],
        family
            .parse::<auth_core::SessionId>()
            .unwrap()
            .key()
            .as_bytes(),
    ]
    .concat();
    assert_eq!(server.command(&[b"DEL", &record_key]).unwrap(), b"1");
    revocations.feed_lost();
    assert_eq!(
        bearer(&a, &pair.access_token).await.unwrap(),
        None,
        "the store says the session is gone: refused"
    );
}
