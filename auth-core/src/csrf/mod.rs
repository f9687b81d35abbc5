//! Cross-site request forgery protection for cookie-authenticated requests.
//!
//! A browser attaches the session cookie to every request to the app, even
//! one a hostile page makes it send. [`CsrfPolicy`] refuses such requests
//! in three steps. The first two need no key and run by default, in every
//! app ([`CsrfPolicy::origins_only`]); the third, a token bound to the
//! session, is added by a policy with a key
//! ([`AuthenticatorBuilder::with_csrf`](crate::AuthenticatorBuilder::with_csrf)),
//! and only [`without_csrf`](crate::AuthenticatorBuilder::without_csrf)
//! turns them all off. Safe methods (`GET`, `HEAD`,
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
//! 3. **Token**, with a key, only for requests authenticated by the
//!    session cookie: an `X-CSRF-Token` header, or a `csrf_token` field of
//!    a `application/x-www-form-urlencoded` body, must carry
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

mod check;
mod request;
#[cfg(test)]
mod tests;

pub(crate) use request::{
    CsrfCapture, CsrfFailure, CsrfRequest, CsrfVerdict, form_field, is_unsafe_method,
};

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
    /// The key of the session-bound tokens; without one, only steps 1
    /// and 2 run.
    key: Option<Hmac<Sha256>>,
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
            .field("key", &self.key.as_ref().map(|_| "REDACTED"))
            .field("origins", &self.origins)
            .field("trust_same_site", &self.trust_same_site)
            .field("header", &self.header)
            .field("field", &self.field)
            .field("exempt_paths", &self.exempt_paths)
            .finish()
    }
}

impl Default for CsrfPolicy {
    fn default() -> Self {
        Self::origins_only()
    }
}

impl CsrfPolicy {
    /// Steps 1 and 2 only: the Fetch Metadata and `Origin` checks, which
    /// need no key and no change to the app's forms. What every
    /// authenticator runs unless configured otherwise.
    pub fn origins_only() -> Self {
        Self {
            key: None,
            origins: Vec::new(),
            trust_same_site: false,
            header: DEFAULT_HEADER.into(),
            field: DEFAULT_FORM_FIELD.into(),
            max_form_bytes: DEFAULT_MAX_FORM_BYTES,
            exempt_paths: Vec::new(),
        }
    }

    /// A policy whose tokens are HMACs under `key` (at least 32 bytes).
    /// Every instance of the app must share it.
    pub fn new(key: &[u8]) -> Result<Self, CsrfConfigError> {
        if key.len() < 32 {
            return Err(CsrfConfigError::WeakKey);
        }
        let key = Hmac::new_from_slice(key).map_err(|_| CsrfConfigError::WeakKey)?;
        Ok(Self {
            key: Some(key),
            ..Self::origins_only()
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

    /// Whether the policy has a key, so requests of a cookie session must
    /// carry its token (step 3).
    pub fn has_tokens(&self) -> bool {
        self.key.is_some()
    }

    /// The token of session `id`; `None` without a key. Never log it.
    pub fn token_for(&self, id: &SessionId) -> Option<String> {
        let mac = self.mac(id)?;
        Some(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn mac(&self, id: &SessionId) -> Option<Hmac<Sha256>> {
        let mut mac = self.key.clone()?;
        mac.update(b"auth-csrf-v1\0");
        mac.update(id.as_str().as_bytes());
        Some(mac)
    }

    /// Whether `presented` is the token of session `id`, in constant time;
    /// always `false` without a key.
    pub fn verify(&self, id: &SessionId, presented: &[u8]) -> bool {
        let presented = presented.trim_ascii();
        if presented.len() != TOKEN_LEN {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        self.mac(id)
            .is_some_and(|mac| mac.verify_slice(&bytes).is_ok())
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
            return if self.trusts(origin.trim_ascii(), request, secure_cookie) {
                Ok(())
            } else {
                Err(CsrfFailure::Origin)
            };
        }
        if let Some(referer) = request.referer {
            return match origin_of(referer.trim_ascii()) {
                Some(origin) if self.trusts(origin, request, secure_cookie) => Ok(()),
                _ => Err(CsrfFailure::Referer),
            };
        }
        Ok(())
    }

    fn trusts(&self, origin: &[u8], request: &CsrfRequest<'_>, secure_cookie: bool) -> bool {
        if !self.origins.is_empty() {
            return self
                .origins
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin));
        }
        let Some(host) = request
            .host
            .map(<[u8]>::trim_ascii)
            .filter(|h| !h.is_empty())
        else {
            return false;
        };
        // Behind a trusted proxy its `X-Forwarded-Proto` is the scheme.
        let allowed = |scheme: &[u8]| {
            request
                .scheme
                .is_none_or(|s| s.trim_ascii().eq_ignore_ascii_case(scheme))
        };
        let authority = if let Some(rest) = strip_prefix_ci(origin, b"https://")
            && allowed(b"https")
        {
            rest
        } else if let Some(rest) = strip_prefix_ci(origin, b"http://")
            && !secure_cookie
            && allowed(b"http")
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
