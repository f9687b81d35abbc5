//! Signed access tokens (JWT), feature `jwt`.
//!
//! [`AccessTokens`] issues and verifies short-lived tokens with `typ`
//! `at+jwt` and the claims `iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`,
//! `sid` (the session the token belongs to), `roles`, and the
//! application's own claims.
//!
//! ```
//! use auth_core::jwt::{AccessTokens, Algorithm, Key, NoClaims, Subject};
//!
//! let tokens = AccessTokens::builder("https://auth.example")
//!     .with_audience("api")
//!     .with_signing_key(Key::generate("2030-01", Algorithm::ES256)?)
//!     .build()?;
//! let issued = tokens.issue(&Subject::new("alice").with_roles(["user"]), &NoClaims {})?;
//! let claims = tokens.verify::<NoClaims>(issued.token.as_bytes())?;
//! assert_eq!(claims.sub, "alice");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Verification
//! Checked in this order, each failure a distinct [`JwtError`]:
//! 1. size (default at most 8 KiB) and shape: three non-empty base64url
//!    segments, nothing else;
//! 2. the header: `typ` must be `at+jwt`, an unknown `crit` is refused, the
//!    `kid` must name a configured key, and the header's `alg` must equal
//!    **that key's** algorithm: the algorithm comes from the key, never from
//!    the token (`none`, HS256-with-a-public-key and their kind fail here);
//!    `jku`, `x5u` and `jwk` are never followed;
//! 3. the signature;
//! 4. the claims, strictly typed (an `exp` that is a string, a float, null or
//!    out of range is malformed): `exp` is required, `exp`, `nbf` and `iat`
//!    are checked against the [`Clock`] with the leeway (default 30 s, at
//!    most 60 s unless set), `iss` always, `aud` when configured;
//! 5. revocation: a token whose `sid` was revoked, or issued (to the
//!    second) no later than its session's or user's "not before", is
//!    refused without a store lookup (see [`Revocations`]). A token issued
//!    in the very second of such a revocation is stamped with the next
//!    second, so it outlives it.
//!
//! # Keys
//! Several keys verify at once and one signs, so keys rotate without
//! downtime: add the new key as the signing key, keep the old one as a
//! verification key until its last token has expired. [`AccessTokens::jwks`]
//! publishes the public keys. Weak keys are refused when built: HMAC secrets
//! under 32 bytes, RSA under 2048 bits.

mod builder;
mod claims;
mod error;
mod gateway;
mod keys;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod refresh;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use builder::AccessTokensBuilder;
pub use claims::{Audience, Claims, IssuedToken, NoClaims, Subject};
pub use error::{JwtConfigError, JwtError};
pub use gateway::{DEFAULT_GATEWAY_CAPACITY, GatewayConfigError, GatewayTokens};
pub use keys::{Algorithm, Key, KeyError};
pub use refresh::{RefreshError, RefreshPolicy, TokenPair};

use crate::clock::Clock;
use crate::revocation::Revocations;
use crate::token::{SessionId, decode_b64url};

/// The `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Default access-token lifetime: 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// Default leeway for clock skew: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default size limit of a presented token: 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

struct Inner {
    /// Per key id, the key and its signature check with the key parsed
    /// once (when this crate verifies its algorithm itself): one lookup
    /// per token.
    keys: HashMap<String, (Key, Option<keys::Verifier>)>,
    signing: Option<String>,
    issuer: String,
    /// The same, shared by the identities of its tokens.
    issuer_arc: Arc<str>,
    audience: Option<String>,
    ttl: Duration,
    leeway: i64,
    max_bytes: usize,
    clock: Arc<dyn Clock>,
    revocations: Revocations,
    untyped: bool,
}

/// Issues and verifies access tokens. Cheap to clone. See the
/// [module docs](self).
#[derive(Clone)]
pub struct AccessTokens {
    inner: Arc<Inner>,
}

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<_> = self.inner.keys.keys().collect();
        kids.sort();
        f.debug_struct("AccessTokens")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("kids", &kids)
            .field("signing", &self.inner.signing)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

/// A decoded segment as text, for JSON parsing: checking it once is cheaper
/// than the check of every string that parsing bytes makes.
fn text_of(bytes: &[u8]) -> Result<&str, JwtError> {
    std::str::from_utf8(bytes).map_err(|_| JwtError::Malformed)
}

/// The header fields that are checked, borrowed from the decoded header.
#[derive(Deserialize)]
struct HeaderCheck<'a> {
    #[serde(borrow)]
    alg: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    crit: Option<serde::de::IgnoredAny>,
}

