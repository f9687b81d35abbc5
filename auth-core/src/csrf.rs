//! Cross-site request forgery protection for cookie-authenticated requests.
//!
//! A browser attaches the session cookie to every request to the app, even
//! one a hostile page makes it send. [`CsrfPolicy`], configured with
//! [`AuthenticatorBuilder::with_csrf`](crate::AuthenticatorBuilder::with_csrf),
//! refuses such requests in three steps. Safe methods (`GET`, `HEAD`,
//! `OPTIONS`, `TRACE`) and bearer-authenticated requests (no ambient
//! credential) are exempt; every other request goes through:
//!
//! 1. **Fetch Metadata**: `Sec-Fetch-Site: cross-site` is refused, and
//!    `same-site` too unless [`with_trusted_same_site`](CsrfPolicy::with_trusted_same_site);
//!    `same-origin` and `none` (typed in the address bar) pass.
//! 2. **Origin**, when a browser sent no Fetch Metadata: `Origin` (or, failing
//!    that, the origin of `Referer`) must equal a trusted origin exactly.
//!    With no trusted origins configured, the request's own `Host` is
//!    trusted (`https://` only when the cookie is `Secure`). A request with
//!    none of these headers (an API client, not a browser) passes.
//! 3. **Token**, only for requests authenticated by the session cookie: an
//!    `X-CSRF-Token` header, or a `csrf_token` field of a
//!    `application/x-www-form-urlencoded` body, must carry
//!    [`AuthHandle::csrf_token`](crate::AuthHandle::csrf_token): an HMAC of
//!    the session's public id under the policy's key, compared in constant
//!    time. The token stays the same for the session's life (rotation keeps
//!    it), and changes at every login.
//!
//! Steps 1 and 2 apply to anonymous requests too, so a hostile page cannot
//! log a victim into the attacker's account (login CSRF). Every refusal is
//! a 403 `{"error":"csrf_rejected"}` and an `info` event with the reason.
//!
//! ```
//! use auth_core::{Authenticator, MemoryStore, csrf::CsrfPolicy};
//!
//! let csrf = CsrfPolicy::new(b"a key of at least thirty-two bytes, shared by all instances")?
//!     .with_trusted_origin("https://app.example.com")?;
//! let auth = Authenticator::builder(MemoryStore::new()).with_csrf(csrf).build()?;
//! # let _ = auth;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::token::SessionId;

/// The default header carrying the token.
pub const DEFAULT_HEADER: &str = "x-csrf-token";
/// The default form field carrying the token.
pub const DEFAULT_FORM_FIELD: &str = "csrf_token";
/// The default limit on a form body read to find the token: 64 KiB.
pub const DEFAULT_MAX_FORM_BYTES: usize = 64 * 1024;
/// The length of an encoded token.
const TOKEN_LEN: usize = 43;

/// Why a [`CsrfPolicy`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfConfigError {
    /// The key is shorter than 32 bytes.
    #[error("the CSRF key must be at least 32 bytes")]
    WeakKey,
    /// A trusted origin is not `http(s)://host[:port]`.
    #[error("a trusted origin must be scheme://host[:port] with scheme http or https, got {0:?}")]
    Origin(String),
    /// The header or form field name is empty or not a token.
    #[error("the CSRF header and form field names must be non-empty HTTP tokens")]
    Name,
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
}

/// The CSRF configuration; see the [module docs](self).
#[derive(Clone)]
pub struct CsrfPolicy {
    key: Hmac<Sha256>,
    origins: Vec<String>,
    trust_same_site: bool,
    header: String,
    field: String,
    max_form_bytes: usize,
    exempt_paths: Vec<String>,
}

impl fmt::Debug for CsrfPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfPolicy")
            .field("key", &"REDACTED")
            .field("origins", &self.origins)
            .field("trust_same_site", &self.trust_same_site)
            .field("header", &self.header)
            .field("field", &self.field)
            .field("exempt_paths", &self.exempt_paths)
            .finish()
    }
}

