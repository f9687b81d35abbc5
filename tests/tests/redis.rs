//! Behaviour that only a shared store can have: several app instances,
//! restarts, and a Redis outage under load.

use std::time::Duration;

use auth_behaviour_tests::{Env, TestApp, password_of, scenarios};

scenarios!(@on axum_redis, Axum, Redis;
    two_instances_share_sessions,
    sessions_survive_an_app_restart,
    redis_outage_is_503_then_recovers_by_itself,
    keyspace_holds_no_credential
);
scenarios!(@on actix_redis, Actix, Redis;
    two_instances_share_sessions,
    sessions_survive_an_app_restart,
    redis_outage_is_503_then_recovers_by_itself,
    keyspace_holds_no_credential
);

async fn two_instances_share_sessions(env: Env) {
    let a = TestApp::start(env).await;
    let b = a.another_instance(env).await;
    let on_a = a.logged_in("alice").await;
    let on_b = b.client();
    on_b.set_token(on_a.token());
    let me = on_b.get("/me").await;
    assert_eq!(me.status, 200, "a session from instance A works on B");
    assert_eq!(me.json()["user_id"], "alice");

    let phone_on_b = b.logged_in("alice").await;
    assert_eq!(
        on_a.get("/sessions").await.json().as_array().unwrap().len(),
        2
    );
    assert_eq!(phone_on_b.post("/logout-all").await.status, 204);
    assert_eq!(
        on_a.get("/me").await.status,
        401,
        "logout-everywhere on B ends A's session"
    );
    assert_eq!(a.sessions_in_store().await, 0);
}

async fn sessions_survive_an_app_restart(env: Env) {
    let first = TestApp::start(env).await;
    let client = first.logged_in("alice").await;
    let token = client.token();
    let restarted = first.another_instance(env).await;
    drop(first);
    let again = restarted.client();
    again.set_token(token);
    assert_eq!(
        again.get("/me").await.status,
        200,
        "the session outlived the process"
    );
}

async fn redis_outage_is_503_then_recovers_by_itself(env: Env) {
    let app = TestApp::start(env).await;
    let client = app.logged_in("alice").await;
    let token = client.token();
    let redis = app.redis.clone().unwrap();
    redis.server.lock().await.stop().await;

    // A burst of requests while Redis is down: every one a 503, none a 500.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let c = app.client();
        c.set_token(token.clone());
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => c.get("/me").await,
                1 => c.get("/sessions").await,
                2 => c.post("/logout").await,
                _ => c.login_json("admin").await,
            }
        }));
    }
    for task in tasks {
        let res = task.await.unwrap();
        assert_eq!(res.status, 503, "{}", res.body);
        assert_eq!(res.header("retry-after"), Some("1"));
        assert!(
            res.set_cookies().is_empty(),
            "an outage never clears or sets the cookie"
        );
    }

    redis.server.lock().await.start_again().await;
    let mut status = 0;
    for _ in 0..30 {
        status = client.get("/me").await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "while reconnecting");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "recovered without restarting the app, session intact"
    );
    assert_eq!(client.token(), token);
    let other = app.client();
    assert_eq!(
        other
            .post_json(
                "/login",
                serde_json::json!({"username": "admin", "password": password_of("admin")})
            )
            .await
            .status,
        200
    );
}

async fn keyspace_holds_no_credential(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let admin = app.logged_in("admin").await;
    let dump = app.redis.as_ref().unwrap().dump().await;
    assert!(
        dump.contains(&format!("{}s:", app.redis.as_ref().unwrap().prefix)),
        "{dump}"
    );
    for secret in [
        alice.token().unwrap(),
        admin.token().unwrap(),
        password_of("alice").to_owned(),
        password_of("admin").to_owned(),
    ] {
        assert!(!dump.contains(&secret), "a credential is stored in Redis");
    }
}
