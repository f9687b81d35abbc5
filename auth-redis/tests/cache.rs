//! A `CachedStore` on Redis: cached reads cost no command, and a logout on
//! one instance reaches every other instance's cache through pub/sub.

use std::time::{Duration, Instant};

use auth_core::adapter::Exchange;
use auth_core::testing::{CountingStore, TestRequest, TestResponse};
use auth_core::{Authenticator, CachedStore, Login};
use auth_redis::RedisStore;
use auth_redis::testing::RedisServer;

/// An instance with a cache, once its cache hears the others.
async fn instance(url: &str) -> (Exchange, CountingStore<RedisStore>) {
    let redis = CountingStore::new(RedisStore::from_url(url).unwrap());
    let cached = CachedStore::new(redis.clone())
        .unwrap()
        .with_ttl(Duration::from_secs(60));
    let start = Instant::now();
    while !cached.is_current() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cache's subscription never caught up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (
        Exchange::new(Authenticator::builder(cached).build().unwrap()),
        redis,
    )
}

async fn login(exchange: &Exchange, user: &str) -> String {
    let handle = exchange
        .admit(&mut TestRequest::post("/login"))
        .await
        .unwrap();
    handle.login(Login::new(user)).await.unwrap();
    let mut res = TestResponse::new();
    exchange.respond(&handle, None, &mut res).await.unwrap();
    res.cookie_pair(0).unwrap().to_owned()
}

async fn with_cookie(exchange: &Exchange, cookie: &str) -> auth_core::AuthHandle {
    let mut req = TestRequest::get("/").with_header("cookie", cookie);
    exchange.admit(&mut req).await.unwrap()
}

async fn who(exchange: &Exchange, cookie: &str) -> Option<String> {
    let handle = with_cookie(exchange, cookie).await;
    handle.identity().map(|i| i.user_id().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_elsewhere_empties_this_cache() {
    let server = RedisServer::start().await;
    let (a, _) = instance(&server.url()).await;
    let (b, b_redis) = instance(&server.url()).await;
    let cookie = login(&a, "alice").await;
    let other = login(&a, "bob").await;

    assert_eq!(who(&b, &cookie).await.as_deref(), Some("alice"));
    b_redis.take_calls();
    for _ in 0..5 {
        assert_eq!(who(&b, &cookie).await.as_deref(), Some("alice"));
    }
    let calls = b_redis.take_calls();
    assert_eq!((calls.reads(), calls.writes()), (0, 0), "{calls:?}");
    assert_eq!(who(&b, &other).await.as_deref(), Some("bob"));

    // Logout on a: b's cached copy is dropped when the news arrives,
    // long before the 60 s TTL.
    let handle = with_cookie(&a, &cookie).await;
    assert!(handle.logout().await.unwrap());
    let start = Instant::now();
    while who(&b, &cookie).await.is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the logout never reached b"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        who(&b, &other).await.as_deref(),
        Some("bob"),
        "other sessions stay cached"
    );
}

/// The commands Redis ran since the last reset, as `name=calls` pairs.
fn commands(server: &RedisServer) -> Vec<(String, u64)> {
    let stats = server.cli(&["INFO", "commandstats"]).unwrap();
    stats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .filter(|(name, _)| name != "info" && name != "config|resetstat")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_request_costs_one_redis_command() {
    let server = RedisServer::start().await;
    let auth = Exchange::new(
        Authenticator::builder(RedisStore::from_url(&server.url()).unwrap())
            .build()
            .unwrap(),
    );
    let cookie = login(&auth, "alice").await;
    assert_eq!(who(&auth, &cookie).await.as_deref(), Some("alice"));
    server.cli(&["CONFIG", "RESETSTAT"]).unwrap();
    for _ in 0..50 {
        assert_eq!(who(&auth, &cookie).await.as_deref(), Some("alice"));
    }
    // One read each: no connection check, no write below the refresh
    // threshold.
    assert_eq!(commands(&server), [("get".to_owned(), 50)]);

    // With the local cache in front, none at all.
    let (cached, _) = instance(&server.url()).await;
    assert_eq!(who(&cached, &cookie).await.as_deref(), Some("alice"));
    server.cli(&["CONFIG", "RESETSTAT"]).unwrap();
    for _ in 0..50 {
        assert_eq!(who(&cached, &cookie).await.as_deref(), Some("alice"));
    }
    assert_eq!(commands(&server), []);
}
