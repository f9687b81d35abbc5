//! The log of a conversation full of credentials and refusals: it records
//! the decisions, and no credential. (Every `TestApp` checks the same on
//! drop, for every scenario of the suite; this one proves the log is
//! really captured.)

use auth_behaviour_tests::{
    Env, Framework, TestApp, assert_no_secret_logged, logged_bytes, logged_text, password_of,
    remember_secret, scenarios,
};
use serde_json::json;

scenarios!(decisions_are_logged_and_credentials_are_not);

async fn decisions_are_logged_and_credentials_are_not(env: Env) {
    let before = logged_bytes();
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let token = client.token().unwrap();
    // A refused cross-site request, a wrong password, a bad bearer, a bad
    // cookie, a token login, refresh and reuse.
    let res = client
        .send(
            "POST",
            "/logout",
            &[("sec-fetch-site", b"cross-site")],
            None,
        )
        .await;
    assert_eq!(res.status, 403);
    let wrong = json!({"username": "alice", "password": "wrong-password-123"});
    assert_eq!(client.post_json("/login", wrong).await.status, 401);
    remember_secret("wrong-password-123");
    let pair = client
        .post_json(
            "/token",
            json!({"username": "admin", "password": password_of("admin")}),
        )
        .await
        .json();
    let refresh = pair["refresh_token"].as_str().unwrap();
    let first = client
        .post_json("/token/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(first.status, 200);
    app.clock.advance(time::Duration::seconds(30));
    let reuse = client
        .post_json("/token/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(reuse.status, 400);
    let tampered = format!("Bearer {}x", pair["access_token"].as_str().unwrap());
    assert_eq!(
        app.client()
            .get_with("/me", &[("authorization", tampered.as_bytes())])
            .await
            .status,
        401
    );
    let stranger = app.client();
    stranger.set_token(Some(format!("{token}x")));
    assert_eq!(stranger.get("/me").await.status, 401);

    // A username that tries to write a line of its own into the log.
    let forged = json!({"username": "mallory\n2030-01-01T00:00:00Z  INFO forged: admin logged in", "password": "x"});
    assert_eq!(client.post_json("/login", forged).await.status, 401);

    assert!(logged_bytes() > before, "the capture works");
    let log = logged_text();
    if env.framework == Framework::Axum {
        // The axum demo traces every request with its headers, the
        // credentials marked sensitive (and the drop checks they are).
        assert!(log.contains("\"cookie\": Sensitive"), "tower-http's trace");
        assert!(
            log.contains("\"set-cookie\": Sensitive"),
            "tower-http's trace"
        );
    }
    for decision in [
        "request refused as cross-site",
        "login failed: wrong credentials",
        "refresh token reuse detected",
        "access token rejected",
        "session cookie rejected",
        "token login",
        "login",
    ] {
        assert!(log.contains(decision), "the log records {decision:?}");
    }
    assert!(
        !log.contains("\n2030-01-01T00:00:00Z  INFO forged"),
        "a username forged a log line"
    );
    assert!(
        log.contains("mallory\\n2030"),
        "the username is logged escaped"
    );
    assert_no_secret_logged();
}
