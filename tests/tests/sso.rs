//! Signing in through an OpenID provider: the code flow with PKCE against
//! a local provider, every way an attempt can go wrong, back-channel
//! logout and RP-initiated logout, on every framework and store.

use auth_behaviour_tests::{
    CLIENT_ID, Client, Env, NextLogin, Options, Res, SsoProvider, TestApp, query_param, scenarios,
};

scenarios!(
    signs_in_through_the_provider,
    roles_come_from_the_configured_claim_path,
    a_state_from_another_browser_or_forged_is_refused,
    a_state_is_used_once,
    racing_callbacks_use_the_state_once,
    a_code_is_used_once,
    a_wrong_nonce_is_refused,
    a_wrong_audience_is_refused,
    an_expired_id_token_is_refused,
    a_provider_error_ends_the_attempt,
    backchannel_logout_by_sid_ends_that_provider_session_only,
    backchannel_logout_by_sub_ends_every_session_of_the_subject,
    a_logout_token_is_used_once_and_must_be_one,
    a_form_logout_goes_on_to_the_provider,
);

async fn start(env: Env) -> (TestApp, SsoProvider) {
    let provider = SsoProvider::start().await;
    let app = TestApp::start_with(
        env,
        Options {
            sso: Some(provider.settings()),
            ..Options::default()
        },
    )
    .await;
    (app, provider)
}

/// The provider's authorization URL the demo redirects `browser` to.
async fn begin(browser: &Client, next: Option<&str>) -> String {
    let path = match next {
        Some(next) => format!("/login/sso?next={next}"),
        None => "/login/sso".to_owned(),
    };
    let res = browser.get(&path).await;
    assert_eq!(res.status, 303, "{}", res.body);
    res.header("location").expect("a Location").to_owned()
}

/// A whole sign-in of `browser`: the callback's answer.
async fn sign_in(provider: &SsoProvider, browser: &Client) -> Res {
    let authorization = begin(browser, None).await;
    let callback = provider.authorize(&authorization).await;
    browser.get(&callback).await
}

fn assert_refused(res: &Res, code: &str) {
    assert_eq!(res.status, 400, "{}", res.body);
    assert_eq!(res.json()["error"], code, "{}", res.body);
}

async fn assert_signed_out(browser: &Client) {
    assert_eq!(browser.get("/me").await.status, 401, "no one is signed in");
}

async fn signs_in_through_the_provider(env: Env) {
    let (app, provider) = start(env).await;
    let page = app.client().get("/").await;
    assert!(page.body.contains("Sign in with SSO"), "{}", page.body);

    let browser = app.client();
    let authorization = begin(&browser, Some("%2Freports")).await;
    assert!(
        authorization.starts_with(&format!("{}/auth?", provider.issuer())),
        "{authorization}"
    );
    let param = |name: &str| query_param(&authorization, name);
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        param("redirect_uri"),
        Some(format!("{}/login/sso/callback", app.base))
    );
    assert!(param("scope").is_some_and(|s| s.split(' ').any(|w| w == "openid")));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    for name in ["state", "nonce", "code_challenge"] {
        assert!(
            param(name).is_some_and(|v| v.len() >= 43),
            "{name}: {authorization}"
        );
    }
    assert_ne!(param("state"), param("nonce"));
    assert!(
        browser.token().is_some(),
        "the attempt lives in a visitor's session"
    );

    let callback = provider.authorize(&authorization).await;
    let res = browser.get(&callback).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.header("location"), Some("/reports"));
    assert!(
        res.set_cookies()
            .iter()
            .any(|c| c.starts_with(&app.cookie_name) && c.contains("HttpOnly")),
        "the session cookie: {:?}",
        res.set_cookies()
    );
    let me = browser.get("/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["user_id"], "sso-alice");
    assert_eq!(me["auth"], "session");
    assert_eq!(me["issuer"], provider.issuer());
    // The provider's subject is not the local account of the same name.
    assert_eq!(app.client().get("/admin").await.status, 401);
}

async fn roles_come_from_the_configured_claim_path(env: Env) {
    let (app, provider) = start(env).await;
    let mut next = NextLogin::of("sso-admin", "provider-session-admin");
    next.claims = serde_json::json!({ "realm_access": { "roles": ["admin"] } });
    provider.set_next(next);
    let admin = app.client();
    assert_eq!(sign_in(&provider, &admin).await.status, 303);
    assert_eq!(admin.get("/admin").await.status, 200);

    provider.set_next(NextLogin::of("sso-user", "provider-session-user"));
    let user = app.client();
    assert_eq!(sign_in(&provider, &user).await.status, 303);
    assert_eq!(user.get("/admin").await.status, 403);
}

