//! Revocations announced through PostgreSQL reach every instance: live
//! through `NOTIFY`, after a disconnection from `auth_revocations`.

use std::time::{Duration, Instant};

use auth_core::jwt::{AccessTokens, Algorithm, JwtError, Key, NoClaims, RefreshPolicy, TokenPair};
use auth_core::revocation::DEFAULT_MAX_STALENESS;
use auth_core::{Authenticator, ClientMeta, Login};
use example_postgres_store::PostgresStore;
use example_postgres_store::testing::TestDatabase;
use tokio_postgres::NoTls;

/// One app instance: its own store handle, authenticator and verifier.
struct Instance {
    auth: Authenticator,
    tokens: AccessTokens,
}

async fn instance(db: &TestDatabase, key: &Key, refresh: &RefreshPolicy) -> Instance {
    let tokens = AccessTokens::builder("https://auth.test")
        .with_signing_key(key.clone())
        .build()
        .unwrap();
    let auth = Authenticator::builder(db.store().await)
        .with_access_tokens(tokens.clone())
        .with_refresh_tokens(refresh.clone())
        .build()
        .unwrap();
    let instance = Instance { auth, tokens };
    instance
        .until("its feed is current", |i| {
            i.tokens.revocations().is_current(DEFAULT_MAX_STALENESS)
        })
        .await;
    instance
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

    /// Waits for `what`; fails after a generous bound.
    async fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        while !check(self) {
            assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn setup() -> (Key, RefreshPolicy) {
    (
        Key::generate("k1", Algorithm::EdDSA).unwrap(),
        RefreshPolicy::new().unwrap().with_secret(&[5; 32]).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_stops_the_token_on_another() {
    let db = TestDatabase::create().await;
    let (key, refresh) = setup();
    let a = instance(&db, &key, &refresh).await;
    let b = instance(&db, &key, &refresh).await;
    let pair = a.pair("alice").await;
    let other = a.pair("bob").await;
    assert_eq!(b.check(&pair.access_token), Ok(()));
    assert!(
        a.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    b.until("the revocation reaches b", |b| {
        b.check(&pair.access_token) == Err(JwtError::Revoked)
    })
    .await;
    assert_eq!(b.check(&other.access_token), Ok(()), "only alice's session");

    // A late instance catches up from the table.
    let late = instance(&db, &key, &refresh).await;
    assert_eq!(late.check(&pair.access_token), Err(JwtError::Revoked));
    assert_eq!(late.check(&other.access_token), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_dies_says_so_and_listens_again() {
    let db = TestDatabase::create().await;
    let (key, refresh) = setup();
    let a = instance(&db, &key, &refresh).await;
    let b = instance(&db, &key, &refresh).await;

    // The server drops b's (and a's) listening connections.
    let (admin, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let dropped_at = Instant::now();
    let dropped = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
            &[&example_postgres_store::LISTENER_NAME],
        )
        .await
        .unwrap();
    assert_eq!(dropped, 2, "both instances' listeners");
    b.until("the lost feed is noticed", |b| {
        b.tokens.revocations().feed_lost_since(dropped_at)
    })
    .await;
    // Revoked while b is not listening: b catches up once it is back.
    let pair = a.pair("alice").await;
    a.auth
        .revoke_refresh_token(&pair.refresh_token)
        .await
        .unwrap();
    b.until("the feed is current again", |b| {
        b.tokens.revocations().is_current(DEFAULT_MAX_STALENESS)
    })
    .await;
    b.until("the missed revocation arrives", |b| {
        b.check(&pair.access_token) == Err(JwtError::Revoked)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_without_listen_settings_is_refused_with_access_tokens() {
    let db = TestDatabase::create().await;
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let manager = deadpool_postgres::Manager::new(config.clone(), NoTls);
    let pool = deadpool_postgres::Pool::builder(manager).build().unwrap();
    let tokens = AccessTokens::builder("https://auth.test")
        .with_signing_key(Key::generate("k", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let err = Authenticator::builder(PostgresStore::from_pool(pool.clone()))
        .with_access_tokens(tokens.clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("with_listen_config"), "{err}");
    assert!(
        Authenticator::builder(PostgresStore::from_pool(pool).with_listen_config(config))
            .with_access_tokens(tokens)
            .build()
            .is_ok()
    );
}
