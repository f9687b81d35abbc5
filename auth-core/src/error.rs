//! The error type of session operations.

use crate::store::StoreError;
use crate::token::RandomError;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed. Answer 503: the request's fate is unknown, and it
    /// must look neither like success nor like a logout.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system's random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The operation needs a session and the request has none.
    #[error("the request has no session")]
    NoSession,
    /// Session data could not be converted to or from JSON.
    #[error("session data could not be (de)serialized")]
    Data(#[source] serde_json::Error),
    /// Session data grew past the configured limit.
    #[error("session data exceeds {limit} bytes")]
    DataTooLarge {
        /// The limit, in bytes of JSON.
        limit: usize,
    },
    /// The user already has as many sessions as allowed and the limit is
    /// set to refuse new ones ([`SessionLimit::Refuse`](crate::SessionLimit::Refuse)).
    #[error("the user has too many sessions")]
    TooManySessions,
    /// The caller is an external issuer's subject that names no user of
    /// this application ([`Identity::is_local`](crate::Identity::is_local)),
    /// so it has no sessions to list or end here.
    #[error("the caller is not a user of this application")]
    NotLocalUser,
    /// A login named a user id that starts with a control character: such
    /// names are reserved for what is not a user (anonymous visitors, a
    /// provider's subjects signed in through single sign-on).
    #[error("user ids may not start with a control character")]
    ReservedUserId,
    /// The session changed concurrently (another request rotated it) and
    /// this request's view of it is out of date: answer 409, and the
    /// client retries with its newest cookie.
    #[error("the session was changed by another request")]
    Conflict,
}

impl Error {
    /// A short, stable code for the body of the answer: `unavailable`,
    /// `unauthenticated`, `session_data_too_large`, `too_many_sessions`,
    /// `conflict`, `not_local_user` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(_) | Self::Random(_) => "unavailable",
            Self::NoSession => "unauthenticated",
            Self::Data(_) => "internal",
            Self::DataTooLarge { .. } => "session_data_too_large",
            Self::TooManySessions => "too_many_sessions",
            Self::Conflict => "conflict",
            Self::NotLocalUser => "not_local_user",
            Self::ReservedUserId => "reserved_user_id",
        }
    }

    /// The HTTP status an adapter answers with when a handler lets this
    /// error through: 503 for store and random-source failures, 401 for a
    /// missing session, 500 for data the application could not encode, 413
    /// for oversized data, 409 for a login past the session limit or a
    /// session changed concurrently, 403 for a caller who is not a local
    /// user.
    pub fn status(&self) -> u16 {
        match self {
            Self::Store(_) | Self::Random(_) => 503,
            Self::NoSession => 401,
            Self::Data(_) => 500,
            Self::DataTooLarge { .. } => 413,
            Self::TooManySessions | Self::Conflict => 409,
            Self::NotLocalUser => 403,
            Self::ReservedUserId => 500,
        }
    }
}
