//! Guard layers: refuse requests whose caller lacks a login, a role, a
//! permission, or a recent enough login.
//!
//! They read the [`AuthHandle`] that [`AuthLayer`](crate::AuthLayer)
//! attached, so they go inside it. An anonymous caller gets 401 with a
//! `WWW-Authenticate` challenge; an authenticated one without the role gets
//! 403. The check is synchronous, so the refusal is held by the response
//! future, not boxed.
//!
//! ```
//! use axum::{Router, routing::get};
//! use auth_core::{Authenticator, MemoryStore};
//! use auth_tower::{AuthLayer, Require};
//!
//! let auth = Authenticator::builder(MemoryStore::new()).build()?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "hello admin" }).layer(Require::role("admin")))
//!     .route("/home", get(|| async { "hello" }).layer(Require::login()))
//!     .layer(AuthLayer::new(auth));
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::adapter::missing_middleware;
use auth_core::{AuthHandle, Requirement};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::response::refusal_response;

/// A layer that refuses callers who do not meet a [`Requirement`]: 401
/// (with `WWW-Authenticate`) for anonymous callers, 403 for a missing role
/// or permission (`{"error":"insufficient_scope","missing":"…"}` for a
/// permission), 401 `{"error":"login_required","reason":"stale_login"}`
/// for a login that is not fresh enough.
///
/// ```
/// use std::time::Duration;
/// use auth_tower::Require;
///
/// let sensitive = Require::fresh_login(Duration::from_secs(5 * 60));
/// let writers = Require::permission("reports:write");
/// # let _ = (sensitive, writers);
/// ```
#[derive(Debug, Clone)]
pub struct Require {
    requirement: Requirement,
}

impl Require {
    /// Requires a logged-in caller.
    pub fn login() -> Self {
        Self::new(Requirement::Login)
    }

    /// Requires a caller with `role`.
    pub fn role(role: &str) -> Self {
        Self::new(Requirement::role(role))
    }

    /// Requires a caller with `permission` (from its roles through
    /// [`RolePermissions`](auth_core::RolePermissions), or from its token's
    /// `scope`/`permissions`).
    pub fn permission(permission: &str) -> Self {
        Self::new(Requirement::permission(permission))
    }

    /// Requires a login (not a refresh) at most `within` ago, for
    /// sensitive operations, so the app can ask for the password again.
    pub fn fresh_login(within: std::time::Duration) -> Self {
        Self::new(Requirement::fresh_login(within))
    }

    /// Requires `requirement`.
    pub fn new(requirement: Requirement) -> Self {
        Self { requirement }
    }
}

impl<S> Layer<S> for Require {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            requirement: self.requirement.clone(),
        }
    }
}

/// The service of [`Require`].
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    requirement: Requirement,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Guard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let verdict = match req.extensions().get::<AuthHandle>() {
            None => Err(missing_middleware(
                "a guard layer",
                "add `auth_tower::AuthLayer` around it",
            )),
            Some(handle) => handle
                .require(&self.requirement)
                .map_err(|refusal| handle.render(&refusal)),
        };
        let state = match verdict {
            Ok(()) => State::Allowed {
                future: self.inner.call(req),
            },
            Err(refusal) => State::Denied {
                response: Some(refusal_response(refusal)),
            },
        };
        GuardFuture { state }
    }
}

pin_project! {
    /// The response future of [`Guard`]: the inner service's, or the
    /// refusal, without boxing.
    #[derive(Debug)]
    pub struct GuardFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, B> {
        Allowed { #[pin] future: F },
        Denied { response: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Allowed { future } => future
                .poll(cx)
                .map(|r| r.map(|res| res.map(ResponseBody::inner))),
            StateProj::Denied { response } => Poll::Ready(Ok(response
                .take()
                .expect("GuardFuture polled after completion"))),
        }
    }
}
