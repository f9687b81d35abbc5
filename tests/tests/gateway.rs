//! The demo as a gateway in front of `example-backend`: a browser with a
//! session cookie and an app with a bearer token reach `/api/whoami`
//! through it, as themselves; nothing reaches the upstream unauthenticated
//! or with the caller's own credentials; bodies and queries cross whole;
//! a backend that hears the gateway's revocations refuses a logged-out
//! session's gateway token at once, and every token while it cannot hear.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_behaviour_tests::{Env, Options, TestApp, remember_secret, scenarios};
use auth_core::jwt::oidc::{ExternalIssuer, UpstreamTokens};
use auth_core::{Authenticator, MemoryStore};
use auth_redis::RedisStore;
use axum::extract::Request;

scenarios!(@on axum_memory, Axum, Memory;
    callers_reach_the_backend_through_the_gateway_as_themselves,
    requests_and_answers_cross_whole_and_credentials_do_not,
    an_upstream_that_is_down_is_a_502
);
scenarios!(@on actix_memory, Actix, Memory;
    callers_reach_the_backend_through_the_gateway_as_themselves,
    requests_and_answers_cross_whole_and_credentials_do_not,
    an_upstream_that_is_down_is_a_502
);

scenarios!(@on axum_redis, Axum, Redis;
    a_logout_at_the_gateway_reaches_a_backend_that_hears_its_revocations
);
scenarios!(@on actix_redis, Actix, Redis;
    a_logout_at_the_gateway_reaches_a_backend_that_hears_its_revocations
);