async fn a_state_from_another_browser_or_forged_is_refused(env: Env) {
    let (app, provider) = start(env).await;
    let victim = app.client();
    let authorization = begin(&victim, None).await;
    let callback = provider.authorize(&authorization).await;

    // Login CSRF: the attacker's callback, in another browser.
    let attacker = app.client();
    let res = attacker.get(&callback).await;
    assert_refused(&res, "invalid_state");
    assert!(res.set_cookies().is_empty(), "{:?}", res.set_cookies());
    assert_signed_out(&attacker).await;

    let state = query_param(&callback, "state").expect("a state");
    let forged = callback.replace(&state, &format!("{}x", &state[..state.len() - 1]));
    assert_refused(&victim.get(&forged).await, "invalid_state");
    let no_state = callback.replace(&format!("state={state}"), "");
    assert_refused(&victim.get(&no_state).await, "invalid_state");

    // The real callback still works in the browser that started it.
    assert_eq!(victim.get(&callback).await.status, 303);
    assert_eq!(victim.get("/me").await.status, 200);
}

async fn a_state_is_used_once(env: Env) {
    let (app, provider) = start(env).await;
    let browser = app.client();
    let authorization = begin(&browser, None).await;
    let callback = provider.authorize(&authorization).await;
    assert_eq!(browser.get(&callback).await.status, 303);
    assert_refused(&browser.get(&callback).await, "invalid_state");
    assert_eq!(browser.get("/me").await.status, 200, "still signed in");
}

async fn racing_callbacks_use_the_state_once(env: Env) {
    let (app, provider) = start(env).await;
    for trial in 0..8 {
        let browser = std::sync::Arc::new(app.client());
        let authorization = begin(&browser, None).await;
        let callback = provider.authorize(&authorization).await;
        let cookie = browser.token();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, base, cookie_name, cookie, callback) = (
                    barrier.clone(),
                    app.base.clone(),
                    app.cookie_name.clone(),
                    cookie.clone(),
                    callback.clone(),
                );
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .expect("a client");
                    let request = client.get(format!("{base}{callback}")).header(
                        "cookie",
                        format!("{cookie_name}={}", cookie.unwrap_or_default()),
                    );
                    barrier.wait().await;
                    request.send().await.expect("answered").status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for racer in racers {
            statuses.push(racer.await.expect("joined"));
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses.iter().filter(|s| **s == 303).count(),
            1,
            "trial {trial}: exactly one callback signs in: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| matches!(s, 303 | 400 | 409)),
            "trial {trial}: {statuses:?}"
        );
    }
}

async fn a_code_is_used_once(env: Env) {
    let (app, provider) = start(env).await;
    let first = app.client();
    let authorization = begin(&first, None).await;
    let used = provider.authorize(&authorization).await;
    assert_eq!(first.get(&used).await.status, 303);
    let code = query_param(&used, "code").expect("a code");

    let second = app.client();
    let authorization = begin(&second, None).await;
    let fresh = provider.authorize(&authorization).await;
    let fresh_code = query_param(&fresh, "code").expect("a code");
    let replayed = fresh.replace(&fresh_code, &code);
    assert_refused(&second.get(&replayed).await, "exchange_refused");
    assert_signed_out(&second).await;
}

async fn refused_id_token(env: Env, spoil: impl FnOnce(&mut NextLogin)) {
    let (app, provider) = start(env).await;
    let mut next = NextLogin::of("sso-mallory", "provider-session-m");
    spoil(&mut next);
    provider.set_next(next);
    let browser = app.client();
    let res = sign_in(&provider, &browser).await;
    assert_refused(&res, "invalid_id_token");
    assert!(
        !res.set_cookies().iter().any(|c| !c.contains("Max-Age=0")),
        "no session cookie: {:?}",
        res.set_cookies()
    );
    assert_signed_out(&browser).await;
}

async fn a_wrong_nonce_is_refused(env: Env) {
    refused_id_token(env, |next| next.wrong_nonce = true).await;
}

async fn a_wrong_audience_is_refused(env: Env) {
    refused_id_token(env, |next| next.wrong_audience = true).await;
}

async fn an_expired_id_token_is_refused(env: Env) {
    refused_id_token(env, |next| next.expired = true).await;
}

async fn a_provider_error_ends_the_attempt(env: Env) {
    let (app, provider) = start(env).await;
    let mut next = NextLogin::of("sso-alice", "s");
    next.error = Some("access_denied".into());
    provider.set_next(next);
    let browser = app.client();
    let authorization = begin(&browser, None).await;
    let callback = provider.authorize(&authorization).await;
    assert_refused(&browser.get(&callback).await, "provider_refused");
    assert_signed_out(&browser).await;
    // The attempt is over: its state is not taken again.
    assert_refused(&browser.get(&callback).await, "invalid_state");
}

/// Browsers signed in as `subject` during provider session `sid`.
async fn signed_in(app: &TestApp, provider: &SsoProvider, subject: &str, sid: &str) -> Client {
    provider.set_next(NextLogin::of(subject, sid));
    let browser = app.client();
    assert_eq!(sign_in(provider, &browser).await.status, 303);
    assert_eq!(browser.get("/me").await.status, 200);
    browser
}

