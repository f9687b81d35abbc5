//! The negative checklist: every way a token can be wrong, each its own case.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::clock::ManualClock;

const RSA_2048: &[u8] = include_bytes!("testdata/rsa2048.pem");
const RSA_1024: &[u8] = include_bytes!("testdata/rsa1024.pem");
const ISSUER: &str = "https://auth.test";
const AUDIENCE: &str = "api";

struct Fixture {
    tokens: AccessTokens,
    key: Key,
    clock: ManualClock,
}

fn fixture_with(key: Key) -> Fixture {
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let tokens = AccessTokens::builder(ISSUER)
        .with_audience(AUDIENCE)
        .with_signing_key(key.clone())
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    Fixture { tokens, key, clock }
}

fn fixture() -> Fixture {
    fixture_with(Key::generate("k1", Algorithm::ES256).unwrap())
}

impl Fixture {
    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Valid claims, as JSON, to be spoiled by a test.
    fn claims(&self) -> Value {
        let now = self.now();
        json!({"iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "exp": now + 300,
               "iat": now, "nbf": now, "jti": "j1", "roles": ["user"]})
    }

    fn header(&self) -> Header {
        let mut h = Header::new(self.key.alg.to_jwt());
        h.typ = Some("at+jwt".into());
        h.kid = Some(self.key.kid.clone());
        h
    }

    /// Signs arbitrary claims with the real key and header.
    fn sign(&self, claims: &Value) -> String {
        self.sign_with(&self.header(), claims)
    }

    fn sign_with(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, self.key.encoding.as_ref().unwrap()).unwrap()
    }

    fn verify(&self, token: impl AsRef<[u8]>) -> Result<Claims, JwtError> {
        self.tokens.verify::<NoClaims>(token.as_ref())
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn replace_segment(token: &str, i: usize, new: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[i] = new;
    parts.join(".")
}

#[test]
fn every_algorithm_round_trips() {
    let keys = [
        Key::generate("hs256", Algorithm::HS256).unwrap(),
        Key::generate("hs384", Algorithm::HS384).unwrap(),
        Key::generate("hs512", Algorithm::HS512).unwrap(),
        Key::from_private_pem("rs256", Algorithm::RS256, RSA_2048).unwrap(),
        Key::from_private_pem("ps256", Algorithm::PS256, RSA_2048).unwrap(),
        Key::generate("es256", Algorithm::ES256).unwrap(),
        Key::generate("es384", Algorithm::ES384).unwrap(),
        Key::generate("eddsa", Algorithm::EdDSA).unwrap(),
    ];
    for key in keys {
        let alg = key.algorithm();
        let f = fixture_with(key);
        let issued = f
            .tokens
            .issue(&Subject::new("alice").with_roles(["user"]), &NoClaims {})
            .unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(issued.token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["typ"], "at+jwt", "{alg}");
        assert_eq!(header["alg"], alg.as_str());
        let claims = f
            .verify(&issued.token)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.roles, ["user"]);
        assert_eq!(claims.exp - claims.iat, 300);
        assert_eq!(issued.expires_in, 300);
    }
}

#[test]
fn application_claims_travel_typed() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Tenant {
        tenant: String,
        plan: u8,
    }
    let f = fixture();
    let sid = SessionId::generate().unwrap();
    let issued = f
        .tokens
        .issue(
            &Subject::new("alice").with_session(sid.clone()),
            &Tenant {
                tenant: "acme".into(),
                plan: 2,
            },
        )
        .unwrap();
    let claims = f.tokens.verify::<Tenant>(issued.token.as_bytes()).unwrap();
    assert_eq!(
        claims.custom,
        Tenant {
            tenant: "acme".into(),
            plan: 2
        }
    );
    assert_eq!(claims.sid.as_deref(), Some(sid.as_str()));
    assert!(claims.jti.is_some());
}