impl CsrfPolicy {
    /// A policy whose tokens are HMACs under `key` (at least 32 bytes).
    /// Every instance of the app must share it.
    pub fn new(key: &[u8]) -> Result<Self, CsrfConfigError> {
        if key.len() < 32 {
            return Err(CsrfConfigError::WeakKey);
        }
        Ok(Self {
            key: Hmac::new_from_slice(key).map_err(|_| CsrfConfigError::WeakKey)?,
            origins: Vec::new(),
            trust_same_site: false,
            header: DEFAULT_HEADER.into(),
            field: DEFAULT_FORM_FIELD.into(),
            max_form_bytes: DEFAULT_MAX_FORM_BYTES,
            exempt_paths: Vec::new(),
        })
    }

    /// A policy with a random key: right for one instance, wrong for
    /// several (each would refuse the others' tokens).
    pub fn generate() -> Result<Self, CsrfConfigError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|_| CsrfConfigError::Random)?;
        Self::new(&key)
    }

    /// Trusts `origin` (`https://app.example.com`, with a port if not the
    /// default) for step 2. Once any is configured, the `Host` is no
    /// longer trusted by itself.
    pub fn with_trusted_origin(mut self, origin: &str) -> Result<Self, CsrfConfigError> {
        let lower = origin.to_ascii_lowercase();
        let valid = ["http://", "https://"].iter().any(|scheme| {
            lower.strip_prefix(scheme).is_some_and(|authority| {
                !authority.is_empty()
                    && authority
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            })
        });
        if !valid {
            return Err(CsrfConfigError::Origin(origin.to_owned()));
        }
        self.origins.push(lower);
        Ok(self)
    }

    /// Whether `Sec-Fetch-Site: same-site` passes step 1 (default `false`):
    /// trust your sibling subdomains only if you trust everything they
    /// serve.
    #[must_use]
    pub fn with_trusted_same_site(mut self, trust: bool) -> Self {
        self.trust_same_site = trust;
        self
    }

    /// The header carrying the token (default `X-CSRF-Token`).
    pub fn with_header_name(mut self, name: &str) -> Result<Self, CsrfConfigError> {
        self.header = checked_name(name)?;
        Ok(self)
    }

    /// The form field carrying the token (default `csrf_token`).
    pub fn with_form_field(mut self, name: &str) -> Result<Self, CsrfConfigError> {
        if name.is_empty() || !name.bytes().all(crate::cookie::is_token_char) {
            return Err(CsrfConfigError::Name);
        }
        self.field = name.to_owned();
        Ok(self)
    }

    /// The most bytes of a form body read to find the token (default
    /// 64 KiB); a larger form without the header is refused.
    #[must_use]
    pub fn with_max_form_bytes(mut self, bytes: usize) -> Self {
        self.max_form_bytes = bytes;
        self
    }

    /// Skips the token step (steps 1 and 2 still apply) for requests to
    /// exactly `path`: endpoints that act on credentials in their body,
    /// not on the cookie's authority, such as a login form (which may be
    /// submitted while an old session's cookie is still around) or a token
    /// endpoint.
    #[must_use]
    pub fn with_token_exempt_path(mut self, path: impl Into<String>) -> Self {
        self.exempt_paths.push(path.into());
        self
    }

    /// Whether `path` skips the token step.
    pub fn is_token_exempt(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|p| p == path)
    }

    /// The header name, lowercase.
    pub fn header_name(&self) -> &str {
        &self.header
    }

    /// The form field name.
    pub fn form_field(&self) -> &str {
        &self.field
    }

    /// The most bytes of a form body read to find the token.
    pub fn max_form_bytes(&self) -> usize {
        self.max_form_bytes
    }

    /// The token of session `id`. Never log it.
    pub fn token_for(&self, id: &SessionId) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(id).finalize().into_bytes())
    }

    fn mac(&self, id: &SessionId) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(b"auth-csrf-v1\0");
        mac.update(id.as_str().as_bytes());
        mac
    }

    /// Whether `presented` is the token of session `id`, in constant time.
    pub fn verify(&self, id: &SessionId, presented: &[u8]) -> bool {
        let presented = presented.trim_ascii();
        if presented.len() != TOKEN_LEN {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        self.mac(id).verify_slice(&bytes).is_ok()
    }

    /// Steps 1 and 2 for an unsafe request: `Err` names the reason.
    pub(crate) fn check_origin(
        &self,
        request: &CsrfRequest<'_>,
        secure_cookie: bool,
    ) -> Result<(), CsrfFailure> {
        match request.sec_fetch_site.map(<[u8]>::trim_ascii) {
            Some(b"cross-site") => return Err(CsrfFailure::CrossSite),
            Some(b"same-site") if !self.trust_same_site => return Err(CsrfFailure::SameSite),
            Some(b"same-site" | b"same-origin" | b"none") => return Ok(()),
            // Absent or unknown: judge by Origin and Referer.
            _ => {}
        }
        if let Some(origin) = request.origin {
            return if self.trusts(origin.trim_ascii(), request.host, secure_cookie) {
                Ok(())
            } else {
                Err(CsrfFailure::Origin)
            };
        }
        if let Some(referer) = request.referer {
            return match origin_of(referer.trim_ascii()) {
                Some(origin) if self.trusts(origin, request.host, secure_cookie) => Ok(()),
                _ => Err(CsrfFailure::Referer),
            };
        }
        Ok(())
    }

    fn trusts(&self, origin: &[u8], host: Option<&[u8]>, secure_cookie: bool) -> bool {
        if !self.origins.is_empty() {
            return self
                .origins
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin));
        }
        let Some(host) = host.map(<[u8]>::trim_ascii).filter(|h| !h.is_empty()) else {
            return false;
        };
        let authority = if let Some(rest) = strip_prefix_ci(origin, b"https://") {
            rest
        } else if let Some(rest) = strip_prefix_ci(origin, b"http://")
            && !secure_cookie
        {
            rest
        } else {
            return false;
        };
        authority.eq_ignore_ascii_case(host)
    }
}

