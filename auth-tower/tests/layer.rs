//! The layer and guards called directly, without a server.

use std::convert::Infallible;

use auth_core::testing::FailingStore;
use auth_core::{Authenticator, CookiePolicy, Login, MemoryStore};
use auth_tower::{Auth, AuthError, AuthLayer, Claims, CurrentUser, Require};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer as _, ServiceBuilder, ServiceExt, service_fn};

fn auth(store: FailingStore<MemoryStore>) -> Authenticator {
    Authenticator::builder(store)
        .with_cookie(CookiePolicy::default().with_secure(false))
        .with_retry_after(std::time::Duration::from_secs(7))
        .build()
        .unwrap()
}

async fn body(
    res: Response<impl http_body::Body<Data = bytes::Bytes, Error = impl std::fmt::Debug>>,
) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[derive(serde::Deserialize)]
struct Tenant {
    tenant: String,
}

fn app(auth: Authenticator) -> Router {
    Router::new()
        .route(
            "/login",
            post(|auth: Auth| async move {
                auth.login(Login::new("alice").with_roles(["user"])).await?;
                Ok::<_, AuthError>("ok")
            }),
        )
        .route(
            "/me",
            get(|CurrentUser(u): CurrentUser| async move { u.user_id().to_owned() }),
        )
        .route(
            "/login-with-claims",
            post(|auth: Auth| async move {
                let claims = serde_json::json!({"tenant": "acme"});
                auth.login(Login::new("carol").with_claims(&claims)?)
                    .await?;
                Ok::<_, AuthError>("ok")
            }),
        )
        .route(
            "/tenant",
            get(|Claims(claims): Claims<Tenant>| async move { claims.tenant }),
        )
        .route(
            "/maybe",
            get(|u: Option<CurrentUser>| async move {
                u.map_or("anonymous".into(), |u| u.user_id().to_owned())
            }),
        )
        .route(
            "/data",
            post(|auth: Auth| async move {
                auth.insert("k", &"x".repeat(100_000))?;
                Ok::<_, AuthError>("saved?")
            }),
        )
        .layer(AuthLayer::new(auth))
}

/// Sends one request through a clone of `svc`, with the cookie if given.
async fn send<S, B>(svc: &S, method: &str, path: &str, cookie: Option<&str>) -> Response<B>
where
    S: tower::Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    let mut req = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    svc.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn cookie_of(res: &Response<Body>) -> String {
    let c = res.headers()["set-cookie"].to_str().unwrap();
    c.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn login_sets_cookie_with_no_store_and_me_reads_it() {
    let app = app(auth(FailingStore::new(MemoryStore::new())));
    let res = send(&app, "POST", "/login", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookie = cookie_of(&res);
    let res = send(&app, "GET", "/me", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(body(res).await, "alice");
    let res = send(&app, "GET", "/maybe", None).await;
    assert_eq!(body(res).await, "anonymous");
}

#[tokio::test]
async fn handler_store_errors_answer_with_the_configured_503() {
    let store = FailingStore::new(MemoryStore::new());
    let app = app(auth(store.clone()));
    store.set_failing(true);
    let res = send(&app, "POST", "/login", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "7");
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(body(res).await, r#"{"error":"unavailable"}"#);
}

#[tokio::test]
async fn oversized_session_data_answers_413_not_success() {
    let app = app(auth(FailingStore::new(MemoryStore::new())));
    let res = send(&app, "POST", "/login", None).await;
    let cookie = cookie_of(&res);
    let res = send(&app, "POST", "/data", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body(res).await, r#"{"error":"session_data_too_large"}"#);
}

#[tokio::test]
async fn extractors_without_the_layer_are_a_500() {
    let app = Router::new().route(
        "/me",
        get(|CurrentUser(u): CurrentUser| async move { u.user_id().to_owned() }),
    );
    let res = send(&app, "GET", "/me", None).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

async fn ok(_: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::from("inner")))
}

#[tokio::test]
async fn guards_on_a_plain_tower_stack() {
    let auth = auth(FailingStore::new(MemoryStore::new()));
    let login = send(&app(auth.clone()), "POST", "/login", None).await;
    let cookie = cookie_of(&login);

    let login_required = ServiceBuilder::new()
        .layer(AuthLayer::new(auth.clone()))
        .layer(Require::login())
        .service(service_fn(ok));
    let res = send(&login_required, "GET", "/", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Cookie realm="app", cookie-name="session""#
    );
    let res = send(&login_required, "GET", "/", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "inner");

    let admin_only = ServiceBuilder::new()
        .layer(AuthLayer::new(auth))
        .layer(Require::role("admin"))
        .service(service_fn(ok));
    let res = send(&admin_only, "GET", "/", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, r#"{"error":"forbidden"}"#);

    // A guard without the layer is a misconfiguration: 500, not a 401.
    let res = Require::login()
        .layer(service_fn(ok))
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn fresh_login_guard_wants_a_recent_password() {
    let clock = auth_core::ManualClock::starting_now();
    let auth = Authenticator::builder(MemoryStore::with_clock(std::sync::Arc::new(clock.clone())))
        .with_clock(std::sync::Arc::new(clock.clone()))
        .with_cookie(CookiePolicy::default().with_secure(false))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/login",
            post(|auth: Auth| async move {
                auth.login(Login::new("alice")).await?;
                Ok::<_, AuthError>("ok")
            }),
        )
        .route(
            "/close-account",
            get(|| async { "sure?" }).layer(auth_tower::Require::fresh_login(
                std::time::Duration::from_secs(300),
            )),
        )
        .layer(AuthLayer::new(auth));
    let res = send(&app, "GET", "/close-account", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "anonymous");
    let login = send(&app, "POST", "/login", None).await;
    let cookie = cookie_of(&login);
    let res = send(&app, "GET", "/close-account", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "just logged in");
    clock.advance(time::Duration::seconds(301));
    let res = send(&app, "GET", "/close-account", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(
        body(res).await,
        r#"{"error":"login_required","reason":"stale_login"}"#
    );
}

#[tokio::test]
async fn the_claims_extractor_reads_the_login_claims() {
    let app = app(auth(FailingStore::new(MemoryStore::new())));
    let res = send(&app, "GET", "/tenant", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let without = cookie_of(&send(&app, "POST", "/login", None).await);
    let res = send(&app, "GET", "/tenant", Some(&without)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no tenant claim");
    let with = cookie_of(&send(&app, "POST", "/login-with-claims", None).await);
    let res = send(&app, "GET", "/tenant", Some(&with)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "acme");
}

#[tokio::test]
async fn cross_site_requests_are_refused_by_default() {
    let app = app(auth(FailingStore::new(MemoryStore::new())));
    let cookie = cookie_of(&send(&app, "POST", "/login", None).await);
    let send_post = |site: &str, origin: Option<&str>| {
        let mut req = Request::post("/data")
            .header("cookie", &cookie)
            .header("sec-fetch-site", site);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        app.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    let res = send_post("cross-site", Some("https://evil.test"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, r#"{"error":"csrf_rejected"}"#);
    // Same-origin passes without a token: no key, no token step.
    let res = send_post("same-origin", None).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "the handler ran"
    );

    let open = Router::new()
        .route("/data", post(|| async { "ok" }))
        .layer(AuthLayer::new(
            Authenticator::builder(MemoryStore::new())
                .without_csrf()
                .build()
                .unwrap(),
        ));
    let req = Request::post("/data")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    let res = open.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "turned off on purpose");
}
