//! The authentication layer: authenticates every request, attaches the
//! caller, and applies the session decisions to the response.
//!
//! For each request, [`AuthService`]:
//! 1. reads the `Cookie` headers, `User-Agent` and (with the `axum`
//!    feature) the client address from `ConnectInfo<SocketAddr>`;
//! 2. asks the [`Authenticator`](auth_core::Authenticator) who is calling:
//!    one store read, plus a refresh write once the threshold has passed;
//! 3. inserts the [`AuthHandle`](auth_core::AuthHandle) into the request's
//!    extensions; its [`identity`](auth_core::AuthHandle::identity) is the
//!    caller, if any;
//! 4. runs the inner service;
//! 5. saves pending session data and applies what the core decided
//!    ([`ResponseEdits`](auth_core::ResponseEdits)): the `Set-Cookie`
//!    values, `Vary` on the credential headers, and `Cache-Control`.
//!
//! A store failure answers 503 with `Retry-After` before the inner service
//! runs (or instead of its response, if saving failed afterwards): never as
//! anonymous, never as a logout.
//!
//! The layer does not refuse anonymous requests; put
//! [`RequireLoginLayer`](crate::RequireLoginLayer) or the
//! [`CurrentUser`](crate::CurrentUser) extractor where login is required.
//!
//! ```
//! use axum::{Router, routing::get};
//! use auth_core::{Authenticator, MemoryStore};
//! use auth_tower::{AuthLayer, CurrentUser};
//!
//! async fn me(CurrentUser(user): CurrentUser) -> String {
//!     user.user_id().to_owned()
//! }
//!
//! let auth = Authenticator::builder(MemoryStore::new()).build()?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(AuthLayer::new(auth));
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use service::AuthService;
