//! Session authentication for actix-web apps, on [`auth_core`]: the same
//! behaviour as `auth-tower` for axum, installed the actix way.
//!
//! - [`AuthMiddleware`]: authenticates every request from its session
//!   cookie, attaches the caller, and applies the session decisions to the
//!   response. Store failures answer 503 with `Retry-After`.
//! - [`Require`]: 401 for anonymous callers, 403 for a missing role.
//! - Extractors: [`CurrentUser`] (401 when anonymous), `Option<CurrentUser>`,
//!   and [`Auth`], the handle to log in and out with. [`AuthError`] lets
//!   handlers use `?` on session operations.
//!
//! The [`Identity`](auth_core::Identity) and [`AuthHandle`](auth_core::AuthHandle)
//! are `Send + Sync`, so they can be moved into `tokio::spawn`ed work.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use auth_actix::{Auth, AuthError, AuthMiddleware, CurrentUser, Require};
//! use auth_core::{Authenticator, Login, MemoryStore};
//!
//! async fn login(auth: Auth) -> Result<HttpResponse, AuthError> {
//!     // Verify the password first; then:
//!     auth.login(Login::new("alice").with_roles(["user"])).await?;
//!     Ok(HttpResponse::Ok().body("logged in"))
//! }
//!
//! async fn me(CurrentUser(user): CurrentUser) -> String {
//!     user.user_id().to_owned()
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let auth = Authenticator::builder(MemoryStore::new()).build().expect("valid config");
//!     HttpServer::new(move || {
//!         App::new()
//!             .route("/login", web::post().to(login))
//!             .route("/me", web::get().to(me))
//!             .service(
//!                 web::resource("/admin")
//!                     .wrap(Require::role("admin"))
//!                     .route(web::get().to(|| async { "admin" })),
//!             )
//!             .wrap(AuthMiddleware::new(auth.clone()))
//!     })
//!     .bind(("127.0.0.1", 3000))?
//!     .run()
//!     .await
//! }
//! ```
//!
//! actix-web 4 uses `http` 0.2 and `cookie` 0.16; auth-core's API uses
//! neither, so the two adapters share one core without version clashes.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The examples of the crate README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod exchange;
mod extract;
mod future;
mod guard;
mod middleware;
mod response;

/// auth-core, the framework-free core, as this crate sees it: depend on
/// this crate alone and reach the core's types through it; its features
/// (`jwt`, `oidc`, `testing`) are this crate's too.
///
/// ```
/// use auth_actix::auth_core::{Authenticator, Login, MemoryStore};
///
/// let auth = Authenticator::builder(MemoryStore::new()).build()?;
/// # let _ = (auth, Login::new("alice"));
/// # Ok::<(), auth_actix::auth_core::ConfigError>(())
/// ```
pub use auth_core;
pub use extract::{Auth, AuthError, AuthRejection, Claims, CurrentUser, Permitted};
pub use future::RequireFuture;
pub use guard::{Require, RequireService};
pub use middleware::{AuthMiddleware, AuthMiddlewareBuilder, AuthMiddlewareService};
