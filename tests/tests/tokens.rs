//! Access and refresh tokens through the demos: the token endpoints, bearer
//! requests, rotation, reuse, revocation, and the hybrid rules.

use auth_behaviour_tests::{Client, Env, Res, TestApp, password_of, scenarios};
use serde_json::{Value, json};

scenarios!(
    token_login_then_bearer_requests,
    bearer_roles_and_challenges,
    a_bad_bearer_never_falls_back_to_the_cookie,
    refresh_rotates_and_reuse_revokes_the_family,
    revoking_a_refresh_token_kills_its_access_token,
    browser_logout_everywhere_ends_app_tokens,
    tokens_in_the_query_string_are_ignored,
    jwks_publishes_the_signing_key,
    token_endpoint_input_errors,
);

async fn tokens(client: &Client, user: &str) -> Value {
    let res = client
        .post_json(
            "/token",
            json!({"username": user, "password": password_of(user)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(res.set_cookies().is_empty(), "token logins set no cookie");
    res.json()
}

async fn bearer(client: &Client, path: &str, access: &Value) -> Res {
    let header = format!("Bearer {}", access.as_str().unwrap());
    client
        .get_with(path, &[("authorization", header.as_bytes())])
        .await
}

async fn refresh(client: &Client, refresh_token: &Value) -> Res {
    client
        .post_json("/token/refresh", json!({ "refresh_token": refresh_token }))
        .await
}

async fn token_login_then_bearer_requests(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let pair = tokens(&client, "alice").await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 300);
    // `<family id>.<generation>.<proof>`.
    let refresh = pair["refresh_token"].as_str().unwrap();
    let parts: Vec<&str> = refresh.split('.').collect();
    assert_eq!(parts.len(), 3, "{refresh}");
    assert_eq!((parts[0].len(), parts[1], parts[2].len()), (22, "0", 43));
    let me = bearer(&client, "/me", &pair["access_token"]).await;
    assert_eq!(me.status, 200);
    let body = me.json();
    assert_eq!(body["user_id"], "alice");
    assert_eq!(body["auth"], "bearer");
    assert_eq!(body["roles"], json!(["user"]));
    assert_eq!(body["session"]["id"].as_str().unwrap().len(), 22);
    assert!(me.set_cookies().is_empty());
    // The app's session is in the device list of the browser.
    let browser = app.logged_in("alice").await;
    let list = browser.get("/sessions").await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

async fn bearer_roles_and_challenges(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let alice = tokens(&client, "alice").await;
    let res = bearer(&client, "/admin", &alice["access_token"]).await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.header("www-authenticate"),
        Some(r#"Bearer realm="auth demo", error="insufficient_scope""#)
    );
    let admin = tokens(&client, "admin").await;
    assert_eq!(
        bearer(&client, "/admin", &admin["access_token"])
            .await
            .status,
        200
    );
    let anonymous = client.get("/me").await;
    let challenges: Vec<&str> = anonymous
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        [
            r#"Cookie realm="auth demo", cookie-name="session""#,
            r#"Bearer realm="auth demo""#
        ],
        "no error attribute when no token was sent"
    );
}

async fn a_bad_bearer_never_falls_back_to_the_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.logged_in("admin").await;
    let alice = tokens(&app.client(), "alice").await;
    let access = alice["access_token"].as_str().unwrap();
    let mut tampered = access.to_owned();
    tampered.insert(access.len() - 3, 'x');
    let big = format!("Bearer {}", "a".repeat(20_000));
    for header in [
        "Bearer not-a-jwt".to_owned(),
        "Bearer".to_owned(),
        format!("Bearer {tampered}"),
        format!("Bearer {access}.{access}"),
        big,
    ] {
        let res = browser
            .get_with("/me", &[("authorization", header.as_bytes())])
            .await;
        assert!(
            matches!(res.status, 401 | 431),
            "{header:.40}: {}",
            res.status
        );
        if res.status == 401 {
            assert_eq!(
                res.header("www-authenticate"),
                Some(r#"Bearer realm="auth demo", error="invalid_token""#),
                "{header:.40}"
            );
        }
    }
    assert_eq!(
        browser.get("/me").await.json()["user_id"],
        "admin",
        "the cookie alone still works"
    );
}

async fn refresh_rotates_and_reuse_revokes_the_family(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let first = tokens(&client, "alice").await;
    let res = refresh(&client, &first["refresh_token"]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let second = res.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        bearer(&client, "/me", &second["access_token"]).await.status,
        200
    );
    // Racing retry inside the grace window: the same successor.
    let retry = refresh(&client, &first["refresh_token"]).await.json();
    assert_eq!(retry["refresh_token"], second["refresh_token"]);
    // After the window the old token is a stolen one.
    app.clock.advance(time::Duration::seconds(10));
    let res = refresh(&client, &first["refresh_token"]).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json(), json!({"error": "invalid_grant"}));
    assert_eq!(
        refresh(&client, &second["refresh_token"]).await.status,
        400,
        "newest too"
    );
    assert_eq!(
        bearer(&client, "/me", &second["access_token"]).await.status,
        401
    );
}

async fn revoking_a_refresh_token_kills_its_access_token(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let pair = tokens(&client, "alice").await;
    let res = client
        .post_json(
            "/token/revoke",
            json!({ "refresh_token": pair["refresh_token"] }),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        bearer(&client, "/me", &pair["access_token"]).await.status,
        401
    );
    assert_eq!(refresh(&client, &pair["refresh_token"]).await.status, 400);
    let res = client
        .post_json("/token/revoke", json!({ "refresh_token": "unknown" }))
        .await;
    assert_eq!(res.status, 200, "RFC 7009: unknown tokens are not an error");
}

async fn browser_logout_everywhere_ends_app_tokens(env: Env) {
    let app = TestApp::start(env).await;
    let phone = app.client();
    let pair = tokens(&phone, "alice").await;
    let browser = app.logged_in("alice").await;
    assert_eq!(browser.post("/logout-all").await.status, 204);
    assert_eq!(
        bearer(&phone, "/me", &pair["access_token"]).await.status,
        401
    );
    assert_eq!(refresh(&phone, &pair["refresh_token"]).await.status, 400);
}

async fn tokens_in_the_query_string_are_ignored(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let pair = tokens(&client, "alice").await;
    let access = pair["access_token"].as_str().unwrap();
    let res = client.get(&format!("/me?access_token={access}")).await;
    assert_eq!(res.status, 401);
}

async fn jwks_publishes_the_signing_key(env: Env) {
    let app = TestApp::start(env).await;
    let res = app.client().get("/.well-known/jwks.json").await;
    assert_eq!(res.status, 200);
    let keys = res.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert!(keys[0]["kid"].as_str().unwrap().starts_with("demo-"));
    assert!(keys[0].get("d").is_none(), "no private key material");
    let pair = tokens(&app.client(), "alice").await;
    let header: Value = serde_json::from_slice(&base64_url(
        pair["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(header["kid"], keys[0]["kid"]);
    assert_eq!(header["typ"], "at+jwt");
}

fn base64_url(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

async fn token_endpoint_input_errors(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let res = client
        .post_json("/token", json!({"username": "alice", "password": "nope"}))
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json(), json!({"error": "invalid_credentials"}));
    let res = client
        .post_form("/token", "username=alice&password=wonderland")
        .await;
    assert_eq!(res.status, 415, "the token endpoint takes JSON");
    let res = client.post_json("/token/refresh", json!({"nope": 1})).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json(), json!({"error": "invalid_request"}));
    let res = client
        .post_json("/token/refresh", json!({"refresh_token": "A".repeat(43)}))
        .await;
    assert_eq!(res.json(), json!({"error": "invalid_grant"}));
    // A browser cookie token is not a refresh token.
    let browser = app.logged_in("alice").await;
    let res = client
        .post_json(
            "/token/refresh",
            json!({"refresh_token": browser.token().unwrap()}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        browser.get("/me").await.status,
        200,
        "and trying did not harm the session"
    );
}
