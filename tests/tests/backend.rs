//! A service behind the gateway (`example-backend`, and the same
//! verify-only setup in actix-web): only the gateway's token in
//! `X-User-Token`, verified with the keys the gateway publishes, gets in.

use std::sync::Arc;

use auth_behaviour_tests::remember_secret;
use auth_core::jwt::oidc::{ExternalIssuer, UpstreamTokens};
use auth_core::jwt::{AccessTokens, Algorithm, Key, Subject};
use auth_core::{Authenticator, MemoryStore};

/// The gateway's side: its signer, and its keys served as a JWKS.
struct Gateway {
    signer: AccessTokens,
    jwks_url: String,
}

async fn gateway(issuer: &str, audience: &str) -> Gateway {
    let signer = AccessTokens::builder(issuer)
        .with_audience(audience)
        .with_signing_key(Key::generate("gateway-1", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let jwks = signer.jwks().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/.well-known/gateway-jwks.json",
        axum::routing::get(move || async move { jwks }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Gateway {
        signer,
        jwks_url: format!("http://{addr}/.well-known/gateway-jwks.json"),
    }
}

impl Gateway {
    fn token(&self, user: &str, roles: &[&str]) -> String {
        let subject = Subject::new(user).with_roles(roles.iter().copied());
        let token = self
            .signer
            .issue(&subject, &serde_json::json!({}))
            .unwrap()
            .token;
        remember_secret(&token);
        token
    }
}

async fn whoami(base: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(format!("{base}/api/whoami"));
    if let Some(token) = token {
        request = request.header("x-user-token", token);
    }
    let res = request.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// What every service behind the gateway must answer, at `base`.
async fn only_the_gateways_tokens_get_in(base: &str, gw: &Gateway) {
    let (status, body) = whoami(base, Some(&gw.token("alice", &["user", "admin"]))).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["user_id"], "alice");
    assert_eq!(body["roles"], serde_json::json!(["admin", "user"]));

    assert_eq!(whoami(base, None).await.0, 401, "no token");
    // Signed with another key, by someone who knows the issuer and audience.
    let forger = gateway(gw.signer.issuer(), "internal").await;
    assert_eq!(
        whoami(base, Some(&forger.token("alice", &["admin"])))
            .await
            .0,
        401
    );
    // The gateway's key, but for another audience.
    let other = AccessTokens::builder(gw.signer.issuer())
        .with_audience("public")
        .with_signing_key(Key::generate("gateway-1", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let wrong = other
        .issue(&Subject::new("alice"), &serde_json::json!({}))
        .unwrap()
        .token;
    assert_eq!(whoami(base, Some(&wrong)).await.0, 401);
    assert_eq!(whoami(base, Some("not-a-token")).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_accepts_only_the_gateways_tokens() {
    let gw = gateway(
        example_backend::DEFAULT_GATEWAY_ISSUER,
        example_backend::DEFAULT_GATEWAY_AUDIENCE,
    )
    .await;
    let config = example_backend::Config::from_lookup(|k| {
        (k == "GATEWAY_JWKS_URL").then(|| gw.jwks_url.clone())
    })
    .unwrap();
    assert_eq!(config.issuer, "auth-demo-gateway");
    assert_eq!(config.audience, "internal");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = example_backend::router(config.authenticator().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    only_the_gateways_tokens_get_in(&base, &gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_setup_in_actix_accepts_only_the_gateways_tokens() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use auth_actix::{AuthMiddleware, CurrentUser};

    let gw = gateway("auth-demo-gateway", "internal").await;
    let issuer = ExternalIssuer::builder("auth-demo-gateway", "internal")
        .with_jwks_url(&gw.jwks_url)
        .build()
        .unwrap();
    let auth = Authenticator::builder(MemoryStore::new())
        .with_authenticator(UpstreamTokens::new("x-user-token", issuer).unwrap())
        .without_csrf()
        .build()
        .unwrap();
    let auth = Arc::new(auth);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .route(
                "/api/whoami",
                web::get().to(|CurrentUser(user): CurrentUser| async move {
                    HttpResponse::Ok().json(serde_json::json!({
                        "user_id": user.user_id(),
                        "roles": user.roles(),
                    }))
                }),
            )
            .wrap(AuthMiddleware::new(Authenticator::clone(&auth)))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    only_the_gateways_tokens_get_in(&base, &gw).await;
    handle.stop(true).await;
}
