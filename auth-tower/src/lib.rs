//! Session authentication for tower services and axum apps, on
//! [`auth_core`].
//!
//! - [`AuthLayer`]: authenticates every request from its session cookie,
//!   attaches the caller, and applies the session decisions (new, refreshed
//!   or removed cookie) to the response. Store failures answer 503.
//! - [`Require`]: 401 for anonymous callers, 403 for a missing role or
//!   permission, as a layer on the routes it guards.
//! - axum extractors (feature `axum`): [`CurrentUser`], `Option<CurrentUser>`
//!   and [`Auth`], the handle to log in and out with; [`AuthError`] lets
//!   handlers use `?` on session operations.
//!
//! # Usage with axum
//! ```no_run
//! use axum::{Json, Router, routing::{get, post}};
//! use auth_core::{Authenticator, Login, MemoryStore};
//! use auth_tower::{Auth, AuthError, AuthLayer, CurrentUser, Require};
//!
//! async fn login(auth: Auth) -> Result<&'static str, AuthError> {
//!     // Verify the password first; then:
//!     auth.login(Login::new("alice").with_roles(["user"])).await?;
//!     Ok("logged in")
//! }
//!
//! async fn me(CurrentUser(user): CurrentUser) -> Json<Vec<String>> {
//!     Json(user.roles().to_vec())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Authenticator::builder(MemoryStore::new()).build()?;
//! let app = Router::new()
//!     .route("/login", post(login))
//!     .route("/me", get(me))
//!     .route("/admin", get(|| async { "admin" }).layer(Require::role("admin")))
//!     .layer(AuthLayer::new(auth));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! Serve with `into_make_service_with_connect_info::<SocketAddr>()` so the
//! device list shows client addresses.
//!
//! # Features
//! | feature | default | enables |
//! |---|---|---|
//! | `axum` | yes | the extractors, [`AuthError`], client addresses from `ConnectInfo` (beside a `SocketAddr` extension) |
//! | `jwt` | no | gateway mode ([`AuthLayer::with_gateway`]) |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The examples of the crate README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod auth;
mod body;
#[cfg(feature = "axum")]
mod error;
#[cfg(feature = "axum")]
mod extract;
mod guard;
mod response;

pub use auth::{AuthLayer, AuthService, ResponseFuture};
/// auth-core, the framework-free core, as this crate sees it: depend on
/// this crate alone and reach the core's types through it; its features
/// (`jwt`, `oidc`, `testing`) are this crate's too.
///
/// ```
/// use auth_tower::auth_core::{Authenticator, Login, MemoryStore};
///
/// let auth = Authenticator::builder(MemoryStore::new()).build()?;
/// # let _ = (auth, Login::new("alice"));
/// # Ok::<(), auth_tower::auth_core::ConfigError>(())
/// ```
pub use auth_core;
pub use body::ResponseBody;
#[cfg(feature = "axum")]
pub use error::AuthError;
#[cfg(feature = "axum")]
pub use extract::{Auth, AuthRejection, Claims, CurrentUser, Permitted};
pub use guard::{Guard, GuardFuture, Require};
