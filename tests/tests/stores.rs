//! The guarantees under concurrency, against the `Authenticator` directly,
//! on every store: memory, Redis, Redis Cluster and PostgreSQL. (The demos'
//! scenarios in `races.rs` race the same over HTTP; a Cluster is here.)
//!
//! - A family rotated ten thousand times is one record, and listing,
//!   reuse detection and ending it still work.
//! - A family refreshed in a loop while it is revoked, or while its user's
//!   sessions all end, is dead once that has answered.
//! - Concurrent logins never exceed the session limit.
//! - A burst of attempts gets no more checks than the throttle's limit.

use std::sync::Arc;
use std::time::Duration;

use auth_behaviour_tests::SharedRedis;
use auth_core::jwt::{
    AccessTokens, Algorithm, Key, NoClaims, RefreshError, RefreshPolicy, TokenPair,
};
use auth_core::throttle::{CounterStore, LoginThrottle, Throttled};
use auth_core::{
    Authenticator, ClientMeta, Login, ManualClock, MemoryStore, SessionLimit, SessionStore,
};
use auth_redis::RedisStore;
use auth_redis::testing::RedisCluster;
use example_postgres_store::testing::TestDatabase;
use tokio::sync::Barrier;

/// How many times each race runs.
const TRIALS: usize = 20;

struct App {
    auth: Authenticator,
    tokens: AccessTokens,
    store: Arc<dyn SessionStore>,
    counters: Arc<dyn CounterStore>,
    clock: ManualClock,
}

fn app(store: Arc<dyn SessionStore>, counters: Arc<dyn CounterStore>, clock: ManualClock) -> App {
    let tokens = AccessTokens::builder("https://auth.test")
        .with_signing_key(Key::generate("k", Algorithm::EdDSA).unwrap())
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let auth = Authenticator::builder_shared(store.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_access_tokens(tokens.clone())
        .with_refresh_tokens(RefreshPolicy::new().unwrap())
        .with_max_sessions_per_user(1, SessionLimit::EndOldest)
        .build()
        .unwrap();
    App {
        auth,
        tokens,
        store,
        counters,
        clock,
    }
}

fn user(tag: &str) -> String {
    format!("{tag}-{}", auth_core::SessionId::generate().unwrap())
}

impl App {
    async fn pair(&self, user: &str) -> TokenPair {
        self.auth
            .issue_tokens(Login::new(user), ClientMeta::default())
            .await
            .unwrap()
    }

    /// Refreshes in a loop with the newest token until refused: the last
    /// pair that worked.
    async fn refresh_until_refused(auth: Authenticator, first: TokenPair) -> TokenPair {
        let mut newest = first;
        for _ in 0..40 {
            match auth.refresh_tokens(&newest.refresh_token).await {
                Ok(pair) => newest = pair,
                Err(RefreshError::Invalid | RefreshError::Reused) => break,
                Err(err) => panic!("refresh failed: {err}"),
            }
            tokio::task::yield_now().await;
        }
        newest
    }

    async fn assert_dead(&self, newest: &TokenPair, what: &str) {
        assert!(
            self.auth
                .refresh_tokens(&newest.refresh_token)
                .await
                .is_err(),
            "the newest refresh token survived {what}"
        );
        assert!(
            self.tokens
                .verify::<NoClaims>(newest.access_token.as_bytes())
                .is_err(),
            "the newest access token survived {what}"
        );
    }
}

async fn every_guarantee(app: App) {
    ten_thousand_rotations(&app).await;
    revocation_against_refresh(&app).await;
    ending_every_session_against_refresh(&app).await;
    concurrent_logins_against_the_limit(&app).await;
    a_burst_against_the_throttle(&app).await;
}

async fn ten_thousand_rotations(app: &App) {
    let user = user("rotating");
    let first = app.pair(&user).await;
    let mut newest = first.clone();
    for _ in 0..10_000 {
        newest = app
            .auth
            .refresh_tokens(&newest.refresh_token)
            .await
            .unwrap();
    }
    assert_eq!(
        app.store.list_user(&user).await.unwrap().len(),
        1,
        "10 000 rotations leave one record"
    );
    assert_eq!(app.auth.sessions_of(&user).await.unwrap().len(), 1);
    app.clock.advance(time::Duration::seconds(10));
    assert!(matches!(
        app.auth.refresh_tokens(&first.refresh_token).await,
        Err(RefreshError::Reused)
    ));
    app.assert_dead(&newest, "reuse detection").await;
    assert!(app.store.list_user(&user).await.unwrap().is_empty());
}

async fn revocation_against_refresh(app: &App) {
    for trial in 0..TRIALS {
        let first = app.pair(&user("revoked")).await;
        let barrier = Arc::new(Barrier::new(2));
        let refresher = tokio::spawn({
            let (auth, barrier, first) = (app.auth.clone(), barrier.clone(), first.clone());
            async move {
                barrier.wait().await;
                App::refresh_until_refused(auth, first).await
            }
        });
        let revoker = tokio::spawn({
            let (auth, barrier) = (app.auth.clone(), barrier.clone());
            let token = first.refresh_token.clone();
            async move {
                barrier.wait().await;
                for _ in 0..trial % 5 {
                    tokio::task::yield_now().await;
                }
                auth.revoke_refresh_token(&token).await.unwrap()
            }
        });
        revoker.await.unwrap();
        let newest = refresher.await.unwrap();
        app.assert_dead(&newest, &format!("revocation (trial {trial})"))
            .await;
    }
}

async fn ending_every_session_against_refresh(app: &App) {
    for trial in 0..TRIALS {
        let user = user("ended");
        let first = app.pair(&user).await;
        let barrier = Arc::new(Barrier::new(2));
        let refresher = tokio::spawn({
            let (auth, barrier, first) = (app.auth.clone(), barrier.clone(), first.clone());
            async move {
                barrier.wait().await;
                App::refresh_until_refused(auth, first).await
            }
        });
        let ender = tokio::spawn({
            let (auth, barrier, user) = (app.auth.clone(), barrier.clone(), user.clone());
            async move {
                barrier.wait().await;
                for _ in 0..trial % 5 {
                    tokio::task::yield_now().await;
                }
                auth.end_all_sessions_of(&user).await.unwrap()
            }
        });
        ender.await.unwrap();
        let newest = refresher.await.unwrap();
        app.assert_dead(
            &newest,
            &format!("the end of every session (trial {trial})"),
        )
        .await;
        assert!(app.store.list_user(&user).await.unwrap().is_empty());
    }
}

async fn concurrent_logins_against_the_limit(app: &App) {
    for trial in 0..TRIALS / 4 {
        let user = user("limited");
        let barrier = Arc::new(Barrier::new(8));
        let logins: Vec<_> = (0..8)
            .map(|_| {
                let (auth, barrier, user) = (app.auth.clone(), barrier.clone(), user.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    auth.issue_tokens(Login::new(user), ClientMeta::default())
                        .await
                        .ok()
                })
            })
            .collect();
        let mut pairs = Vec::new();
        for login in logins {
            pairs.extend(login.await.unwrap());
        }
        assert!(!pairs.is_empty(), "trial {trial}: every login lost");
        let live = app.store.list_user(&user).await.unwrap().len();
        assert_eq!(live, 1, "trial {trial}: {live} sessions, limit 1");
        let mut working = 0;
        for pair in &pairs {
            working += usize::from(app.auth.refresh_tokens(&pair.refresh_token).await.is_ok());
        }
        assert_eq!(
            working, 1,
            "trial {trial}: {working} families work, limit 1"
        );
    }
}

