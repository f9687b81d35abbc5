//! Arbitrary bytes where the request is read: the cookie parser, the token
//! decoder, the `Authorization` parser, the JWT verifier and the CSRF
//! checks. None may panic, and none may authenticate anyone.

use std::sync::OnceLock;

use auth_core::adapter::Exchange;
use auth_core::csrf::CsrfPolicy;
use auth_core::jwt::{AccessTokens, Algorithm, Key, NoClaims, Subject};
use auth_core::testing::{TestRequest, TestResponse};
use auth_core::{
    AuthHandle, Authenticator, CookiePolicy, Login, MemoryStore, Rejection, SessionToken,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

struct World {
    runtime: tokio::runtime::Runtime,
    exchange: Exchange,
    tokens: AccessTokens,
    /// A real session's cookie header and a real access token, so inputs
    /// can be built near them.
    cookie: String,
    access: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let tokens = AccessTokens::builder("https://auth.test")
            .with_signing_key(Key::generate("k1", Algorithm::ES256).unwrap())
            .build()
            .unwrap();
        let auth = Authenticator::builder(MemoryStore::new())
            .with_cookie(CookiePolicy::default().with_secure(false))
            .with_access_tokens(tokens.clone())
            .with_csrf(CsrfPolicy::new(&[9; 32]).unwrap())
            .build()
            .unwrap();
        let exchange = Exchange::new(auth);
        let cookie = runtime.block_on(async {
            let handle = exchange.admit(&mut TestRequest::get("/")).await.unwrap();
            handle.login(Login::new("alice")).await.unwrap();
            let mut res = TestResponse::new();
            exchange.respond(&handle, None, &mut res).await.unwrap();
            res.cookie_pair(0).unwrap().to_owned()
        });
        let access = tokens
            .issue(&Subject::new("alice"), &NoClaims {})
            .unwrap()
            .token;
        World {
            runtime,
            exchange,
            tokens,
            cookie,
            access,
        }
    })
}

fn authenticate(cookies: &[Vec<u8>], authorization: &[Vec<u8>]) -> AuthHandle {
    let mut req = TestRequest::get("/").with_header("user-agent", b"\xff\xfe");
    for cookie in cookies {
        req = req.with_header("cookie", cookie);
    }
    for value in authorization {
        req = req.with_header("authorization", value);
    }
    let w = world();
    w.runtime
        .block_on(w.exchange.admit(&mut req))
        .expect("the memory store does not fail")
}

/// What answers an unsafe request with the session cookie and `extra`
/// headers and `body`.
fn post(extra: &[(&str, &[u8])], body: &[u8]) -> Result<AuthHandle, u16> {
    let w = world();
    let mut req = TestRequest::post("/x")
        .with_header("cookie", &w.cookie)
        .with_header("host", "app.test")
        .with_body(body);
    for (name, value) in extra {
        req = req.with_header(name, value);
    }
    w.runtime
        .block_on(w.exchange.admit(&mut req))
        .map_err(|refused| refused.status())
}