#[test]
fn alg_none_in_every_spelling_is_refused() {
    let f = fixture();
    let payload = b64(&f.claims());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&json!({"alg": alg, "typ": "at+jwt", "kid": "k1"}));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.AAAA"),
        ] {
            let err = f.verify(&token).unwrap_err();
            assert!(
                matches!(err, JwtError::AlgorithmMismatch | JwtError::Malformed),
                "{alg}: {err:?}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let f = fixture();
    let jwk = serde_json::to_vec(f.key.public_jwk().unwrap()).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("k1".into());
    for public in [jwk.clone(), f.tokens.jwks().to_string().into_bytes()] {
        let token =
            jsonwebtoken::encode(&header, &f.claims(), &EncodingKey::from_secret(&public)).unwrap();
        assert_eq!(f.verify(&token).unwrap_err(), JwtError::AlgorithmMismatch);
    }
}

#[test]
fn an_allowed_alg_that_is_not_the_keys_is_refused() {
    let f = fixture_with(Key::generate("k1", Algorithm::HS256).unwrap());
    let mut header = f.header();
    header.alg = jsonwebtoken::Algorithm::HS512;
    let secret = f.key.decoding.try_get_hmac_secret().unwrap().to_vec();
    let token =
        jsonwebtoken::encode(&header, &f.claims(), &EncodingKey::from_secret(&secret)).unwrap();
    assert_eq!(f.verify(&token).unwrap_err(), JwtError::AlgorithmMismatch);
}

#[test]
fn unknown_and_missing_kid_are_refused() {
    let f = fixture();
    let mut header = f.header();
    header.kid = Some("k2".into());
    assert_eq!(
        f.verify(f.sign_with(&header, &f.claims())).unwrap_err(),
        JwtError::UnknownKey
    );
    header.kid = None;
    assert_eq!(
        f.verify(f.sign_with(&header, &f.claims())).unwrap_err(),
        JwtError::UnknownKey
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let f = fixture();
    let token = f.sign(&f.claims());
    let mut spoiled = f.claims();
    spoiled["roles"] = json!(["admin"]);
    let tampered = replace_segment(&token, 1, &b64(&spoiled));
    assert_eq!(f.verify(&tampered).unwrap_err(), JwtError::BadSignature);
    let sig = token.split('.').nth(2).unwrap();
    let mut flipped = sig.as_bytes().to_vec();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let tampered = replace_segment(&token, 2, std::str::from_utf8(&flipped).unwrap());
    assert_eq!(f.verify(&tampered).unwrap_err(), JwtError::BadSignature);
}

#[test]
fn zero_and_out_of_range_ecdsa_signatures_are_refused() {
    let f = fixture();
    let token = f.sign(&f.claims());
    let order_p256 = {
        // n of P-256, then all-ones: r and s out of range.
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        [n.clone(), n].concat()
    };
    for sig in [
        vec![0u8; 64],
        vec![0xff; 64],
        order_p256,
        vec![0u8; 63],
        vec![1u8; 65],
    ] {
        let forged = replace_segment(&token, 2, &URL_SAFE_NO_PAD.encode(&sig));
        let err = f.verify(&forged).unwrap_err();
        assert!(
            matches!(err, JwtError::BadSignature | JwtError::Malformed),
            "{err:?}"
        );
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn exp_is_required_and_claim_types_are_strict() {
    let f = fixture();
    let mut no_exp = f.claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(f.verify(f.sign(&no_exp)).unwrap_err(), JwtError::Malformed);
    let now = f.now();
    let bad_values = [
        json!((now + 300).to_string()),
        json!((now + 300) as f64 + 0.5),
        json!(1e30),
        Value::Null,
        json!([now + 300]),
        json!({"at": now + 300}),
        json!(u64::MAX),
        json!(true),
    ];
    for claim in ["exp", "nbf", "iat"] {
        for bad in &bad_values {
            // A null nbf means absent, which is allowed; every other bad
            // value is malformed.
            if claim == "nbf" && bad.is_null() {
                continue;
            }
            let mut claims = f.claims();
            claims[claim] = bad.clone();
            let err = f.verify(f.sign(&claims)).unwrap_err();
            assert_eq!(err, JwtError::Malformed, "{claim} = {bad}");
        }
    }
    let mut negative = f.claims();
    negative["exp"] = json!(-1);
    assert_eq!(f.verify(f.sign(&negative)).unwrap_err(), JwtError::Expired);
}

#[test]
fn expiry_and_not_before_honour_the_leeway_edges() {
    let f = fixture();
    let now = f.now();
    let leeway = 30;
    let case = |field: &str, value: i64| {
        let mut c = f.claims();
        c[field] = json!(value);
        f.verify(f.sign(&c))
    };
    assert!(case("exp", now - leeway + 1).is_ok(), "inside the leeway");
    assert_eq!(case("exp", now - leeway).unwrap_err(), JwtError::Expired);
    assert_eq!(case("exp", now - 3600).unwrap_err(), JwtError::Expired);
    assert!(case("nbf", now + leeway).is_ok(), "inside the leeway");
    assert_eq!(
        case("nbf", now + leeway + 1).unwrap_err(),
        JwtError::NotYetValid
    );
    assert_eq!(
        case("iat", now + leeway + 1).unwrap_err(),
        JwtError::NotYetValid
    );

    // A real token dies when its time comes.
    let issued = f
        .tokens
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap();
    f.clock.advance(time::Duration::seconds(300 + 29));
    assert!(f.verify(&issued.token).is_ok());
    f.clock.advance(time::Duration::seconds(1));
    assert_eq!(f.verify(&issued.token).unwrap_err(), JwtError::Expired);
}

#[test]
fn wrong_or_missing_issuer_and_audience_are_refused() {
    let f = fixture();
    let cases = [
        ("iss", Some(json!("https://evil.test")), JwtError::Issuer),
        ("iss", None, JwtError::Malformed),
        ("aud", Some(json!("other-api")), JwtError::Audience),
        ("aud", Some(json!(["a", "b"])), JwtError::Audience),
        ("aud", None, JwtError::Audience),
    ];
    for (claim, value, want) in cases {
        let mut c = f.claims();
        match &value {
            Some(v) => c[claim] = v.clone(),
            None => {
                c.as_object_mut().unwrap().remove(claim);
            }
        }
        assert_eq!(
            f.verify(f.sign(&c)).unwrap_err(),
            want,
            "{claim} = {value:?}"
        );
    }
    let mut many = f.claims();
    many["aud"] = json!(["other", AUDIENCE]);
    assert!(
        f.verify(f.sign(&many)).is_ok(),
        "an audience list that includes ours"
    );
}

#[test]
fn wrong_typ_and_critical_headers_are_refused() {
    let f = fixture();
    for typ in [None, Some("JWT"), Some("refresh+jwt"), Some("at+jwt2")] {
        let mut h = f.header();
        h.typ = typ.map(Into::into);
        assert_eq!(
            f.verify(f.sign_with(&h, &f.claims())).unwrap_err(),
            JwtError::WrongType,
            "{typ:?}"
        );
    }
    let mut h = f.header();
    h.typ = Some("application/at+jwt".into());
    assert!(f.verify(f.sign_with(&h, &f.claims())).is_ok());
    let mut h = f.header();
    h.crit = Some(vec!["exp".into()]);
    assert_eq!(
        f.verify(f.sign_with(&h, &f.claims())).unwrap_err(),
        JwtError::Critical
    );
}

#[test]
fn malformed_shapes_are_refused() {
    let f = fixture();
    let token = f.sign(&f.claims());
    let parts: Vec<&str> = token.split('.').collect();
    let cases: Vec<Vec<u8>> = vec![
        format!("{}.{}", parts[0], parts[1]).into_bytes(),
        format!("{token}.{}", parts[2]).into_bytes(),
        format!("{token}.a.b").into_bytes(),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]).into_bytes(),
        format!("{token}=").into_bytes(),
        format!(" {token}").into_bytes(),
        format!("{token}\n").into_bytes(),
        format!("{}.{} .{}", parts[0], parts[1], parts[2]).into_bytes(),
        [token.as_bytes(), &[0xff, 0xfe]].concat(),
        b"..".to_vec(),
        Vec::new(),
        b"not a token".to_vec(),
        format!("{}.{}.{}", b64(&json!("string header")), parts[1], parts[2]).into_bytes(),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode("not json"),
            parts[2]
        )
        .into_bytes(),
    ];
    for case in cases {
        let err = f.verify(&case).unwrap_err();
        assert!(
            matches!(err, JwtError::Malformed | JwtError::BadSignature),
            "{:?}: {err:?}",
            String::from_utf8_lossy(&case)
        );
    }
}

#[test]
fn a_token_past_the_size_limit_is_refused_unread() {
    let f = fixture();
    // Its size alone decides: a megabyte, or one byte past the 8 KiB
    // limit, is too large whatever it holds; at the limit it is read.
    for len in [1 << 20, super::DEFAULT_MAX_TOKEN_BYTES + 1] {
        let huge = vec![b'A'; len];
        assert_eq!(f.verify(&huge).unwrap_err(), JwtError::TooLarge, "{len}");
    }
    let at_limit = vec![b'A'; super::DEFAULT_MAX_TOKEN_BYTES];
    assert_eq!(f.verify(&at_limit).unwrap_err(), JwtError::Malformed);
}

#[test]
fn revoked_sessions_and_users_are_refused() {
    let f = fixture();
    let sid = SessionId::generate().unwrap();
    let issued = f
        .tokens
        .issue(
            &Subject::new("alice").with_session(sid.clone()),
            &NoClaims {},
        )
        .unwrap();
    let other = f
        .tokens
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap();
    assert!(f.verify(&issued.token).is_ok());
    f.tokens.revocations().revoke_session(sid.as_str());
    assert_eq!(f.verify(&issued.token).unwrap_err(), JwtError::Revoked);
    assert!(f.verify(&other.token).is_ok(), "other sessions unaffected");
    // The cut-off is to the millisecond; a token of the same second counts
    // as issued before it.
    f.tokens
        .revocations()
        .revoke_user_before("alice", f.now() * 1000 + 999);
    assert_eq!(f.verify(&other.token).unwrap_err(), JwtError::Revoked);
    f.clock.advance(time::Duration::seconds(2));
    let fresh = f
        .tokens
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap();
    assert!(
        f.verify(&fresh.token).is_ok(),
        "tokens issued after the cut-off are fine"
    );
}

#[test]
fn keys_rotate_without_downtime() {
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let old = Key::generate("2030-01", Algorithm::EdDSA).unwrap();
    let new = Key::generate("2030-02", Algorithm::EdDSA).unwrap();
    let build = |keys: Vec<(Key, bool)>| {
        let mut b = AccessTokens::builder(ISSUER).with_clock(Arc::new(clock.clone()));
        for (k, signs) in keys {
            b = if signs {
                b.with_signing_key(k)
            } else {
                b.with_verification_key(k)
            };
        }
        b.build().unwrap()
    };
    let before = build(vec![(old.clone(), true)]);
    let old_token = before
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap()
        .token;
    let during = build(vec![(new.clone(), true), (old.clone(), false)]);
    assert!(
        during.verify::<NoClaims>(old_token.as_bytes()).is_ok(),
        "old tokens still valid"
    );
    let new_token = during
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap()
        .token;
    assert!(new_token.starts_with(
        &URL_SAFE_NO_PAD.encode(r#"{"typ":"at+jwt","alg":"EdDSA","kid":"2030-02"}"#)[..10]
    ));
    assert!(before.verify::<NoClaims>(new_token.as_bytes()).is_err());
    let jwks = during.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["2030-01", "2030-02"]);
    let after = build(vec![(new, true)]);
    assert_eq!(
        after.verify::<NoClaims>(old_token.as_bytes()).unwrap_err(),
        JwtError::UnknownKey
    );
}

#[test]
fn jwks_publishes_public_keys_only_and_verifies_elsewhere() {
    let es = Key::generate("es", Algorithm::ES256).unwrap();
    let hs = Key::generate("hs", Algorithm::HS256).unwrap();
    let tokens = AccessTokens::builder(ISSUER)
        .with_signing_key(es)
        .with_verification_key(hs)
        .build()
        .unwrap();
    let jwks = tokens.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "no HMAC secret in a JWKS: {jwks}");
    assert_eq!(keys[0]["kid"], "es");
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(keys[0].get("d").is_none(), "no private part");
    // An external verifier configured from the JWKS alone.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let remote = AccessTokens::builder(ISSUER)
        .with_verification_key(Key::from_jwk(&jwk).unwrap())
        .build()
        .unwrap();
    let token = tokens
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap()
        .token;
    assert_eq!(
        remote.verify::<NoClaims>(token.as_bytes()).unwrap().sub,
        "alice"
    );
    assert_eq!(
        remote.issue(&Subject::new("x"), &NoClaims {}).unwrap_err(),
        JwtError::NoSigningKey
    );
}

