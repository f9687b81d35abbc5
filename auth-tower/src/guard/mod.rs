//! Guard layers: refuse requests whose caller lacks a login, a role, a
//! permission, or a recent enough login.
//!
//! They read the [`Identity`](auth_core::Identity) that [`AuthLayer`](crate::AuthLayer) attached,
//! so they go inside it. An anonymous caller gets 401 with a
//! `WWW-Authenticate` challenge; an authenticated one without the role gets
//! 403. The check is synchronous, so the refusal is a variant of the
//! response future, not a boxed future.
//!
//! ```
//! use axum::{Router, routing::get};
//! use auth_core::{Authenticator, MemoryStore};
//! use auth_tower::{AuthLayer, RequireLoginLayer, RequireRoleLayer};
//!
//! let auth = Authenticator::builder(MemoryStore::new()).build()?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "hello admin" }).layer(RequireRoleLayer::new("admin")))
//!     .route("/home", get(|| async { "hello" }).layer(RequireLoginLayer::new()))
//!     .layer(AuthLayer::new(auth));
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::{AuthHandle, Requirement};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::response::{denial_response, missing_layer_response};

/// Requires a logged-in caller: 401 with `WWW-Authenticate` otherwise.
#[derive(Debug, Clone, Default)]
pub struct RequireLoginLayer {
    _priv: (),
}

impl RequireLoginLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for RequireLoginLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            requirement: Requirement::Login,
        }
    }
}

/// Requires a caller with a role: 401 if anonymous, 403 if the role is
/// missing.
#[derive(Debug, Clone)]
pub struct RequireRoleLayer {
    role: Arc<str>,
}

impl RequireRoleLayer {
    /// Requires `role`.
    pub fn new(role: impl Into<Arc<str>>) -> Self {
        Self { role: role.into() }
    }
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            requirement: Requirement::Role(self.role.clone()),
        }
    }
}

/// Requires a caller with a permission (from its roles through
/// [`RolePermissions`](auth_core::RolePermissions), or from its token's
/// `scope`/`permissions`): 401 if anonymous, 403
/// `{"error":"insufficient_scope","missing":"…"}` if it is missing.
///
/// ```
/// use auth_tower::RequirePermissionLayer;
///
/// let layer = RequirePermissionLayer::new("reports:write");
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RequirePermissionLayer {
    permission: Arc<str>,
}

impl RequirePermissionLayer {
    /// Requires `permission`.
    pub fn new(permission: impl Into<Arc<str>>) -> Self {
        Self {
            permission: permission.into(),
        }
    }
}

impl<S> Layer<S> for RequirePermissionLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            requirement: Requirement::Permission(self.permission.clone()),
        }
    }
}

/// Requires a login (not a refresh) within a time, for sensitive
/// operations: 401 `{"error":"login_required","reason":"stale_login"}`
/// otherwise, so the app can ask for the password again.
///
/// ```
/// use std::time::Duration;
/// use auth_tower::RequireFreshLoginLayer;
///
/// let layer = RequireFreshLoginLayer::new(Duration::from_secs(5 * 60));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RequireFreshLoginLayer {
    within: std::time::Duration,
}

impl RequireFreshLoginLayer {
    /// Requires a login at most `within` ago.
    pub fn new(within: std::time::Duration) -> Self {
        Self { within }
    }
}

impl<S> Layer<S> for RequireFreshLoginLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            requirement: Requirement::fresh_login(self.within),
        }
    }
}

/// The service of [`RequireLoginLayer`], [`RequireRoleLayer`],
/// [`RequirePermissionLayer`] and [`RequireFreshLoginLayer`].
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
        let Some(handle) = req.extensions().get::<AuthHandle>() else {
            return GuardFuture::Denied {
                response: Some(missing_layer_response("a guard layer")),
            };
        };
        match handle.require(&self.requirement) {
            Ok(()) => GuardFuture::Allowed {
                future: self.inner.call(req),
            },
            Err(denial) => GuardFuture::Denied {
                response: Some(denial_response(&handle.denial(denial))),
            },
        }
    }
}

pin_project! {
    /// The response future of [`Guard`].
    #[project = GuardProj]
    #[derive(Debug)]
    #[allow(missing_docs)]
    pub enum GuardFuture<F, B> {
        /// The caller passed: the inner service's future.
        Allowed { #[pin] future: F },
        /// The caller was refused.
        Denied { response: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardProj::Allowed { future } => future
                .poll(cx)
                .map(|r| r.map(|res| res.map(ResponseBody::inner))),
            GuardProj::Denied { response } => Poll::Ready(Ok(response
                .take()
                .expect("GuardFuture polled after completion"))),
        }
    }
}
