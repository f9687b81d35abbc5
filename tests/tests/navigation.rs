//! Browsers are sent to sign in and back; API calls get their 401; a
//! login never redirects off the site.

use auth_behaviour_tests::{Env, TestApp, password_of, scenarios};

scenarios!(
    a_browser_is_sent_to_sign_in_and_back,
    api_calls_still_get_401,
    a_login_never_redirects_off_the_site,
    a_missing_role_is_403_with_a_page_for_browsers,
);

const NAVIGATE: (&str, &[u8]) = ("sec-fetch-mode", b"navigate");

fn form_login(user: &str, next: &str) -> String {
    serde_urlencoded::to_string([
        ("username", user),
        ("password", password_of(user)),
        ("next", next),
    ])
    .unwrap()
}

async fn a_browser_is_sent_to_sign_in_and_back(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.client();
    let res = browser.get_with("/admin", &[NAVIGATE]).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/?next=%2Fadmin"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    // A browser too old for Fetch Metadata says it wants a page.
    let accept = ("accept", &b"text/html,application/xhtml+xml,*/*;q=0.8"[..]);
    let res = browser.get_with("/admin?tab=users", &[accept]).await;
    assert_eq!(
        res.header("location"),
        Some("/?next=%2Fadmin%3Ftab%3Dusers")
    );

    let page = browser.get_with("/?next=%2Fadmin", &[NAVIGATE]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<input type="hidden" name="next" id="next" value="/admin">"#),
        "the login form keeps next: {}",
        page.body
    );
    let res = browser
        .post_form("/login", &form_login("admin", "/admin"))
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/admin"));
    assert_eq!(browser.get_with("/admin", &[NAVIGATE]).await.status, 200);
}

async fn api_calls_still_get_401(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.client();
    let json = ("accept", &b"application/json"[..]);
    let cors = ("sec-fetch-mode", &b"cors"[..]);
    for headers in [&[][..], &[json][..], &[cors][..]] {
        let res = client.get_with("/admin", headers).await;
        assert_eq!(res.status, 401, "{headers:?}");
        assert!(res.header("www-authenticate").is_some());
        assert_eq!(res.json()["error"], "unauthenticated");
    }
    // Only a page is a navigation: a form post is answered as before.
    let res = client.send("POST", "/reports", &[NAVIGATE], None).await;
    assert_eq!(res.status, 401);
}

async fn a_login_never_redirects_off_the_site(env: Env) {
    let app = TestApp::start(env).await;
    for next in [
        "https://elsewhere.example/",
        "//elsewhere.example",
        "/\\elsewhere.example",
        "\\\\elsewhere.example",
        "javascript:alert(1)",
        "/admin\r\nSet-Cookie: x=y",
    ] {
        let browser = app.client();
        let page = browser
            .get(&format!(
                "/?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap()
            ))
            .await;
        assert!(!page.body.contains("name=\"next\""), "{next:?} kept");
        let res = browser
            .post_form("/login", &form_login("alice", next))
            .await;
        assert_eq!(res.status, 303, "{next:?}");
        assert_eq!(res.header("location"), Some("/"), "{next:?}");
    }
    // A failed login keeps a safe next for the second try.
    let browser = app.client();
    let wrong = "username=alice&password=wrong&next=%2Freports";
    let res = browser.post_form("/login", wrong).await;
    assert_eq!(res.status, 401);
    assert!(
        res.body
            .contains(r#"name="next" id="next" value="/reports""#)
    );
}

async fn a_missing_role_is_403_with_a_page_for_browsers(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let page = alice.get_with("/admin", &[NAVIGATE]).await;
    assert_eq!(page.status, 403, "signing in again would not help");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("Access denied"));
    let api = alice.get("/admin").await;
    assert_eq!(api.status, 403);
    assert_eq!(api.json()["error"], "forbidden");
}