#[test]
fn weak_and_mismatched_keys_are_refused_when_built() {
    assert!(matches!(
        Key::hmac("k", Algorithm::HS256, &[7; 31]),
        Err(KeyError::WeakSecret)
    ));
    assert!(Key::hmac("k", Algorithm::HS256, &[7; 32]).is_ok());
    // At least as long as the hash output (RFC 7518 3.2).
    for (alg, shortest) in [(Algorithm::HS384, 48), (Algorithm::HS512, 64)] {
        assert!(
            matches!(
                Key::hmac("k", alg, &vec![7; shortest - 1]),
                Err(KeyError::WeakSecret)
            ),
            "{alg}"
        );
        assert!(Key::hmac("k", alg, &vec![7; shortest]).is_ok(), "{alg}");
    }
    assert!(matches!(
        Key::hmac("k", Algorithm::ES256, &[7; 64]),
        Err(KeyError::WrongAlgorithm(_))
    ));
    assert!(matches!(
        Key::hmac("", Algorithm::HS256, &[7; 64]),
        Err(KeyError::MissingKid)
    ));
    let weak = Key::from_private_pem("k", Algorithm::RS256, RSA_1024);
    assert!(matches!(weak, Err(KeyError::WeakRsa)), "{weak:?}");
    assert!(Key::from_private_pem("k", Algorithm::ES256, RSA_2048).is_err());
    assert!(Key::from_private_pem("k", Algorithm::HS256, RSA_2048).is_err());
    let hs_jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json!({
        "kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "alg": "HS256", "kid": "x"
    }))
    .unwrap();
    assert!(matches!(
        Key::from_jwk(&hs_jwk),
        Err(KeyError::UnsupportedJwk)
    ));
    let mut no_alg = Key::generate("e", Algorithm::ES256)
        .unwrap()
        .public_jwk()
        .unwrap()
        .clone();
    no_alg.common.key_algorithm = None;
    assert!(matches!(
        Key::from_jwk(&no_alg),
        Err(KeyError::UnsupportedJwk)
    ));
    // A key whose curve is not its algorithm's: a P-384 key announced as
    // ES256, a P-256 key announced as ES384.
    for (curve_of, announced) in [
        (Algorithm::ES384, jsonwebtoken::jwk::KeyAlgorithm::ES256),
        (Algorithm::ES256, jsonwebtoken::jwk::KeyAlgorithm::ES384),
    ] {
        let mut jwk = Key::generate("c", curve_of)
            .unwrap()
            .public_jwk()
            .unwrap()
            .clone();
        jwk.common.key_algorithm = Some(announced);
        assert!(
            matches!(Key::from_jwk(&jwk), Err(KeyError::WrongAlgorithm(_))),
            "a {curve_of} key announced as {announced:?}"
        );
    }
}

