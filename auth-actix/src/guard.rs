//! Middleware that refuses callers without a login or a role.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use auth_core::adapter::missing_middleware;
use auth_core::{AuthHandle, Requirement};

use crate::future::RequireFuture;
use crate::response::refusal_response;

/// Refuses anonymous callers with 401 (and a `WWW-Authenticate`
/// challenge), and, for a role requirement, callers without the role with
/// 403. Wrap the routes to protect; it must run inside [`AuthMiddleware`](crate::AuthMiddleware)
/// (actix runs the last `.wrap` first, so wrap the app in `AuthMiddleware`
/// and the scope or resource in the guard).
///
/// ```
/// use actix_web::{App, web};
/// use auth_actix::{AuthMiddleware, Require};
/// use auth_core::{Authenticator, MemoryStore};
///
/// let auth = Authenticator::builder(MemoryStore::new()).build()?;
/// let app = App::new()
///     .service(
///         web::resource("/admin")
///             .wrap(Require::role("admin"))
///             .route(web::get().to(|| async { "hello admin" })),
///     )
///     .service(web::scope("/account").wrap(Require::login()))
///     .wrap(AuthMiddleware::new(auth));
/// # let _ = app;
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Require {
    requirement: Rc<Requirement>,
}

impl Require {
    /// Requires a logged-in caller.
    pub fn login() -> Self {
        Self {
            requirement: Rc::new(Requirement::Login),
        }
    }

    /// Requires a caller with `role`.
    pub fn role(role: &str) -> Self {
        Self {
            requirement: Rc::new(Requirement::role(role)),
        }
    }

    /// Requires a caller with `permission`: 403
    /// `{"error":"insufficient_scope","missing":"…"}` without it.
    pub fn permission(permission: &str) -> Self {
        Self {
            requirement: Rc::new(Requirement::permission(permission)),
        }
    }

    /// Requires a login (not a refresh) at most `within` ago, for
    /// sensitive operations: 401 `{"error":"login_required","reason":"stale_login"}`
    /// otherwise.
    pub fn fresh_login(within: std::time::Duration) -> Self {
        Self {
            requirement: Rc::new(Requirement::fresh_login(within)),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service,
            requirement: Rc::clone(&self.requirement),
        }))
    }
}

/// The service of [`Require`].
#[derive(Debug)]
pub struct RequireService<S> {
    service: S,
    requirement: Rc<Requirement>,
}

impl<S, B> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = RequireFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let verdict = {
            let ext = req.extensions();
            match ext.get::<AuthHandle>() {
                None => Err(missing_middleware(
                    "auth_actix::Require",
                    "add `.wrap(auth_actix::AuthMiddleware::new(..))` around it",
                )),
                Some(handle) => handle
                    .require(&self.requirement)
                    .map_err(|refusal| handle.render(&refusal)),
            }
        };
        match verdict {
            Ok(()) => RequireFuture::allowed(self.service.call(req)),
            Err(refusal) => RequireFuture::denied(
                req.into_response(refusal_response(refusal))
                    .map_into_right_body(),
            ),
        }
    }
}
