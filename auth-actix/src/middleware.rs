//! The authentication middleware.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{AUTHORIZATION, COOKIE, HOST, HeaderValue, USER_AGENT};
use actix_web::{Error, HttpMessage};
use auth_core::csrf::CsrfCapture;
use auth_core::{Authenticator, Credentials, Denial};
use futures_util::StreamExt;

use crate::extract::ErrorMarker;
use crate::response::{apply_edits, denial_response, vary_value};

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
    auth: Authenticator,
    /// The authenticator's `Vary`, parsed once.
    vary: HeaderValue,
    record_address: bool,
    #[cfg(feature = "jwt")]
    gateway: Option<Gateway>,
}

/// Gateway mode: the header and the tokens to put in it.
#[cfg(feature = "jwt")]
#[derive(Debug, Clone)]
struct Gateway {
    header: actix_web::http::header::HeaderName,
    tokens: auth_core::jwt::GatewayTokens,
}

/// Builds an [`AuthMiddleware`].
#[derive(Debug)]
#[must_use]
pub struct AuthMiddlewareBuilder {
    auth: Authenticator,
    record_address: bool,
    #[cfg(feature = "jwt")]
    gateway: Option<Gateway>,
}

impl AuthMiddlewareBuilder {
    /// Whether the peer address goes into the device list (default `true`).
    /// Behind a proxy the peer is the proxy; turn it off rather than show
    /// the proxy's address.
    pub fn with_client_address(mut self, record: bool) -> Self {
        self.record_address = record;
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
        let header =
            actix_web::http::header::HeaderName::from_bytes(tokens.header_name().as_bytes())
                .expect("GatewayTokens checks its header name");
        self.gateway = Some(Gateway { header, tokens });
        self
    }

    /// The middleware.
    pub fn build(self) -> AuthMiddleware {
        AuthMiddleware {
            inner: Rc::new(Config {
                vary: vary_value(&self.auth),
                auth: self.auth,
                record_address: self.record_address,
                #[cfg(feature = "jwt")]
                gateway: self.gateway,
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
            auth,
            record_address: true,
            #[cfg(feature = "jwt")]
            gateway: None,
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

    #[cfg_attr(not(feature = "jwt"), allow(unused_mut))]
    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let config = Rc::clone(&self.config);
        let service = Rc::clone(&self.service);
        // Everything is read from the request inside the future, so the
        // credentials are never held twice (in the future and in the
        // authentication's).
        Box::pin(async move {
            let auth = &config.auth;
            let credentials = read_credentials(&config, &req);
            #[cfg(feature = "jwt")]
            if let Some(gateway) = &config.gateway {
                req.headers_mut().remove(&gateway.header);
            }
            let handle = match auth.authenticate(credentials).await {
                Ok(handle) => handle,
                Err(err) => {
                    let res = denial_response(&auth.error_response(&err));
                    return Ok(req.into_response(res).map_into_right_body());
                }
            };
            #[cfg(feature = "jwt")]
            if let Some(gateway) = &config.gateway
                && let Some(identity) = handle.identity()
            {
                let value = gateway
                    .tokens
                    .header_value(&identity)
                    .map_err(|e| tracing::error!(error = %e, "minting the gateway token failed"))
                    .and_then(|v| {
                        HeaderValue::try_from(&*v).map_err(|_| {
                            tracing::error!("the gateway token is not a valid header value");
                        })
                    });
                match value {
                    Ok(value) => {
                        req.headers_mut().insert(gateway.header.clone(), value);
                    }
                    Err(()) => {
                        let res = denial_response(&auth.status_response(500));
                        return Ok(req.into_response(res).map_into_right_body());
                    }
                }
            }
            // Read after the authentication, so the capture is not held
            // while the store answers.
            if let Some(csrf) = csrf_capture(auth, &req)
                && !handle
                    .enforce_csrf(&csrf, async |limit| read_form(&mut req, limit).await)
                    .await
            {
                let res = denial_response(&handle.denial(Denial::Csrf));
                return Ok(req.into_response(res).map_into_right_body());
            }
            // One extension (its `identity()` is the caller): each insert
            // costs an allocation.
            req.extensions_mut().insert(handle.clone());
            let res = service.call(req).await?;
            let failed = res.response().extensions().get::<ErrorMarker>().copied();
            if let Some(ErrorMarker(status, code)) = failed {
                // A handler returned an `AuthError`: answer with this
                // authenticator's configured headers.
                let denial = denial_response(&auth.error_answer(status, code));
                return Ok(res.into_response(denial).map_into_right_body());
            }
            let mut res = res;
            match handle.finish().await {
                Ok(edits) => apply_edits(res.headers_mut(), edits, &config.vary),
                Err(err) => {
                    tracing::warn!(error = %err, "saving the session failed; answering with an error");
                    let denial = denial_response(&auth.error_response(&err));
                    return Ok(res.into_response(denial).map_into_right_body());
                }
            }
            Ok(res.map_into_left_body())
        })
    }
}

/// The credentials `req` presents.
fn read_credentials(config: &Config, req: &ServiceRequest) -> Credentials {
    let headers = req.headers();
    let address = config
        .record_address
        .then(|| req.peer_addr().map(|a| a.ip().to_string()))
        .flatten();
    let credentials = config
        .auth
        .credentials(
            headers.get_all(COOKIE).map(HeaderValue::as_bytes),
            headers.get(USER_AGENT).map(HeaderValue::as_bytes),
            address,
        )
        .with_authorization(headers.get_all(AUTHORIZATION).map(HeaderValue::as_bytes));
    config.auth.with_custom_headers(credentials, |name| {
        headers.get_all(name).map(HeaderValue::as_bytes)
    })
}

/// What the CSRF check needs from `req`, when it must run.
fn csrf_capture(auth: &Authenticator, req: &ServiceRequest) -> Option<CsrfCapture> {
    let headers = req.headers();
    auth.csrf_capture(
        req.method().as_str(),
        req.uri().path(),
        || {
            headers
                .get(HOST)
                .map(HeaderValue::as_bytes)
                .or_else(|| req.uri().authority().map(|a| a.as_str().as_bytes()))
        },
        |name| headers.get(name).map(HeaderValue::as_bytes),
    )
}

/// Reads a form body of at most `limit` bytes for the CSRF token and puts
/// it back for the handler. `None` when it is larger or fails.
async fn read_form(req: &mut ServiceRequest, limit: usize) -> Option<actix_web::web::Bytes> {
    let mut payload = req.take_payload();
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    req.set_payload(actix_web::dev::Payload::from(body.clone()));
    Some(body)
}