#[test]
fn the_builder_refuses_what_cannot_work() {
    let key = || Key::generate("k", Algorithm::ES256).unwrap();
    let cases = [
        (
            AccessTokens::builder("").with_signing_key(key()),
            JwtConfigError::EmptyIssuer,
        ),
        (
            AccessTokens::builder("  ").with_signing_key(key()),
            JwtConfigError::EmptyIssuer,
        ),
        (AccessTokens::builder(ISSUER), JwtConfigError::NoKeys),
        (
            AccessTokens::builder(ISSUER)
                .with_signing_key(key())
                .with_audience(""),
            JwtConfigError::EmptyAudience,
        ),
        (
            AccessTokens::builder(ISSUER)
                .with_signing_key(key())
                .with_verification_key(key()),
            JwtConfigError::DuplicateKid("k".into()),
        ),
        (
            AccessTokens::builder(ISSUER)
                .with_signing_key(key())
                .with_ttl(Duration::from_secs(10))
                .with_leeway(Duration::from_secs(10)),
            JwtConfigError::Lifetime,
        ),
        (
            AccessTokens::builder(ISSUER).with_signing_key(key().verification_only()),
            JwtConfigError::NotASigningKey,
        ),
    ];
    for (builder, want) in cases {
        assert_eq!(builder.build().unwrap_err(), want);
    }
}