/// Bytes near a valid value: the value with a few bytes changed, cut or
/// extended.
fn mutated(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((0..valid.len(), any::<u8>()), 1..4),
        0..valid.len() + 8,
    )
        .prop_map(move |(changes, len)| {
            let mut bytes = valid.as_bytes().to_vec();
            for (i, b) in changes {
                bytes[i] = b;
            }
            bytes.resize(len, b'A');
            bytes
        })
        .prop_filter("unchanged", move |b| b != valid.as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_cookie_headers_never_authenticate(
        cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..4),
    ) {
        let handle = authenticate(&cookies, &[]);
        prop_assert!(handle.identity().is_none());
    }

    #[test]
    fn near_miss_cookies_never_authenticate(cookie in mutated(&world().cookie)) {
        let handle = authenticate(&[cookie], &[]);
        prop_assert!(handle.identity().is_none());
    }

    /// A real session cookie with its token changed, not only cut: a token
    /// that still parses is an unknown session, one that does not is
    /// malformed; either way the dead cookie is removed, and no one is
    /// authenticated.
    #[test]
    fn mutated_session_tokens_are_refused_for_the_right_reason(
        changes in proptest::collection::vec((0..auth_core::token::TOKEN_LEN, any::<u8>()), 1..4),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
        cut in 0..auth_core::token::TOKEN_LEN + 3,
    ) {
        let w = world();
        let valid = &w.cookie["session=".len()..];
        let mut token = valid.as_bytes().to_vec();
        for (i, b) in changes {
            token[i] = b;
        }
        token.extend_from_slice(&extra);
        token.truncate(cut.max(1));
        prop_assume!(token != valid.as_bytes());
        prop_assume!(!token.contains(&b';') && !token.contains(&b'"') && token.trim_ascii() == &token[..]);
        let mut header = b"session=".to_vec();
        header.extend_from_slice(&token);
        let handle = authenticate(&[header], &[]);
        prop_assert!(handle.identity().is_none());
        let expected = match SessionToken::parse(&token) {
            Ok(_) => Rejection::UnknownSession,
            Err(_) => Rejection::MalformedCookie,
        };
        prop_assert_eq!(handle.rejection(), Some(expected));
        let mut res = TestResponse::new();
        w.runtime.block_on(w.exchange.respond(&handle, None, &mut res)).unwrap();
        prop_assert!(res.set_cookies().iter().any(|c| c.starts_with("session=;")));
    }

    /// Tokens made from any bytes survive the trip through their text, and
    /// the id they carry is the session id's.
    #[test]
    fn tokens_and_ids_round_trip(id in any::<[u8; 16]>(), secret in any::<[u8; 32]>()) {
        let text = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(id),
            URL_SAFE_NO_PAD.encode(secret)
        );
        let token = SessionToken::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(token.expose(), text.clone());
        prop_assert_eq!(*token.key().as_bytes(), id);
        let sid = token.key().id();
        prop_assert_eq!(sid.as_str(), &text[..22]);
        prop_assert_eq!(sid.as_str().parse::<auth_core::SessionId>().unwrap(), sid);
    }

    /// A bad bearer token beside a valid session cookie: refused as an
    /// invalid token, never answered from the cookie.
    #[test]
    fn a_bad_bearer_beside_a_valid_cookie_is_refused(token in mutated(&world().access)) {
        let w = world();
        let mut header = b"Bearer ".to_vec();
        header.extend_from_slice(&token);
        let handle = authenticate(&[w.cookie.clone().into_bytes()], &[header]);
        prop_assert!(handle.identity().is_none());
        let refused = matches!(handle.rejection(), Some(Rejection::InvalidToken { .. }));
        prop_assert!(refused, "refused as {:?}", handle.rejection());
    }

    #[test]
    fn the_token_decoder_accepts_only_canonical_tokens(input in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(token) = SessionToken::parse(&input) {
            let exposed = token.expose();
            prop_assert_eq!(exposed.as_bytes(), &input[..]);
        }
    }

    #[test]
    fn arbitrary_authorization_headers_never_authenticate(
        headers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 1..3),
    ) {
        let handle = authenticate(&[], &headers);
        prop_assert!(handle.identity().is_none());
    }

    #[test]
    fn bearer_strings_never_authenticate(token in "[A-Za-z0-9._~+/=-]{0,3000}") {
        let header = format!("Bearer {token}").into_bytes();
        let handle = authenticate(&[], &[header]);
        prop_assert!(handle.identity().is_none());
    }

    #[test]
    fn jwt_shaped_input_is_refused(
        header in proptest::collection::vec(any::<u8>(), 0..300),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        signature in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        );
        prop_assert!(world().tokens.verify::<NoClaims>(token.as_bytes()).is_err());
    }

    #[test]
    fn near_miss_access_tokens_are_refused(token in mutated(&world().access)) {
        prop_assert!(world().tokens.verify::<NoClaims>(&token).is_err());
        let mut header = b"Bearer ".to_vec();
        header.extend_from_slice(&token);
        prop_assert!(authenticate(&[], &[header]).identity().is_none());
    }

    #[test]
    fn arbitrary_verifier_input_is_refused(input in proptest::collection::vec(any::<u8>(), 0..20_000)) {
        prop_assert!(world().tokens.verify::<NoClaims>(&input).is_err());
    }

    #[test]
    fn csrf_checks_refuse_arbitrary_tokens_and_forms(
        token in proptest::collection::vec(any::<u8>(), 0..100),
        origin in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100)),
        site in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        form in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let handle = authenticate(&[world().cookie.clone().into_bytes()], &[]);
        prop_assert!(handle.identity().is_some());
        let mut headers: Vec<(&str, &[u8])> = vec![("x-csrf-token", &token)];
        if let Some(site) = &site {
            headers.push(("sec-fetch-site", site));
        }
        if let Some(origin) = &origin {
            headers.push(("origin", origin));
        }
        prop_assert_eq!(post(&headers, b"").err(), Some(403));
        let form_type: &[u8] = b"application/x-www-form-urlencoded";
        prop_assert_eq!(post(&[("content-type", form_type)], &form).err(), Some(403));
    }
}

#[test]
fn a_megabyte_of_cookie_or_bearer_is_refused_without_panic() {
    let big = vec![b'a'; 1 << 20];
    let mut cookie = b"session=".to_vec();
    cookie.extend_from_slice(&big);
    assert!(authenticate(&[cookie], &[]).identity().is_none());
    let mut bearer = b"Bearer ".to_vec();
    bearer.extend_from_slice(&big);
    assert!(authenticate(&[], &[bearer]).identity().is_none());
    assert!(world().tokens.verify::<NoClaims>(&big).is_err());
}