/// The kinds of token [`AccessTokens::verify_signed`] checks, told apart
/// by their `typ` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    /// An access token: `at+jwt` (RFC 9068), or `JWT` and untyped where
    /// the issuer is configured to accept them.
    Access,
    /// An OpenID Connect ID token: `JWT` or untyped.
    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    Id,
    /// A back-channel logout token: `logout+jwt`, or `JWT` or untyped as
    /// providers that predate the type send them.
    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    Logout,
}

impl TokenType {
    fn accepts(self, typ: Option<&str>, untyped_access: bool) -> bool {
        // `typ` is a media type, whose `application/` may be left out
        // (RFC 7515, 4.1.9). Compared as bytes: it may not be ASCII.
        let is = |t: &str, wanted: &str| {
            let (t, wanted) = (t.as_bytes(), wanted.as_bytes());
            let prefix = b"application/".len();
            t.eq_ignore_ascii_case(wanted)
                || t.len() == wanted.len() + prefix
                    && t[..prefix].eq_ignore_ascii_case(b"application/")
                    && t[prefix..].eq_ignore_ascii_case(wanted)
        };
        match (self, typ) {
            (Self::Access, Some(t)) => is(t, ACCESS_TOKEN_TYPE) || untyped_access && is(t, "JWT"),
            (Self::Access, None) => untyped_access,
            (Self::Id, Some(t)) => is(t, "JWT"),
            (Self::Logout, Some(t)) => is(t, "logout+jwt") || is(t, "JWT"),
            (Self::Id | Self::Logout, None) => true,
        }
    }
}

/// The `iss` of a token, read without verifying anything, to choose the
/// verifier; `None` when it cannot be read.
#[cfg(feature = "oidc")]
pub(crate) fn peek_issuer(token: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    if token.len() > DEFAULT_MAX_TOKEN_BYTES * 2 {
        return None;
    }
    let payload = token.split(|b| *b == b'.').nth(1)?;
    let json = decode_b64url(payload)?;
    serde_json::from_slice::<Issuer>(&json).ok()?.iss
}

impl AccessTokens {
    /// The issuer (`iss`) of these tokens.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The issuer, shared.
    pub(crate) fn issuer_arc(&self) -> &Arc<str> {
        &self.inner.issuer_arc
    }

    /// The lifetime of issued tokens.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The revocation list.
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// Whether these tokens can be issued here (a signing key with its
    /// private half), not only verified.
    pub fn can_sign(&self) -> bool {
        let inner = &self.inner;
        inner
            .signing
            .as_ref()
            .is_some_and(|kid| inner.keys[kid].0.encoding.is_some())
    }