#[test]
fn debug_output_shows_no_key_material_or_token() {
    let key = Key::generate("k", Algorithm::HS256).unwrap();
    let secret = key.decoding.try_get_hmac_secret().unwrap().to_vec();
    let f = fixture_with(key.clone());
    let issued = f
        .tokens
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap();
    let shown = format!("{key:?} {:?} {issued:?}", f.tokens);
    assert!(!shown.contains(&issued.token));
    assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(&secret)));
    assert!(!shown.contains(&format!("{secret:?}")));
}

#[test]
fn a_jwks_document_configures_a_verifier() {
    let one = Key::generate("a", Algorithm::ES256).unwrap();
    let two = Key::generate("b", Algorithm::EdDSA).unwrap();
    let issuer = AccessTokens::builder(ISSUER)
        .with_signing_key(two)
        .with_verification_key(one)
        .build()
        .unwrap();
    let mut document = issuer.jwks();
    // An encryption key in the set is skipped, not an error.
    let mut enc = document["keys"][0].clone();
    enc["kid"] = json!("enc-1");
    enc["use"] = json!("enc");
    document["keys"].as_array_mut().unwrap().push(enc);
    let keys = Key::from_jwks(&document.to_string()).unwrap();
    assert_eq!(keys.len(), 2);
    let mut builder = AccessTokens::builder(ISSUER);
    for key in keys {
        builder = builder.with_verification_key(key);
    }
    let verifier = builder.build().unwrap();
    let token = issuer
        .issue(&Subject::new("alice"), &NoClaims {})
        .unwrap()
        .token;
    assert_eq!(
        verifier.verify::<NoClaims>(token.as_bytes()).unwrap().sub,
        "alice"
    );

    // A key without alg, or not a JWKS at all: refused as a whole.
    let mut bad = issuer.jwks();
    bad["keys"][0].as_object_mut().unwrap().remove("alg");
    assert!(matches!(
        Key::from_jwks(&bad.to_string()),
        Err(KeyError::UnsupportedJwk)
    ));
    assert!(matches!(
        Key::from_jwks("{\"keys\":7}"),
        Err(KeyError::Invalid(_))
    ));
    assert!(matches!(
        Key::from_jwks("not json"),
        Err(KeyError::Invalid(_))
    ));
}

