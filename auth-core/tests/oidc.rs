//! External issuers against a provider served on 127.0.0.1: discovery,
//! key rotation, a failing and a slow provider, a flood of unknown key ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_core::adapter::Exchange;
use auth_core::jwt::oidc::ExternalIssuer;
use auth_core::jwt::{AccessTokens, Algorithm, JwtError, Key, NoClaims, Subject};
use auth_core::testing::{TestRequest, TestResponse};
use auth_core::{AuthHandle, AuthMethod, Authenticator, MemoryStore, Rejection, RolePermissions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the provider serves now.
struct Provider {
    issuer: String,
    /// The issuer its discovery document names.
    discovery_issuer: Mutex<String>,
    jwks: Mutex<String>,
    failing: std::sync::atomic::AtomicBool,
    delay: Mutex<Duration>,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
}

use std::sync::Mutex;

impl Provider {
    async fn start() -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/realms/test", listener.local_addr().unwrap());
        let provider = Arc::new(Self {
            discovery_issuer: Mutex::new(issuer.clone()),
            issuer,
            jwks: Mutex::new(r#"{"keys":[]}"#.into()),
            failing: false.into(),
            delay: Mutex::new(Duration::ZERO),
            discovery_hits: AtomicUsize::new(0),
            jwks_hits: AtomicUsize::new(0),
        });
        let served = provider.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let provider = served.clone();
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let n = socket.read(&mut request).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..n]).into_owned();
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let delay = *provider.delay.lock().unwrap();
                    tokio::time::sleep(delay).await;
                    let (status, body) = if provider.failing.load(Ordering::SeqCst) {
                        ("500 Internal Server Error", "oops".to_owned())
                    } else if path.ends_with("/.well-known/openid-configuration") {
                        provider.discovery_hits.fetch_add(1, Ordering::SeqCst);
                        let body = serde_json::json!({
                            "issuer": *provider.discovery_issuer.lock().unwrap(),
                            "jwks_uri": format!("{}/certs", provider.issuer),
                        });
                        ("200 OK", body.to_string())
                    } else if path.ends_with("/certs") {
                        provider.jwks_hits.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", provider.jwks.lock().unwrap().clone())
                    } else {
                        ("404 Not Found", String::new())
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        provider
    }

    /// A signer of this provider's tokens with a new key `kid`.
    fn signer(&self, kid: &str) -> AccessTokens {
        AccessTokens::builder(self.issuer.clone())
            .with_audience("api")
            .with_signing_key(Key::generate(kid, Algorithm::ES256).unwrap())
            .build()
            .unwrap()
    }

    /// Publishes the public keys of `signers`.
    fn publish(&self, signers: &[&AccessTokens]) {
        let keys: Vec<serde_json::Value> = signers
            .iter()
            .flat_map(|s| s.jwks()["keys"].as_array().unwrap().clone())
            .collect();
        *self.jwks.lock().unwrap() = serde_json::json!({ "keys": keys }).to_string();
    }

    fn fetches(&self) -> usize {
        self.discovery_hits.load(Ordering::SeqCst) + self.jwks_hits.load(Ordering::SeqCst)
    }
}

fn token(signer: &AccessTokens, user: &str) -> String {
    signer
        .issue(
            &Subject::new(user)
                .with_roles(["reader"])
                .with_scope(["openid docs:comment"]),
            &NoClaims {},
        )
        .unwrap()
        .token
}

