//! The demo page in a real browser: headless Chromium through ChromeDriver.
//! Log in through the form, see the session list, find the session cookie
//! out of the script's reach, revoke another browser's session, refuse a
//! cross-site form, be sent to sign in and back, see the notice of a
//! logout once, log out everywhere; sign in through an identity provider's
//! page and be signed out by its back-channel logout.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`). Without them the test says so and passes, unless
//! `AUTH_BROWSER_TESTS=require` (as CI sets it), when it fails.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth_behaviour_tests::{
    Backend, Env, Framework, NextLogin, Options, SsoProvider, TestApp, password_of,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A `chromedriver` process on a free port, killed on drop. It and its
/// browsers keep their temporary files (profiles, Chromium's
/// `org.chromium.Chromium.*` directories) in a directory of their own,
/// removed with it, so that no test run leaves them behind in `/tmp`.
struct Driver {
    child: Child,
    url: String,
    _temp: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `_temp` is removed after this, with the processes gone.
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn driver() -> Option<Driver> {
    let required = std::env::var("AUTH_BROWSER_TESTS").is_ok_and(|v| v == "require");
    let port = free_port();
    let temp = tempfile::tempdir().expect("a temporary directory");
    let child = match Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .env("TMPDIR", temp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            assert!(
                !required,
                "chromedriver is required (AUTH_BROWSER_TESTS=require) but cannot start: {err}"
            );
            eprintln!(
                "SKIPPED: browser tests need chromium and chromedriver \
                 (apt-get install chromium chromium-driver): {err}"
            );
            return None;
        }
    };
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _temp: temp,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(driver)
}

/// A new browser with a profile of its own.
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            ]
        }),
    );
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn log_in(browser: &Client, base: &str, user: &str) {
    browser.goto(base).await.unwrap();
    fill_and_submit(browser, user).await;
    let shown = wait_for(browser, Locator::Id("user")).await;
    assert_eq!(shown.text().await.unwrap(), user);
}

