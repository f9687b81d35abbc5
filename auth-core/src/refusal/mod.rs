//! Refusals: why a credential was rejected ([`Rejection`]: the request
//! goes on as anonymous), and why a request is refused ([`Refusal`]), which
//! [`render`](crate::Authenticator::render) turns into one answer,
//! identical in every adapter: the status, the protocol headers
//! (`WWW-Authenticate`, `Retry-After`, `Cache-Control`) and a body from the
//! application's [`RenderRefusal`] (JSON by default).

mod render;
mod response;

pub use render::{JsonRefusals, RenderRefusal, RenderedBody};
pub use response::RefusalResponse;

use std::sync::Arc;

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

/// Why a request is refused: every answer the middleware, the guards, the
/// extractors and a handler's `AuthError` give instead of the handler's.
///
/// ```
/// use auth_core::{Error, Refusal};
///
/// assert_eq!(Refusal::Unauthenticated.status(), 401);
/// assert_eq!(Refusal::from(Error::TooManySessions).code(), "too_many_sessions");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No valid credential: 401 with `WWW-Authenticate`.
    Unauthenticated,
    /// Authenticated but lacking a role: 403.
    Forbidden,
    /// Authenticated but lacking a permission: 403, naming it (and an
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
    /// with the reason `stale_login`, so the app asks for the password
    /// again.
    StaleLogin,
    /// Too many failed logins ([`throttle`](crate::throttle)): 429 with
    /// `Retry-After`.
    Throttled {
        /// Seconds until the lockout ends.
        retry_after_secs: u64,
    },
    /// A refresh token that is unknown, expired or reused: 400
    /// `invalid_grant` (RFC 6749 5.2).
    InvalidGrant,
    /// Any other failure of a session operation, by its status and code
    /// ([`Error::status`](crate::Error::status), [`Error::code`](crate::Error::code)).
    Failed {
        /// The status code.
        status: u16,
        /// A short, stable code for the body.
        code: &'static str,
    },
}

impl Refusal {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated | Self::StaleLogin => 401,
            Self::Forbidden | Self::InsufficientScope { .. } | Self::Csrf => 403,
            Self::Unavailable => 503,
            Self::Throttled { .. } => 429,
            Self::InvalidGrant => 400,
            Self::Failed { status, .. } => *status,
        }
    }

    /// A short, stable code for the body: `unauthenticated`, `forbidden`,
    /// `insufficient_scope`, `unavailable`, `csrf_rejected`,
    /// `login_required`, `too_many_attempts`, `invalid_grant`, or the
    /// code of a failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::Unavailable => "unavailable",
            Self::Csrf => "csrf_rejected",
            Self::StaleLogin => "login_required",
            Self::Throttled { .. } => "too_many_attempts",
            Self::InvalidGrant => "invalid_grant",
            Self::Failed { code, .. } => code,
        }
    }

    /// The refusal of an error status without more to say: 401 and 503 as
    /// configured, anything else as `internal`.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn of_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthenticated,
            503 => Self::Unavailable,
            status => Self::Failed {
                status,
                code: "internal",
            },
        }
    }
}

impl From<crate::Error> for Refusal {
    /// How a handler's failed session operation is answered; the error
    /// itself (which may hold internal detail) is logged here and never
    /// reaches the client.
    fn from(error: crate::Error) -> Self {
        Self::from(&error)
    }
}

impl From<&crate::Error> for Refusal {
    fn from(error: &crate::Error) -> Self {
        tracing::warn!(
            error = %error,
            source = ?std::error::Error::source(error),
            status = error.status(),
            "request failed on a session operation"
        );
        Self::of_error(error)
    }
}

impl Refusal {
    /// The refusal of `error`, which the caller logs.
    pub(crate) fn of_error(error: &crate::Error) -> Self {
        match error.status() {
            401 => Self::Unauthenticated,
            503 => Self::Unavailable,
            status => Self::Failed {
                status,
                code: error.code(),
            },
        }
    }
}

impl From<crate::throttle::Throttled> for Refusal {
    fn from(throttled: crate::throttle::Throttled) -> Self {
        match throttled {
            crate::throttle::Throttled::Limited { retry_after, .. } => Self::Throttled {
                retry_after_secs: retry_after.as_secs(),
            },
            crate::throttle::Throttled::Store(error) => crate::Error::Store(error).into(),
        }
    }
}

#[cfg(feature = "jwt")]
impl From<crate::jwt::RefreshError> for Refusal {
    fn from(error: crate::jwt::RefreshError) -> Self {
        use crate::jwt::RefreshError;
        match error {
            RefreshError::Invalid | RefreshError::Reused => Self::InvalidGrant,
            RefreshError::Failed(error) => error.into(),
            error => {
                tracing::error!(error = %error, "token endpoint misconfigured");
                Self::of_status(500)
            }
        }
    }
}
