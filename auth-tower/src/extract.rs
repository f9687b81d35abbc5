//! axum extractors (feature `axum`).
//!
//! | extractor | anonymous caller | without [`AuthLayer`](crate::AuthLayer) |
//! |---|---|---|
//! | [`CurrentUser`] | 401 with `WWW-Authenticate` | 500, logged with the fix |
//! | `Option<CurrentUser>` | `None` | 500, logged with the fix |
//! | [`Permitted<P>`] | 401; 403 `insufficient_scope` without permission `P` | 500, logged with the fix |
//! | [`Claims<C>`] | 401; 403 when the claims do not read as `C` | 500, logged with the fix |
//! | [`Auth`] | the handle (log in with it) | 500, logged with the fix |

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use auth_core::adapter::{RefusalResponse, admit_caller, admit_claims, missing_middleware};
use auth_core::{AuthHandle, Identity, Permission};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::response::refusal_response;

/// The authenticated caller; rejects anonymous requests with 401.
///
/// ```
/// use auth_tower::CurrentUser;
///
/// async fn me(CurrentUser(user): CurrentUser) -> String {
///     format!("{} via {}", user.user_id(), user.method())
/// }
///
/// async fn home(user: Option<CurrentUser>) -> String {
///     match user {
///         Some(CurrentUser(user)) => format!("hello {}", user.user_id()),
///         None => "hello stranger".into(),
///     }
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
/// use auth_core::Permission;
/// use auth_tower::Permitted;
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

/// The caller's custom claims, read as `C`: those given at login
/// ([`Login::with_claims`](auth_core::Login::with_claims)) for a session
/// or a token minted for it, or an external provider's token's own. 401
/// if anonymous, 403 when they do not read as `C`.
///
/// ```
/// use auth_tower::Claims;
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

impl<S: Send + Sync, C: serde::de::DeserializeOwned> FromRequestParts<S> for Claims<C> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        admit_claims(handle(parts)?)
            .map(Self)
            .map_err(AuthRejection)
    }
}

/// The per-request [`AuthHandle`]: log in, log out, rotate, list and
/// revoke sessions, read and write session data.
///
/// ```
/// use auth_core::Login;
/// use auth_tower::{Auth, AuthError};
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
/// 500 without the [`AuthLayer`](crate::AuthLayer)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection(pub RefusalResponse);

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request refused with status {}", self.0.status())
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        refusal_response::<axum::body::Body>(self.0).into_response()
    }
}

fn handle(parts: &Parts) -> Result<&AuthHandle, AuthRejection> {
    parts.extensions.get::<AuthHandle>().ok_or_else(|| {
        AuthRejection(missing_middleware(
            "an auth_tower extractor",
            "add `auth_tower::AuthLayer` around it",
        ))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        admit_caller(handle(parts)?, None)
            .map(Self)
            .map_err(AuthRejection)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, AuthRejection> {
        Ok(handle(parts)?.identity().map(Self))
    }
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for Permitted<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        let identity =
            admit_caller(handle(parts)?, Some(&P::requirement())).map_err(AuthRejection)?;
        Ok(Self {
            identity,
            permission: PhantomData,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        handle(parts).cloned().map(Self)
    }
}
