//! The policy's checks, request by request.

use super::*;

fn policy() -> CsrfPolicy {
    CsrfPolicy::new(&[7u8; 32]).unwrap()
}

fn req<'a>() -> CsrfRequest<'a> {
    CsrfRequest {
        method: "POST",
        host: Some(b"app.test:3000"),
        ..CsrfRequest::default()
    }
}

#[test]
fn tokens_are_bound_to_the_session_and_key() {
    let p = policy();
    let a = SessionId::generate().unwrap();
    let b = SessionId::generate().unwrap();
    let token = p.token_for(&a).unwrap();
    assert_eq!(token.len(), TOKEN_LEN);
    assert!(p.verify(&a, token.as_bytes()));
    assert!(p.verify(&a, format!(" {token} ").as_bytes()));
    assert!(!p.verify(&b, token.as_bytes()));
    let other = CsrfPolicy::new(&[8u8; 32]).unwrap();
    assert!(!other.verify(&a, token.as_bytes()));
    let mut flipped = token.clone().into_bytes();
    flipped[5] ^= 1;
    assert!(!p.verify(&a, &flipped));
    for junk in [&b""[..], b"x", &[0xff; 43], &token.as_bytes()[..42]] {
        assert!(!p.verify(&a, junk));
    }
}

#[test]
fn fetch_metadata_decides_first() {
    let p = policy();
    let check = |site: &'static [u8]| {
        p.check_origin(
            &CsrfRequest {
                sec_fetch_site: Some(site),
                origin: Some(b"https://evil.test"),
                ..req()
            },
            false,
        )
    };
    assert_eq!(check(b"cross-site"), Err(CsrfFailure::CrossSite));
    assert_eq!(check(b"same-site"), Err(CsrfFailure::SameSite));
    assert_eq!(check(b"same-origin"), Ok(()));
    assert_eq!(check(b"none"), Ok(()));
    // An unknown value falls back to Origin, which is hostile here.
    assert_eq!(check(b"weird"), Err(CsrfFailure::Origin));
    let trusting = policy().with_trusted_same_site(true);
    let same_site = CsrfRequest {
        sec_fetch_site: Some(b"same-site"),
        ..req()
    };
    assert_eq!(trusting.check_origin(&same_site, false), Ok(()));
}

#[test]
fn origin_then_referer_against_the_host_or_configured_origins() {
    let p = policy();
    let with = |origin: Option<&'static [u8]>, referer: Option<&'static [u8]>, secure| {
        p.check_origin(
            &CsrfRequest {
                origin,
                referer,
                ..req()
            },
            secure,
        )
    };
    assert_eq!(with(Some(b"http://app.test:3000"), None, false), Ok(()));
    assert_eq!(with(Some(b"HTTP://APP.test:3000"), None, false), Ok(()));
    assert_eq!(
        with(Some(b"http://app.test:3000"), None, true),
        Err(CsrfFailure::Origin),
        "plain http is not trusted when the cookie is Secure"
    );
    assert_eq!(with(Some(b"https://app.test:3000"), None, true), Ok(()));
    for bad in [
        &b"null"[..],
        b"http://app.test:3001",
        b"http://app.test",
        b"http://app.test:3000.evil.test",
        b"http://evil.test/http://app.test:3000",
        b"",
    ] {
        let bad: &'static [u8] = Box::leak(bad.to_vec().into_boxed_slice());
        assert_eq!(with(Some(bad), None, false), Err(CsrfFailure::Origin));
    }
    assert_eq!(
        with(None, Some(b"http://app.test:3000/page?x=1"), false),
        Ok(())
    );
    assert_eq!(
        with(None, Some(b"http://app.test:3000.evil.test/"), false),
        Err(CsrfFailure::Referer)
    );
    assert_eq!(
        with(None, Some(b"not a url"), false),
        Err(CsrfFailure::Referer)
    );
    assert_eq!(with(None, None, false), Ok(()), "an API client");

    // Configured origins replace the Host.
    let p = policy()
        .with_trusted_origin("https://App.Example.com")
        .unwrap();
    let check = |origin: &'static [u8]| {
        p.check_origin(
            &CsrfRequest {
                origin: Some(origin),
                ..req()
            },
            true,
        )
    };
    assert_eq!(check(b"https://app.example.com"), Ok(()));
    assert_eq!(check(b"https://app.test:3000"), Err(CsrfFailure::Origin));
    let no_host = CsrfRequest {
        origin: Some(b"http://app.test:3000"),
        host: None,
        ..req()
    };
    assert_eq!(
        policy().check_origin(&no_host, false),
        Err(CsrfFailure::Origin)
    );
}

#[test]
fn configuration_is_checked() {
    assert_eq!(
        CsrfPolicy::new(&[1; 31]).unwrap_err(),
        CsrfConfigError::WeakKey
    );
    for bad in [
        "app.example.com",
        "ftp://x",
        "https://",
        "https://a/b",
        "https://a b",
    ] {
        assert!(matches!(
            policy().with_trusted_origin(bad),
            Err(CsrfConfigError::Origin(_))
        ));
    }
    assert!(policy().with_header_name("bad header").is_err());
    assert!(policy().with_form_field("").is_err());
    assert_eq!(
        policy().with_header_name("X-XSRF").unwrap().header_name(),
        "x-xsrf"
    );
    assert!(!format!("{:?}", policy()).contains("7, 7"));
}

#[test]
fn form_fields_are_found_and_decoded() {
    assert_eq!(
        form_field(b"a=1&csrf_token=x%2By+z", "csrf_token"),
        Some(b"x+y z".to_vec())
    );
    assert_eq!(form_field(b"csrf_token", "csrf_token"), Some(Vec::new()));
    assert_eq!(form_field(b"csrf_tokens=1", "csrf_token"), None);
    assert_eq!(form_field(b"csrf_token=%zz", "csrf_token"), None);
    assert_eq!(form_field(b"csrf_token=%4", "csrf_token"), None);
    assert_eq!(form_field(b"", "csrf_token"), None);
}

#[test]
fn without_a_key_only_the_origin_checks_run() {
    let p = CsrfPolicy::origins_only();
    assert!(!p.has_tokens());
    let a = SessionId::generate().unwrap();
    assert_eq!(p.token_for(&a), None);
    let token = policy().token_for(&a).unwrap();
    assert!(!p.verify(&a, token.as_bytes()), "no key verifies nothing");
    let cross = CsrfRequest {
        sec_fetch_site: Some(b"cross-site"),
        ..req()
    };
    assert_eq!(p.check_origin(&cross, false), Err(CsrfFailure::CrossSite));
    let foreign = CsrfRequest {
        origin: Some(b"https://evil.test"),
        ..req()
    };
    assert_eq!(p.check_origin(&foreign, false), Err(CsrfFailure::Origin));
    assert_eq!(p.check_origin(&req(), false), Ok(()));
    assert!(format!("{p:?}").contains("key: None"));
}
