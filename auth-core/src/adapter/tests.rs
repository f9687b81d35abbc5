//! The exchange's decisions, request by request, without a framework.

use std::net::{IpAddr, Ipv4Addr};

use super::{Exchange, HandlerRefusal};
use crate::csrf::CsrfPolicy;
use crate::proxy::TrustedProxies;
use crate::testing::{FailingStore, TestRequest, TestResponse};
use crate::{Authenticator, CookiePolicy, Login, MemoryStore, Refusal};

fn exchange_on(store: FailingStore<MemoryStore>) -> Exchange {
    Exchange::new(
        Authenticator::builder(store)
            .with_cookie(CookiePolicy::default().with_secure(false))
            .with_csrf(CsrfPolicy::new(&[5; 32]).unwrap())
            .build()
            .unwrap(),
    )
}

fn exchange() -> Exchange {
    exchange_on(FailingStore::new(MemoryStore::new()))
}

/// Logs `user` in through the exchange: the session cookie pair.
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

#[tokio::test]
async fn an_anonymous_answer_is_left_alone() {
    let exchange = exchange();
    let handle = exchange.admit(&mut TestRequest::get("/")).await.unwrap();
    assert!(handle.identity().is_none());
    let mut res = TestResponse::new();
    exchange.respond(&handle, None, &mut res).await.unwrap();
    assert!(res.set_cookies().is_empty());
    assert!(!res.varies(), "a public answer may be cached for everyone");
    assert!(res.values("cache-control").is_empty());
}

