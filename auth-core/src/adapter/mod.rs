//! For adapter authors: what a web framework's middleware needs to run
//! authentication, and nothing an application calls.
//!
//! An adapter shows the [`Exchange`] its framework's request and response
//! through two small traits and calls two steps; every decision (which
//! credentials count, what is refused and how it looks, which cookies to
//! set, `Vary`, `Cache-Control`) is the exchange's, so every framework
//! answers the same bytes:
//!
//! 1. [`Exchange::admit`] before the handler: the [`AuthHandle`] to attach
//!    to the request, or a [`RefusalResponse`] to send instead;
//! 2. [`Exchange::respond`] after it: the edits to the handler's response,
//!    or the answer to the [`HandlerRefusal`] its error carried.
//!
//! Guards and extractors read the attached handle:
//! [`AuthHandle::require`] and [`AuthHandle::render`]; without it, they
//! answer [`missing_middleware`].
//!
//! A complete adapter for `http` requests, without a framework (the bodies
//! of these requests are never read):
//!
//! ```
//! use std::net::IpAddr;
//!
//! use auth_core::adapter::{CacheControl, Exchange, Header, Request, Response};
//! use auth_core::{Authenticator, Login, MemoryStore};
//!
//! struct Head<'a>(&'a mut http::request::Parts);
//!
//! impl Request for Head<'_> {
//!     type Body = Vec<u8>;
//!     fn method(&self) -> &str {
//!         self.0.method.as_str()
//!     }
//!     fn path(&self) -> &str {
//!         self.0.uri.path()
//!     }
//!     fn authority(&self) -> Option<&[u8]> {
//!         self.0.headers.get("host").map(|v| v.as_bytes())
//!     }
//!     fn header_values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]> {
//!         self.0.headers.get_all(header.name()).iter().map(|v| v.as_bytes())
//!     }
//!     fn peer_ip(&self) -> Option<IpAddr> {
//!         None
//!     }
//!     fn remove_header(&mut self, header: Header<'_>) {
//!         self.0.headers.remove(header.name());
//!     }
//!     fn set_header(&mut self, header: Header<'_>, value: &str) -> bool {
//!         match (http::HeaderName::from_bytes(header.name().as_bytes()), value.parse()) {
//!             (Ok(name), Ok(value)) => self.0.headers.insert(name, value).is_some() || true,
//!             _ => false,
//!         }
//!     }
//!     async fn read_body(&mut self, _limit: usize) -> Option<Vec<u8>> {
//!         Some(Vec::new())
//!     }
//! }
//!
//! struct Edits<'a>(&'a mut http::HeaderMap, &'a str);
//!
//! impl Response for Edits<'_> {
//!     fn append_set_cookie(&mut self, cookie: String) {
//!         self.0.append("set-cookie", cookie.parse().expect("a valid cookie"));
//!     }
//!     fn append_vary(&mut self) {
//!         self.0.append("vary", self.1.parse().expect("valid header names"));
//!     }
//!     fn set_cache_control(&mut self, value: CacheControl, replace: bool) {
//!         if replace || !self.0.contains_key("cache-control") {
//!             let value = http::HeaderValue::from_static(value.as_str());
//!             self.0.insert("cache-control", value);
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build()?);
//! let (mut parts, ()) = http::Request::post("/login").body(()).unwrap().into_parts();
//! let handle = exchange.admit(&mut Head(&mut parts)).await.expect("anonymous goes on");
//! // The handler logs in:
//! handle.login(Login::new("alice")).await?;
//! let mut headers = http::HeaderMap::new();
//! exchange
//!     .respond(&handle, None, &mut Edits(&mut headers, exchange.vary()))
//!     .await
//!     .expect("saved");
//! assert!(headers["set-cookie"].to_str().unwrap().starts_with("__Host-session="));
//! assert_eq!(headers["cache-control"], "no-store");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod exchange;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use exchange::{Exchange, HandlerRefusal};
pub use request::{Header, Request};
pub use response::{CacheControl, Response};

pub use crate::refusal::RefusalResponse;

use crate::handle::AuthHandle;
use crate::refusal::Refusal;