async fn a_burst_against_the_throttle(app: &App) {
    let throttle = LoginThrottle::new_shared(app.counters.clone())
        .with_user_limit(10)
        .with_address_limit(1_000);
    let user = user("guessed");
    let barrier = Arc::new(Barrier::new(40));
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let (throttle, barrier, user) = (throttle.clone(), barrier.clone(), user.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                match throttle.reserve(&user, Some("198.51.100.7")).await {
                    Ok(attempt) => {
                        attempt.failed();
                        true
                    }
                    Err(Throttled::Limited { .. }) => false,
                    Err(err) => panic!("{err}"),
                }
            })
        })
        .collect();
    let mut checked = 0;
    for attempt in attempts {
        checked += usize::from(attempt.await.unwrap());
    }
    assert_eq!(checked, 10, "{checked} attempts checked, limit 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_store() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    every_guarantee(app(Arc::new(store.clone()), Arc::new(store), clock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let redis = SharedRedis::start().await;
    let store = RedisStore::from_url(&redis.url)
        .unwrap()
        .with_prefix(redis.prefix.clone())
        .with_timeout(Duration::from_millis(500));
    every_guarantee(app(
        Arc::new(store.clone()),
        Arc::new(store),
        ManualClock::starting_now(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    let store = RedisStore::cluster(&cluster.urls())
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    every_guarantee(app(
        Arc::new(store.clone()),
        Arc::new(store),
        ManualClock::starting_now(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let db = TestDatabase::create().await;
    let clock = ManualClock::starting_now();
    let store = db.store().await.with_clock(Arc::new(clock.clone()));
    every_guarantee(app(Arc::new(store.clone()), Arc::new(store), clock)).await;
}
