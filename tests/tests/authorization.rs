//! Permissions, API keys, access tokens in an `HttpOnly` cookie and
//! tokens of an external OpenID provider, through the demos.

use auth_behaviour_tests::{
    Env, Options, Res, TEST_API_KEY, TestApp, TestProvider, password_of, scenarios,
};
use serde_json::json;

scenarios!(
    permissions_guard_routes,
    api_keys_authenticate_without_a_session,
    an_invalid_api_key_never_falls_through,
    access_tokens_travel_in_an_http_only_cookie,
    tokens_of_a_trusted_provider_carry_its_scopes,
    a_providers_subject_is_not_the_local_user_of_that_name,
    id_tokens_are_not_access_tokens,
    a_providers_roles_come_from_the_configured_claim_path,
);

async fn a_providers_roles_come_from_the_configured_claim_path(env: Env) {
    let provider = TestProvider::start().await;
    let keycloak = json!({
        "realm_access": {"roles": ["admin"]},
        "email": "erin@sso.example",
    });
    let token = format!(
        "Bearer {}",
        provider.token_with("sso-erin", &[], &[], &keycloak)
    );
    let auth = [("authorization", token.as_bytes())];
    for (paths, admitted) in [(vec![], 403), (vec!["realm_access.roles".to_owned()], 200)] {
        let mut settings = provider.settings();
        settings.roles_claims = paths;
        let options = Options {
            oidc: Some(settings),
            ..Options::default()
        };
        let app = TestApp::start_with(env, options).await;
        let client = app.client();
        assert_eq!(client.get_with("/admin", &auth).await.status, admitted);
        let me = client.get_with("/me", &auth).await.json();
        assert_eq!(me["issuer"], json!(provider.issuer));
        assert_eq!(
            me["claims"]["email"], "erin@sso.example",
            "the provider's own claims"
        );
        let roles = if admitted == 200 {
            json!(["admin"])
        } else {
            json!([])
        };
        assert_eq!(me["roles"], roles);
    }
    // The demo's own tokens name the demo as their issuer.
    let app = TestApp::start(env).await;
    let client = app.client();
    let pair = client.token_pair("alice").await;
    let own = format!("Bearer {}", pair["access_token"].as_str().unwrap());
    let me = client
        .get_with("/me", &[("authorization", own.as_bytes())])
        .await
        .json();
    assert_eq!(me["issuer"], example_shared::TOKEN_ISSUER);
    assert_eq!(me.get("claims"), None);
}

fn assert_insufficient_scope(res: &Res, missing: &str) {
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(
        res.json(),
        json!({"error": "insufficient_scope", "missing": missing})
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

async fn permissions_guard_routes(env: Env) {
    let app = TestApp::start(env).await;
    assert_eq!(app.client().get("/reports").await.status, 401);
    assert_eq!(app.client().post("/reports").await.status, 401);

    let alice = app.logged_in("alice").await;
    let me = alice.get("/me").await.json();
    assert_eq!(me["permissions"], json!(["reports:read"]));
    let res = alice.get("/reports").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["reader"], "alice");
    // The guard layer and the extractor answer alike.
    assert_insufficient_scope(&alice.post("/reports").await, "reports:write");

    let admin = app.logged_in("admin").await;
    assert_eq!(
        admin.get("/me").await.json()["permissions"],
        json!(["reports:read", "reports:write"])
    );
    let res = admin.post("/reports").await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json()["created_by"], "admin");

    // A bearer caller gets the RFC 6750 challenge naming the scope.
    let tokens = app
        .client()
        .post_json(
            "/token",
            json!({"username": "alice", "password": password_of("alice")}),
        )
        .await
        .json();
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let res = app
        .client()
        .send(
            "POST",
            "/reports",
            &[("authorization", bearer.as_bytes())],
            None,
        )
        .await;
    assert_insufficient_scope(&res, "reports:write");
    let challenge = res.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="reports:write""#),
        "{challenge}"
    );
    let res = app
        .client()
        .get_with("/reports", &[("authorization", bearer.as_bytes())])
        .await;
    assert_eq!(res.status, 200, "roles grant permissions to tokens too");
}

