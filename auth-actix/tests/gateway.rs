//! Gateway mode: the handlers (and the services behind) get a short-lived
//! JWT, the same contract as `auth_tower::AuthLayer::with_gateway`.

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpRequest, HttpResponse, web};
use auth_actix::{Auth, AuthError, AuthMiddleware};
use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key, NoClaims, Subject};
use auth_core::{Authenticator, CookiePolicy, Login, MemoryStore};

fn tokens() -> (AccessTokens, AccessTokens) {
    let public = AccessTokens::builder("https://app.test")
        .with_signing_key(Key::generate("pub-1", Algorithm::ES256).unwrap())
        .build()
        .unwrap();
    let internal = AccessTokens::builder("https://gateway.test")
        .with_audience("internal")
        .with_signing_key(Key::generate("gw-1", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    (public, internal)
}

async fn login(auth: Auth) -> Result<HttpResponse, AuthError> {
    auth.login(Login::new("alice").with_roles(["user"])).await?;
    Ok(HttpResponse::Ok().body("ok"))
}

macro_rules! gateway_app {
    ($public:expr, $internal:expr, $header:expr) => {{
        let auth = Authenticator::builder(MemoryStore::new())
            .with_cookie(CookiePolicy::default().with_secure(false))
            .with_access_tokens($public.clone())
            .build()
            .unwrap();
        let header: &'static str = $header;
        init_service(
            App::new()
                .route("/login", web::post().to(login))
                .route(
                    "/upstream",
                    web::get().to(move |req: HttpRequest| async move {
                        req.headers()
                            .get(header)
                            .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
                    }),
                )
                .wrap(
                    AuthMiddleware::builder(auth)
                        .with_gateway(GatewayTokens::new(header, $internal.clone()).unwrap())
                        .build(),
                ),
        )
        .await
    }};
}

#[actix_rt::test]
async fn session_requests_carry_one_token_per_session() {
    let (public, internal) = tokens();
    let app = gateway_app!(public, internal, "x-user-token");
    let res = call_service(&app, TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let get = |extra: Option<&str>| {
        let mut req = TestRequest::get()
            .uri("/upstream")
            .insert_header(("cookie", cookie.clone()));
        if let Some(v) = extra {
            req = req.insert_header(("x-user-token", v.to_owned()));
        }
        req.to_request()
    };
    let first = String::from_utf8(
        read_body(call_service(&app, get(None)).await)
            .await
            .to_vec(),
    )
    .unwrap();
    let claims = internal.verify::<NoClaims>(first.as_bytes()).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.roles.as_slice()),
        ("alice", &["user".to_owned()][..])
    );
    assert!(claims.sid.is_some());
    assert!(public.verify::<NoClaims>(first.as_bytes()).is_err());

    let second = String::from_utf8(
        read_body(call_service(&app, get(None)).await)
            .await
            .to_vec(),
    )
    .unwrap();
    assert_eq!(second, first, "minted once per session");

    let forged = internal
        .issue(&Subject::new("mallory").with_roles(["admin"]), &NoClaims {})
        .unwrap()
        .token;
    let seen = String::from_utf8(
        read_body(call_service(&app, get(Some(&forged))).await)
            .await
            .to_vec(),
    )
    .unwrap();
    assert_eq!(seen, first, "the client's copy is replaced");
    let anonymous = TestRequest::get()
        .uri("/upstream")
        .insert_header(("x-user-token", forged))
        .to_request();
    let res = call_service(&app, anonymous).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(read_body(res).await, "none");
}

#[actix_rt::test]
async fn bearer_requests_get_a_gateway_token_in_authorization() {
    let (public, internal) = tokens();
    let app = gateway_app!(public, internal, "authorization");
    let presented = public
        .issue(&Subject::new("bob").with_roles(["svc"]), &NoClaims {})
        .unwrap()
        .token;
    let req = TestRequest::get()
        .uri("/upstream")
        .insert_header(("authorization", format!("Bearer {presented}")))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen = String::from_utf8(read_body(res).await.to_vec()).unwrap();
    let jwt = seen.strip_prefix("Bearer ").expect("a bearer value");
    assert_ne!(jwt, presented);
    assert_eq!(
        internal.verify::<NoClaims>(jwt.as_bytes()).unwrap().sub,
        "bob"
    );

    let req = TestRequest::get()
        .uri("/upstream")
        .insert_header(("authorization", "Bearer junk"))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(read_body(res).await, "none");
}