/// Bounds a wait, so a hang fails the test instead of stalling it.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_then_rotation_to_a_new_key() {
    let provider = Provider::start().await;
    let first = provider.signer("k1");
    provider.publish(&[&first]);
    let issuer = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .build()
        .unwrap();
    assert!(bounded(issuer.ready()).await, "keys loaded");
    assert_eq!(provider.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(provider.jwks_hits.load(Ordering::SeqCst), 1);

    let auth = Authenticator::builder(MemoryStore::new())
        .with_external_issuer(issuer.clone())
        .with_role_permissions(RolePermissions::new().grant("reader", ["docs:read"]))
        .build()
        .unwrap();
    let handle = identity_of(&auth, &token(&first, "ann")).await.unwrap();
    let identity = handle.identity().expect("the provider's token is accepted");
    assert_eq!(identity.user_id(), "ann");
    assert_eq!(identity.method(), AuthMethod::Bearer);
    assert!(identity.has_permission("docs:read"), "from the role");
    assert!(identity.has_permission("docs:comment"), "from the scope");
    assert!(!identity.has_permission("docs:write"));

    // The provider rotates: a token with the new key fetches the keys once.
    let second = provider.signer("k2");
    provider.publish(&[&second]);
    let before = provider.fetches();
    let claims = bounded(issuer.verify(token(&second, "bob").as_bytes()))
        .await
        .unwrap();
    assert_eq!(claims.sub, "bob");
    assert_eq!(provider.fetches(), before + 1, "only the JWKS, once");
    assert_eq!(provider.discovery_hits.load(Ordering::SeqCst), 1);
    // The retired key is gone with its set.
    let old = bounded(issuer.verify(token(&first, "ann").as_bytes())).await;
    assert_eq!(old.unwrap_err(), JwtError::UnknownKey);

    // Another issuer's token, with the same key, is refused.
    let impostor = AccessTokens::builder("https://other.example")
        .with_audience("api")
        .with_signing_key(Key::generate("k2", Algorithm::ES256).unwrap())
        .build()
        .unwrap();
    let handle = identity_of(&auth, &token(&impostor, "eve")).await.unwrap();
    assert!(handle.identity().is_none());
    assert_eq!(
        handle.rejection(),
        Some(Rejection::InvalidToken {
            reason: JwtError::Issuer.as_str()
        })
    );
    // The wrong audience too.
    let elsewhere = AccessTokens::builder(provider.issuer.clone())
        .with_audience("another-api")
        .with_signing_key(Key::generate("k3", Algorithm::ES256).unwrap())
        .build()
        .unwrap();
    provider.publish(&[&second, &elsewhere]);
    let wrong = bounded(issuer.verify(token(&elsewhere, "bob").as_bytes())).await;
    assert_eq!(wrong.unwrap_err(), JwtError::Audience);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_slow_provider_keeps_the_last_good_keys() {
    let provider = Provider::start().await;
    let signer = provider.signer("k1");
    provider.publish(&[&signer]);
    let issuer = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .with_fetch_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(bounded(issuer.ready()).await);
    let good = token(&signer, "ann");

    provider.failing.store(true, Ordering::SeqCst);
    bounded(issuer.refresh()).await;
    assert!(bounded(issuer.verify(good.as_bytes())).await.is_ok());
    provider.failing.store(false, Ordering::SeqCst);

    // A provider slower than the timeout: the refresh gives up, the keys stay.
    *provider.delay.lock().unwrap() = Duration::from_secs(3);
    bounded(issuer.refresh()).await;
    assert!(bounded(issuer.verify(good.as_bytes())).await.is_ok());
    // A new key cannot be learnt from it, and the request is not stuck.
    let rotated = provider.signer("k2");
    provider.publish(&[&signer, &rotated]);
    let unknown = bounded(issuer.verify(token(&rotated, "bob").as_bytes())).await;
    assert_eq!(unknown.unwrap_err(), JwtError::UnknownKey);

    // Once it answers again, the next refresh learns the key.
    *provider.delay.lock().unwrap() = Duration::ZERO;
    bounded(issuer.refresh()).await;
    assert!(
        bounded(issuer.verify(token(&rotated, "bob").as_bytes()))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_key_ids_fetches_a_bounded_number_of_times() {
    let provider = Provider::start().await;
    let signer = provider.signer("k1");
    provider.publish(&[&signer]);
    let issuer = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .with_max_refreshes_per_minute(3)
        .build()
        .unwrap();
    assert!(bounded(issuer.ready()).await);
    let after_start = provider.fetches();
    // A slow provider makes concurrent requests pile up on one fetch.
    *provider.delay.lock().unwrap() = Duration::from_millis(100);
    let forged: Vec<String> = (0..200)
        .map(|i| token(&provider.signer(&format!("made-up-{i}")), "mallory"))
        .collect();
    let mut tasks = Vec::new();
    for token in forged {
        let issuer = issuer.clone();
        tasks.push(tokio::spawn(async move {
            issuer.verify(token.as_bytes()).await
        }));
    }
    for task in tasks {
        assert_eq!(
            bounded(task).await.unwrap().unwrap_err(),
            JwtError::UnknownKey
        );
    }
    let fetched = provider.fetches() - after_start;
    assert!(
        (1..=3).contains(&fetched),
        "{fetched} fetches for 200 unknown key ids"
    );
    // Known keys still work while the budget is spent.
    assert!(
        bounded(issuer.verify(token(&signer, "ann").as_bytes()))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_must_name_the_configured_issuer() {
    let provider = Provider::start().await;
    let signer = provider.signer("k1");
    provider.publish(&[&signer]);
    *provider.discovery_issuer.lock().unwrap() = "https://evil.example".into();
    let issuer = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .build()
        .unwrap();
    assert!(
        !bounded(issuer.ready()).await,
        "no keys from a foreign document"
    );
    assert_eq!(provider.jwks_hits.load(Ordering::SeqCst), 0);
    let refused = bounded(issuer.verify(token(&signer, "ann").as_bytes())).await;
    assert_eq!(refused.unwrap_err(), JwtError::UnknownKey);

    // A JWKS URL given directly skips discovery.
    let direct = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .with_jwks_url(format!("{}/certs", provider.issuer))
        .build()
        .unwrap();
    assert!(bounded(direct.ready()).await);
    assert!(
        bounded(direct.verify(token(&signer, "ann").as_bytes()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn configuration_is_checked() {
    use auth_core::jwt::oidc::OidcError;
    assert!(matches!(
        ExternalIssuer::builder("http://sso.example", "api").build(),
        Err(OidcError::Url(_))
    ));
    assert!(matches!(
        ExternalIssuer::builder("https://sso.example", " ").build(),
        Err(OidcError::Audience)
    ));
    assert!(matches!(
        ExternalIssuer::builder("https://sso.example", "api")
            .with_jwks_url("http://sso.example/certs")
            .build(),
        Err(OidcError::Url(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_key_set_is_refused() {
    use auth_core::jwt::oidc::{HttpFetcher, JwksFetcher, MAX_DOCUMENT_BYTES};
    let provider = Provider::start().await;
    let padding = "x".repeat(MAX_DOCUMENT_BYTES);
    *provider.jwks.lock().unwrap() = format!(r#"{{"keys":[],"pad":"{padding}"}}"#);
    let url = format!("{}/certs", provider.issuer);
    let fetched = bounded(HttpFetcher::new().unwrap().get(&url)).await;
    assert!(
        matches!(fetched, Err(auth_core::jwt::oidc::FetchError::TooLarge(ref u)) if *u == url),
        "{fetched:?}"
    );
    let issuer = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .build()
        .unwrap();
    assert!(!bounded(issuer.ready()).await);
}

/// A signer that sets the header's `typ` itself, as providers that do not
/// follow RFC 9068 do (`JWT`, or none), with any claims.
struct RawSigner {
    issuer: String,
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    /// The same key, for the provider's JWKS.
    published: AccessTokens,
}

impl RawSigner {
    fn new(issuer: &str, kid: &str) -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = Key::from_private_der(kid, Algorithm::ES256, pkcs8.as_ref()).unwrap();
        Self {
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
            published: AccessTokens::builder(issuer)
                .with_audience("api")
                .with_signing_key(key)
                .build()
                .unwrap(),
        }
    }

    fn sign(&self, typ: Option<&str>, sub: &str, extra: serde_json::Value) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = serde_json::json!({
            "iss": self.issuer, "sub": sub, "aud": "api",
            "iat": now, "exp": now + 300,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = typ.map(str::to_owned);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }
}

/// The request `req` as `auth` admits it; `Err` holds the refusal's status.
async fn admit(auth: &Authenticator, mut req: TestRequest) -> Result<AuthHandle, u16> {
    Exchange::new(auth.clone())
        .admit(&mut req)
        .await
        .map_err(|refused| refused.status())
}

async fn identity_of(auth: &Authenticator, token: &str) -> Result<AuthHandle, u16> {
    let req = TestRequest::get("/").with_header("authorization", format!("Bearer {token}"));
    admit(auth, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_are_refused_and_untyped_tokens_only_when_allowed() {
    let provider = Provider::start().await;
    let signer = RawSigner::new(&provider.issuer, "raw-1");
    provider.publish(&[&signer.published]);
    let strict = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .build()
        .unwrap();
    let lenient = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .accept_untyped()
        .build()
        .unwrap();
    assert!(bounded(strict.ready()).await && bounded(lenient.ready()).await);
    let none = serde_json::json!({});
    let cases = [
        // (typ, extra claims, accepted by strict, by lenient)
        (Some("at+jwt"), none.clone(), true, true),
        (Some("JWT"), none.clone(), false, true),
        (None, none.clone(), false, true),
        (Some("JWT"), serde_json::json!({"nonce": "n"}), false, false),
        (
            Some("at+jwt"),
            serde_json::json!({"nonce": "n"}),
            false,
            false,
        ),
        (
            Some("JWT"),
            serde_json::json!({"at_hash": "h"}),
            false,
            false,
        ),
        (Some("JWT"), serde_json::json!({"typ": "ID"}), false, false),
        (
            Some("JWT"),
            serde_json::json!({"typ": "Bearer"}),
            false,
            true,
        ),
    ];
    for (typ, extra, by_strict, by_lenient) in cases {
        let token = signer.sign(typ, "carol", extra.clone());
        for (issuer, wanted) in [(&strict, by_strict), (&lenient, by_lenient)] {
            let verdict = bounded(issuer.verify(token.as_bytes())).await;
            assert_eq!(verdict.is_ok(), wanted, "{typ:?} {extra}: {verdict:?}");
            if !wanted {
                assert_eq!(verdict.unwrap_err(), JwtError::WrongType, "{typ:?} {extra}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_subjects_are_not_local_users_unless_mapped() {
    let provider = Provider::start().await;
    let signer = RawSigner::new(&provider.issuer, "raw-2");
    provider.publish(&[&signer.published]);
    let unmapped = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .build()
        .unwrap();
    assert!(bounded(unmapped.ready()).await);
    let auth = Authenticator::builder(MemoryStore::new())
        .with_external_issuer(unmapped)
        .build()
        .unwrap();
    // The local alice has a session.
    let handle = admit(&auth, TestRequest::get("/")).await.unwrap();
    handle.login(auth_core::Login::new("alice")).await.unwrap();
    let mut res = TestResponse::new();
    Exchange::new(auth.clone())
        .respond(&handle, None, &mut res)
        .await
        .unwrap();
    let cookie = res.cookie_pair(0).unwrap().to_owned();

    // The provider's alice is not her.
    let external = signer.sign(Some("at+jwt"), "alice", serde_json::json!({}));
    let handle = identity_of(&auth, &external).await.unwrap();
    let identity = handle.identity().unwrap();
    assert_eq!(identity.user_id(), "alice");
    assert!(!identity.is_local());
    assert_eq!(identity.issuer(), Some(provider.issuer.as_str()));
    assert_eq!(identity.session_id(), None);
    for result in [
        handle.sessions().await.map(|_| ()),
        handle.logout_everywhere().await.map(|_| ()),
        handle.logout_others().await.map(|_| ()),
        handle.password_changed().await.map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, auth_core::Error::NotLocalUser), "{err}");
        assert_eq!(err.status(), 403);
    }
    let still = admit(&auth, TestRequest::get("/").with_header("cookie", &cookie))
        .await
        .unwrap();
    assert!(still.identity().is_some(), "the local alice is untouched");

    // Revocations stay in their namespace: the local alice's do not reach
    // the provider's, and the provider's reach only it.
    auth.revoke_user_tokens("alice").await.unwrap();
    assert!(
        identity_of(&auth, &external)
            .await
            .unwrap()
            .identity()
            .is_some()
    );
    auth.revoke_external_user_tokens(&provider.issuer, "alice")
        .await
        .unwrap();
    let handle = identity_of(&auth, &external).await.unwrap();
    assert!(handle.identity().is_none());
    assert_eq!(
        handle.rejection(),
        Some(Rejection::InvalidToken { reason: "revoked" })
    );
    // A token it issues later is accepted again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = signer.sign(Some("at+jwt"), "alice", serde_json::json!({}));
    assert!(
        identity_of(&auth, &later)
            .await
            .unwrap()
            .identity()
            .is_some()
    );

    // Mapped by the app (here, by a verified e-mail claim), the provider's
    // subject is the local user, revocations and all.
    let mapped = ExternalIssuer::builder(provider.issuer.clone(), "api")
        .with_local_users(|claims| {
            claims
                .custom
                .get("email")
                .and_then(|e| e.as_str())
                .filter(|e| *e == "bob@example.com")
                .map(|_| "bob".to_owned())
        })
        .build()
        .unwrap();
    assert!(bounded(mapped.ready()).await);
    let auth = Authenticator::builder(MemoryStore::new())
        .with_external_issuer(mapped)
        .build()
        .unwrap();
    let token = signer.sign(
        Some("at+jwt"),
        "f3b2-provider-id",
        serde_json::json!({"email": "bob@example.com"}),
    );
    let identity = identity_of(&auth, &token)
        .await
        .unwrap()
        .identity()
        .unwrap();
    assert_eq!(identity.user_id(), "bob");
    assert!(identity.is_local());
    auth.revoke_user_tokens("bob").await.unwrap();
    assert!(
        identity_of(&auth, &token)
            .await
            .unwrap()
            .identity()
            .is_none()
    );
}
