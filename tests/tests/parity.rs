//! The axum and actix demos answer the same conversation the same way:
//! status codes, the headers that matter, cookie attributes, and bodies
//! (with session ids, tokens and times masked).

use auth_behaviour_tests::{Backend, Client, Env, Framework, Res, TestApp, password_of};

/// A response reduced to what must match across frameworks (`vary` by
/// its first value: frameworks may add their own after it).
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
        if let Some(v) = res.header(name) {
            out.push_str(&format!("{name}: {v}\n"));
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
    app.store.inner().set_failing(true);
    step!(a, a.login_json("alice"));
    step!(a, a.get("/"));
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_actix_answer_alike() {
    let axum = conversation(Framework::Axum).await;
    let actix = conversation(Framework::Actix).await;
    assert_eq!(axum.len(), actix.len());
    for (i, (x, y)) in axum.iter().zip(&actix).enumerate() {
        assert_eq!(
            x, y,
            "step {i} differs between axum (left) and actix (right)"
        );
    }
}
