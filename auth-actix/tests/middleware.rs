//! The middleware, guards and extractors on actix's test service.

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpResponse, ResponseError, web};
use auth_actix::{Auth, AuthError, AuthMiddleware, Claims, CurrentUser, Require};
use auth_core::testing::FailingStore;
use auth_core::{AuthHandle, Authenticator, CookiePolicy, Identity, Login, MemoryStore};

fn auth(store: FailingStore<MemoryStore>) -> Authenticator {
    Authenticator::builder(store)
        .with_cookie(CookiePolicy::default().with_secure(false))
        .with_retry_after(std::time::Duration::from_secs(7))
        .build()
        .unwrap()
}

async fn login(auth: Auth) -> Result<HttpResponse, AuthError> {
    auth.login(Login::new("alice").with_roles(["user"])).await?;
    Ok(HttpResponse::Ok().body("ok"))
}

/// Builds the error response by hand instead of returning `Err`.
async fn login_by_hand(auth: Auth) -> HttpResponse {
    match auth.login(Login::new("alice")).await {
        Ok(_) => HttpResponse::Ok().finish(),
        Err(err) => AuthError::from(err).error_response(),
    }
}

async fn me(CurrentUser(user): CurrentUser) -> String {
    user.user_id().to_owned()
}

#[derive(serde::Deserialize)]
struct Tenant {
    tenant: String,
}

