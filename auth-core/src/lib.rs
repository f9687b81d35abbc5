#![doc = include_str!("guide/intro.md")]
//!
//! # Features
//! | feature | enables |
//! |---|---|
//! | `testing` | [`testing`]: the store conformance suite and a call-counting store wrapper |
//! | `jwt` | [`jwt`]: access tokens (issue, verify, keys, JWKS), refresh tokens, gateway tokens; bearer authentication in [`Authenticator`] |
//! | `oidc` | [`jwt::oidc`]: access tokens of external OpenID providers (discovery, JWKS refreshed in the background) |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The examples of the crate README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod adapter;
pub mod claims;
pub mod clock;
pub mod cookie;
pub mod csrf;
pub mod guide;
pub mod navigation;
pub mod proxy;
pub mod record;
pub mod revocation;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod token;

mod authenticator;
#[cfg(feature = "jwt")]
mod bearer;
mod config;
mod credentials;
pub mod custom;
mod error;
mod guard;
mod handle;
mod identity;
mod lifecycle;
mod owner;
mod pipeline;
mod refusal;

#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "oidc")]
pub mod sso;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use authenticator::{
    Authenticator, AuthenticatorBuilder, DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_DATA_BYTES, DEFAULT_MAX_SESSIONS_PER_USER, DEFAULT_REFRESH_THRESHOLD,
    DEFAULT_REMEMBER_ABSOLUTE, DEFAULT_REMEMBER_IDLE, DEFAULT_VISITOR_ABSOLUTE,
    DEFAULT_VISITOR_IDLE, SessionLimit,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ConfigError;
pub use cookie::{CookiePolicy, SameSite};
pub use error::Error;
pub use guard::{Permission, Requirement};
pub use handle::{AuthHandle, FLASH_KEY, Login, LoginError};
pub use identity::{AuthMethod, Identity, RolePermissions};
pub use lifecycle::SessionInfo;
pub use record::{ClientMeta, SessionData, SessionKind, SessionLifetime, SessionRecord};
pub use refusal::{JsonRefusals, Refusal, Rejection, RenderRefusal, RenderedBody};
pub use store::{Announcements, CachedStore, MemoryStore, SessionStore, StoreError};
pub use token::{SessionId, SessionKey, SessionToken, Verifier};
