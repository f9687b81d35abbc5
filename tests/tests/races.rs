//! Guarantees that must hold when requests race: revocation against
//! refresh, logout everywhere against refresh, the login throttle against a
//! burst, the session limit against concurrent logins. Each race is run
//! many times, on every framework and store, with the racing requests
//! released together.

use std::sync::Arc;

use auth_behaviour_tests::{Backend, Client, Env, Options, TestApp, password_of, scenarios};
use serde_json::{Value, json};
use tokio::sync::Barrier;

scenarios!(
    a_revoked_family_stays_revoked_however_refreshes_race,
    logout_everywhere_ends_a_family_that_refreshes_meanwhile,
    a_burst_of_wrong_passwords_gets_no_more_checks_than_the_limit,
    concurrent_logins_never_exceed_the_session_limit,
    token_logins_count_toward_the_session_limit,
    a_notice_is_shown_once_however_pages_race,
    racing_logins_all_replace_the_visitor_session,
);

/// A browser signed out with the page's form: it holds a visitor's
/// session with the "signed out" notice. The visitor's token.
async fn signed_out_browser(app: &TestApp) -> String {
    let browser = app.logged_in("alice").await;
    let csrf = browser.csrf_token().unwrap();
    let res = browser
        .post_form("/logout", &format!("csrf_token={csrf}"))
        .await;
    assert_eq!(res.status, 303);
    browser.token().expect("a visitor's session")
}