#[test]
fn every_key_form_verifies_on_the_parsed_fast_path() {
    let signing = [
        Key::generate("hs256", Algorithm::HS256).unwrap(),
        Key::generate("hs512", Algorithm::HS512).unwrap(),
        Key::from_private_pem("rs256", Algorithm::RS256, RSA_2048).unwrap(),
        Key::from_private_pem("ps256", Algorithm::PS256, RSA_2048).unwrap(),
        Key::generate("es256", Algorithm::ES256).unwrap(),
        Key::generate("es384", Algorithm::ES384).unwrap(),
        Key::generate("eddsa", Algorithm::EdDSA).unwrap(),
    ];
    for key in signing {
        let alg = key.algorithm();
        assert!(
            keys::Verifier::new(&key).is_some(),
            "{alg}: private key form"
        );
        let issuer = fixture_with(key.clone());
        let token = issuer
            .tokens
            .issue(&Subject::new("alice"), &NoClaims {})
            .unwrap()
            .token;
        let message = token.rsplit_once('.').unwrap().0;
        let signature = URL_SAFE_NO_PAD
            .decode(token.rsplit_once('.').unwrap().1)
            .unwrap();
        let verifier = keys::Verifier::new(&key).unwrap();
        assert!(verifier.verify(message.as_bytes(), &signature), "{alg}");
        assert!(
            !verifier.verify(format!("{message}x").as_bytes(), &signature),
            "{alg}"
        );
        // Public keys from the JWKS (RSA as modulus and exponent) too.
        let jwks = issuer.tokens.jwks();
        if let Some(jwk) = jwks["keys"].get(0) {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
            let public = Key::from_jwk(&jwk).unwrap();
            let verifier =
                keys::Verifier::new(&public).unwrap_or_else(|| panic!("{alg}: JWK key form"));
            assert!(
                verifier.verify(message.as_bytes(), &signature),
                "{alg} from JWK"
            );
        }
    }
}
