//! Session policies through the demos: "remember me" and the limit on
//! concurrent sessions (`MAX_SESSIONS_PER_USER`, ending the oldest).

use auth_behaviour_tests::{Env, Options, TestApp, password_of, scenarios};
use serde_json::json;

scenarios!(
    remember_me_chooses_the_cookie,
    the_session_limit_ends_the_oldest
);

fn session_cookie(res: &auth_behaviour_tests::Res) -> String {
    res.set_cookies()
        .into_iter()
        .next()
        .expect("a session cookie")
}

async fn remember_me_chooses_the_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let json_login = async |remember: Option<bool>| {
        let mut body = json!({"username": "alice", "password": password_of("alice")});
        if let Some(remember) = remember {
            body["remember"] = json!(remember);
        }
        let res = app.client().post_json("/login", body).await;
        assert_eq!(res.status, 200);
        session_cookie(&res)
    };
    let remembered = json_login(Some(true)).await;
    assert!(
        remembered.contains("Max-Age=1209600"),
        "14 days: {remembered}"
    );
    let forgotten = json_login(Some(false)).await;
    assert!(!forgotten.contains("Max-Age"), "{forgotten}");
    let standard = json_login(None).await;
    assert!(
        !standard.contains("Max-Age"),
        "no box: a browser-session cookie: {standard}"
    );

    let page = app.client().get("/").await.body;
    assert!(
        page.contains("name=\"remember\""),
        "the login form has the box"
    );
    let form =
        |remember: &str| format!("username=alice&password={}{remember}", password_of("alice"));
    let res = app
        .client()
        .post_form("/login", &form("&remember=on"))
        .await;
    assert_eq!(res.status, 303);
    assert!(session_cookie(&res).contains("Max-Age=1209600"));
    let res = app.client().post_form("/login", &form("")).await;
    assert!(!session_cookie(&res).contains("Max-Age"), "an unticked box");

    // A day on, only the remembered sessions are alive.
    app.clock.advance(time::Duration::days(1));
    let me = |cookie: &str| {
        let client = app.client();
        let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        client.set_token(Some(token.to_owned()));
        async move { client.get("/me").await.status }
    };
    assert_eq!(me(&remembered).await, 200);
    assert_eq!(me(&forgotten).await, 401);
    assert_eq!(me(&standard).await, 401);
}

async fn the_session_limit_ends_the_oldest(env: Env) {
    let app = TestApp::start_with(
        env,
        Options {
            max_sessions_per_user: Some(2),
            ..Options::default()
        },
    )
    .await;
    let first = app.logged_in("alice").await;
    app.clock.advance(time::Duration::seconds(1));
    let second = app.logged_in("alice").await;
    app.clock.advance(time::Duration::seconds(1));
    let third = app.logged_in("alice").await;
    assert_eq!(first.get("/me").await.status, 401, "the oldest ended");
    assert_eq!(second.get("/me").await.status, 200);
    assert_eq!(third.get("/me").await.status, 200);
    assert_eq!(app.sessions_in_store().await, 2);
    // Other users are not counted against alice.
    assert_eq!(app.logged_in("admin").await.get("/me").await.status, 200);
}