async fn login_with_claims(auth: Auth) -> Result<HttpResponse, AuthError> {
    let login = Login::new("carol").with_claims(&serde_json::json!({"tenant": "acme"}))?;
    auth.login(login).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn tenant(Claims(claims): Claims<Tenant>) -> String {
    claims.tenant
}

async fn maybe(user: Option<CurrentUser>) -> String {
    user.map_or("anonymous".into(), |u| u.user_id().to_owned())
}

macro_rules! test_app {
    ($auth:expr) => {
        init_service(
            App::new()
                .route("/login", web::post().to(login))
                .route("/login-by-hand", web::post().to(login_by_hand))
                .route("/me", web::get().to(me))
                .route("/maybe", web::get().to(maybe))
                .route("/login-with-claims", web::post().to(login_with_claims))
                .route("/tenant", web::get().to(tenant))
                .service(
                    web::resource("/admin")
                        .wrap(Require::role("admin"))
                        .route(web::get().to(|| async { "admin" })),
                )
                .service(
                    web::resource("/home")
                        .wrap(Require::login())
                        .route(web::get().to(|| async { "home" })),
                )
                .wrap(AuthMiddleware::new($auth)),
        )
        .await
    };
}

#[actix_rt::test]
async fn login_sets_every_cookie_attribute_and_me_reads_it() {
    let app = test_app!(auth(FailingStore::new(MemoryStore::new())));
    let res = call_service(&app, TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let (pair, attrs) = set_cookie.split_once("; ").unwrap();
    assert_eq!(
        attrs, "Path=/; HttpOnly; SameSite=Lax",
        "a browser-session cookie"
    );
    let token = pair.strip_prefix("session=").unwrap();
    assert_eq!(token.len(), auth_core::token::TOKEN_LEN);

    let req = TestRequest::get()
        .uri("/me")
        .insert_header(("cookie", pair))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(read_body(res).await, "alice");

    let res = call_service(&app, TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(read_body(res).await, "anonymous");
    let res = call_service(&app, TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        r#"Cookie realm="app", cookie-name="session""#
    );
}

#[actix_rt::test]
async fn guards_answer_401_and_403() {
    let app = test_app!(auth(FailingStore::new(MemoryStore::new())));
    let res = call_service(&app, TestRequest::post().uri("/login").to_request()).await;
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let res = call_service(&app, TestRequest::get().uri("/home").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let req = TestRequest::get()
        .uri("/home")
        .insert_header(("cookie", cookie.as_str()))
        .to_request();
    assert_eq!(call_service(&app, req).await.status(), StatusCode::OK);
    let req = TestRequest::get()
        .uri("/admin")
        .insert_header(("cookie", cookie.as_str()))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(read_body(res).await, r#"{"error":"forbidden"}"#);
}

#[actix_rt::test]
async fn store_errors_answer_the_configured_503_whichever_way_the_handler_fails() {
    let store = FailingStore::new(MemoryStore::new());
    let app = test_app!(auth(store.clone()));
    store.set_failing(true);
    for path in ["/login", "/login-by-hand"] {
        let res = call_service(&app, TestRequest::post().uri(path).to_request()).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(res.headers().get("retry-after").unwrap(), "7", "{path}");
        assert!(res.headers().get("set-cookie").is_none());
        assert_eq!(read_body(res).await, r#"{"error":"unavailable"}"#);
    }
}

#[actix_rt::test]
async fn without_the_middleware_extractors_and_guards_are_a_500() {
    let app = init_service(
        App::new()
            .route("/me", web::get().to(me))
            .route("/login", web::post().to(login))
            .service(
                web::resource("/home")
                    .wrap(Require::login())
                    .route(web::get().to(|| async { "home" })),
            ),
    )
    .await;
    for req in [
        TestRequest::get().uri("/me").to_request(),
        TestRequest::post().uri("/login").to_request(),
        TestRequest::get().uri("/home").to_request(),
    ] {
        let res = call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[test]
fn identity_and_handle_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Identity>();
    send_sync::<AuthHandle>();
    send_sync::<CurrentUser>();
    send_sync::<Auth>();
}

#[actix_rt::test]
async fn fresh_login_guard_wants_a_recent_password() {
    let clock = auth_core::ManualClock::starting_now();
    let auth = Authenticator::builder(MemoryStore::with_clock(std::sync::Arc::new(clock.clone())))
        .with_clock(std::sync::Arc::new(clock.clone()))
        .with_cookie(CookiePolicy::default().with_secure(false))
        .build()
        .unwrap();
    let app = init_service(
        App::new()
            .route("/login", web::post().to(login))
            .service(
                web::resource("/close-account")
                    .wrap(Require::fresh_login(std::time::Duration::from_secs(300)))
                    .route(web::get().to(|| async { "sure?" })),
            )
            .wrap(AuthMiddleware::new(auth)),
    )
    .await;
    let get = |cookie: Option<&str>| {
        let mut req = TestRequest::get().uri("/close-account");
        if let Some(cookie) = cookie {
            req = req.insert_header(("cookie", cookie.to_owned()));
        }
        req.to_request()
    };
    let res = call_service(&app, get(None)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "anonymous");
    let res = call_service(&app, TestRequest::post().uri("/login").to_request()).await;
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let res = call_service(&app, get(Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::OK, "just logged in");
    clock.advance(time::Duration::seconds(301));
    let res = call_service(&app, get(Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(
        read_body(res).await,
        r#"{"error":"login_required","reason":"stale_login"}"#
    );
}

#[actix_rt::test]
async fn the_claims_extractor_reads_the_login_claims() {
    let app = test_app!(auth(FailingStore::new(MemoryStore::new())));
    let tenant = |cookie: Option<&str>| {
        let mut req = TestRequest::get().uri("/tenant");
        if let Some(cookie) = cookie {
            req = req.insert_header(("cookie", cookie.to_owned()));
        }
        req.to_request()
    };
    let res = call_service(&app, tenant(None)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = call_service(&app, TestRequest::post().uri("/login").to_request()).await;
    let without = cookie_of(&res);
    let res = call_service(&app, tenant(Some(&without))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no tenant claim");

    let res = call_service(
        &app,
        TestRequest::post().uri("/login-with-claims").to_request(),
    )
    .await;
    let with = cookie_of(&res);
    let res = call_service(&app, tenant(Some(&with))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(read_body(res).await, "acme");
}

fn cookie_of<B>(res: &actix_web::dev::ServiceResponse<B>) -> String {
    let c = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    c.split(';').next().unwrap().to_owned()
}

#[actix_rt::test]
async fn cross_site_requests_are_refused_by_default() {
    let app = test_app!(auth(FailingStore::new(MemoryStore::new())));
    let res = call_service(&app, TestRequest::post().uri("/login").to_request()).await;
    let cookie = cookie_of(&res);
    let req = TestRequest::post()
        .uri("/login")
        .insert_header(("cookie", cookie.clone()))
        .insert_header(("sec-fetch-site", "cross-site"))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(read_body(res).await, r#"{"error":"csrf_rejected"}"#);
    let req = TestRequest::post()
        .uri("/login")
        .insert_header(("cookie", cookie))
        .insert_header(("origin", "https://evil.test"))
        .to_request();
    assert_eq!(
        call_service(&app, req).await.status(),
        StatusCode::FORBIDDEN
    );
    let req = TestRequest::post()
        .uri("/login")
        .insert_header(("sec-fetch-site", "same-origin"))
        .to_request();
    assert_eq!(call_service(&app, req).await.status(), StatusCode::OK);
}