#[tokio::test]
async fn a_login_sets_the_cookie_and_is_never_stored() {
    let exchange = exchange();
    let handle = exchange
        .admit(&mut TestRequest::post("/login"))
        .await
        .unwrap();
    handle.login(Login::new("alice")).await.unwrap();
    let mut res = TestResponse::with_cache_control("max-age=600");
    exchange.respond(&handle, None, &mut res).await.unwrap();
    let cookie = res.set_cookies()[0];
    assert!(cookie.starts_with("session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(res.varies());
    assert_eq!(
        res.values("cache-control"),
        ["no-store"],
        "a credential is never cached, whatever the handler said"
    );
}

#[tokio::test]
async fn an_authenticated_answer_is_private_unless_the_handler_chose() {
    let exchange = exchange();
    let cookie = login(&exchange, "alice").await;
    for (handler_set, expected) in [(None, "private"), (Some("no-cache"), "no-cache")] {
        let mut req = TestRequest::get("/me").with_header("cookie", &cookie);
        let handle = exchange.admit(&mut req).await.unwrap();
        assert_eq!(handle.identity().unwrap().user_id(), "alice");
        let mut res = handler_set.map_or_else(TestResponse::new, TestResponse::with_cache_control);
        exchange.respond(&handle, None, &mut res).await.unwrap();
        assert!(res.set_cookies().is_empty(), "below the refresh threshold");
        assert!(res.varies());
        assert_eq!(res.values("cache-control"), [expected]);
    }
}

#[tokio::test]
async fn a_store_failure_is_503_before_and_after_the_handler() {
    let store = FailingStore::new(MemoryStore::new());
    let exchange = exchange_on(store.clone());
    let cookie = login(&exchange, "alice").await;
    store.set_failing(true);
    let mut req = TestRequest::get("/me").with_header("cookie", &cookie);
    let refused = exchange.admit(&mut req).await.unwrap_err();
    assert_eq!(refused.status(), 503, "never anonymous, never a logout");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.body(), r#"{"error":"unavailable"}"#);

    // A save that fails after the handler replaces its answer.
    store.set_failing(false);
    let mut req = TestRequest::get("/me").with_header("cookie", &cookie);
    let handle = exchange.admit(&mut req).await.unwrap();
    handle.insert("theme", &"dark").unwrap();
    store.set_failing(true);
    let refused = exchange
        .respond(&handle, None, &mut TestResponse::new())
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 503);
}

#[tokio::test]
async fn a_handlers_refusal_is_rendered_and_nothing_is_saved() {
    let exchange = exchange();
    let cookie = login(&exchange, "alice").await;
    let mut req = TestRequest::get("/me").with_header("cookie", &cookie);
    let handle = exchange.admit(&mut req).await.unwrap();
    handle.insert("theme", &"dark").unwrap();
    let mut res = TestResponse::new();
    let refused = exchange
        .respond(
            &handle,
            Some(&HandlerRefusal(Refusal::Throttled {
                retry_after_secs: 30,
            })),
            &mut res,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    let mut req = TestRequest::get("/me").with_header("cookie", &cookie);
    let next = exchange.admit(&mut req).await.unwrap();
    assert_eq!(next.get::<String>("theme").unwrap(), None);
}

#[tokio::test]
async fn csrf_is_checked_in_headers_then_in_the_form() {
    let exchange = exchange();
    let cookie = login(&exchange, "alice").await;
    let post = || {
        TestRequest::post("/logout")
            .with_header("cookie", &cookie)
            .with_header("host", "app.test")
    };
    let refused = exchange.admit(&mut post()).await.unwrap_err();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.body(), r#"{"error":"csrf_rejected"}"#);
    let token = exchange
        .admit(&mut TestRequest::get("/").with_header("cookie", &cookie))
        .await
        .unwrap()
        .csrf_token()
        .unwrap();
    let mut with_header = post().with_header("x-csrf-token", &token);
    assert!(exchange.admit(&mut with_header).await.is_ok());
    let cross_site = post()
        .with_header("x-csrf-token", &token)
        .with_header("sec-fetch-site", "cross-site");
    assert_eq!(
        exchange
            .admit(&mut cross_site.clone())
            .await
            .unwrap_err()
            .status(),
        403
    );
    let body = format!("a=1&csrf_token={token}");
    let mut form = post()
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(body.clone());
    assert!(exchange.admit(&mut form).await.is_ok());
    use super::Request as _;
    assert_eq!(
        form.read_body(1 << 20).await.unwrap(),
        body.as_bytes(),
        "the handler reads the form the check read"
    );
}

#[tokio::test]
async fn client_addresses_are_recorded_unless_turned_off() {
    for (record, expected) in [(true, Some("192.0.2.7")), (false, None)] {
        let exchange = exchange().with_client_address(record);
        let mut req =
            TestRequest::post("/login").with_peer(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        let handle = exchange.admit(&mut req).await.unwrap();
        handle.login(Login::new("alice")).await.unwrap();
        assert_eq!(handle.client().address.as_deref(), expected);
        let sessions = exchange.authenticator().sessions_of("alice").await.unwrap();
        assert_eq!(sessions[0].address.as_deref(), expected);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_counts() {
    let behind_proxy = |trusted: Option<&str>| {
        let builder = Authenticator::builder(MemoryStore::new())
            .with_cookie(CookiePolicy::default().with_secure(false))
            .with_csrf(CsrfPolicy::new(&[5; 32]).unwrap());
        let builder = match trusted {
            Some(list) => builder.with_trusted_proxies(TrustedProxies::parse(list).unwrap()),
            None => builder,
        };
        Exchange::new(builder.build().unwrap())
    };
    let proxy = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let from_proxy = |path: &str| {
        TestRequest::post(path)
            .with_peer(proxy)
            .with_header("x-forwarded-for", "6.6.6.6, 203.0.113.7")
            .with_header("host", "10.0.0.5:8080")
            .with_header("x-forwarded-host", "app.example")
            .with_header("x-forwarded-proto", "https")
    };
    for (trusted, address) in [(Some("127.0.0.1/32"), "203.0.113.7"), (None, "127.0.0.1")] {
        let exchange = behind_proxy(trusted);
        let handle = exchange.admit(&mut from_proxy("/login")).await.unwrap();
        handle.login(Login::new("alice")).await.unwrap();
        assert_eq!(handle.client().address.as_deref(), Some(address));
        // The origin the proxy forwarded is the request's own.
        let origin = from_proxy("/login").with_header("origin", "https://app.example");
        assert_eq!(
            exchange.admit(&mut origin.clone()).await.is_ok(),
            trusted.is_some(),
            "trusted: {trusted:?}"
        );
        // Not the scheme the proxy says the client used.
        let http = from_proxy("/login").with_header("origin", "http://app.example");
        assert!(exchange.admit(&mut http.clone()).await.is_err());
    }
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn the_gateway_header_is_the_exchanges_alone() {
    use crate::jwt::{AccessTokens, Algorithm, GatewayTokens, Key};
    let internal = AccessTokens::builder("https://gateway.test")
        .with_signing_key(Key::generate("gw", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let exchange = exchange().with_gateway(GatewayTokens::new("X-User", internal.clone()).unwrap());
    let cookie = login(&exchange, "alice").await;
    // An anonymous client cannot choose the header.
    let mut forged = TestRequest::get("/").with_header("x-user", "forged");
    exchange.admit(&mut forged).await.unwrap();
    assert!(forged.values("x-user").is_empty());
    // A caller's request carries a token for them.
    let mut req = TestRequest::get("/")
        .with_header("cookie", &cookie)
        .with_header("x-user", "forged");
    exchange.admit(&mut req).await.unwrap();
    let values = req.values("x-user");
    assert_eq!(values.len(), 1);
    let claims = internal
        .verify::<crate::jwt::NoClaims>(values[0])
        .expect("a token of the gateway's issuer");
    assert_eq!(claims.sub, "alice");
}

/// Pages for browsers: an "access denied" page for a 403.
#[derive(Debug)]
struct Pages;

impl crate::RenderRefusal for Pages {
    fn render(&self, refusal: &Refusal) -> crate::RenderedBody {
        crate::JsonRefusals.render(refusal)
    }

    fn render_page(&self, refusal: &Refusal) -> Option<crate::RenderedBody> {
        (refusal.status() == 403)
            .then(|| crate::RenderedBody::new("text/html; charset=utf-8", "<h1>Access denied</h1>"))
    }
}

fn browser_exchange() -> Exchange {
    Exchange::new(
        Authenticator::builder(MemoryStore::new())
            .with_login_redirect(crate::navigation::LoginRedirect::new("/login").unwrap())
            .with_refusal_renderer(Pages)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_browser_navigation_is_sent_to_sign_in_and_an_api_call_gets_401() {
    let exchange = browser_exchange();
    let navigate = TestRequest::get("/admin?tab=users").with_header("sec-fetch-mode", "navigate");
    let handle = exchange.admit(&mut navigate.clone()).await.unwrap();
    let answer = handle.render(&Refusal::Unauthenticated);
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.header("location"),
        Some("/login?next=%2Fadmin%3Ftab%3Dusers")
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(handle.render(&Refusal::StaleLogin).status(), 303);
    let forbidden = handle.render(&Refusal::Forbidden);
    assert_eq!(
        forbidden.status(),
        403,
        "a missing role is no reason to sign in"
    );
    assert_eq!(forbidden.body(), "<h1>Access denied</h1>");

    // An old browser says so in Accept.
    let old = TestRequest::get("/admin").with_header("accept", "text/html,*/*;q=0.8");
    let handle = exchange.admit(&mut old.clone()).await.unwrap();
    assert_eq!(handle.render(&Refusal::Unauthenticated).status(), 303);

    for api in [
        TestRequest::get("/admin").with_header("sec-fetch-mode", "cors"),
        TestRequest::get("/admin").with_header("accept", "application/json"),
        TestRequest::get("/admin"),
        TestRequest::post("/admin").with_header("sec-fetch-mode", "navigate"),
    ] {
        let handle = exchange.admit(&mut api.clone()).await.unwrap();
        let answer = handle.render(&Refusal::Unauthenticated);
        assert_eq!(answer.status(), 401);
        assert!(answer.header("www-authenticate").is_some());
        let forbidden = handle.render(&Refusal::Forbidden);
        assert_eq!(forbidden.body(), r#"{"error":"forbidden"}"#);
    }
}

#[tokio::test]
async fn without_a_login_redirect_a_navigation_gets_401() {
    let exchange = exchange();
    let navigate = TestRequest::get("/admin").with_header("sec-fetch-mode", "navigate");
    let handle = exchange.admit(&mut navigate.clone()).await.unwrap();
    assert_eq!(handle.render(&Refusal::Unauthenticated).status(), 401);
}
