//! Refusals: why a credential was rejected ([`Rejection`]), what an
//! adapter answers ([`Denial`]), and what that looks like on the wire
//! ([`DenialResponse`]): status, headers and body, identical in every
//! adapter, with the RFC 6750 challenges where access tokens are accepted.

use std::sync::Arc;

use crate::authenticator::Authenticator;
use crate::error::Error;

/// Why a presented credential did not authenticate the request. The request
/// goes on as anonymous; guards and extractors then answer 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The session cookie is not a well-formed token.
    MalformedCookie,
    /// The request carries two different session cookies.
    ConflictingCookies,
    /// No live session has this token (logged out, expired, never existed).
    UnknownSession,
    /// The token belongs to a session of another kind (a refresh session).
    WrongKind,
    /// The `Authorization: Bearer` credential or the access-token cookie
    /// is malformed or its access token failed verification; the reason
    /// says why.
    InvalidToken {
        /// A short, stable reason (`expired`, `bad_signature`, …).
        reason: &'static str,
    },
    /// A [custom credential](crate::custom) was refused.
    InvalidCredential {
        /// The [`name`](crate::custom::CustomAuthenticator::name) of the
        /// authenticator that refused it.
        authenticator: &'static str,
    },
}

impl Rejection {
    /// A short, stable reason for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedCookie => "malformed_cookie",
            Self::ConflictingCookies => "conflicting_cookies",
            Self::UnknownSession => "unknown_session",
            Self::WrongKind => "wrong_kind",
            Self::InvalidToken { reason } => reason,
            Self::InvalidCredential { .. } => "invalid_credential",
        }
    }
}

/// A refusal an adapter turns into a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// No valid credential: 401 with `WWW-Authenticate`.
    Unauthenticated,
    /// Authenticated but lacking a role: 403.
    Forbidden,
    /// Authenticated but lacking a permission: 403 with
    /// `{"error":"insufficient_scope","missing":"<permission>"}` (and an
    /// RFC 6750 `insufficient_scope` challenge naming it, where access
    /// tokens are accepted).
    InsufficientScope {
        /// The permission the caller lacks.
        missing: Arc<str>,
    },
    /// The store failed: 503 with `Retry-After`.
    Unavailable,
    /// Refused as cross-site ([`csrf`](crate::csrf)): 403.
    Csrf,
    /// Logged in, but too long ago for this operation
    /// ([`Requirement::FreshLogin`](crate::Requirement::FreshLogin)): 401
    /// with `{"error":"login_required","reason":"stale_login"}`, so the app
    /// asks for the password again.
    StaleLogin,
    /// Too many failed logins ([`throttle`](crate::throttle)): 429 with
    /// `Retry-After`.
    Throttled {
        /// Seconds until the lockout ends.
        retry_after_secs: u64,
    },
}

/// What a [`Denial`] looks like on the wire, identical in every adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialResponse {
    /// The status code.
    pub status: u16,
    /// Headers to set, with lowercase names.
    pub headers: Vec<(&'static str, String)>,
    /// A short JSON body; internal detail never goes here.
    pub body: std::borrow::Cow<'static, str>,
}

impl Authenticator {
    /// What a [`Denial`] looks like on the wire. Adapters copy it verbatim,
    /// so every framework answers the same bytes.
    pub fn denial(&self, denial: Denial) -> DenialResponse {
        let json = ("content-type", "application/json".to_owned());
        let no_store = ("cache-control", "no-store".to_owned());
        match denial {
            Denial::Unauthenticated => DenialResponse {
                status: 401,
                headers: vec![
                    ("www-authenticate", self.inner.challenge.clone()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"unauthenticated"}"#.into(),
            },
            Denial::Forbidden => DenialResponse {
                status: 403,
                headers: vec![json, no_store],
                body: r#"{"error":"forbidden"}"#.into(),
            },
            Denial::InsufficientScope { missing } => DenialResponse {
                status: 403,
                headers: vec![json, no_store],
                body: serde_json::json!({"error": "insufficient_scope", "missing": &*missing})
                    .to_string()
                    .into(),
            },
            Denial::StaleLogin => DenialResponse {
                status: 401,
                headers: vec![
                    ("www-authenticate", self.inner.challenge.clone()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"login_required","reason":"stale_login"}"#.into(),
            },
            Denial::Csrf => DenialResponse {
                status: 403,
                headers: vec![json, no_store],
                body: r#"{"error":"csrf_rejected"}"#.into(),
            },
            Denial::Throttled { retry_after_secs } => DenialResponse {
                status: 429,
                headers: vec![
                    ("retry-after", retry_after_secs.max(1).to_string()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"too_many_attempts"}"#.into(),
            },
            Denial::Unavailable => DenialResponse {
                status: 503,
                headers: vec![
                    ("retry-after", self.inner.retry_after_secs.to_string()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"unavailable"}"#.into(),
            },
        }
    }

    /// The response for an [`Error`] that escaped a handler or the layer.
    pub fn error_response(&self, error: &Error) -> DenialResponse {
        self.error_answer(error.status(), error.code())
    }

    /// The response for an error by its [`status`](Error::status) and
    /// [`code`](Error::code), as adapters carry them from a handler's
    /// error to the layer.
    pub fn error_answer(&self, status: u16, code: &'static str) -> DenialResponse {
        match status {
            401 => self.denial(Denial::Unauthenticated),
            503 => self.denial(Denial::Unavailable),
            status => DenialResponse {
                status,
                headers: vec![
                    ("content-type", "application/json".to_owned()),
                    ("cache-control", "no-store".to_owned()),
                ],
                body: format!(r#"{{"error":"{code}"}}"#).into(),
            },
        }
    }

    /// The response for a bare error status: 401 and 503 as configured,
    /// anything else as `internal`.
    pub fn status_response(&self, status: u16) -> DenialResponse {
        self.error_answer(status, "internal")
    }

    /// The RFC 6750 challenge for bearer tokens, with an `error` when one
    /// was presented and failed.
    pub(crate) fn bearer_challenge(&self, error: Option<&str>) -> String {
        match error {
            Some(error) => format!("Bearer realm=\"{}\", error=\"{error}\"", self.inner.realm),
            None => format!("Bearer realm=\"{}\"", self.inner.realm),
        }
    }

    /// The RFC 6750 challenge for a bearer caller lacking `scope`; the
    /// scope is named when it is a valid scope token (RFC 6749 3.3).
    pub(crate) fn scope_challenge(&self, scope: &str) -> String {
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        let mut challenge = self.bearer_challenge(Some("insufficient_scope"));
        if valid {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        challenge
    }
}
