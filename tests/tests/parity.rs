//! The axum, actix and hyper demos answer the same conversation the same
//! way:
//! status codes, the headers that matter (every value of them), cookie
//! attributes, and bodies (with session ids, tokens and times masked):
//! sessions, bearer and refresh tokens, CSRF refusals, API keys and the
//! throttle.

use auth_behaviour_tests::{
    Backend, Client, Env, Framework, Res, TEST_API_KEY, TestApp, password_of,
};

/// A response reduced to what must match across frameworks.
fn normalise(res: &Res, client: &Client) -> String {
    let mut out = format!("{}\n", res.status);
    for name in [
        "content-type",
        "cache-control",
        "www-authenticate",
        "retry-after",
        "location",
        "vary",
    ] {
        let values: Vec<&str> = res
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("?"))
            .collect();
        if !values.is_empty() {
            out.push_str(&format!("{name}: {}\n", values.join(" | ")));
        }
    }
    for cookie in res.set_cookies() {
        let masked = match client.token() {
            Some(token) => cookie.replace(&token, "TOKEN"),
            None => cookie,
        };
        out.push_str(&format!("set-cookie: {masked}\n"));
    }
    let mut body = res.body.clone();
    if let Some(csrf) = client.csrf_token() {
        body = body.replace(&csrf, "CSRF");
    }
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(&body) {
        for field in ["access_token", "refresh_token"] {
            if map.contains_key(field) {
                map.insert(field.into(), "TOKEN".into());
            }
        }
        body = serde_json::Value::Object(map).to_string();
    }
    out.push_str(&mask(&body));
    out
}

/// Masks RFC 3339 times and 22-character session ids.
fn mask(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < bytes.len() {
        // 2026-11-22T08:47:15.973Z
        if i + 20 <= bytes.len()
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 10] == b'T'
        {
            let end = bytes[i..]
                .iter()
                .position(|b| *b == b'Z')
                .map_or(bytes.len(), |p| i + p + 1);
            out.push_str("TIME");
            i = end;
            continue;
        }
        // "id":"…" and data-session="…" and /sessions/…/revoke
        for marker in [&b"\"id\":\""[..], b"data-session=\"", b"/sessions/"] {
            if bytes[i..].starts_with(marker) && i + marker.len() + 22 <= bytes.len() {
                out.push_str(std::str::from_utf8(marker).unwrap());
                out.push_str("ID");
                i += marker.len() + 22;
                break;
            }
        }
        if i < bytes.len() {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

async fn conversation(framework: Framework) -> Vec<String> {
    let app = TestApp::start(Env {
        framework,
        backend: Backend::Memory,
    })
    .await;
    let a = app.client();
    let mut log = Vec::new();
    macro_rules! step {
        ($client:expr, $req:expr) => {{
            let res = $req.await;
            log.push(normalise(&res, &$client));
        }};
    }
    step!(a, a.get("/"));
    step!(a, a.get("/me"));
    step!(a, a.get("/admin"));
    step!(a, a.get("/sessions"));
    step!(a, a.post("/logout-all"));
    step!(a, a.delete("/sessions/AAAAAAAAAAAAAAAAAAAAAA"));
    step!(
        a,
        a.send(
            "POST",
            "/login",
            &[],
            Some(("application/json", b"{oops".to_vec()))
        )
    );
    step!(
        a,
        a.send("POST", "/login", &[], Some(("text/plain", b"x".to_vec())))
    );
    step!(
        a,
        a.post_json(
            "/login",
            serde_json::json!({"username": "alice", "password": "nope"})
        )
    );
    step!(a, a.post_form("/login", "username=alice&password=nope"));
    step!(a, a.get_with("/me", &[("cookie", b"session=garbage")]));
    step!(a, a.login_json("alice"));
    step!(a, a.get("/me"));
    step!(a, a.get("/admin"));
    step!(a, a.get("/sessions"));
    step!(a, a.get("/"));
    step!(a, a.delete("/sessions/AAAAAAAAAAAAAAAAAAAAAA"));
    step!(a, a.post_form("/logout", ""));
    step!(a, a.get("/me"));
    let b = app.client();
    step!(
        b,
        b.post_form(
            "/login",
            &format!("username=admin&password={}", password_of("admin"))
        )
    );
    step!(b, b.get("/admin"));
    step!(b, b.post("/logout-all"));
    step!(b, b.get("/me"));
    // Bearer and refresh tokens.
    let c = app.client();
    let res = c
        .post_json(
            "/token",
            serde_json::json!({"username": "alice", "password": password_of("alice")}),
        )
        .await;
    log.push(normalise(&res, &c));
    let pair = res.json();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    step!(c, c.get_bearer("/me", &access));
    step!(c, c.get_bearer("/admin", &access));
    step!(c, c.get_bearer("/me", &format!("{access}x")));
    let refreshed = c.refresh(pair["refresh_token"].as_str().unwrap()).await;
    log.push(normalise(&refreshed, &c));
    step!(c, c.refresh("not-a-refresh-token"));
    step!(
        c,
        c.post_json(
            "/token/revoke",
            serde_json::json!({"refresh_token": refreshed.json()["refresh_token"]})
        )
    );
    step!(c, c.get_bearer("/me", &access));
    // API keys.
    step!(
        c,
        c.get_with("/reports", &[("x-api-key", TEST_API_KEY.as_bytes())])
    );
    step!(
        c,
        c.get_with("/reports", &[("x-api-key", b"wrong-key-000000")])
    );
    // CSRF: a cross-site post, and one without the token.
    let d = app.client();
    step!(d, d.login_json("alice"));
    step!(
        d,
        d.send(
            "POST",
            "/logout",
            &[("sec-fetch-site", b"cross-site")],
            None
        )
    );
    step!(
        d,
        d.send("POST", "/logout", &[("x-csrf-token", b"wrong")], None)
    );
    // The throttle: the eleventh wrong password is refused unchecked.
    let e = app.client();
    for _ in 0..example_shared::THROTTLE_USER_LIMIT {
        let res = e
            .post_json(
                "/login",
                serde_json::json!({"username": "admin", "password": "nope"}),
            )
            .await;
        assert_eq!(res.status, 401);
    }
    step!(
        e,
        e.post_json(
            "/login",
            serde_json::json!({"username": "admin", "password": "nope"})
        )
    );
    app.store.inner().set_failing(true);
    step!(a, a.login_json("alice"));
    step!(a, a.get("/"));
    log
}

/// Each framework's conversation is the axum demo's, step by step.
async fn answers_like_axum(framework: Framework) {
    let axum = conversation(Framework::Axum).await;
    let other = conversation(framework).await;
    assert_eq!(axum.len(), other.len());
    for (i, (x, y)) in axum.iter().zip(&other).enumerate() {
        assert_eq!(
            x, y,
            "step {i} differs between axum (left) and {framework:?} (right)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_actix_answer_alike() {
    answers_like_axum(Framework::Actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_hyper_answer_alike() {
    answers_like_axum(Framework::Hyper).await;
}