async fn api_keys_authenticate_without_a_session(env: Env) {
    let app = TestApp::start(env).await;
    let key = [("x-api-key", TEST_API_KEY.as_bytes())];
    let client = app.client();
    let res = client.get_with("/reports", &key).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["reader"], "report-bot");
    assert!(res.set_cookies().is_empty(), "no cookie for an API key");
    let me = client.get_with("/me", &key).await.json();
    assert_eq!(me["user_id"], "report-bot");
    assert_eq!(me["auth"], "api_key");
    assert_eq!(me["roles"], json!(["bot"]));
    assert_eq!(me["session"], json!(null));
    // Not a browser credential: no CSRF token needed, the permission decides.
    let res = client.send("POST", "/reports", &key, None).await;
    assert_insufficient_scope(&res, "reports:write");
    assert_eq!(client.get_with("/admin", &key).await.status, 403);
    assert_eq!(app.sessions_in_store().await, 0, "nothing is stored");
}

async fn an_invalid_api_key_never_falls_through(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    assert_eq!(alice.get("/me").await.status, 200);
    let wrong = format!("{TEST_API_KEY}x");
    for headers in [
        vec![("x-api-key", wrong.as_bytes())],
        vec![("x-api-key", &b""[..])],
        vec![("x-api-key", b"two words")],
        vec![
            ("x-api-key", TEST_API_KEY.as_bytes()),
            ("x-api-key", TEST_API_KEY.as_bytes()),
        ],
    ] {
        // The session cookie rides along and must not be used.
        let res = alice.get_with("/me", &headers).await;
        assert_eq!(res.status, 401, "{headers:?}: {}", res.body);
        assert!(res.header("www-authenticate").is_some());
        assert!(
            res.set_cookies().is_empty(),
            "the session cookie is left alone"
        );
    }
    assert_eq!(alice.get("/me").await.status, 200, "the session lives on");
}

