//! Session behaviour, written once and run against every demo app.

use std::time::Duration;

use auth_behaviour_tests::{Env, Options, TestApp, password_of, scenarios};
use serde_json::json;

scenarios!(
    json_login_then_me,
    form_login_redirects_and_sets_cookie,
    wrong_credentials_get_401_and_no_cookie,
    bad_login_requests_are_400_or_415,
    cookie_attributes_on_plain_http,
    cookie_attributes_when_secure,
    logout_removes_session_and_cookie,
    form_logout_redirects,
    login_over_existing_session_issues_new_token,
    idle_expiry,
    absolute_expiry,
    refresh_writes_only_past_threshold,
    logout_everywhere_ends_other_clients,
    session_list_and_revoke,
    revoke_form_redirects,
    unauthenticated_and_forbidden,
    hostile_cookies_get_401_never_500,
    store_outage_is_503_and_recovers,
    page_shows_login_form_then_sessions,
);

fn assert_no_set_cookie(res: &auth_behaviour_tests::Res, what: &str) {
    assert!(
        res.set_cookies().is_empty(),
        "{what}: unexpected Set-Cookie {:?}",
        res.set_cookies()
    );
}

async fn json_login_then_me(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let res = client.login_json("alice").await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(
        (&body["user_id"], &body["roles"]),
        (&json!("alice"), &json!(["user"]))
    );
    assert_eq!(body["csrf_token"].as_str().map(str::len), Some(43));
    assert_eq!(res.set_cookies().len(), 1);

    let me = client.get("/me").await;
    assert_eq!(me.status, 200);
    let body = me.json();
    assert_eq!(body["user_id"], "alice");
    assert_eq!(body["roles"], json!(["user"]));
    assert_eq!(body["auth"], "session");
    let session = &body["session"];
    assert_eq!(session["id"].as_str().unwrap().len(), 22);
    let created = time::OffsetDateTime::parse(
        session["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        session["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        expires - created,
        time::Duration::minutes(30),
        "default idle timeout"
    );
    assert!(
        !me.body.contains(&client.token().unwrap()),
        "the token never appears in a body"
    );
    assert_eq!(app.sessions_in_store().await, 1);
}

async fn form_login_redirects_and_sets_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let res = client
        .post_form(
            "/login",
            &format!("username=admin&password={}", password_of("admin")),
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/"));
    assert_eq!(res.set_cookies().len(), 1);
    let me = client.get("/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["roles"], json!(["user", "admin"]));
}

async fn wrong_credentials_get_401_and_no_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    for (user, password) in [
        ("alice", "wrong"),
        ("mallory", "wonderland"),
        ("", ""),
        ("admin", "wonderland"),
    ] {
        let res = client
            .post_json("/login", json!({"username": user, "password": password}))
            .await;
        assert_eq!(res.status, 401, "{user}/{password}");
        assert_eq!(res.json()["error"], "invalid_credentials");
        assert!(res.header("www-authenticate").is_some());
        assert_no_set_cookie(&res, "failed login");
    }
    let res = client
        .post_form("/login", "username=alice&password=nope")
        .await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("Wrong username or password"));
    assert_no_set_cookie(&res, "failed form login");
    assert_eq!(app.sessions_in_store().await, 0);
}