/// `n` clients holding `token`, released together on `request`.
async fn race_with<F, Fut, T>(app: &TestApp, token: &str, n: usize, request: F) -> Vec<T>
where
    F: Fn(Arc<Client>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = Arc::new(app.client());
            client.set_token(Some(token.to_owned()));
            let (work, barrier) = (request(client), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

async fn a_notice_is_shown_once_however_pages_race(env: Env) {
    let app = TestApp::start(env).await;
    for trial in 0..trials(env) / 4 {
        let visitor = signed_out_browser(&app).await;
        let pages = race_with(&app, &visitor, 6, |client| async move {
            client.get("/").await.body
        })
        .await;
        let shown = pages
            .iter()
            .filter(|page| page.contains(example_shared::handlers::SIGNED_OUT))
            .count();
        assert_eq!(shown, 1, "trial {trial}: the notice shown {shown} times");
        assert_eq!(
            app.sessions_in_store().await,
            0,
            "trial {trial}: the visitor's session ended"
        );
    }
}

async fn racing_logins_all_replace_the_visitor_session(env: Env) {
    let app = TestApp::start(env).await;
    for trial in 0..trials(env) / 10 {
        let visitor = signed_out_browser(&app).await;
        let before = app.sessions_in_store().await;
        let logins = race_with(&app, &visitor, 3, |client| async move {
            client.login_json("alice").await.status
        })
        .await;
        assert_eq!(logins, [200, 200, 200], "trial {trial}");
        assert_eq!(
            app.sessions_in_store().await,
            before - 1 + 3,
            "trial {trial}: three sessions of alice, the visitor's gone"
        );
        let stale = app.client();
        stale.set_token(Some(visitor));
        let page = stale.get("/").await;
        assert!(
            !page.body.contains(example_shared::handlers::SIGNED_OUT),
            "trial {trial}"
        );
        assert!(
            page.set_cookies().iter().all(|c| c.contains("Max-Age=0")),
            "trial {trial}"
        );
    }
}

/// How many times each race runs: on the memory store a lost race is
/// rarer (everything happens in one process), so it runs more often.
fn trials(env: Env) -> usize {
    match env.backend {
        Backend::Memory => 100,
        _ => 25,
    }
}

/// Refreshes `first` in a loop, each time with the newest token, until a
/// refresh is refused: the last pair that worked.
async fn refresh_until_refused(client: &Client, first: Value) -> Value {
    let mut newest = first;
    for _ in 0..40 {
        let res = client
            .refresh(newest["refresh_token"].as_str().unwrap())
            .await;
        match res.status {
            200 => newest = res.json(),
            400 => break,
            other => panic!("refresh answered {other}: {}", res.body),
        }
        tokio::task::yield_now().await;
    }
    newest
}

/// Nothing of a revoked family works: not its newest refresh token, not
/// its newest access token.
async fn assert_dead(client: &Client, newest: &Value, trial: usize, what: &str) {
    let res = client
        .refresh(newest["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        res.status, 400,
        "trial {trial}: the newest refresh token survived {what}: {}",
        res.body
    );
    assert_eq!(res.json(), json!({"error": "invalid_grant"}));
    let me = client
        .get_bearer("/me", newest["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        me.status, 401,
        "trial {trial}: the newest access token survived {what}"
    );
}

async fn a_revoked_family_stays_revoked_however_refreshes_race(env: Env) {
    let app = TestApp::start(env).await;
    let client = Arc::new(app.client());
    for trial in 0..trials(env) {
        let first = client.token_pair("alice").await;
        let barrier = Arc::new(Barrier::new(2));
        let refresher = tokio::spawn({
            let (client, barrier, first) = (client.clone(), barrier.clone(), first.clone());
            async move {
                barrier.wait().await;
                refresh_until_refused(&client, first).await
            }
        });
        let revoker = tokio::spawn({
            let (client, barrier) = (client.clone(), barrier.clone());
            let token = first["refresh_token"].clone();
            async move {
                barrier.wait().await;
                // Let a few rotations happen first, a different number
                // each trial.
                for _ in 0..trial % 5 {
                    tokio::task::yield_now().await;
                }
                client
                    .post_json("/token/revoke", json!({ "refresh_token": token }))
                    .await
            }
        });
        assert_eq!(revoker.await.unwrap().status, 200);
        let newest = refresher.await.unwrap();
        assert_dead(&client, &newest, trial, "the revocation of its family").await;
    }
}

async fn logout_everywhere_ends_a_family_that_refreshes_meanwhile(env: Env) {
    let app = TestApp::start(env).await;
    let phone = Arc::new(app.client());
    for trial in 0..trials(env) / 3 {
        let browser = app.logged_in("alice").await;
        let first = phone.token_pair("alice").await;
        let barrier = Arc::new(Barrier::new(2));
        let refresher = tokio::spawn({
            let (phone, barrier) = (phone.clone(), barrier.clone());
            async move {
                barrier.wait().await;
                refresh_until_refused(&phone, first).await
            }
        });
        let logout = tokio::spawn({
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                for _ in 0..trial % 5 {
                    tokio::task::yield_now().await;
                }
                browser.post("/logout-all").await
            }
        });
        assert_eq!(logout.await.unwrap().status, 204);
        let newest = refresher.await.unwrap();
        assert_dead(&phone, &newest, trial, "logout everywhere").await;
        assert_eq!(
            app.sessions_in_store().await,
            0,
            "trial {trial}: sessions left"
        );
    }
}

async fn a_burst_of_wrong_passwords_gets_no_more_checks_than_the_limit(env: Env) {
    let app = TestApp::start(env).await;
    let barrier = Arc::new(Barrier::new(40));
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let (client, barrier) = (app.client(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                client
                    .post_json("/login", json!({"username": "alice", "password": "wrong"}))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (example_shared::THROTTLE_USER_LIMIT as usize, 40 - 10),
        "{statuses:?}"
    );
    // The right password is refused too now: the account is locked.
    let res = app
        .client()
        .post_json(
            "/login",
            json!({"username": "alice", "password": password_of("alice")}),
        )
        .await;
    assert_eq!(res.status, 429);
    assert!(res.header("retry-after").is_some());
}

async fn concurrent_logins_never_exceed_the_session_limit(env: Env) {
    let app = TestApp::start_with(
        env,
        Options {
            max_sessions_per_user: Some(1),
            ..Options::default()
        },
    )
    .await;
    for trial in 0..5 {
        let barrier = Arc::new(Barrier::new(12));
        let logins: Vec<_> = (0..12)
            .map(|i| {
                let (client, barrier) = (Arc::new(app.client()), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    if i % 2 == 0 {
                        let res = client.login_json("alice").await;
                        (client, res.status, None)
                    } else {
                        let res = client
                            .post_json(
                                "/token",
                                json!({"username": "alice", "password": password_of("alice")}),
                            )
                            .await;
                        let pair = (res.status == 200).then(|| res.json());
                        (client, res.status, pair)
                    }
                })
            })
            .collect();
        // Every login answers first; only then is each session tried.
        let mut answers = Vec::new();
        for login in logins {
            answers.push(login.await.unwrap());
        }
        let mut working = 0;
        for (client, status, pair) in answers {
            // Refused past the limit (409), or by the throttle, which
            // counts attempts in flight (429).
            assert!(matches!(status, 200 | 409 | 429), "trial {trial}: {status}");
            let works = match pair {
                Some(pair) => {
                    client
                        .refresh(pair["refresh_token"].as_str().unwrap())
                        .await
                        .status
                        == 200
                }
                None => client.token().is_some() && client.get("/me").await.status == 200,
            };
            working += usize::from(works);
        }
        assert!(
            working <= 1,
            "trial {trial}: {working} sessions work, limit 1"
        );
        assert!(
            app.sessions_in_store().await <= 1,
            "trial {trial}: {} sessions in the store, limit 1",
            app.sessions_in_store().await
        );
    }
}

async fn token_logins_count_toward_the_session_limit(env: Env) {
    let app = TestApp::start_with(
        env,
        Options {
            max_sessions_per_user: Some(2),
            ..Options::default()
        },
    )
    .await;
    let client = app.client();
    let mut pairs = Vec::new();
    for _ in 0..6 {
        pairs.push(client.token_pair("alice").await);
        app.clock.advance(time::Duration::seconds(1));
    }
    assert_eq!(app.sessions_in_store().await, 2);
    let usable: Vec<bool> = {
        let mut usable = Vec::new();
        for pair in &pairs {
            let res = client
                .refresh(pair["refresh_token"].as_str().unwrap())
                .await;
            usable.push(res.status == 200);
        }
        usable
    };
    assert_eq!(
        usable,
        [false, false, false, false, true, true],
        "the two newest families are the ones kept"
    );
    // A browser login counts too: the oldest family goes.
    let browser = app.logged_in("alice").await;
    assert_eq!(browser.get("/me").await.status, 200);
    assert_eq!(app.sessions_in_store().await, 2);
}