/// Fills the login form on the page with `user`'s credentials and sends it.
async fn fill_and_submit(browser: &Client, user: &str) {
    browser
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password_of(user))
        .await
        .unwrap();
    browser
        .find(Locator::Css("#login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for an element to appear (after a form submission navigates).
async fn wait_for(browser: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    let locator_text = format!("{locator:?}");
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(locator)
        .await
        .unwrap_or_else(|e| panic!("waiting for {locator_text}: {e}"))
}

/// Waits until the page lists `n` sessions.
async fn wait_for_rows(browser: &Client, n: usize) {
    let start = Instant::now();
    loop {
        if try_session_rows(browser)
            .await
            .is_some_and(|rows| rows.len() == n)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never {n} sessions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The user the page says is signed in, if any.
async fn shown_user(browser: &Client) -> Option<String> {
    match browser.find(Locator::Id("user")).await {
        Ok(el) => Some(el.text().await.unwrap()),
        Err(_) => {
            assert!(
                browser.find(Locator::Id("login")).await.is_ok(),
                "neither signed in nor the login form: {}",
                browser.source().await.unwrap_or_default()
            );
            None
        }
    }
}

/// The session rows of the page; `None` while it is being replaced.
async fn try_session_rows(browser: &Client) -> Option<Vec<String>> {
    let mut rows = Vec::new();
    for row in browser
        .find_all(Locator::Css("tr[data-session]"))
        .await
        .ok()?
    {
        rows.push(row.text().await.ok()?);
    }
    Some(rows)
}

async fn session_rows(browser: &Client) -> Vec<String> {
    try_session_rows(browser).await.expect("a stable page")
}

/// A page on another port (another origin, the same site) whose form posts
/// to the app as soon as it loads.
async fn hostile_site(target: String, fields: &'static str) -> SocketAddr {
    let page = format!(
        "<!doctype html><html><body><form id=\"f\" method=\"post\" action=\"{target}\">{fields}</form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Waits until the browser has left `url` (the hostile form submitted).
async fn left(browser: &Client, url: &str) {
    let start = Instant::now();
    while browser.current_url().await.unwrap().as_str() == url {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the form never submitted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_demo_page_in_a_browser(framework: Framework) {
    let Some(driver) = driver().await else {
        return;
    };
    let app = TestApp::start(Env {
        framework,
        backend: Backend::Memory,
    })
    .await;
    let base = format!("{}/", app.base);
    let first = browser(&driver).await;
    let second = browser(&driver).await;

    // Log in through the form; the page shows the user and one session.
    log_in(&first, &base, "alice").await;
    assert_eq!(session_rows(&first).await.len(), 1);
    // The session cookie is HttpOnly: scripts cannot see it.
    let cookies = first
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(
        !cookies.as_str().unwrap_or_default().contains("session="),
        "{cookies}"
    );
    let cookie = first.get_named_cookie("session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));

    // A second browser profile logs in; the first sees it and revokes it.
    log_in(&second, &base, "alice").await;
    first.refresh().await.unwrap();
    let rows = session_rows(&first).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let other = first
        .find_all(Locator::Css("tr[data-session]"))
        .await
        .unwrap();
    let mut revoked = false;
    for row in other {
        if !row.text().await.unwrap().contains("(this one)") {
            row.find(Locator::Css("button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            revoked = true;
            break;
        }
    }
    assert!(revoked);
    wait_for_rows(&first, 1).await;
    second.refresh().await.unwrap();
    assert_eq!(
        shown_user(&second).await,
        None,
        "the revoked browser is logged out"
    );

    // A cross-site form ("log out everywhere") is refused: still logged in.
    let evil = hostile_site(format!("{}/logout-all", app.base), "").await;
    let evil_url = format!("http://{evil}/");
    first.goto(&evil_url).await.unwrap();
    left(&first, &evil_url).await;
    assert!(
        first.source().await.unwrap().contains("csrf_rejected"),
        "{}",
        first.source().await.unwrap()
    );
    first.goto(&base).await.unwrap();
    assert_eq!(shown_user(&first).await.as_deref(), Some("alice"));
    assert_eq!(app.sessions_in_store().await, 1);

    // Login CSRF: a hostile form cannot log the second browser in.
    let fields =
        "<input name=\"username\" value=\"admin\"><input name=\"password\" value=\"admin-secret\">";
    let evil = hostile_site(format!("{}/login", app.base), fields).await;
    let evil_url = format!("http://{evil}/");
    second.goto(&evil_url).await.unwrap();
    left(&second, &evil_url).await;
    second.goto(&base).await.unwrap();
    assert_eq!(shown_user(&second).await, None);

    // A page that needs a login sends the browser to sign in, and back.
    second.goto(&format!("{base}admin")).await.unwrap();
    wait_for(&second, Locator::Id("login")).await;
    assert!(
        second
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/?next=%2Fadmin"),
        "{}",
        second.current_url().await.unwrap()
    );
    fill_and_submit(&second, "admin").await;
    let start = Instant::now();
    while !second
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/admin")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never back at /admin"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(second.source().await.unwrap().contains("welcome, admin"));

    // Logging out with the form leaves a notice, shown once.
    second.goto(&base).await.unwrap();
    second
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = wait_for(&second, Locator::Id("notice")).await;
    assert_eq!(notice.text().await.unwrap(), "You have been signed out.");
    second.refresh().await.unwrap();
    wait_for(&second, Locator::Id("login")).await;
    assert!(
        second.find(Locator::Id("notice")).await.is_err(),
        "shown once"
    );

    // Log out everywhere from the page.
    first
        .find(Locator::Id("logout-all"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&first, Locator::Id("login")).await;
    assert_eq!(app.sessions_in_store().await, 0);

    first.close().await.unwrap();
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_in_a_browser_on_axum() {
    the_demo_page_in_a_browser(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_in_a_browser_on_actix() {
    the_demo_page_in_a_browser(Framework::Actix).await;
}

async fn signs_in_through_the_provider_in_a_browser(framework: Framework) {
    let Some(driver) = driver().await else {
        return;
    };
    let provider = SsoProvider::start().await;
    provider.set_interactive(true);
    provider.set_next(NextLogin::of("sso-carol", "provider-session-carol"));
    let app = TestApp::start_with(
        Env {
            framework,
            backend: Backend::Memory,
        },
        Options {
            sso: Some(provider.settings()),
            ..Options::default()
        },
    )
    .await;
    let browser = browser(&driver).await;
    browser.goto(&format!("{}/", app.base)).await.unwrap();
    wait_for(&browser, Locator::Id("sso"))
        .await
        .click()
        .await
        .unwrap();
    // The provider's own page; its button sends the browser back.
    wait_for(&browser, Locator::Id("approve"))
        .await
        .click()
        .await
        .unwrap();
    let shown = wait_for(&browser, Locator::Id("user")).await;
    assert_eq!(shown.text().await.unwrap(), "sso-carol");

    // The provider ends its session: the browser is signed out here.
    let res = app
        .client()
        .post_form(
            "/logout/backchannel",
            &format!(
                "logout_token={}",
                provider.logout_token(None, Some("provider-session-carol"))
            ),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    browser.refresh().await.unwrap();
    wait_for(&browser, Locator::Id("login")).await;
    assert_eq!(shown_user(&browser).await, None);
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_through_the_provider_in_a_browser_on_axum() {
    signs_in_through_the_provider_in_a_browser(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_through_the_provider_in_a_browser_on_actix() {
    signs_in_through_the_provider_in_a_browser(Framework::Actix).await;
}
