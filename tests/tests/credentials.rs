//! Several credentials on one request: a session cookie and an access
//! cookie, of one session or of two. A login retires them all, a logout
//! ends and removes them all, and two sessions' cookies are believed
//! neither.

use auth_behaviour_tests::{Client, Env, Res, TestApp, scenarios};
use serde_json::json;

scenarios!(
    a_new_login_retires_the_access_cookie_and_the_session_before,
    cookies_of_two_sessions_are_refused_and_cleared,
    logout_ends_every_session_the_request_carried,
    a_login_over_a_session_revokes_its_access_tokens,
    a_removed_cookie_varies_on_cookie,
);

/// The access cookie for `client`'s session (`POST /token/cookie`): its
/// `name=value`.
async fn access_cookie(client: &Client) -> String {
    let res = client.post("/token/cookie").await;
    assert_eq!(res.status, 204, "{}", res.body);
    res.set_cookies()
        .into_iter()
        .find(|c| c.starts_with("access="))
        .expect("the access cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn removes(res: &Res, name: &str) -> bool {
    res.set_cookies()
        .iter()
        .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"))
}

async fn a_new_login_retires_the_access_cookie_and_the_session_before(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.logged_in("alice").await;
    let alice_session = browser.token().unwrap();
    let alice_access = access_cookie(&browser).await;
    let alice_token = alice_access["access=".len()..].to_owned();

    // admin signs in from the same browser, which sends both of alice's
    // cookies along.
    let res = browser
        .send(
            "POST",
            "/login",
            &[("cookie", alice_access.as_bytes())],
            Some((
                "application/json",
                json!({"username": "admin", "password": "admin-secret"})
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        removes(&res, "access"),
        "the login removes the access cookie: {:?}",
        res.set_cookies()
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(browser.get("/me").await.json()["user_id"], "admin");

    // Nothing of alice's works any more: not her session cookie, not her
    // access token, even if the browser kept them.
    let other = app.client();
    other.set_token(Some(alice_session));
    assert_eq!(
        other.get("/me").await.status,
        401,
        "the old session was retired"
    );
    assert_eq!(other.get_bearer("/me", &alice_token).await.status, 401);
    let res = browser
        .get_with("/me", &[("cookie", alice_access.as_bytes())])
        .await;
    assert_ne!(
        res.status, 200,
        "a stale access cookie never answers as alice: {}",
        res.body
    );
    assert!(removes(&res, "access"), "and it is removed again");
}

async fn cookies_of_two_sessions_are_refused_and_cleared(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let alice_access = access_cookie(&alice).await;
    let admin = app.logged_in("admin").await;
    let admin_session = admin.token();
    let res = admin
        .get_with("/me", &[("cookie", alice_access.as_bytes())])
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(removes(&res, "session"), "{:?}", res.set_cookies());
    assert!(removes(&res, "access"), "{:?}", res.set_cookies());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    // Refused, not ended: each session alone still works.
    let admin_again = app.client();
    admin_again.set_token(admin_session);
    assert_eq!(admin_again.get("/me").await.json()["user_id"], "admin");
    let res = app
        .client()
        .get_with("/me", &[("cookie", alice_access.as_bytes())])
        .await;
    assert_eq!(res.json()["user_id"], "alice");
}

async fn logout_ends_every_session_the_request_carried(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.logged_in("alice").await;
    let access = access_cookie(&browser).await;
    let token = access["access=".len()..].to_owned();
    let session = browser.token().unwrap();
    let res = browser
        .send("POST", "/logout", &[("cookie", access.as_bytes())], None)
        .await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(removes(&res, "session"), "{:?}", res.set_cookies());
    assert!(removes(&res, "access"), "{:?}", res.set_cookies());
    let other = app.client();
    other.set_token(Some(session));
    assert_eq!(other.get("/me").await.status, 401);
    assert_eq!(other.get_bearer("/me", &token).await.status, 401);
    assert_eq!(app.sessions_in_store().await, 0);
}

async fn a_login_over_a_session_revokes_its_access_tokens(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.logged_in("alice").await;
    let access = access_cookie(&browser).await;
    let token = access["access=".len()..].to_owned();
    assert_eq!(app.client().get_bearer("/me", &token).await.status, 200);
    // The same user signs in again over the session (no access cookie
    // sent along this time).
    assert_eq!(browser.login_json("alice").await.status, 200);
    assert_eq!(
        app.client().get_bearer("/me", &token).await.status,
        401,
        "the retired session's access token died with it"
    );
    assert_eq!(browser.get("/me").await.json()["user_id"], "alice");
}

async fn a_removed_cookie_varies_on_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    client.set_token(Some(format!("{}.{}", "A".repeat(22), "A".repeat(43))));
    let res = client.get("/").await;
    assert!(removes(&res, "session"), "{:?}", res.set_cookies());
    let vary = res.header("vary").unwrap_or_default();
    assert!(vary.contains("Cookie"), "{vary:?}");
    assert_eq!(res.header("cache-control"), Some("no-store"));
}
