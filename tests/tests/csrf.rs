//! Cross-site request forgery: Fetch Metadata, Origin and Referer, the
//! session-bound token in a header or a form field, login CSRF, and the
//! bearer exemption; plus `Vary` on authenticated answers.

use auth_behaviour_tests::{Env, Res, TestApp, password_of, scenarios};
use serde_json::json;

scenarios!(
    a_cookie_post_without_the_token_is_refused,
    the_token_is_bound_to_the_session,
    forms_carry_the_token_in_a_field,
    fetch_metadata_refuses_cross_site_requests,
    origin_and_referer_must_be_the_app,
    login_csrf_is_refused_by_origin_alone,
    bearer_requests_are_exempt,
    authenticated_answers_vary_on_credentials,
);

fn assert_refused(res: &Res, what: &str) {
    assert_eq!(res.status, 403, "{what}: {}", res.body);
    assert_eq!(res.json(), json!({"error": "csrf_rejected"}), "{what}");
    assert_eq!(res.header("cache-control"), Some("no-store"), "{what}");
    assert!(res.set_cookies().is_empty(), "{what}: no cookie change");
}

async fn a_cookie_post_without_the_token_is_refused(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    for (method, path) in [
        ("POST", "/logout"),
        ("POST", "/logout-all"),
        ("DELETE", "/sessions/AAAAAAAAAAAAAAAAAAAAAA"),
        ("PUT", "/logout"),
        ("PATCH", "/logout"),
    ] {
        let res = client
            .send(method, path, &[("x-csrf-token", b"")], None)
            .await;
        assert_refused(&res, &format!("{method} {path}"));
    }
    assert_eq!(client.get("/me").await.status, 200, "still logged in");
    assert_eq!(app.sessions_in_store().await, 1);
    // With the token (which the client took from the login answer).
    assert_eq!(client.post("/logout").await.status, 204);
    assert_eq!(app.sessions_in_store().await, 0);
}

async fn the_token_is_bound_to_the_session(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let other = app.logged_in("alice").await;
    let mine = alice.csrf_token().unwrap();
    let theirs = other.csrf_token().unwrap();
    assert_ne!(mine, theirs, "each session has its own token");
    assert_eq!(
        alice.get("/me").await.json()["csrf_token"],
        json!(mine),
        "/me gives scripts the same token"
    );
    let mut flipped = mine.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    for bad in [theirs.as_bytes(), &flipped, b"x", &[b'A'; 4000]] {
        let res = alice
            .send("POST", "/logout", &[("x-csrf-token", bad)], None)
            .await;
        assert_refused(&res, "a wrong token");
    }
    // Rotation (a privilege change) keeps the session id, so the token.
    assert_eq!(alice.get("/me").await.status, 200);
    assert_eq!(alice.post("/logout").await.status, 204);
    // A new login, a new token.
    let again = alice.login_json("alice").await.json();
    assert_ne!(again["csrf_token"], json!(mine));
}

/// The token the page embeds in its forms.
fn token_in_page(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a token in the page") + marker.len();
    html[start..start + 43].to_owned()
}

async fn forms_carry_the_token_in_a_field(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let login = format!("username=alice&password={}", password_of("alice"));
    assert_eq!(client.post_form("/login", &login).await.status, 303);
    client.set_csrf_token(None);
    let page = client.get("/").await.body;
    let token = token_in_page(&page);
    assert_eq!(
        page.matches(&token).count(),
        3,
        "revoke, logout and logout-everywhere forms"
    );

    let res = client.post_form("/logout", "csrf_token=wrong").await;
    assert_refused(&res, "a wrong field");
    let res = client.post_form("/logout", "other=1").await;
    assert_refused(&res, "no field");
    let padding = "x".repeat(70 * 1024);
    let res = client
        .post_form("/logout", &format!("pad={padding}&csrf_token={token}"))
        .await;
    assert_refused(&res, "a form too large to search");
    assert_eq!(client.get("/me").await.status, 200);

    let res = client
        .post_form("/logout", &format!("a=1&csrf_token={token}"))
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(client.get("/me").await.status, 401);
}

