//! Extractors.
//!
//! | extractor | anonymous caller | without [`AuthMiddleware`](crate::AuthMiddleware) |
//! |---|---|---|
//! | [`CurrentUser`] | 401 with `WWW-Authenticate` | 500, logged with the fix |
//! | `Option<CurrentUser>` | `None` | `None` (actix's `Option` swallows errors) |
//! | [`Permitted<P>`] | 401; 403 `insufficient_scope` without permission `P` | 500, logged with the fix |
//! | [`Claims<C>`] | 401; 403 when the claims do not read as `C` | 500, logged with the fix |
//! | [`Auth`] | the handle (log in with it) | 500, logged with the fix |

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use auth_core::adapter::{
    HandlerRefusal, RefusalResponse, admit_caller, admit_claims, missing_middleware,
};
use auth_core::{AuthHandle, Identity, Permission, Refusal};

use crate::response::refusal_response;

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
            let identity = admit_caller(&handle, Some(&P::requirement())).map_err(AuthRejection)?;
            Ok(Self {
                identity,
                permission: PhantomData,
            })
        }))
    }
}

/// The caller's custom claims, read as `C`: those given at login
/// ([`Login::with_claims`](auth_core::Login::with_claims)) for a session
/// or a token minted for it, or an external provider's token's own. 401
/// if anonymous, 403 when they do not read as `C`.
///
/// ```
/// use auth_actix::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Tenant {
///     tenant: String,
///     email: Option<String>,
/// }
///
/// async fn dashboard(Claims(claims): Claims<Tenant>) -> String {
///     format!("tenant {} ({:?})", claims.tenant, claims.email)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<C>(pub C);

impl<C> Deref for Claims<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: serde::de::DeserializeOwned> FromRequest for Claims<C> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(handle(req).and_then(|handle| admit_claims(&handle).map(Self).map_err(AuthRejection)))
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

/// Why an extractor refused the request: the answer, as the authenticator
/// renders it (401 for an anonymous caller, 403 for a missing permission,
/// 500 without the [`AuthMiddleware`](crate::AuthMiddleware)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection(pub RefusalResponse);

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request refused with status {}", self.0.status())
    }
}

impl std::error::Error for AuthRejection {}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        refusal_response(self.0.clone())
    }
}

fn handle(req: &HttpRequest) -> Result<AuthHandle, AuthRejection> {
    req.extensions()
        .get::<AuthHandle>()
        .cloned()
        .ok_or_else(|| {
            AuthRejection(missing_middleware(
                "an auth_actix extractor",
                "add `.wrap(auth_actix::AuthMiddleware::new(..))` around it",
            ))
        })
}

impl FromRequest for CurrentUser {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            handle(req)
                .and_then(|handle| admit_caller(&handle, None).map(Self).map_err(AuthRejection)),
        )
    }
}

impl FromRequest for Auth {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(handle(req).map(Self))
    }
}

/// A handler's refusal: `?` converts every error of auth-core a handler
/// meets into it ([`auth_core::Error`], a throttled login, a failed
/// refresh), and [`AuthMiddleware`](crate::AuthMiddleware) answers it as
/// the authenticator renders refusals (503 with `Retry-After` for store
/// failures, 401 with a challenge for a missing session, 429 for a
/// throttled login, 400 `invalid_grant` for a bad refresh token).
/// Internal detail goes to the log, never to the client.
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request refused: {}", .0.code())]
pub struct AuthError(pub Refusal);

auth_core::refusal_conversions!(AuthError);

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A response the middleware replaces with the rendered refusal,
    /// whether the handler returned the error or built the response itself.
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code()).finish();
        res.extensions_mut().insert(HandlerRefusal(self.0.clone()));
        res
    }
}
