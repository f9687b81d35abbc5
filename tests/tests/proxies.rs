//! Behind a load balancer (`TRUSTED_PROXIES`): the client address the
//! proxy forwards is the one the device list shows and the throttle
//! counts; from an untrusted peer the forwarding headers are ignored.

use auth_behaviour_tests::{Client, Env, Options, TestApp, password_of, scenarios};
use auth_core::proxy::TrustedProxies;
use example_shared::THROTTLE_ADDRESS_LIMIT;
use serde_json::json;

scenarios!(
    the_device_list_shows_the_forwarded_client_only_from_a_trusted_proxy,
    failures_are_throttled_per_forwarded_client,
);

async fn behind(env: Env, trusted: Option<&str>) -> TestApp {
    let options = Options {
        trusted_proxies: trusted.map(|list| TrustedProxies::parse(list).unwrap()),
        ..Options::default()
    };
    TestApp::start_with(env, options).await
}

async fn login_from(client: &Client, user: &str, forwarded_for: &str) -> u16 {
    let body = json!({"username": user, "password": password_of(user)}).to_string();
    client
        .send(
            "POST",
            "/login",
            &[("x-forwarded-for", forwarded_for.as_bytes())],
            Some(("application/json", body.into_bytes())),
        )
        .await
        .status
}

async fn the_device_list_shows_the_forwarded_client_only_from_a_trusted_proxy(env: Env) {
    for (trusted, address) in [(Some("127.0.0.1/32"), "203.0.113.7"), (None, "127.0.0.1")] {
        let app = behind(env, trusted).await;
        let client = app.client();
        assert_eq!(
            login_from(&client, "alice", "6.6.6.6, 203.0.113.7").await,
            200
        );
        let sessions = client.get("/sessions").await.json();
        assert_eq!(sessions[0]["address"], address, "trusted: {trusted:?}");
    }
}

async fn failures_are_throttled_per_forwarded_client(env: Env) {
    let app = behind(env, Some("127.0.0.1/32")).await;
    let client = app.client();
    let fail = async |user: &str, from: &str| {
        let body = json!({"username": user, "password": "wrong"}).to_string();
        client
            .send(
                "POST",
                "/login",
                &[("x-forwarded-for", from.as_bytes())],
                Some(("application/json", body.into_bytes())),
            )
            .await
            .status
    };
    // Unknown accounts, so only the address limit can bite.
    for i in 0..THROTTLE_ADDRESS_LIMIT {
        assert_eq!(
            fail(&format!("nobody-{i}"), "203.0.113.7").await,
            401,
            "attempt {i}"
        );
    }
    assert_eq!(
        fail("nobody-else", "203.0.113.7").await,
        429,
        "that client is locked out"
    );
    assert_eq!(
        login_from(&client, "alice", "198.51.100.9").await,
        200,
        "another client behind the same proxy is not"
    );
}
