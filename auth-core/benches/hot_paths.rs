//! The hot paths, per request: authenticating from a cookie (memory
//! store), verifying an access token per algorithm (beside the raw
//! aws-lc-rs verification of the same input, the floor), minting a gateway
//! token, and finding the session cookie in a `Cookie` header.
//!
//! `cargo bench -p auth-core --all-features --bench hot_paths`

#![allow(missing_docs)] // criterion_group! defines an undocumented function.

use std::hint::black_box;

use auth_core::adapter::Exchange;
use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key, NoClaims, Subject};
use auth_core::testing::{TestRequest, TestResponse};
use auth_core::{Authenticator, CookiePolicy, Login, MemoryStore};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

fn authenticate(c: &mut Criterion) {
    let rt = runtime();
    let auth = Authenticator::builder(MemoryStore::new())
        .with_cookie(CookiePolicy::default().with_secure(false))
        .build()
        .unwrap();
    let exchange = Exchange::new(auth);
    // 10 000 other sessions, so the store is not trivially small.
    let cookie = rt.block_on(async {
        for i in 0..10_000 {
            let h = exchange
                .admit(&mut TestRequest::post("/login"))
                .await
                .unwrap();
            h.login(Login::new(format!("user{i}"))).await.unwrap();
        }
        let h = exchange
            .admit(&mut TestRequest::post("/login"))
            .await
            .unwrap();
        h.login(Login::new("alice").with_roles(["user"]))
            .await
            .unwrap();
        let mut res = TestResponse::new();
        exchange.respond(&h, None, &mut res).await.unwrap();
        format!("theme=dark; {}; lang=en", res.cookie_pair(0).unwrap())
    });
    let request = TestRequest::get("/me").with_header("cookie", &cookie);
    c.bench_function("authenticate/cookie/memory", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut req = black_box(request.clone());
                let handle = exchange.admit(&mut req).await.unwrap();
                let mut res = TestResponse::new();
                exchange.respond(&handle, None, &mut res).await.unwrap();
                black_box(res);
            })
        })
    });
    // Parsing a token and hashing its secret to compare with the stored
    // verifier (SHA-256): natively this uses the CPU's SHA extensions
    // where it has them, which valgrind does not emulate (so the load
    // benchmark's instruction counts charge the portable code).
    let token = auth_core::SessionToken::generate().unwrap().expose();
    c.bench_function("token/parse_and_verifier", |b| {
        b.iter(|| {
            auth_core::SessionToken::parse(black_box(token.as_bytes()))
                .unwrap()
                .verifier()
        })
    });
    let policy = CookiePolicy::default().with_secure(false);
    c.bench_function("cookie/find_session", |b| {
        b.iter(|| {
            matches!(
                black_box(policy.find_session_cookie([black_box(cookie.as_bytes())])),
                auth_core::cookie::CookieLookup::Found(_)
            )
        })
    });
}

/// The raw verification of the token's signature with aws-lc-rs and a key
/// parsed once: the floor any JWT verification stands on.
fn raw_verify(
    alg: Algorithm,
    public: &[u8],
    secret: Option<&[u8]>,
    token: &str,
) -> impl Fn() -> bool + use<> {
    use aws_lc_rs::signature::{self, ParsedPublicKey};
    let (message, sig) = token.rsplit_once('.').unwrap();
    let message = message.as_bytes().to_vec();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    enum Raw {
        Public(ParsedPublicKey),
        Hmac(Box<aws_lc_rs::hmac::Key>),
    }
    let raw = match alg {
        Algorithm::HS256 => Raw::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            secret.unwrap(),
        ))),
        Algorithm::ES256 => {
            Raw::Public(ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public).unwrap())
        }
        Algorithm::EdDSA => Raw::Public(ParsedPublicKey::new(&signature::ED25519, public).unwrap()),
        other => panic!("no raw baseline for {other:?}"),
    };
    move || match &raw {
        Raw::Public(key) => key.verify_sig(black_box(&message), black_box(&sig)).is_ok(),
        Raw::Hmac(key) => {
            aws_lc_rs::hmac::verify(key, black_box(&message), black_box(&sig)).is_ok()
        }
    }
}

/// The signing key's public key as aws-lc-rs takes it, from the JWKS.
fn public_key(tokens: &AccessTokens) -> Vec<u8> {
    let jwks = tokens.jwks();
    let Some(jwk) = jwks["keys"].get(0) else {
        return Vec::new();
    };
    let part = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    match jwk["kty"].as_str() {
        Some("EC") => [vec![4], part("x"), part("y")].concat(),
        Some("OKP") => part("x"),
        other => panic!("no raw baseline for {other:?}"),
    }
}

fn verify(c: &mut Criterion) {
    let secret = [7u8; 32];
    for (name, key) in [
        ("HS256", Key::hmac("k", Algorithm::HS256, &secret).unwrap()),
        ("ES256", Key::generate("k", Algorithm::ES256).unwrap()),
        ("EdDSA", Key::generate("k", Algorithm::EdDSA).unwrap()),
    ] {
        let alg = key.algorithm();
        let tokens = AccessTokens::builder("https://auth.bench")
            .with_audience("api")
            .with_signing_key(key)
            .build()
            .unwrap();
        let token = tokens
            .issue(&Subject::new("alice").with_roles(["user"]), &NoClaims {})
            .unwrap()
            .token;
        c.bench_function(&format!("jwt/verify/{name}"), |b| {
            b.iter(|| {
                tokens
                    .verify::<NoClaims>(black_box(token.as_bytes()))
                    .unwrap()
            })
        });
        let raw = raw_verify(alg, &public_key(&tokens), Some(&secret), &token);
        assert!(raw(), "the raw baseline verifies");
        c.bench_function(&format!("jwt/raw-aws-lc/{name}"), |b| b.iter(&raw));
        // What a verification costs through jsonwebtoken, which parses the
        // public key again on every call.
        let decoding = match alg {
            Algorithm::HS256 => jsonwebtoken::DecodingKey::from_secret(&secret),
            _ => {
                let jwk: jsonwebtoken::jwk::Jwk =
                    serde_json::from_value(tokens.jwks()["keys"][0].clone()).unwrap();
                jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap()
            }
        };
        let mut validation = jsonwebtoken::Validation::new(match alg {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            _ => jsonwebtoken::Algorithm::EdDSA,
        });
        validation.set_audience(&["api"]);
        c.bench_function(&format!("jwt/jsonwebtoken-decode/{name}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation)
                    .unwrap()
            })
        });
    }
}

fn gateway(c: &mut Criterion) {
    let rt = runtime();
    let tokens = AccessTokens::builder("https://gateway.bench")
        .with_signing_key(Key::generate("gw", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let gateway = GatewayTokens::new("x-user-token", tokens.clone()).unwrap();
    let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build().unwrap());
    let identity = rt.block_on(async {
        let h = exchange
            .admit(&mut TestRequest::post("/login"))
            .await
            .unwrap();
        h.login(Login::new("alice").with_roles(["user"]))
            .await
            .unwrap()
    });
    gateway.header_value(&identity).unwrap();
    c.bench_function("gateway/header_value/cached", |b| {
        b.iter(|| gateway.header_value(black_box(&identity)).unwrap())
    });
    c.bench_function("gateway/mint/EdDSA", |b| {
        b.iter(|| {
            tokens
                .issue(black_box(&Subject::new("alice")), &NoClaims {})
                .unwrap()
        })
    });
}

criterion_group!(benches, authenticate, verify, gateway);
criterion_main!(benches);