async fn access_tokens_travel_in_an_http_only_cookie(env: Env) {
    let app = TestApp::start(env).await;
    let alice = app.logged_in("alice").await;
    let csrf = alice.csrf_token().expect("a CSRF token from the login");
    assert_eq!(
        alice
            .send("POST", "/token/cookie", &[("x-csrf-token", b"nope")], None)
            .await
            .status,
        403,
        "setting the cookie is CSRF-protected"
    );
    let res = alice.post("/token/cookie").await;
    assert_eq!(res.status, 204, "{}", res.body);
    let set = res
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("access="))
        .expect("the access cookie");
    for attribute in ["Max-Age=300", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let token = set.split(';').next().unwrap()["access=".len()..].to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT");

    // The cookie alone authenticates, without a store read.
    let browser = app.client();
    let cookie = format!("access={token}");
    app.store.take_calls();
    let res = browser
        .get_with("/me", &[("cookie", cookie.as_bytes())])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let me = res.json();
    assert_eq!(me["auth"], "access_cookie");
    assert_eq!(me["user_id"], "alice");
    assert_eq!(me["csrf_token"], json!(csrf), "the session's CSRF token");
    assert_eq!(app.store.take_calls().reads(), 0);

    // Unsafe requests on the cookie need the CSRF token, as the session's do.
    let res = browser
        .send("POST", "/logout", &[("cookie", cookie.as_bytes())], None)
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json(), json!({"error": "csrf_rejected"}));
    // A tampered cookie is refused, never answered from the session cookie.
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let res = alice
        .get_with(
            "/me",
            &[("cookie", format!("access={tampered}").as_bytes())],
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(
        res.header("www-authenticate")
            .is_some_and(|c| c.contains("invalid_token"))
    );

    let res = browser
        .send(
            "POST",
            "/logout",
            &[
                ("cookie", cookie.as_bytes()),
                ("x-csrf-token", csrf.as_bytes()),
            ],
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(
        res.set_cookies()
            .iter()
            .any(|c| c.starts_with("access=;") && c.contains("Max-Age=0")),
        "logout removes the access cookie: {:?}",
        res.set_cookies()
    );
    // The logout ended the session behind the token, and with it the token.
    assert_eq!(alice.get("/me").await.status, 401);
    let res = browser
        .get_with("/me", &[("cookie", cookie.as_bytes())])
        .await;
    assert_eq!(res.status, 401);
}

async fn a_providers_subject_is_not_the_local_user_of_that_name(env: Env) {
    let provider = TestProvider::start().await;
    let app = TestApp::start_with(
        env,
        Options {
            oidc: Some(provider.settings()),
            ..Options::default()
        },
    )
    .await;
    let local = app.logged_in("alice").await;
    let client = app.client();
    let token = format!("Bearer {}", provider.token("alice", &["user"], &[]));
    let auth = [("authorization", token.as_bytes())];
    let me = client.get_with("/me", &auth).await.json();
    assert_eq!(me["user_id"], "alice");
    assert_eq!(me["issuer"], json!(provider.issuer));
    assert_eq!(me["local"], false);
    // None of the local alice's sessions are the provider's alice's.
    for (method, path) in [
        ("GET", "/sessions"),
        ("POST", "/logout-all"),
        (
            "DELETE",
            &*format!(
                "/sessions/{}",
                local.get("/me").await.json()["session"]["id"]
                    .as_str()
                    .unwrap()
            ),
        ),
    ] {
        let res = client.send(method, path, &auth, None).await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.body);
        assert_eq!(
            res.json(),
            json!({"error": "not_local_user"}),
            "{method} {path}"
        );
    }
    assert_eq!(
        local.get("/me").await.status,
        200,
        "the local alice is untouched"
    );
    assert_eq!(
        local
            .get("/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The demo's own tokens are local, and say who issued them.
    let own = client.token_pair("alice").await;
    let me = client
        .get_bearer("/me", own["access_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(
        (me["local"].clone(), me["issuer"].clone()),
        (json!(true), json!(example_shared::TOKEN_ISSUER))
    );
}

async fn id_tokens_are_not_access_tokens(env: Env) {
    let provider = TestProvider::start().await;
    let app = TestApp::start_with(
        env,
        Options {
            oidc: Some(provider.settings()),
            ..Options::default()
        },
    )
    .await;
    let res = app
        .client()
        .get_bearer("/me", &provider.id_token("carol"))
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(
        res.header("www-authenticate")
            .is_some_and(|c| c.contains("invalid_token")),
        "{:?}",
        res.header("www-authenticate")
    );
}

async fn tokens_of_a_trusted_provider_carry_its_scopes(env: Env) {
    let provider = TestProvider::start().await;
    let app = TestApp::start_with(
        env,
        Options {
            oidc: Some(provider.settings()),
            ..Options::default()
        },
    )
    .await;
    let client = app.client();
    let bearer = |token: String| format!("Bearer {token}");

    let token = bearer(provider.token("sso-carol", &["user"], &["openid reports:write"]));
    let auth = [("authorization", token.as_bytes())];
    let res = client.get_with("/me", &auth).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let me = res.json();
    assert_eq!(me["user_id"], "sso-carol");
    assert_eq!(me["auth"], "bearer");
    assert_eq!(me["session"], json!(null));
    assert_eq!(
        me["permissions"],
        json!(["openid", "reports:read", "reports:write"]),
        "the role's permissions and the token's scopes"
    );
    let res = client.send("POST", "/reports", &auth, None).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json()["created_by"], "sso-carol");
    assert!(res.set_cookies().is_empty());

    // Without the scope, the guard names it.
    let token = bearer(provider.token("sso-dave", &[], &["openid"]));
    let auth = [("authorization", token.as_bytes())];
    assert_insufficient_scope(&client.get_with("/reports", &auth).await, "reports:read");

    // A key the provider never published claims its issuer in vain, and
    // made-up keys do not turn into a fetch each.
    let forger = auth_core::jwt::AccessTokens::builder(provider.issuer.clone())
        .with_audience(TestProvider::AUDIENCE)
        .with_signing_key(
            auth_core::jwt::Key::generate("sso-1", auth_core::jwt::Algorithm::ES256).unwrap(),
        )
        .build()
        .unwrap();
    let forged = |kid_user: &str| {
        forger
            .issue(
                &auth_core::jwt::Subject::new(kid_user).with_roles(["admin"]),
                &auth_core::jwt::NoClaims {},
            )
            .unwrap()
            .token
    };
    let fetches = provider.jwks_fetches();
    for user in [
        "eve", "eve2", "eve3", "eve4", "eve5", "eve6", "eve7", "eve8",
    ] {
        let token = bearer(forged(user));
        let res = client
            .get_with("/me", &[("authorization", token.as_bytes())])
            .await;
        assert_eq!(res.status, 401, "{}", res.body);
        assert!(
            res.header("www-authenticate")
                .is_some_and(|c| c.contains("invalid_token")),
            "{:?}",
            res.header("www-authenticate")
        );
    }
    assert_eq!(
        provider.jwks_fetches(),
        fetches,
        "a known kid with a bad signature fetches nothing"
    );

    // The demo's own tokens still work beside the provider's.
    let tokens = client
        .post_json(
            "/token",
            json!({"username": "alice", "password": password_of("alice")}),
        )
        .await
        .json();
    let own = bearer(tokens["access_token"].as_str().unwrap().to_owned());
    let res = client
        .get_with("/me", &[("authorization", own.as_bytes())])
        .await;
    assert_eq!(res.json()["user_id"], "alice");
}