/// The answer when a guard or extractor runs outside the adapter's
/// middleware: a server misconfiguration, so 500, logged with `fix`.
///
/// ```
/// let answer = auth_core::adapter::missing_middleware("a guard", "wrap the app in AuthLayer");
/// assert_eq!(answer.status(), 500);
/// assert_eq!(answer.body(), r#"{"error":"internal"}"#);
/// ```
pub fn missing_middleware(what: &str, fix: &str) -> RefusalResponse {
    tracing::error!("{what} found no auth state in the request: {fix}");
    RefusalResponse::internal()
}

/// The caller a guard or an extractor admits: the handle's identity if it
/// meets `requirement` (any caller when `None`), or the answer to send.
/// Both adapters' extractors and guards decide through it.
#[inline]
pub fn admit_caller(
    handle: &AuthHandle,
    requirement: Option<&crate::Requirement>,
) -> Result<crate::Identity, RefusalResponse> {
    let refused = |refusal: Refusal| handle.render(&refusal);
    if let Some(requirement) = requirement {
        handle.require(requirement).map_err(refused)?;
    }
    handle
        .identity()
        .ok_or_else(|| refused(Refusal::Unauthenticated))
}

/// The caller's [custom claims](crate::claims) as `C`, for the adapters'
/// `Claims<C>` extractors: 401 for an anonymous caller, 403 when the
/// claims do not read as `C` (a required claim missing), with a `debug`
/// event naming the reason.
pub fn admit_claims<C: serde::de::DeserializeOwned>(
    handle: &AuthHandle,
) -> Result<C, RefusalResponse> {
    let identity = admit_caller(handle, None)?;
    identity.custom_claims::<C>().map_err(|error| {
        tracing::debug!(
            error = %error,
            user = %identity.user_id().escape_debug(),
            "the caller's claims lack what the handler needs"
        );
        handle.render(&Refusal::Forbidden)
    })
}

/// Makes an adapter's handler error type, a tuple struct around a
/// [`Refusal`](crate::Refusal), convertible with `?` from every error of
/// auth-core a handler meets: [`Error`](crate::Error),
/// [`throttle::Throttled`](crate::throttle::Throttled), a password
/// login's [`LoginError`](crate::LoginError), a refresh's
/// `jwt::RefreshError` (feature `jwt`) and [`Refusal`](crate::Refusal)
/// itself. Which errors convert, and into what, is the core's decision;
/// the adapter only names its type.
///
/// ```
/// use auth_core::Refusal;
///
/// #[derive(Debug)]
/// pub struct AuthError(pub Refusal);
/// auth_core::refusal_conversions!(AuthError);
///
/// fn handler() -> Result<(), AuthError> {
///     Err(auth_core::Error::TooManySessions)?
/// }
/// assert_eq!(handler().unwrap_err().0.status(), 409);
/// ```
#[macro_export]
macro_rules! refusal_conversions {
    ($error:ident) => {
        impl ::core::convert::From<$crate::Refusal> for $error {
            fn from(refusal: $crate::Refusal) -> Self {
                Self(refusal)
            }
        }
        impl ::core::convert::From<$crate::Error> for $error {
            fn from(error: $crate::Error) -> Self {
                Self(error.into())
            }
        }
        impl ::core::convert::From<$crate::throttle::Throttled> for $error {
            fn from(throttled: $crate::throttle::Throttled) -> Self {
                Self(throttled.into())
            }
        }
        impl ::core::convert::From<$crate::LoginError> for $error {
            fn from(error: $crate::LoginError) -> Self {
                Self(error.into())
            }
        }
        $crate::__refresh_refusal_conversion!($error);
    };
}

/// The refresh error's conversion for [`refusal_conversions!`], with the
/// core's `jwt` feature.
#[cfg(feature = "jwt")]
#[doc(hidden)]
#[macro_export]
macro_rules! __refresh_refusal_conversion {
    ($error:ident) => {
        impl ::core::convert::From<$crate::jwt::RefreshError> for $error {
            fn from(error: $crate::jwt::RefreshError) -> Self {
                Self(error.into())
            }
        }
    };
}

/// Without the core's `jwt` feature there are no refresh errors.
#[cfg(not(feature = "jwt"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __refresh_refusal_conversion {
    ($error:ident) => {};
}