/// `GET /api/whoami` on the backend itself, with a gateway token.
async fn direct(backend: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{backend}/api/whoami"))
        .header(example_backend::GATEWAY_HEADER, token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asks until the backend answers `status` (at most 10 s).
async fn until(backend: &str, token: &str, status: u16) -> u16 {
    let mut last = 0;
    for _ in 0..500 {
        last = direct(backend, token).await;
        if last == status {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}

async fn a_logout_at_the_gateway_reaches_a_backend_that_hears_its_revocations(env: Env) {
    let (listener, upstream) = upstream_listener().await;
    let gateway = gateway_to(env, &upstream).await;
    let redis = gateway.redis.clone().expect("the gateway is on Redis");
    // The backend hears the announcements of the gateway's store.
    let issuer = ExternalIssuer::builder(
        example_backend::DEFAULT_GATEWAY_ISSUER,
        example_backend::DEFAULT_GATEWAY_AUDIENCE,
    )
    .with_jwks_url(format!("{}/.well-known/gateway-jwks.json", gateway.base))
    .build()
    .unwrap();
    let gateways_store = RedisStore::from_url(&redis.url)
        .unwrap()
        .with_prefix(redis.prefix.clone());
    let tokens = UpstreamTokens::new(example_backend::GATEWAY_HEADER, issuer)
        .unwrap()
        .with_revocations(&gateways_store)
        .unwrap();
    let auth = Authenticator::builder(MemoryStore::new())
        .with_authenticator(tokens)
        .without_csrf()
        .build()
        .unwrap();
    // The tokens the gateway sends, kept to replay them.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = seen.clone();
    let backend = example_backend::router(auth).layer(axum::middleware::from_fn(
        move |request: Request, next: axum::middleware::Next| {
            if let Some(token) = request.headers().get(example_backend::GATEWAY_HEADER) {
                let token = token.to_str().unwrap().to_owned();
                remember_secret(&token);
                kept.lock().unwrap().push(token);
            }
            next.run(request)
        },
    ));
    tokio::spawn(async move { axum::serve(listener, backend).await });
    let token_of = |browser: auth_behaviour_tests::Client| {
        let seen = seen.clone();
        async move {
            let res = browser.get("/api/whoami").await;
            assert_eq!(res.status, 200, "{}", res.body);
            let token = seen.lock().unwrap().pop().expect("the gateway's token");
            (browser, token)
        }
    };

    let (alice, alices) = token_of(gateway.logged_in("alice").await).await;
    let (_admin, admins) = token_of(gateway.logged_in("admin").await).await;
    assert_eq!(direct(&upstream, &alices).await, 200);
    // Alice logs out at the gateway: her gateway token is refused at once
    // (as soon as the announcement arrives), not when it expires; the admin's
    // still works.
    let res = alice.post("/logout").await;
    assert!(res.status < 300, "{}", res.body);
    assert_eq!(until(&upstream, &alices, 401).await, 401);
    assert_eq!(direct(&upstream, &admins).await, 200);

    // While the backend cannot hear the gateway (its Redis is down), it
    // refuses every token with 503 rather than trust its list; afterwards
    // it catches up and accepts again.
    redis.server.lock().await.stop().await;
    assert_eq!(until(&upstream, &admins, 503).await, 503);
    assert_eq!(direct(&upstream, &alices).await, 401, "still refused");
    redis.server.lock().await.start_again().await;
    assert_eq!(until(&upstream, &admins, 200).await, 200);
    assert_eq!(direct(&upstream, &alices).await, 401);
}

async fn an_upstream_that_is_down_is_a_502(env: Env) {
    let (listener, upstream) = upstream_listener().await;
    drop(listener);
    let gateway = gateway_to(env, &upstream).await;
    let browser = gateway.logged_in("alice").await;
    let res = browser.get("/api/whoami").await;
    assert_eq!(res.status, 502, "{}", res.body);
    assert_eq!(browser.get("/me").await.status, 200, "still signed in");
}

/// A listener for an upstream, and its base URL.
async fn upstream_listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

async fn gateway_to(env: Env, upstream: &str) -> TestApp {
    TestApp::start_with(
        env,
        Options {
            gateway_upstream: Some(upstream.to_owned()),
            ..Options::default()
        },
    )
    .await
}

async fn callers_reach_the_backend_through_the_gateway_as_themselves(env: Env) {
    let (listener, upstream) = upstream_listener().await;
    let gateway = gateway_to(env, &upstream).await;
    // The backend trusts the gateway's published keys, with its defaults.
    let config = example_backend::Config::from_lookup(|k| {
        (k == "GATEWAY_JWKS_URL").then(|| format!("{}/.well-known/gateway-jwks.json", gateway.base))
    })
    .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let backend = example_backend::router(config.authenticator().unwrap()).layer(
        axum::middleware::from_fn(move |request: Request, next: axum::middleware::Next| {
            counted.fetch_add(1, Ordering::SeqCst);
            next.run(request)
        }),
    );
    tokio::spawn(async move { axum::serve(listener, backend).await });

    let browser = gateway.logged_in("alice").await;
    let res = browser.get("/api/whoami").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["user_id"], "alice");
    assert_eq!(res.json()["roles"], serde_json::json!(["user"]));

    let app = gateway.client();
    let pair = app.token_pair("admin").await;
    let res = app
        .get_bearer("/api/whoami", pair["access_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["user_id"], "admin");

    // A forged gateway header from the client is replaced by the real one.
    let forged = browser
        .get_with(
            "/api/whoami",
            &[("x-user-token", b"eyJhbGciOiJub25lIn0.e30.")],
        )
        .await;
    assert_eq!(forged.json()["user_id"], "alice");

    let before = hits.load(Ordering::SeqCst);
    assert_eq!(gateway.client().get("/api/whoami").await.status, 401);
    let stranger = gateway.client();
    assert_eq!(
        stranger
            .get_with(
                "/api/whoami",
                &[("x-user-token", b"eyJhbGciOiJub25lIn0.e30.")]
            )
            .await
            .status,
        401
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "nothing reaches the upstream unauthenticated"
    );
}

async fn requests_and_answers_cross_whole_and_credentials_do_not(env: Env) {
    let (listener, upstream) = upstream_listener().await;
    // An upstream that tells what it received.
    let echo = axum::Router::new().route(
        "/api/echo",
        axum::routing::any(|request: Request| async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            axum::Json(serde_json::json!({
                "method": parts.method.as_str(),
                "query": parts.uri.query(),
                "body_len": body.len(),
                "body_sum": body.iter().map(|b| u64::from(*b)).sum::<u64>(),
                "cookie": header("cookie"),
                "authorization": header("authorization"),
                "csrf": header("x-csrf-token"),
                "gateway_token": header("x-user-token").is_some(),
            }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, echo).await });
    let gateway = gateway_to(env, &upstream).await;
    let browser = gateway.logged_in("alice").await;
    let body: Vec<u8> = (0..12_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    let res = browser
        .send(
            "PUT",
            "/api/echo?page=2&q=a%20b",
            &[],
            Some(("application/octet-stream", body.clone())),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let seen = res.json();
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["query"], "page=2&q=a%20b");
    assert_eq!(seen["body_len"], body.len());
    assert_eq!(seen["body_sum"], sum);
    assert_eq!(seen["gateway_token"], true);
    for credential in ["cookie", "authorization", "csrf"] {
        assert!(seen[credential].is_null(), "{credential} crossed: {seen}");
    }
}
