//! Behaviour only memcached has: keys spread over servers, one of which
//! may be down, servers that forget everything when they restart, and
//! revocations that travel through a polled log instead of pub/sub.

use std::time::Duration;

use auth_behaviour_tests::{Env, TestApp, scenarios};

scenarios!(@on axum_memcached_pair, Axum, MemcachedPair;
    two_instances_share_sessions_and_logouts,
    a_server_that_is_down_fails_only_the_sessions_it_holds
);
scenarios!(@on actix_memcached, Actix, Memcached;
    two_instances_share_sessions_and_logouts,
    a_restart_of_memcached_is_a_logout_never_an_error
);

async fn two_instances_share_sessions_and_logouts(env: Env) {
    let a = TestApp::start(env).await;
    let b = a.another_instance(env).await;
    let laptop = a.logged_in("alice").await;
    let on_b = b.client();
    on_b.set_token(laptop.token());
    assert_eq!(on_b.get("/me").await.status, 200, "A's session works on B");

    // An access token, verified by A without reading the store.
    let pair = a.client().token_pair("alice").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(a.client().get_bearer("/me", &access).await.status, 200);

    let phone = b.logged_in("alice").await;
    assert_eq!(phone.post("/logout-all").await.status, 204);
    assert_eq!(laptop.get("/me").await.status, 401, "ended everywhere");
    // The revocation reaches A through the log it polls.
    let mut status = 0;
    for _ in 0..40 {
        status = a.client().get_bearer("/me", &access).await.status;
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 401, "A refuses the token B's logout revoked");
    assert_eq!(a.sessions_in_store().await, 0);
}

async fn a_server_that_is_down_fails_only_the_sessions_it_holds(env: Env) {
    let app = TestApp::start(env).await;
    let mut browsers = Vec::new();
    for _ in 0..16 {
        browsers.push(app.logged_in("alice").await);
    }
    let memcached = app.memcached.clone().expect("memcached servers");
    memcached.servers[0].lock().await.stop().await;
    let (mut up, mut down) = (0, 0);
    for browser in &browsers {
        let res = browser.get("/me").await;
        match res.status {
            200 => up += 1,
            503 => {
                assert_eq!(res.header("retry-after"), Some("1"));
                assert!(res.set_cookies().is_empty(), "an outage keeps the cookie");
                down += 1;
            }
            other => panic!("a session on a server that is down is a 503, never {other}"),
        }
    }
    assert!(
        up > 0 && down > 0,
        "{up} sessions answered, {down} unavailable"
    );
}

async fn a_restart_of_memcached_is_a_logout_never_an_error(env: Env) {
    let app = TestApp::start(env).await;
    let browser = app.logged_in("alice").await;
    assert_eq!(browser.get("/me").await.status, 200);
    let memcached = app.memcached.clone().expect("memcached servers");
    memcached.servers[0].lock().await.restart().await;
    // The session is gone with everything memcached held: signed out.
    let res = browser.get("/me").await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(app.logged_in("alice").await.get("/me").await.status, 200);
}