async fn fetch_metadata_refuses_cross_site_requests(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    for site in ["cross-site", "same-site"] {
        let res = client
            .send(
                "POST",
                "/logout",
                &[("sec-fetch-site", site.as_bytes())],
                None,
            )
            .await;
        assert_refused(&res, site);
    }
    // Reading is never refused.
    let res = client
        .get_with("/me", &[("sec-fetch-site", b"cross-site")])
        .await;
    assert_eq!(res.status, 200);
    let res = client
        .send(
            "POST",
            "/logout",
            &[
                ("sec-fetch-site", b"same-origin"),
                ("origin", b"https://evil.example"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status, 204, "Fetch Metadata decides before Origin");
}

async fn origin_and_referer_must_be_the_app(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let own = app.base.clone();
    let evil_referer = format!("https://evil.example/{own}");
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", &own.replace("127.0.0.1", "localhost")),
        ("referer", &evil_referer),
    ] {
        let res = client
            .send("POST", "/logout", &[(name, value.as_bytes())], None)
            .await;
        assert_refused(&res, &format!("{name}: {value}"));
    }
    let referer = format!("{own}/");
    let res = client
        .send(
            "POST",
            "/logout-all",
            &[("referer", referer.as_bytes())],
            None,
        )
        .await;
    assert_eq!(res.status, 204, "a Referer from the app");
    let client = app.logged_in("alice").await;
    let res = client
        .send("POST", "/logout", &[("origin", own.as_bytes())], None)
        .await;
    assert_eq!(res.status, 204, "the app's own origin");
}

async fn login_csrf_is_refused_by_origin_alone(env: Env) {
    let app = TestApp::start(env).await;
    let body = format!("username=alice&password={}", password_of("alice"));
    for header in [
        ("sec-fetch-site", &b"cross-site"[..]),
        ("origin", b"https://evil.example"),
    ] {
        let client = app.client();
        let res = client
            .send(
                "POST",
                "/login",
                &[header],
                Some((
                    "application/x-www-form-urlencoded",
                    body.clone().into_bytes(),
                )),
            )
            .await;
        assert_refused(&res, header.0);
        assert_eq!(app.sessions_in_store().await, 0, "no session was made");
    }
    // An API client sends neither header: no token is needed to log in,
    // not even over an old session's cookie.
    let client = app.logged_in("alice").await;
    client.set_csrf_token(None);
    assert_eq!(client.login_json("admin").await.status, 200);
}

async fn bearer_requests_are_exempt(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let pair = client
        .post_json(
            "/token",
            json!({"username": "alice", "password": password_of("alice")}),
        )
        .await
        .json();
    let bearer = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    let res = client
        .send(
            "POST",
            "/logout",
            &[
                ("authorization", bearer.as_bytes()),
                ("sec-fetch-site", b"cross-site"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status, 204, "no ambient credential, nothing to forge");
}

async fn authenticated_answers_vary_on_credentials(env: Env) {
    let app = TestApp::start(env).await;
    let anonymous = app.client().get("/").await;
    assert!(
        anonymous
            .header("vary")
            .is_none_or(|v| !v.contains("Cookie")),
        "{:?}",
        anonymous.header("vary")
    );
    let client = app.logged_in("alice").await;
    for path in ["/me", "/", "/sessions"] {
        let res = client.get(path).await;
        let vary: Vec<_> = res
            .headers
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        // Every header a credential is read from: the demo also takes
        // `X-API-Key`.
        assert!(
            vary.iter().any(|v| v == "Cookie, Authorization, x-api-key"),
            "{path}: {vary:?}"
        );
        assert_eq!(res.header("cache-control"), Some("private"), "{path}");
    }
    let res = client.login_json("alice").await;
    assert!(res.header("vary").is_some(), "a login answer varies too");
}
