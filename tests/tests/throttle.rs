//! Login throttling: at most 10 failed logins per account in 15 minutes,
//! then 429 with `Retry-After`, on every login route.

use auth_behaviour_tests::{Env, TestApp, password_of, scenarios};
use serde_json::json;

scenarios!(ten_failures_lock_the_account, a_success_clears_the_count,);

async fn ten_failures_lock_the_account(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let wrong = json!({"username": "alice", "password": "not-the-password"});
    for i in 0..10 {
        let res = client.post_json("/login", wrong.clone()).await;
        assert_eq!(res.status, 401, "attempt {i}");
    }
    let right = json!({"username": "alice", "password": password_of("alice")});
    for path in ["/login", "/token"] {
        let res = client.post_json(path, right.clone()).await;
        assert_eq!(res.status, 429, "{path}: {}", res.body);
        assert_eq!(res.json(), json!({"error": "too_many_attempts"}));
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert!(res.set_cookies().is_empty());
    }
    let form = format!("username=alice&password={}", password_of("alice"));
    assert_eq!(client.post_form("/login", &form).await.status, 429);
    assert_eq!(app.sessions_in_store().await, 0, "no session was made");
    // Another account is not affected.
    assert_eq!(app.client().login_json("admin").await.status, 200);
}

async fn a_success_clears_the_count(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let wrong = json!({"username": "alice", "password": "nope"});
    for _ in 0..9 {
        assert_eq!(client.post_json("/login", wrong.clone()).await.status, 401);
    }
    assert_eq!(client.login_json("alice").await.status, 200);
    for _ in 0..9 {
        assert_eq!(client.post_json("/login", wrong.clone()).await.status, 401);
    }
    assert_eq!(client.login_json("alice").await.status, 200);
}
