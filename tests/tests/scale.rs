//! Instances that agree: two demo instances on one Redis, sharing the
//! access-token key and the refresh secret, behind a client that sends
//! each request to the next instance in turn. Whichever answers, logins,
//! access tokens, refreshes, logouts and revocations hold; a key rotated
//! out keeps verifying what it signed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_behaviour_tests::{Client, Env, Options, PemFile, Res, TestApp, pem_key_file, scenarios};
use example_shared::SharedKeys;

scenarios!(@on axum_redis, Axum, Redis;
    instances_sharing_keys_accept_each_others_credentials,
    a_rotated_key_keeps_verifying_what_it_signed,
    instances_with_their_own_keys_refuse_each_others_tokens
);
scenarios!(@on actix_redis, Actix, Redis;
    instances_sharing_keys_accept_each_others_credentials,
    a_rotated_key_keeps_verifying_what_it_signed,
    instances_with_their_own_keys_refuse_each_others_tokens
);

const REFRESH_KEY: &str = "behaviour-tests-refresh-key-of-at-least-32-bytes";

fn shared(current: &PemFile, previous: Option<&PemFile>) -> SharedKeys {
    SharedKeys {
        access_key_file: Some(current.name()),
        previous_key_file: previous.map(PemFile::name),
        refresh_key: Some(REFRESH_KEY.into()),
    }
}

/// Two instances on one Redis with `keys`.
async fn pair(env: Env, keys: SharedKeys) -> (TestApp, TestApp) {
    let a = TestApp::start_with(
        env,
        Options {
            keys: keys.clone(),
            ..Options::default()
        },
    )
    .await;
    let b = TestApp::start_with(
        env,
        Options {
            redis: a.redis.clone(),
            keys,
            ..Options::default()
        },
    )
    .await;
    (a, b)
}

/// A browser behind a round-robin balancer: each request goes to the next
/// instance, with the cookie and CSRF token the last answer left.
struct Balanced {
    clients: [Client; 2],
    next: AtomicUsize,
}

impl Balanced {
    fn new(a: &TestApp, b: &TestApp) -> Self {
        Self {
            clients: [a.client(), b.client()],
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> &Client {
        let i = self.next.fetch_add(1, Ordering::SeqCst) % 2;
        let (from, to) = (&self.clients[1 - i], &self.clients[i]);
        to.set_token(from.token());
        to.set_csrf_token(from.csrf_token());
        to
    }

    async fn get(&self, path: &str) -> Res {
        self.pick().get(path).await
    }

    async fn post(&self, path: &str) -> Res {
        self.pick().post(path).await
    }

    async fn refresh(&self, token: &str) -> Res {
        self.pick().refresh(token).await
    }

    async fn get_bearer(&self, path: &str, token: &str) -> Res {
        self.pick().get_bearer(path, token).await
    }
}

async fn instances_sharing_keys_accept_each_others_credentials(env: Env) {
    let key = pem_key_file();
    let (a, b) = pair(env, shared(&key, None)).await;
    let browser = Balanced::new(&a, &b);
    assert_eq!(browser.pick().login_json("alice").await.status, 200);
    for _ in 0..4 {
        assert_eq!(browser.get("/me").await.status, 200);
    }
    let jwks_a = a.client().get("/.well-known/jwks.json").await.json();
    assert_eq!(
        jwks_a,
        b.client().get("/.well-known/jwks.json").await.json()
    );
    assert_eq!(jwks_a["keys"].as_array().unwrap().len(), 1, "{jwks_a}");

    let app = Balanced::new(&a, &b);
    let mut pair = app.pick().token_pair("alice").await;
    for _ in 0..4 {
        let access = pair["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.get_bearer("/me", &access).await.status, 200);
        let refreshed = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        pair = refreshed.json();
    }
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();

    assert_eq!(browser.post("/logout-all").await.status, 204);
    for _ in 0..2 {
        assert_eq!(browser.get("/me").await.status, 401);
    }
    // Every instance refuses alice's tokens once the revocation reached it.
    for instance in [&a, &b] {
        let mut status = 0;
        for _ in 0..40 {
            status = instance.client().get_bearer("/me", &access).await.status;
            if status == 401 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, 401, "the access token is revoked everywhere");
        assert_eq!(instance.client().refresh(&refresh).await.status, 400);
    }
}

async fn a_rotated_key_keeps_verifying_what_it_signed(env: Env) {
    let (old, new) = (pem_key_file(), pem_key_file());
    let before = TestApp::start_with(
        env,
        Options {
            keys: shared(&old, None),
            ..Options::default()
        },
    )
    .await;
    let signed_before = before.client().token_pair("alice").await;
    let old_token = signed_before["access_token"].as_str().unwrap().to_owned();

    let after = TestApp::start_with(
        env,
        Options {
            redis: before.redis.clone(),
            keys: shared(&new, Some(&old)),
            ..Options::default()
        },
    )
    .await;
    let jwks = after.client().get("/.well-known/jwks.json").await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    assert_eq!(
        after.client().get_bearer("/me", &old_token).await.status,
        200,
        "a token signed before the rotation"
    );
    let signed_after = after.client().token_pair("alice").await;
    let new_token = signed_after["access_token"].as_str().unwrap();
    assert_eq!(
        after.client().get_bearer("/me", new_token).await.status,
        200
    );
    assert_ne!(
        kid_of(&old_token),
        kid_of(new_token),
        "new tokens are signed with the new key"
    );
    // A refresh token from before the rotation still refreshes.
    let refreshed = after
        .client()
        .refresh(signed_before["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn instances_with_their_own_keys_refuse_each_others_tokens(env: Env) {
    let (a, b) = pair(env, SharedKeys::default()).await;
    let pair = a.client().token_pair("alice").await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(a.client().get_bearer("/me", access).await.status, 200);
    assert_eq!(b.client().get_bearer("/me", access).await.status, 401);
    let refresh = pair["refresh_token"].as_str().unwrap();
    assert_eq!(b.client().refresh(refresh).await.status, 400);
}