async fn backchannel(app: &TestApp, token: &str) -> Res {
    app.client()
        .post_form("/logout/backchannel", &format!("logout_token={token}"))
        .await
}

async fn backchannel_logout_by_sid_ends_that_provider_session_only(env: Env) {
    let (app, provider) = start(env).await;
    let laptop = signed_in(&app, &provider, "sso-alice", "sid-laptop").await;
    let phone = signed_in(&app, &provider, "sso-alice", "sid-phone").await;
    let bob = signed_in(&app, &provider, "sso-bob", "sid-bob").await;

    let res = backchannel(&app, &provider.logout_token(None, Some("sid-laptop"))).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_signed_out(&laptop).await;
    assert_eq!(phone.get("/me").await.status, 200);
    assert_eq!(bob.get("/me").await.status, 200);

    // Both claims: the session must be the subject's.
    let res = backchannel(
        &app,
        &provider.logout_token(Some("sso-bob"), Some("sid-phone")),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(phone.get("/me").await.status, 200, "not bob's session");
}

async fn backchannel_logout_by_sub_ends_every_session_of_the_subject(env: Env) {
    let (app, provider) = start(env).await;
    let laptop = signed_in(&app, &provider, "sso-alice", "sid-laptop").await;
    let phone = signed_in(&app, &provider, "sso-alice", "sid-phone").await;
    let bob = signed_in(&app, &provider, "sso-bob", "sid-bob").await;
    let local_alice = app.logged_in("alice").await;

    let res = backchannel(&app, &provider.logout_token(Some("sso-alice"), None)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_signed_out(&laptop).await;
    assert_signed_out(&phone).await;
    assert_eq!(bob.get("/me").await.status, 200);
    assert_eq!(local_alice.get("/me").await.status, 200);
}

async fn a_logout_token_is_used_once_and_must_be_one(env: Env) {
    let (app, provider) = start(env).await;
    let browser = signed_in(&app, &provider, "sso-alice", "sid-1").await;
    let token = provider.logout_token(Some("sso-alice"), None);
    assert_eq!(backchannel(&app, &token).await.status, 200);
    assert_signed_out(&browser).await;

    let again = signed_in(&app, &provider, "sso-alice", "sid-2").await;
    let res = backchannel(&app, &token).await;
    assert_eq!(res.status, 400, "a replayed logout token: {}", res.body);
    assert_eq!(again.get("/me").await.status, 200);

    let issuer = provider.issuer().to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let event = serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} });
    let bad = [
        // An ID token is not a logout token.
        provider.sign(
            "JWT",
            &serde_json::json!({"iss": issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 60,
                "jti": "j1", "sub": "sso-alice", "nonce": "n", "events": event}),
        ),
        // No event.
        provider.sign(
            "logout+jwt",
            &serde_json::json!({"iss": issuer, "aud": CLIENT_ID, "iat": now, "jti": "j2",
                "sub": "sso-alice"}),
        ),
        // Another client's.
        provider.sign(
            "logout+jwt",
            &serde_json::json!({"iss": issuer, "aud": "other", "iat": now, "jti": "j3",
                "sub": "sso-alice", "events": event}),
        ),
        // Too old.
        provider.sign(
            "logout+jwt",
            &serde_json::json!({"iss": issuer, "aud": CLIENT_ID, "iat": now - 3600,
                "jti": "j4", "sub": "sso-alice", "events": event}),
        ),
        // Neither sid nor sub.
        provider.sign(
            "logout+jwt",
            &serde_json::json!({"iss": issuer, "aud": CLIENT_ID, "iat": now, "jti": "j5",
                "events": event}),
        ),
        "not.a.token".to_owned(),
    ];
    for token in bad {
        let res = backchannel(&app, &token).await;
        assert_eq!(res.status, 400, "{token}: {}", res.body);
    }
    assert_eq!(again.get("/me").await.status, 200, "nothing ended");
}

async fn a_form_logout_goes_on_to_the_provider(env: Env) {
    let (app, provider) = start(env).await;
    let browser = signed_in(&app, &provider, "sso-alice", "sid-1").await;
    let csrf = browser.csrf_token().expect("a CSRF token from /me");
    let res = browser
        .post_form("/logout", &format!("csrf_token={csrf}"))
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.header("location").expect("a Location").to_owned();
    assert!(
        location.starts_with(&format!("{}/logout?", provider.issuer())),
        "{location}"
    );
    assert!(query_param(&location, "id_token_hint").is_some_and(|t| t.split('.').count() == 3));
    assert_eq!(
        query_param(&location, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        query_param(&location, "post_logout_redirect_uri"),
        Some(format!("{}/", app.base))
    );
    assert_signed_out(&browser).await;
}