async fn bad_login_requests_are_400_or_415(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let cases: [(&str, Vec<u8>, u16); 7] = [
        ("application/json", b"{not json".to_vec(), 400),
        ("application/json", br#"{"username":"alice"}"#.to_vec(), 400),
        (
            "application/json",
            br#"{"username":1,"password":2}"#.to_vec(),
            400,
        ),
        (
            "application/json",
            format!(r#"{{"username":"{}","password":"x"}}"#, "a".repeat(200)).into_bytes(),
            400,
        ),
        (
            "application/x-www-form-urlencoded",
            b"username=alice".to_vec(),
            400,
        ),
        ("text/plain", b"alice:wonderland".to_vec(), 415),
        ("application/json", vec![0xff, 0xfe, 0x00], 400),
    ];
    for (ct, body, want) in cases {
        let res = client
            .send("POST", "/login", &[], Some((ct, body.clone())))
            .await;
        assert_eq!(
            res.status,
            want,
            "{ct} {:?}",
            String::from_utf8_lossy(&body)
        );
        assert_no_set_cookie(&res, "bad login");
    }
    let res = client.post("/login").await;
    assert_eq!(res.status, 415, "no content type");
}

async fn cookie_attributes_on_plain_http(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let res = client.login_json("alice").await;
    let cookies = res.set_cookies();
    let token = client.token().unwrap();
    // `<session id>.<secret>`: the id the device list shows, then 256
    // secret bits.
    let (id, secret) = token.split_once('.').unwrap();
    assert_eq!((id.len(), secret.len()), (22, 43));
    assert!([id, secret].iter().all(|part| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }));
    let me = client.get("/me").await.json();
    assert_eq!(me["session"]["id"], id);
    assert_eq!(
        cookies,
        [format!("session={token}; Path=/; HttpOnly; SameSite=Lax")]
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

async fn cookie_attributes_when_secure(env: Env) {
    let app = TestApp::start_with(
        env,
        Options {
            cookie_secure: true,
            ..Options::default()
        },
    )
    .await;
    let client = app.client();
    let res = client.login_json("alice").await;
    let token = client.token().unwrap();
    assert_eq!(
        res.set_cookies(),
        [format!(
            "__Host-session={token}; Path=/; HttpOnly; Secure; SameSite=Lax"
        )]
    );
    assert_eq!(client.get("/me").await.status, 200);
    let res = client.post("/logout").await;
    assert_eq!(
        res.set_cookies(),
        [
            "__Host-session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax"
        ]
    );
    // The unprefixed name is not the session cookie when Secure.
    let other = app.client();
    let res = other
        .get_with("/me", &[("cookie", format!("session={token}").as_bytes())])
        .await;
    assert_eq!(res.status, 401);
}

async fn logout_removes_session_and_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let old = client.token();
    assert_eq!(app.sessions_in_store().await, 1);
    let res = client.post("/logout").await;
    assert_eq!(res.status, 204);
    assert_eq!(
        res.set_cookies(),
        [
            "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
        ]
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(
        app.sessions_in_store().await,
        0,
        "the session is gone from the store"
    );
    assert_eq!(client.token(), None);
    // Replaying the old cookie: 401.
    client.set_token(old);
    let res = client.get("/me").await;
    assert_eq!(res.status, 401);
    // Logging out again is harmless.
    assert_eq!(app.client().post("/logout").await.status, 204);
}

async fn form_logout_redirects(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let old = client.token();
    let res = client.post_form("/logout", "").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/"));
    assert_eq!(
        app.sessions_in_store().await,
        1,
        "alice's session is gone; a visitor's holds the notice"
    );
    assert_eq!(client.get("/me").await.status, 401);
    client.set_token(old);
    assert_eq!(client.get("/me").await.status, 401);
}

async fn login_over_existing_session_issues_new_token(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let first = client.token().unwrap();
    let first_id = client.get("/me").await.json()["session"]["id"].clone();
    let res = client.login_json("alice").await;
    assert_eq!(res.status, 200);
    let second = client.token().unwrap();
    assert_ne!(first, second, "a login always issues a fresh token");
    assert_eq!(
        app.sessions_in_store().await,
        1,
        "the old session is retired, not kept beside"
    );
    let me = client.get("/me").await;
    assert_eq!(me.status, 200);
    assert_ne!(me.json()["session"]["id"], first_id);
    client.set_token(Some(first));
    assert_eq!(client.get("/me").await.status, 401, "the old token is dead");

    // A planted session (fixation) is retired too when someone else logs in.
    let attacker = app.logged_in("admin").await;
    let victim = app.client();
    victim.set_token(attacker.token());
    victim.login_json("alice").await;
    assert_ne!(victim.token(), attacker.token());
    assert_eq!(
        attacker.get("/me").await.status,
        401,
        "the planted session is gone"
    );
    assert_eq!(victim.get("/me").await.json()["user_id"], "alice");
}

async fn idle_expiry(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    app.clock.advance(time::Duration::minutes(29));
    assert_eq!(
        client.get("/me").await.status,
        200,
        "29 minutes idle: alive (and refreshed)"
    );
    app.clock.advance(time::Duration::minutes(29));
    assert_eq!(
        client.get("/me").await.status,
        200,
        "refreshed 29 minutes ago: alive"
    );
    app.clock.advance(time::Duration::minutes(31));
    let res = client.get("/me").await;
    assert_eq!(res.status, 401, "31 minutes idle: expired");
    assert_eq!(
        res.set_cookies(),
        [
            "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
        ],
        "a dead cookie is cleared"
    );
    assert_eq!(app.sessions_in_store().await, 0);
}

async fn absolute_expiry(env: Env) {
    let app = TestApp::start_with(
        env,
        Options {
            idle_timeout: Some(Duration::from_secs(60)),
            absolute_timeout: Some(Duration::from_secs(300)),
            // A persistent cookie, whose Max-Age is what is capped.
            cookie_persistent: true,
            ..Options::default()
        },
    )
    .await;
    let client = app.logged_in("alice").await;
    // Busy all along: a request every 50 s keeps the idle expiry moving...
    for step in 1..=5 {
        app.clock.advance(time::Duration::seconds(50));
        let res = client.get("/me").await;
        assert_eq!(res.status, 200, "after {} s", step * 50);
    }
    // ...but the cookie's Max-Age never reaches past the absolute expiry.
    app.clock.advance(time::Duration::seconds(45)); // 295 s
    let res = client.get("/me").await;
    assert_eq!(res.status, 200);
    for c in res.set_cookies() {
        assert!(
            c.contains("Max-Age=5;"),
            "capped at the absolute expiry: {c}"
        );
    }
    app.clock.advance(time::Duration::seconds(6)); // 301 s
    assert_eq!(
        client.get("/me").await.status,
        401,
        "past the absolute timeout"
    );
}

async fn refresh_writes_only_past_threshold(env: Env) {
    // A persistent cookie, which a refresh sends again with its new Max-Age
    // (a browser-session cookie is written to the store only).
    let options = Options {
        cookie_persistent: true,
        ..Options::default()
    };
    let app = TestApp::start_with(env, options).await;
    let client = app.logged_in("alice").await;
    let token = client.token();
    app.store.take_calls();
    // Below the threshold (a quarter of 30 minutes): one read, no write.
    for _ in 0..5 {
        let res = client.get("/me").await;
        assert_eq!(res.status, 200);
        assert_no_set_cookie(&res, "below threshold");
    }
    app.clock.advance(time::Duration::minutes(7));
    let res = client.get("/me").await;
    assert_no_set_cookie(&res, "7 minutes in");
    let calls = app.store.take_calls();
    assert_eq!((calls.load, calls.writes()), (6, 0), "{calls:?}");

    // Past it: exactly one write and one Set-Cookie, with the same token.
    app.clock.advance(time::Duration::minutes(1));
    let res = client.get("/me").await;
    assert_eq!(res.status, 200);
    let token_now = token.clone().unwrap();
    assert_eq!(
        res.set_cookies(),
        [format!(
            "session={token_now}; Max-Age=1800; Path=/; HttpOnly; SameSite=Lax"
        )]
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let calls = app.store.take_calls();
    assert_eq!(
        (calls.load, calls.touch, calls.writes()),
        (1, 1, 1),
        "{calls:?}"
    );

    // And quiet again right after.
    let res = client.get("/me").await;
    assert_no_set_cookie(&res, "just refreshed");
    assert_eq!(app.store.take_calls().writes(), 0);
    assert_eq!(client.token(), token, "sliding refresh keeps the token");
}

async fn logout_everywhere_ends_other_clients(env: Env) {
    let app = TestApp::start(env).await;
    let laptop = app.logged_in("alice").await;
    let phone = app.logged_in("alice").await;
    let admin = app.logged_in("admin").await;
    assert_eq!(app.sessions_in_store().await, 3);
    assert_eq!(
        app.client().post("/logout-all").await.status,
        401,
        "anonymous"
    );
    let res = laptop.post("/logout-all").await;
    assert_eq!(res.status, 204);
    assert!(res.set_cookies()[0].contains("Max-Age=0"));
    assert_eq!(
        phone.get("/me").await.status,
        401,
        "the other client is logged out"
    );
    assert_eq!(laptop.get("/me").await.status, 401);
    assert_eq!(
        admin.get("/me").await.status,
        200,
        "other users are untouched"
    );
    assert_eq!(app.sessions_in_store().await, 1);

    let again = app.logged_in("alice").await;
    let res = again.post_form("/logout-all", "").await;
    assert_eq!(res.status, 303);
}

async fn session_list_and_revoke(env: Env) {
    let app = TestApp::start(env).await;
    let laptop = app.logged_in("alice").await;
    let phone = app.logged_in("alice").await;
    let admin = app.logged_in("admin").await;

    let res = laptop.get("/sessions").await;
    assert_eq!(res.status, 200);
    let list = res.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for s in list {
        for field in [
            "id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "user_agent",
            "current",
        ] {
            assert!(s.get(field).is_some(), "{field} in {s}");
        }
        assert_eq!(s["user_agent"], "behaviour-test/1.0");
        assert!(!s.to_string().contains(&laptop.token().unwrap()));
    }
    let mine = laptop.get("/me").await.json()["session"]["id"].clone();
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], mine);
    let phone_id = list.iter().find(|s| s["id"] != mine).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else's session, an unknown id, a malformed id: 404.
    assert_eq!(
        admin.delete(&format!("/sessions/{phone_id}")).await.status,
        404
    );
    assert_eq!(
        phone.get("/me").await.status,
        200,
        "admin could not revoke alice's session"
    );
    assert_eq!(
        laptop
            .delete("/sessions/AAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status,
        404
    );
    assert_eq!(laptop.delete("/sessions/..%2F..%2Fetc").await.status, 404);
    assert_eq!(
        app.client()
            .delete(&format!("/sessions/{phone_id}"))
            .await
            .status,
        401
    );

    let res = laptop.delete(&format!("/sessions/{phone_id}")).await;
    assert_eq!(res.status, 204);
    assert_eq!(phone.get("/me").await.status, 401, "revoked");
    assert_eq!(laptop.get("/me").await.status, 200, "the revoker stays in");
    assert_eq!(
        laptop
            .get("/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.client().get("/sessions").await.status, 401);
}

async fn revoke_form_redirects(env: Env) {
    let app = TestApp::start(env).await;
    let laptop = app.logged_in("alice").await;
    let phone = app.logged_in("alice").await;
    let phone_id = phone.get("/me").await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = laptop
        .post_form(&format!("/sessions/{phone_id}/revoke"), "")
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(phone.get("/me").await.status, 401);
    // Revoking one's own current session is a logout.
    let mine = laptop.get("/me").await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = laptop
        .post_form(&format!("/sessions/{mine}/revoke"), "")
        .await;
    assert_eq!(res.status, 303);
    assert!(res.set_cookies()[0].contains("Max-Age=0"));
    assert_eq!(laptop.get("/me").await.status, 401);
}

async fn unauthenticated_and_forbidden(env: Env) {
    let app = TestApp::start(env).await;
    let anonymous = app.client();
    for path in ["/me", "/admin", "/sessions"] {
        let res = anonymous.get(path).await;
        assert_eq!(res.status, 401, "{path}");
        assert_eq!(
            res.header("www-authenticate"),
            Some(r#"Cookie realm="auth demo", cookie-name="session""#),
            "{path}"
        );
        assert_eq!(res.json(), json!({"error": "unauthenticated"}), "{path}");
        assert_no_set_cookie(&res, path);
    }
    let alice = app.logged_in("alice").await;
    let res = alice.get("/admin").await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json(), json!({"error": "forbidden"}));
    assert!(res.header("www-authenticate").is_none());
    let admin = app.logged_in("admin").await;
    let res = admin.get("/admin").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["message"], "welcome, admin");
}

async fn hostile_cookies_get_401_never_500(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let valid = alice.token().unwrap();
    let unknown = format!("{}.{}", "A".repeat(22), "A".repeat(43));
    let big = "x".repeat(6000);
    let other_valid = app.logged_in("admin").await.token().unwrap();
    let cases: Vec<(String, Vec<Vec<u8>>)> = vec![
        ("garbage".into(), vec![b"session=garbage".to_vec()]),
        ("empty".into(), vec![b"session=".to_vec()]),
        (
            "unknown token".into(),
            vec![format!("session={unknown}").into_bytes()],
        ),
        (
            "token + padding".into(),
            vec![format!("session={valid}=").into_bytes()],
        ),
        (
            "token, one char short".into(),
            vec![format!("session={}", &valid[..42]).into_bytes()],
        ),
        (
            "oversized".into(),
            vec![format!("session={big}").into_bytes()],
        ),
        (
            "non-UTF-8".into(),
            vec![b"session=\xff\xfe\xfd; a=\x80".to_vec()],
        ),
        (
            "two different values".into(),
            vec![format!("session={valid}; session={other_valid}").into_bytes()],
        ),
        (
            "two headers, different values".into(),
            vec![
                format!("session={valid}").into_bytes(),
                format!("session={other_valid}").into_bytes(),
            ],
        ),
        (
            "valid after a duplicate empty one".into(),
            vec![format!("session=; session={valid}").into_bytes()],
        ),
        ("only junk".into(), vec![b";;;===;; ;".to_vec()]),
        (
            "other cookies only".into(),
            vec![b"theme=dark; lang=en".to_vec()],
        ),
    ];
    for (what, headers) in &cases {
        let client = app.client();
        let hs: Vec<(&str, &[u8])> = headers.iter().map(|h| ("cookie", h.as_slice())).collect();
        let res = client.get_with("/me", &hs).await;
        assert_eq!(res.status, 401, "{what}");
        assert_eq!(res.json(), json!({"error": "unauthenticated"}), "{what}");
        let page = client.get_with("/", &hs).await;
        assert_eq!(page.status, 200, "{what}: the page still renders");
    }
    // The valid cookie among junk and others still works.
    let client = app.client();
    let mut header = format!("a=1;;junk; session=\"{valid}\" ; b=").into_bytes();
    header.extend_from_slice(b"\x80\xff");
    let res = client.get_with("/me", &[("cookie", &header)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        alice.get("/me").await.status,
        200,
        "hostile requests harmed no session"
    );
}

async fn store_outage_is_503_and_recovers(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let token = client.token();
    app.store.inner().set_failing(true);
    for path in ["/me", "/", "/sessions"] {
        let res = client.get(path).await;
        assert_eq!(res.status, 503, "{path}");
        assert_eq!(res.header("retry-after"), Some("1"), "{path}");
        assert_eq!(res.json(), json!({"error": "unavailable"}));
        assert_no_set_cookie(&res, "outage must not look like a logout");
    }
    let res = client.post("/logout").await;
    assert_eq!(res.status, 503);
    assert_no_set_cookie(&res, "logout during outage");
    let res = app.client().login_json("admin").await;
    assert_eq!(res.status, 503, "login during outage");
    assert_no_set_cookie(&res, "login during outage");
    let anonymous = app.client().get("/").await;
    assert_eq!(
        anonymous.status, 200,
        "a request without credentials needs no store"
    );

    app.store.inner().set_failing(false);
    assert_eq!(client.token(), token);
    let res = client.get("/me").await;
    assert_eq!(res.status, 200, "the session survived the outage");
}

async fn page_shows_login_form_then_sessions(env: Env) {
    let app = TestApp::start(env).await;
    let anonymous = app.client().get("/").await;
    assert_eq!(anonymous.status, 200);
    assert!(
        anonymous
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(anonymous.body.contains("action=\"/login\""));
    let client = app.client();
    let ua: &[u8] = b"<script>alert(1)</script>";
    client
        .send(
            "POST",
            "/login",
            &[("user-agent", ua)],
            Some((
                "application/x-www-form-urlencoded",
                b"username=alice&password=wonderland".to_vec(),
            )),
        )
        .await;
    let page = client.get("/").await;
    assert!(
        page.body
            .contains("Signed in as <span id=\"user\">alice</span>")
    );
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "user agents are escaped"
    );
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(page.body.contains("action=\"/logout-all\""));
    assert!(page.body.contains("/revoke\""));
    assert!(!page.body.contains(&client.token().unwrap()));
}