fn checked_name(name: &str) -> Result<String, CsrfConfigError> {
    if name.is_empty() || !name.bytes().all(crate::cookie::is_token_char) {
        return Err(CsrfConfigError::Name);
    }
    Ok(name.to_ascii_lowercase())
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// `scheme://authority` of a URL, without path, query or fragment.
fn origin_of(url: &[u8]) -> Option<&[u8]> {
    let start = url.windows(3).position(|w| w == b"://")? + 3;
    let end = url[start..]
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(url.len(), |i| start + i);
    (end > start).then(|| &url[..end])
}

/// What the CSRF check looks at in a request; adapters fill it from the
/// headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsrfRequest<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path, e.g. `/login`.
    pub path: &'a str,
    /// `Sec-Fetch-Site`.
    pub sec_fetch_site: Option<&'a [u8]>,
    /// `Origin`.
    pub origin: Option<&'a [u8]>,
    /// `Referer`.
    pub referer: Option<&'a [u8]>,
    /// `Host` (or the URI's authority on HTTP/2).
    pub host: Option<&'a [u8]>,
    /// The token header (default `X-CSRF-Token`).
    pub token: Option<&'a [u8]>,
    /// Whether the body is `application/x-www-form-urlencoded`.
    pub form: bool,
}

/// The headers of an unsafe request that the CSRF check needs, copied so
/// they can cross an `await` (adapters capture them before authenticating).
#[derive(Clone, Default)]
pub struct CsrfCapture {
    method: String,
    path: String,
    sec_fetch_site: Option<Vec<u8>>,
    origin: Option<Vec<u8>>,
    referer: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
    token: Option<Vec<u8>>,
    form: bool,
}

