//! How soon a logout on one instance is seen by another instance's
//! `CachedStore`: two authenticators on one Redis (a throwaway server on a
//! free port), each with a cache whose TTL (60 s) would otherwise hide the
//! logout. For each of 500 sessions: log in on A, authenticate on B (now
//! cached), log out on A and poll B every 50 µs until the session is
//! gone. Prints the distribution of the delay from the end of the logout
//! call.
//!
//! `cargo bench -p auth-redis --bench cache_propagation` (needs
//! `redis-server`). With `-- --test` it runs 20 rounds.

use std::time::{Duration, Instant};

use auth_core::adapter::Exchange;
use auth_core::testing::{TestRequest, TestResponse};
use auth_core::{Authenticator, CachedStore, Login};
use auth_redis::RedisStore;
use auth_redis::testing::RedisServer;

fn instance(url: &str) -> Exchange {
    let cached = CachedStore::new(RedisStore::from_url(url).unwrap())
        .unwrap()
        .with_ttl(Duration::from_secs(60));
    Exchange::new(Authenticator::builder(cached).build().unwrap())
}

async fn with_cookie(exchange: &Exchange, cookie: &str) -> auth_core::AuthHandle {
    let mut req = TestRequest::get("/").with_header("cookie", cookie);
    exchange.admit(&mut req).await.unwrap()
}

async fn who(exchange: &Exchange, cookie: &str) -> bool {
    with_cookie(exchange, cookie).await.identity().is_some()
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--test") {
        20
    } else {
        500
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = RedisServer::start().await;
        let a = instance(&server.url());
        let b = instance(&server.url());
        let mut delays = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let handle = a.admit(&mut TestRequest::post("/login")).await.unwrap();
            handle.login(Login::new(format!("user-{i}"))).await.unwrap();
            let mut res = TestResponse::new();
            a.respond(&handle, None, &mut res).await.unwrap();
            let cookie = res.cookie_pair(0).unwrap().to_owned();
            assert!(who(&b, &cookie).await, "b sees the session");
            assert!(who(&b, &cookie).await, "from its cache");
            let handle = with_cookie(&a, &cookie).await;
            handle.logout().await.unwrap();
            let done = Instant::now();
            while who(&b, &cookie).await {
                assert!(done.elapsed() < Duration::from_secs(10), "never arrived");
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
            delays.push(done.elapsed());
        }
        delays.sort();
        let at = |q: f64| delays[((delays.len() - 1) as f64 * q) as usize];
        let within = delays
            .iter()
            .filter(|d| **d <= Duration::from_millis(50))
            .count();
        println!(
            "cache_propagation/{rounds} logouts: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}; \
             {within} of {rounds} within 50 ms",
            at(0.5),
            at(0.9),
            at(0.99),
            delays[delays.len() - 1],
        );
    });
}
