//! State before login: a flash message after a form logout lives in a
//! visitor's session, shown once; a visitor's session is replaced at
//! login.

use auth_behaviour_tests::{Env, TestApp, scenarios};
use example_shared::handlers::SIGNED_OUT;

scenarios!(
    a_form_logout_leaves_a_notice_shown_once,
    reading_as_a_visitor_stores_nothing,
    a_login_replaces_the_visitor_session,
);

async fn form_logout(app: &TestApp) -> auth_behaviour_tests::Client {
    let browser = app.logged_in("alice").await;
    let csrf = browser.csrf_token().expect("a CSRF token");
    let token = browser.token();
    let res = browser
        .post_form("/logout", &format!("csrf_token={csrf}"))
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/"));
    assert!(
        browser.token().is_some(),
        "a visitor's cookie: {:?}",
        res.set_cookies()
    );
    assert_ne!(browser.token(), token, "not the session that ended");
    browser
}

async fn a_form_logout_leaves_a_notice_shown_once(env: Env) {
    let app = TestApp::start(env).await;
    let browser = form_logout(&app).await;
    let cookie = browser.get("/").await;
    assert_eq!(cookie.status, 200);
    assert!(cookie.body.contains(SIGNED_OUT), "{}", cookie.body);
    assert!(
        cookie.body.contains("id=\"login\""),
        "signed out: the login form"
    );
    assert!(
        cookie
            .header("cache-control")
            .is_some_and(|c| c.contains("no-store") || c.contains("private")),
        "a page with a visitor's notice is nobody else's: {:?}",
        cookie.header("cache-control")
    );
    assert!(
        browser.token().is_none(),
        "nothing left: the visitor's cookie goes"
    );
    assert_eq!(app.sessions_in_store().await, 0);
    let again = browser.get("/").await;
    assert!(!again.body.contains(SIGNED_OUT), "shown once");
    assert_eq!(browser.get("/me").await.status, 401);
}

async fn reading_as_a_visitor_stores_nothing(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.client();
    for path in ["/", "/?next=%2Fadmin", "/me"] {
        let res = browser.get(path).await;
        assert!(
            res.set_cookies().is_empty(),
            "{path}: {:?}",
            res.set_cookies()
        );
    }
    // A JSON logout leaves no notice, and so no visitor's session.
    let api = app.logged_in("alice").await;
    assert_eq!(api.post("/logout").await.status, 204);
    assert!(api.token().is_none());
    assert_eq!(app.sessions_in_store().await, 0);
}

async fn a_login_replaces_the_visitor_session(env: Env) {
    let app = TestApp::start(env).await;
    let browser = form_logout(&app).await;
    let visitor = browser.token();
    assert_eq!(app.sessions_in_store().await, 1, "the visitor's session");
    assert_eq!(browser.login_json("alice").await.status, 200);
    assert_ne!(browser.token(), visitor, "a new token at login");
    assert_eq!(
        app.sessions_in_store().await,
        1,
        "the visitor's session ended"
    );
    let stale = app.client();
    stale.set_token(visitor);
    assert!(!stale.get("/").await.body.contains(SIGNED_OUT));
}
