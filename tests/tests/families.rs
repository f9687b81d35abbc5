//! A refresh family rotated many times, through the demos: one record,
//! listed once, and reuse detection and logout everywhere still answer.
//! (`stores.rs` rotates one ten thousand times on every store.)

use auth_behaviour_tests::{Env, TestApp, scenarios};
use serde_json::json;

scenarios!(a_family_rotated_many_times_still_answers_everything);

/// Through the demo: a family refreshed many times is listed once,
/// and reuse of its first token answers `invalid_grant`, not a timeout.
async fn a_family_rotated_many_times_still_answers_everything(env: Env) {
    let app = TestApp::start(env).await;
    let phone = app.client();
    let first = phone.token_pair("alice").await;
    let mut newest = first.clone();
    for _ in 0..1_000 {
        let res = phone
            .refresh(newest["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        newest = res.json();
    }
    assert_eq!(app.sessions_in_store().await, 1);
    let browser = app.logged_in("alice").await;
    let list = browser.get("/sessions").await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json().as_array().unwrap().len(),
        2,
        "the browser and the family"
    );
    app.clock.advance(time::Duration::seconds(10));
    let res = phone
        .refresh(first["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json(), json!({"error": "invalid_grant"}));
    let res = phone
        .refresh(newest["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status, 400, "the newest token died with the family");
    assert_eq!(
        phone
            .get_bearer("/me", newest["access_token"].as_str().unwrap())
            .await
            .status,
        401
    );
    assert_eq!(browser.post("/logout-all").await.status, 204);
    assert_eq!(app.sessions_in_store().await, 0);
}
