//! The authentication middleware.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderValue;
use actix_web::{Error, HttpMessage};
use auth_core::Authenticator;
use auth_core::adapter::{Exchange, HandlerRefusal};

use crate::exchange::{ActixRequest, ActixResponse};
use crate::response::refusal_response;

/// Authenticates every request, like `auth_tower::AuthLayer`:
///
/// 1. reads the `Cookie` headers, `User-Agent` and peer address;
/// 2. asks the [`Authenticator`] who is calling (one store read, plus a
///    refresh write past the threshold);
/// 3. puts the [`AuthHandle`](auth_core::AuthHandle) into the request's
///    extensions (its `identity()` is the caller, if any);
/// 4. runs the inner service;
/// 5. saves pending session data and applies what the core decided: the
///    `Set-Cookie` values, `Vary` on the credential headers, and
///    `Cache-Control`.
///
/// A store failure answers 503 with `Retry-After`, never anonymous and
/// never a logout. The identity and handle are `Send + Sync`: they can be
/// moved into spawned tasks.
///
/// ```
/// use actix_web::{App, web};
/// use auth_actix::{AuthMiddleware, CurrentUser};
/// use auth_core::{Authenticator, MemoryStore};
///
/// async fn me(user: CurrentUser) -> String {
///     user.user_id().to_owned()
/// }
///
/// let auth = Authenticator::builder(MemoryStore::new()).build()?;
/// let app = App::new()
///     .route("/me", web::get().to(me))
///     .wrap(AuthMiddleware::new(auth));
/// # let _ = app;
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuthMiddleware {
    inner: Rc<Config>,
}

#[derive(Debug)]
struct Config {
    exchange: Exchange,
    /// The exchange's `Vary`, parsed once.
    vary: HeaderValue,
}

/// Builds an [`AuthMiddleware`].
#[derive(Debug)]
#[must_use]
pub struct AuthMiddlewareBuilder {
    exchange: Exchange,
}

impl AuthMiddlewareBuilder {
    /// Whether the peer address goes into the device list (default `true`).
    /// Behind a proxy the peer is the proxy; turn it off rather than show
    /// the proxy's address.
    pub fn with_client_address(mut self, record: bool) -> Self {
        self.exchange = self.exchange.with_client_address(record);
        self
    }

    /// Gateway mode (feature `jwt`): every authenticated request reaches
    /// the handlers with a short-lived JWT for the services behind the app,
    /// in the header that `gateway` names; the token is minted once per
    /// session and lifetime, not per request. Whatever the client sent in
    /// that header is removed first, so a client can never choose it.
    ///
    /// ```
    /// use auth_actix::AuthMiddleware;
    /// use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key};
    /// use auth_core::{Authenticator, MemoryStore};
    ///
    /// let internal = AccessTokens::builder("https://gateway.example")
    ///     .with_audience("internal")
    ///     .with_signing_key(Key::generate("gw-1", Algorithm::EdDSA)?)
    ///     .build()?;
    /// let auth = Authenticator::builder(MemoryStore::new()).build()?;
    /// let middleware = AuthMiddleware::builder(auth)
    ///     .with_gateway(GatewayTokens::new("x-user-token", internal)?)
    ///     .build();
    /// # let _ = middleware;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "jwt")]
    pub fn with_gateway(mut self, tokens: auth_core::jwt::GatewayTokens) -> Self {
        self.exchange = self.exchange.with_gateway(tokens);
        self
    }

    /// The middleware.
    pub fn build(self) -> AuthMiddleware {
        AuthMiddleware {
            inner: Rc::new(Config {
                vary: HeaderValue::from_str(self.exchange.vary())
                    .expect("the authenticator checks its credential header names"),
                exchange: self.exchange,
            }),
        }
    }
}

impl AuthMiddleware {
    /// The middleware with default settings.
    pub fn new(auth: Authenticator) -> Self {
        Self::builder(auth).build()
    }

    /// A builder for the middleware.
    pub fn builder(auth: Authenticator) -> AuthMiddlewareBuilder {
        AuthMiddlewareBuilder {
            exchange: Exchange::new(auth),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AuthMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthMiddlewareService {
            service: Rc::new(service),
            config: Rc::clone(&self.inner),
        }))
    }
}

/// The service of [`AuthMiddleware`].
#[derive(Debug)]
pub struct AuthMiddlewareService<S> {
    service: Rc<S>,
    config: Rc<Config>,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

impl<S, B> Service<ServiceRequest> for AuthMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let config = Rc::clone(&self.config);
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let exchange = &config.exchange;
            let handle = match exchange.admit(&mut ActixRequest(&mut req)).await {
                Ok(handle) => handle,
                Err(refusal) => {
                    let res = refusal_response(refusal);
                    return Ok(req.into_response(res).map_into_right_body());
                }
            };
            // One extension (its `identity()` is the caller): each insert
            // costs an allocation.
            req.extensions_mut().insert(handle.clone());
            let mut res = service.call(req).await?;
            let refused = res.response().extensions().get::<HandlerRefusal>().cloned();
            let mut edits = ActixResponse {
                headers: res.headers_mut(),
                vary: &config.vary,
            };
            match exchange
                .respond(&handle, refused.as_ref(), &mut edits)
                .await
            {
                Ok(()) => Ok(res.map_into_left_body()),
                Err(refusal) => {
                    let answer = refusal_response(refusal);
                    Ok(res.into_response(answer).map_into_right_body())
                }
            }
        })
    }
}
