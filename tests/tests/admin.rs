//! An administrator's control over other users' sessions: list them, and
//! log a user out everywhere (every session, access token and refresh
//! token stops working).

use auth_behaviour_tests::{
    Backend, Env, Framework, TestApp, password_of, remember_secret, scenarios,
};
use serde_json::json;

scenarios!(
    an_admin_lists_and_ends_another_users_sessions,
    only_admins_may,
    a_password_reset_ends_everything_and_only_the_new_password_works,
    a_password_change_keeps_this_session_and_ends_the_others,
);

async fn login_status(app: &TestApp, user: &str, password: &str) -> u16 {
    app.client()
        .post_json("/login", json!({"username": user, "password": password}))
        .await
        .status
}

async fn a_password_reset_ends_everything_and_only_the_new_password_works(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let phone = app.client();
    let pair = phone.token_pair("alice").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let admin = app.logged_in("admin").await;

    assert_eq!(
        alice.post("/admin/users/alice/password-reset").await.status,
        403
    );
    let missing = admin.post("/admin/users/nobody/password-reset").await;
    assert_eq!(missing.status, 404);

    let reset = admin.post("/admin/users/alice/password-reset").await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.header("cache-control"), Some("no-store"));
    let reset = reset.json();
    assert_eq!(reset["user"], "alice");
    assert_eq!(reset["ended"], 2);
    let temporary = reset["temporary_password"].as_str().unwrap().to_owned();
    remember_secret(&temporary);

    assert_eq!(alice.get("/me").await.status, 401);
    assert_eq!(phone.get_bearer("/me", &access).await.status, 401);
    assert_eq!(phone.refresh(&refresh).await.status, 400);
    assert_eq!(login_status(&app, "alice", password_of("alice")).await, 401);
    assert_eq!(login_status(&app, "alice", &temporary).await, 200);
    assert_eq!(admin.get("/me").await.status, 200);
}

async fn a_password_change_keeps_this_session_and_ends_the_others(env: Env) {
    let app = TestApp::start(env).await;
    let laptop = app.logged_in("alice").await;
    let phone = app.logged_in("alice").await;
    let before = laptop.token();
    let new_password = "a much better password";
    remember_secret(new_password);

    let weak = laptop
        .post_json(
            "/password",
            json!({"current_password": password_of("alice"), "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert_eq!(weak.json()["error"], "weak_password");
    let wrong = laptop
        .post_json(
            "/password",
            json!({"current_password": "wrong-guess", "new_password": new_password}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        login_status(&app, "alice", password_of("alice")).await,
        200,
        "unchanged"
    );

    let changed = laptop
        .post_json(
            "/password",
            json!({"current_password": password_of("alice"), "new_password": new_password}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(
        changed.json()["ended"],
        2,
        "the phone's and the extra login's"
    );
    assert_ne!(laptop.token(), before, "this session got a new token");
    assert_eq!(laptop.get("/me").await.status, 200);
    assert_eq!(phone.get("/me").await.status, 401);
    assert_eq!(login_status(&app, "alice", password_of("alice")).await, 401);
    assert_eq!(login_status(&app, "alice", new_password).await, 200);
    assert_eq!(app.client().post("/password").await.status, 401);
}

async fn an_admin_lists_and_ends_another_users_sessions(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let phone = app.client();
    let pair = phone.token_pair("alice").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let admin = app.logged_in("admin").await;

    let listed = admin.get("/admin/users/alice/sessions").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["current"] == false)
    );

    // Unsafe, so it needs the admin's CSRF token like any other post.
    let forged = admin
        .send(
            "POST",
            "/admin/users/alice/logout",
            &[("x-csrf-token", b"forged")],
            None,
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        app.sessions_in_store().await,
        3,
        "nothing ended by a forged post"
    );

    let ended = admin.post("/admin/users/alice/logout").await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(
        ended.json(),
        serde_json::json!({"user": "alice", "ended": 2})
    );

    assert_eq!(
        alice.get("/me").await.status,
        401,
        "the cookie session is gone"
    );
    assert_eq!(
        phone.get_bearer("/me", &access).await.status,
        401,
        "the access token too"
    );
    let refreshed = phone.refresh(&refresh).await;
    assert_eq!(
        refreshed.status, 400,
        "and the refresh token: {}",
        refreshed.body
    );
    assert_eq!(
        admin.get("/me").await.status,
        200,
        "the admin stays signed in"
    );
    assert_eq!(app.sessions_in_store().await, 1);
    let listed = admin.get("/admin/users/alice/sessions").await.json();
    assert_eq!(listed, serde_json::json!([]));
}

async fn only_admins_may(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let _admin = app.logged_in("admin").await;
    assert_eq!(alice.get("/admin/users/admin/sessions").await.status, 403);
    assert_eq!(alice.post("/admin/users/admin/logout").await.status, 403);
    assert_eq!(
        app.client().get("/admin/users/admin/sessions").await.status,
        401
    );
    assert_eq!(app.sessions_in_store().await, 2, "nobody was logged out");
}

/// A forced logout on one instance reaches the access tokens another
/// instance verifies without a store read (through the store's
/// revocation announcements).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_logout_reaches_every_instance() {
    let on = |framework| Env {
        framework,
        backend: Backend::Redis,
    };
    let first = TestApp::start(on(Framework::Axum)).await;
    let second = first.another_instance(on(Framework::Actix)).await;
    let phone = second.client();
    let pair = phone.token_pair("alice").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(phone.get_bearer("/me", &access).await.status, 200);
    let admin = first.logged_in("admin").await;
    assert_eq!(admin.post("/admin/users/alice/logout").await.status, 200);
    let mut status = 200;
    for _ in 0..100 {
        status = phone.get_bearer("/me", &access).await.status;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401, "the revocation reaches the other instance");
}
