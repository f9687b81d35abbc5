//! Gateway mode: the services behind the layer get a short-lived JWT.

use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key, NoClaims, Subject};
use auth_core::{Authenticator, CookiePolicy, Login, MemoryStore};
use auth_tower::{Auth, AuthError, AuthLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Setup {
    app: Router,
    internal: AccessTokens,
    public: AccessTokens,
}

fn setup(header: &str) -> Setup {
    let public = AccessTokens::builder("https://app.test")
        .with_signing_key(Key::generate("pub-1", Algorithm::ES256).unwrap())
        .build()
        .unwrap();
    let internal = AccessTokens::builder("https://gateway.test")
        .with_audience("internal")
        .with_signing_key(Key::generate("gw-1", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let auth = Authenticator::builder(MemoryStore::new())
        .with_cookie(CookiePolicy::default().with_secure(false))
        .with_access_tokens(public.clone())
        .build()
        .unwrap();
    let header = header.to_owned();
    let echo = header.clone();
    let app = Router::new()
        .route(
            "/login",
            post(|auth: Auth| async move {
                auth.login(Login::new("alice").with_roles(["user"])).await?;
                Ok::<_, AuthError>("ok")
            }),
        )
        .route(
            "/upstream",
            get(move |headers: HeaderMap| async move {
                headers
                    .get(&echo)
                    .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
            }),
        )
        .layer(
            AuthLayer::new(auth)
                .with_gateway(GatewayTokens::new(&header, internal.clone()).unwrap()),
        );
    Setup {
        app,
        internal,
        public,
    }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn upstream(cookie: Option<&str>, extra: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::get("/upstream");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn session_requests_carry_one_token_per_session() {
    let s = setup("X-User-Token");
    let login = Request::post("/login").body(Body::empty()).unwrap();
    let (status, headers, _) = call(&s.app, login).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let (status, _, first) = call(&s.app, upstream(Some(&cookie), &[])).await;
    assert_eq!(status, StatusCode::OK);
    let claims = s.internal.verify::<NoClaims>(first.as_bytes()).unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.roles, ["user"]);
    assert!(claims.sid.is_some());
    assert!(
        s.public.verify::<NoClaims>(first.as_bytes()).is_err(),
        "signed with the gateway's key, not the public one"
    );

    // The same token on the next request: minted once per session.
    let (_, _, second) = call(&s.app, upstream(Some(&cookie), &[])).await;
    assert_eq!(second, first);

    // A client's own copy of the header never reaches the service.
    let forged = s
        .internal
        .issue(&Subject::new("mallory").with_roles(["admin"]), &NoClaims {})
        .unwrap()
        .token;
    let (_, _, seen) = call(
        &s.app,
        upstream(Some(&cookie), &[("x-user-token", &forged)]),
    )
    .await;
    assert_eq!(seen, first);
    let (status, _, seen) = call(&s.app, upstream(None, &[("x-user-token", &forged)])).await;
    assert_eq!((status, seen.as_str()), (StatusCode::OK, "none"));
}

#[tokio::test]
async fn bearer_requests_get_a_gateway_token_in_authorization() {
    let s = setup("authorization");
    let public = s
        .public
        .issue(&Subject::new("bob").with_roles(["svc"]), &NoClaims {})
        .unwrap()
        .token;
    let bearer = format!("Bearer {public}");
    let (status, _, seen) = call(&s.app, upstream(None, &[("authorization", &bearer)])).await;
    assert_eq!(status, StatusCode::OK);
    let jwt = seen.strip_prefix("Bearer ").expect("a bearer value");
    assert_ne!(
        jwt, public,
        "the service sees the gateway's token, not the client's"
    );
    let claims = s.internal.verify::<NoClaims>(jwt.as_bytes()).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.roles.as_slice()),
        ("bob", &["svc".to_owned()][..])
    );

    // A rejected token leaves the caller anonymous: the client's
    // Authorization is removed and nothing is added.
    let (status, _, seen) = call(&s.app, upstream(None, &[("authorization", "Bearer junk")])).await;
    assert_eq!((status, seen.as_str()), (StatusCode::OK, "none"));
}
