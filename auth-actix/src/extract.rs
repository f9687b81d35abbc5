//! Extractors.
//!
//! | extractor | anonymous caller | without [`AuthMiddleware`](crate::AuthMiddleware) |
//! |---|---|---|
//! | [`CurrentUser`] | 401 with `WWW-Authenticate` | 500, logged with the fix |
//! | `Option<CurrentUser>` | `None` | `None` (actix's `Option` swallows errors) |
//! | [`Permitted<P>`] | 401; 403 `insufficient_scope` without permission `P` | 500, logged with the fix |
//! | [`Auth`] | the handle (log in with it) | 500, logged with the fix |

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use auth_core::{AuthHandle, Denial, DenialResponse, Identity, Permission};

use crate::response::{denial_response, missing_middleware_response};

/// The authenticated caller; rejects anonymous requests with 401.
///
/// ```
/// use auth_actix::CurrentUser;
///
/// async fn me(CurrentUser(user): CurrentUser) -> String {
///     format!("{} via {}", user.user_id(), user.method())
/// }
///
/// async fn home(user: Option<CurrentUser>) -> String {
///     user.map_or("hello stranger".into(), |u| format!("hello {}", u.user_id()))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Identity);

impl Deref for CurrentUser {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

/// The authenticated caller, holding permission `P`: 401 if anonymous, 403
/// `{"error":"insufficient_scope","missing":"…"}` without it.
///
/// ```
/// use auth_actix::Permitted;
/// use auth_core::Permission;
///
/// struct WriteReports;
/// impl Permission for WriteReports {
///     const NAME: &'static str = "reports:write";
/// }
///
/// async fn publish(user: Permitted<WriteReports>) -> String {
///     format!("published by {}", user.user_id())
/// }
/// ```
pub struct Permitted<P> {
    /// The caller.
    pub identity: Identity,
    permission: PhantomData<fn() -> P>,
}

impl<P> fmt::Debug for Permitted<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Permitted").field(&self.identity).finish()
    }
}

impl<P> Clone for Permitted<P> {
    fn clone(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            permission: PhantomData,
        }
    }
}

impl<P> Deref for Permitted<P> {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.identity
    }
}

impl<P: Permission> FromRequest for Permitted<P> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(handle(req).and_then(|handle| {
            match (handle.require(&P::requirement()), handle.identity()) {
                (Ok(()), Some(identity)) => Ok(Self {
                    identity,
                    permission: PhantomData,
                }),
                (Ok(()), None) | (Err(Denial::Unauthenticated), _) => Err(
                    AuthRejection::Unauthenticated(handle.denial(Denial::Unauthenticated)),
                ),
                (Err(denial), _) => Err(AuthRejection::Forbidden(handle.denial(denial))),
            }
        }))
    }
}

/// The per-request [`AuthHandle`]: log in, log out, rotate, list and
/// revoke sessions, read and write session data. `Send + Sync`.
///
/// ```
/// use auth_actix::{Auth, AuthError};
/// use auth_core::Login;
///
/// async fn login(auth: Auth) -> Result<String, AuthError> {
///     // (check the password first)
///     let user = auth.login(Login::new("alice").with_roles(["user"])).await?;
///     Ok(format!("welcome {}", user.user_id()))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Auth(pub AuthHandle);

impl Deref for Auth {
    type Target = AuthHandle;
    fn deref(&self) -> &AuthHandle {
        &self.0
    }
}

/// Why [`CurrentUser`] or [`Auth`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// The caller is anonymous: 401 with `WWW-Authenticate`.
    Unauthenticated(DenialResponse),
    /// The caller lacks a permission: 403.
    Forbidden(DenialResponse),
    /// The extractor ran without [`AuthMiddleware`](crate::AuthMiddleware): 500.
    MissingMiddleware,
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthenticated(_) => f.write_str("authentication required"),
            Self::Forbidden(_) => f.write_str("permission required"),
            Self::MissingMiddleware => f.write_str("auth_actix::AuthMiddleware is missing"),
        }
    }
}

impl std::error::Error for AuthRejection {}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unauthenticated(denial) => {
                tracing::debug!("anonymous request refused");
                denial_response(denial)
            }
            Self::Forbidden(denial) => denial_response(denial),
            Self::MissingMiddleware => missing_middleware_response("an auth_actix extractor"),
        }
    }
}

fn handle(req: &HttpRequest) -> Result<AuthHandle, AuthRejection> {
    req.extensions()
        .get::<AuthHandle>()
        .cloned()
        .ok_or(AuthRejection::MissingMiddleware)
}

impl FromRequest for CurrentUser {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(handle(req).and_then(|handle| match handle.identity() {
            Some(identity) => Ok(Self(identity)),
            None => Err(AuthRejection::Unauthenticated(
                handle.denial(Denial::Unauthenticated),
            )),
        }))
    }
}

impl FromRequest for Auth {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(handle(req).map(Self))
    }
}

/// An [`auth_core::Error`] as a handler's error: `?` converts into it, and
/// [`AuthMiddleware`](crate::AuthMiddleware) answers it as configured (503
/// with `Retry-After` for store failures, 401 with a challenge for a
/// missing session). Internal detail goes to the log, never to the client.
///
/// ```
/// use actix_web::HttpResponse;
/// use auth_actix::{Auth, AuthError};
///
/// async fn logout(auth: Auth) -> Result<HttpResponse, AuthError> {
///     auth.logout().await?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AuthError(#[from] pub auth_core::Error);

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(
            error = %self.0,
            source = ?std::error::Error::source(&self.0),
            status = self.0.status(),
            "request failed on a session operation"
        );
        let mut res = HttpResponse::build(self.status_code()).finish();
        res.extensions_mut()
            .insert(ErrorMarker(self.0.status(), self.0.code()));
        res
    }
}

/// Put into a response's extensions by [`AuthError`]'s `error_response`,
/// whether the handler returned the error or built the response itself;
/// [`AuthMiddleware`](crate::AuthMiddleware) swaps the response for the
/// authenticator's own answer to that status.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorMarker(pub(crate) u16, pub(crate) &'static str);
