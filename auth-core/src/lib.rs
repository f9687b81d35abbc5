//! Server-side sessions for web applications, independent of any web
//! framework: tokens, records, the session lifecycle, cookie policy, the
//! store trait and an in-memory store.
//!
//! Web frameworks use it through an adapter: `auth-tower` for axum and any
//! tower stack. This crate is what adapters (and custom stores) build on.
//!
//! # The request, step by step
//! 1. **Extract**: the adapter hands the raw `Cookie` headers, user agent
//!    and client address to [`Authenticator::credentials`], which parses
//!    them without I/O.
//! 2. **Authenticate**: [`Authenticator::authenticate`] hashes the token,
//!    loads the session, checks idle and absolute expiry and, past the
//!    refresh threshold, pushes the idle expiry forward. The result is an
//!    [`AuthHandle`]: an [`Identity`], or anonymous with a [`Rejection`]
//!    reason. A store failure is an [`Error`], never anonymous.
//! 3. **Attach**: the adapter puts the identity and the handle into the
//!    request.
//! 4. **Act**: handlers log in, log out, rotate, list and revoke sessions
//!    and change data through the handle.
//! 5. **Answer**: [`AuthHandle::finish`] saves pending data and says which
//!    `Set-Cookie` to send.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use auth_core::{Authenticator, Login, MemoryStore};
//!
//! let auth = Authenticator::builder(MemoryStore::new()).build().unwrap();
//!
//! // A login request: anonymous, then logged in by the handler.
//! let handle = auth.authenticate(auth.credentials([], None, None)).await.unwrap();
//! handle.login(Login::new("alice").with_roles(["user"])).await.unwrap();
//! let set_cookie = handle.finish().await.unwrap().unwrap();
//!
//! // The next request presents the cookie.
//! let cookie = set_cookie.split(';').next().unwrap();
//! let handle = auth.authenticate(auth.credentials([cookie.as_bytes()], None, None)).await.unwrap();
//! assert_eq!(handle.identity().unwrap().user_id(), "alice");
//! # });
//! ```
//!
//! # Security model and defaults
//! - **Tokens** are 256 bits from the OS CSPRNG. Stores key sessions by the
//!   SHA-256 of the token, so a dump of the store logs no one in; the token
//!   exists only in the client's cookie. Lookups go by hash, so no secret
//!   is ever compared byte by byte. Malformed tokens are rejected before
//!   any store call.
//! - **Cookies** default to `HttpOnly; Secure; SameSite=Lax; Path=/` with
//!   the `__Host-` prefix (see [`cookie`]). Two different session cookies in
//!   one request count as none.
//! - **Fixation**: a login always issues a fresh token and retires the
//!   session the request came with; [`AuthHandle::rotate`] and
//!   [`AuthHandle::set_roles`] swap tokens atomically on privilege changes.
//! - **Expiry**: 30 minutes idle, 12 hours absolute. The idle expiry slides
//!   only once a quarter of the idle window has passed since the last
//!   refresh, so a busy session costs one read per request, not a write.
//! - **Failure**: a store error is an error (503), never an anonymous
//!   request and never a logout.
//! - **Secrets** print as `REDACTED` in `Debug` and are never logged.
//!
//! # Features
//! | feature | enables |
//! |---|---|
//! | `testing` | [`testing`]: the store conformance suite and a call-counting store wrapper |
//! | `jwt` | [`jwt`]: signed access tokens (issue, verify, keys, JWKS, revocation) |

pub mod clock;
pub mod cookie;
pub mod csrf;
pub mod record;
pub mod revocation;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod token;

mod authenticator;
mod config;
mod error;
mod guard;
mod handle;
mod identity;

#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use authenticator::{
    Authenticator, AuthenticatorBuilder, Credentials, DEFAULT_ABSOLUTE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DATA_BYTES, DEFAULT_REFRESH_THRESHOLD, Denial,
    DenialResponse, MAX_AUTHORIZATION_BYTES, Rejection,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ConfigError;
pub use cookie::{CookiePolicy, SameSite};
pub use error::Error;
pub use guard::Requirement;
pub use handle::{AuthHandle, Login, SessionInfo};
pub use identity::{AuthMethod, Identity};
pub use record::{ClientMeta, SessionData, SessionKind, SessionRecord};
pub use store::{MemoryStore, SessionStore, StoreError};
pub use token::{SessionId, SessionKey, SessionToken};