    /// Now by this verifier's clock, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now().unix_timestamp()
    }

    /// Issues a token for `subject` with the application's `custom` claims.
    pub fn issue<C: Serialize>(
        &self,
        subject: &Subject,
        custom: &C,
    ) -> Result<IssuedToken, JwtError> {
        let inner = &self.inner;
        let kid = inner.signing.as_ref().ok_or(JwtError::NoSigningKey)?;
        let key = &inner.keys[kid].0;
        let encoding = key.encoding.as_ref().ok_or(JwtError::NoSigningKey)?;
        let now = inner.clock.now().unix_timestamp();
        // A token of a session whose tokens were cut off in this very
        // second would be refused (revocations count that second as
        // before): it is stamped with the next second. Only a token made
        // from the session as changed is, never one made from an older
        // read of it.
        let iat = subject
            .issued_after
            .map(|ms| ms.div_euclid(1000) + 1)
            .filter(|iat| *iat > now)
            .unwrap_or(now);
        let ttl = i64::try_from(inner.ttl.as_secs()).unwrap_or(i64::MAX);
        let jti = SessionId::generate().map_err(|_| JwtError::Signing)?;
        let claims = Claims {
            iss: inner.issuer.clone(),
            sub: subject.user_id.clone(),
            aud: inner.audience.clone().map(Audience::One),
            exp: now + ttl,
            iat,
            nbf: Some(now),
            jti: Some(jti.to_string()),
            sid: subject.session_id.as_ref().map(ToString::to_string),
            roles: subject.roles.clone(),
            scope: subject.scope.clone(),
            permissions: Vec::new(),
            custom,
        };
        let mut header = jsonwebtoken::Header::new(key.alg.to_jwt());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, encoding).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            JwtError::Signing
        })?;
        Ok(IssuedToken {
            token,
            expires_in: inner.ttl.as_secs(),
            expires_at: now + ttl,
        })
    }

    /// Verifies a presented token; see the [module docs](self) for the
    /// order of checks.
    pub fn verify<C: DeserializeOwned>(&self, token: &[u8]) -> Result<Claims<C>, JwtError> {
        let payload = self.verify_signed(token, TokenType::Access)?;
        let claims: Claims<C> =
            serde_json::from_str(text_of(&payload)?).map_err(|_| JwtError::Malformed)?;
        self.check_claims(claims)
    }

    /// The payload of a token of type `typ` whose header and signature
    /// check out with one of the keys; nothing in it is checked yet.
    pub(crate) fn verify_signed(&self, token: &[u8], typ: TokenType) -> Result<Vec<u8>, JwtError> {
        let inner = &self.inner;
        if token.len() > inner.max_bytes {
            return Err(JwtError::TooLarge);
        }
        // `memchr`: the token is a few hundred bytes, every request.
        let mut dots = memchr::memchr_iter(b'.', token);
        let (Some(d1), Some(d2), None) = (dots.next(), dots.next(), dots.next()) else {
            return Err(JwtError::Malformed);
        };
        let (h, p, s) = (&token[..d1], &token[d1 + 1..d2], &token[d2 + 1..]);
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(JwtError::Malformed);
        }
        // Strict base64url (no padding, no stray bits): decoding checks
        // every character, so nothing scans the token before.
        let decode = |segment: &[u8]| decode_b64url(segment).ok_or(JwtError::Malformed);
        let header_json = decode(h)?;
        let payload = decode(p)?;
        let signature = decode(s)?;
        // JSON from text checked once, rather than string by string.
        let header: HeaderCheck<'_> =
            serde_json::from_str(text_of(&header_json)?).map_err(|_| JwtError::Malformed)?;
        if header.crit.is_some() {
            return Err(JwtError::Critical);
        }
        if !typ.accepts(header.typ.as_deref(), inner.untyped) {
            return Err(JwtError::WrongType);
        }
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        let (key, verifier) = inner.keys.get(&*kid).ok_or(JwtError::UnknownKey)?;
        if header.alg.as_deref() != Some(key.alg.as_str()) {
            return Err(JwtError::AlgorithmMismatch);
        }
        // The signed message is the first two segments with their dot.
        let message = &token[..h.len() + 1 + p.len()];
        let valid = match verifier {
            Some(verifier) => verifier.verify(message, &signature),
            None => {
                // Every segment decoded, so the signature is ASCII.
                let s = std::str::from_utf8(s).map_err(|_| JwtError::Malformed)?;
                jsonwebtoken::crypto::verify(s, message, &key.decoding, key.alg.to_jwt()).map_err(
                    |e| match e.kind() {
                        jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                        | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
                        | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                            JwtError::AlgorithmMismatch
                        }
                        _ => JwtError::Malformed,
                    },
                )?
            }
        };
        if !valid {
            return Err(JwtError::BadSignature);
        }
        Ok(payload)
    }

    /// The checks after the signature: times, issuer, audience, revocation.
    pub(crate) fn check_claims<C>(&self, claims: Claims<C>) -> Result<Claims<C>, JwtError> {
        self.check_claims_at(claims, self.inner.clock.now().unix_timestamp())
    }

    fn check_claims_at<C>(&self, claims: Claims<C>, now: i64) -> Result<Claims<C>, JwtError> {
        let inner = &self.inner;
        let leeway = inner.leeway;
        if now >= claims.exp.saturating_add(leeway) {
            return Err(JwtError::Expired);
        }
        // `iat` may run a second ahead even without leeway: a token issued
        // in the second of a revocation is stamped with the next one.
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
            || claims.iat > now.saturating_add(leeway.max(1))
        {
            return Err(JwtError::NotYetValid);
        }
        if claims.iss != inner.issuer {
            return Err(JwtError::Issuer);
        }
        if let Some(wanted) = &inner.audience
            && !claims.aud.as_ref().is_some_and(|a| a.contains(wanted))
        {
            return Err(JwtError::Audience);
        }
        if inner
            .revocations
            .is_revoked(claims.sid.as_deref(), &claims.sub, None, claims.iat)
        {
            return Err(JwtError::Revoked);
        }
        Ok(claims)
    }

    /// The public keys as a JWKS document (`{"keys":[…]}`); HMAC keys are
    /// never included.
    pub fn jwks(&self) -> serde_json::Value {
        let mut keys: Vec<_> = self
            .inner
            .keys
            .values()
            .filter_map(|(k, _)| {
                let mut jwk = k.public_jwk.clone()?;
                jwk.common.key_id = Some(k.kid.clone());
                Some(jwk)
            })
            .collect();
        keys.sort_by(|a, b| a.common.key_id.cmp(&b.common.key_id));
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod hybrid_tests;
#[cfg(test)]
mod tests;
