//! Middleware that refuses callers without a login or a role.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use auth_core::{AuthHandle, Requirement};

use crate::response::{denial_response, missing_middleware_response};

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
    type Future = future::Either<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let verdict = {
            let ext = req.extensions();
            match ext.get::<AuthHandle>() {
                None => Err(missing_middleware_response("auth_actix::Require")),
                Some(handle) => handle
                    .require(&self.requirement)
                    .map_err(|denial| denial_response(&handle.denial(denial))),
            }
        };
        match verdict {
            Ok(()) => future::Either::Allowed {
                future: self.service.call(req),
            },
            Err(res) => future::Either::Denied {
                response: Some(req.into_response(res).map_into_right_body()),
            },
        }
    }
}

/// The response future of [`RequireService`].
pub mod future {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use actix_web::Error;
    use actix_web::body::EitherBody;
    use actix_web::dev::ServiceResponse;
    use pin_project_lite::pin_project;

    pin_project! {
        /// The response future of [`RequireService`](super::RequireService):
        /// the inner future, or the refusal, without boxing.
        #[project = EitherProj]
        #[allow(missing_docs)]
        pub enum Either<F, B> {
            /// The caller passed: the inner service's future.
            Allowed { #[pin] future: F },
            /// The caller was refused.
            Denied { response: Option<ServiceResponse<EitherBody<B>>> },
        }
    }

    impl<F, B> std::fmt::Debug for Either<F, B> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Self::Allowed { .. } => "Either::Allowed",
                Self::Denied { .. } => "Either::Denied",
            })
        }
    }

    impl<F, B> Future for Either<F, B>
    where
        F: Future<Output = Result<ServiceResponse<B>, Error>>,
    {
        type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match self.project() {
                EitherProj::Allowed { future } => future
                    .poll(cx)
                    .map(|r| r.map(ServiceResponse::map_into_left_body)),
                EitherProj::Denied { response } => Poll::Ready(Ok(response
                    .take()
                    .expect("RequireService future polled after completion"))),
            }
        }
    }
}