impl fmt::Debug for CsrfCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfCapture")
            .field("method", &self.method)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .finish_non_exhaustive()
    }
}

/// Most bytes of any one header the capture keeps; longer values are
/// treated as absent origins (refused) or bad tokens.
const MAX_CAPTURED: usize = 4096;

impl CsrfCapture {
    /// Captures what `policy` needs from a request with `method`, reading
    /// headers (lowercase names) through `header`; `host` is the `Host`
    /// header or, on HTTP/2, the URI's authority. `None` for safe methods:
    /// nothing to check, nothing copied.
    pub fn capture<'a>(
        policy: &CsrfPolicy,
        method: &str,
        path: &str,
        host: Option<&[u8]>,
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Option<Self> {
        if !is_unsafe_method(method) {
            return None;
        }
        Some(Self::read(policy, method, path, host, header))
    }

    /// The capture of an unsafe request.
    pub(crate) fn read<'a>(
        policy: &CsrfPolicy,
        method: &str,
        path: &str,
        host: Option<&[u8]>,
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Self {
        let keep = |v: &[u8]| v[..v.len().min(MAX_CAPTURED)].to_vec();
        let form = header("content-type").is_some_and(|ct| {
            let essence = ct.split(|b| *b == b';').next().unwrap_or_default();
            essence
                .trim_ascii()
                .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        });
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            sec_fetch_site: header("sec-fetch-site").map(keep),
            origin: header("origin").map(keep),
            referer: header("referer").map(keep),
            host: host.map(keep),
            token: header(policy.header_name()).map(keep),
            form,
        }
    }

    /// The captured request, for [`AuthHandle::check_csrf`](crate::AuthHandle::check_csrf).
    pub fn request(&self) -> CsrfRequest<'_> {
        CsrfRequest {
            method: &self.method,
            path: &self.path,
            sec_fetch_site: self.sec_fetch_site.as_deref(),
            origin: self.origin.as_deref(),
            referer: self.referer.as_deref(),
            host: self.host.as_deref(),
            token: self.token.as_deref(),
            form: self.form,
        }
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        &self.method
    }
}

/// Whether `method` changes state, so needs the CSRF check.
pub fn is_unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The outcome of [`AuthHandle::check_csrf`](crate::AuthHandle::check_csrf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum CsrfVerdict {
    /// Go on.
    Allow,
    /// Every check passed but the token, which was not in a header and may
    /// be in the form body: read at most
    /// [`max_form_bytes`](CsrfPolicy::max_form_bytes) of it and call
    /// [`AuthHandle::check_csrf_form`](crate::AuthHandle::check_csrf_form).
    ReadForm,
    /// Refuse with [`Denial::Csrf`](crate::Denial::Csrf).
    Deny(CsrfFailure),
}

/// Why a request was refused as cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfFailure {
    /// `Sec-Fetch-Site: cross-site`.
    CrossSite,
    /// `Sec-Fetch-Site: same-site`, not trusted.
    SameSite,
    /// `Origin` is not a trusted origin.
    Origin,
    /// `Referer` is not from a trusted origin.
    Referer,
    /// No token in the header or form.
    MissingToken,
    /// A token that is not this session's.
    BadToken,
    /// A form body too large to search for the token.
    FormTooLarge,
}

impl CsrfFailure {
    /// A short, stable reason for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrossSite => "cross_site",
            Self::SameSite => "same_site",
            Self::Origin => "origin_mismatch",
            Self::Referer => "referer_mismatch",
            Self::MissingToken => "missing_token",
            Self::BadToken => "bad_token",
            Self::FormTooLarge => "form_too_large",
        }
    }
}

/// The value of `field` in a urlencoded body, percent-decoded; `None` when
/// absent or not decodable.
pub(crate) fn form_field(body: &[u8], field: &str) -> Option<Vec<u8>> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[..0]),
        };
        (name == field.as_bytes()).then(|| percent_decode(value))?
    })
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
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
        let token = p.token_for(&a);
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
}
