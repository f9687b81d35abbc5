use std::task::{Context, Poll};

use auth_core::csrf::CsrfCapture;
use auth_core::{Authenticator, Credentials, Denial};
use http::header::{AUTHORIZATION, COOKIE, HOST, USER_AGENT};
use http::{HeaderValue, Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use crate::body::ResponseBody;
use crate::error::ErrorMarker;
use crate::response::{apply_edits, denial_response, vary_value};

/// Authenticates each request; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Authenticator,
    pub(super) gateway: Option<Gateway>,
    /// The authenticator's `Vary`, parsed once.
    vary: HeaderValue,
}

/// Gateway mode: the header and the tokens to put in it.
#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    #[cfg(feature = "jwt")]
    header: http::HeaderName,
    #[cfg(feature = "jwt")]
    tokens: auth_core::jwt::GatewayTokens,
}

impl Gateway {
    #[cfg(feature = "jwt")]
    pub(super) fn new(tokens: auth_core::jwt::GatewayTokens) -> Self {
        Self {
            header: http::HeaderName::from_bytes(tokens.header_name().as_bytes())
                .expect("GatewayTokens checks its header name"),
            tokens,
        }
    }

    /// Removes the client's copy of the header.
    fn strip<B>(&self, req: &mut Request<B>) {
        #[cfg(feature = "jwt")]
        req.headers_mut().remove(&self.header);
        #[cfg(not(feature = "jwt"))]
        let _ = req;
    }

    /// Adds the token for the request's caller; `Err` answers 500.
    fn attach<B>(&self, req: &mut Request<B>, identity: &auth_core::Identity) -> Result<(), ()> {
        #[cfg(feature = "jwt")]
        {
            let value = self.tokens.header_value(identity).map_err(|e| {
                tracing::error!(error = %e, "minting the gateway token failed");
            })?;
            let value = HeaderValue::try_from(&*value).map_err(|_| {
                tracing::error!("the gateway token is not a valid header value");
            })?;
            req.headers_mut().insert(self.header.clone(), value);
        }
        #[cfg(not(feature = "jwt"))]
        let _ = (req, identity);
        Ok(())
    }
}

impl<S> AuthService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, auth: Authenticator) -> Self {
        Self {
            inner,
            vary: vary_value(&auth),
            auth,
            gateway: None,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// What the CSRF check needs from `req`, when it must run.
fn csrf_capture<B>(auth: &Authenticator, req: &Request<B>) -> Option<CsrfCapture> {
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
/// it back for the handler. Only axum's `Body` can be read and rebuilt;
/// other bodies read as empty (so the token must come in the header).
/// `None` when the body is larger than `limit` or fails.
async fn read_form<B: 'static>(req: &mut Request<B>, limit: usize) -> Option<bytes::Bytes> {
    #[cfg(feature = "axum")]
    if let Some(body) =
        (req.body_mut() as &mut dyn std::any::Any).downcast_mut::<axum::body::Body>()
    {
        let taken = std::mem::take(body);
        return match axum::body::to_bytes(taken, limit).await {
            Ok(bytes) => {
                *body = axum::body::Body::from(bytes.clone());
                Some(bytes)
            }
            Err(_) => None,
        };
    }
    let _ = (req, limit);
    Some(bytes::Bytes::new())
}

#[cfg(feature = "axum")]
fn client_address<B>(req: &Request<B>) -> Option<String> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}

#[cfg(not(feature = "axum"))]
fn client_address<B>(req: &Request<B>) -> Option<String> {
    req.extensions()
        .get::<std::net::SocketAddr>()
        .map(|addr| addr.ip().to_string())
}

/// The credentials `req` presents.
fn read_credentials<B>(auth: &Authenticator, req: &Request<B>) -> Credentials {
    let headers = req.headers();
    let credentials = auth
        .credentials(
            headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes),
            headers.get(USER_AGENT).map(HeaderValue::as_bytes),
            client_address(req),
        )
        .with_authorization(
            headers
                .get_all(AUTHORIZATION)
                .iter()
                .map(HeaderValue::as_bytes),
        );
    auth.with_custom_headers(credentials, |name| {
        headers.get_all(name).iter().map(HeaderValue::as_bytes)
    })
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let auth = self.auth.clone();
        let gateway = self.gateway.clone();
        let vary = self.vary.clone();
        // The clone is not ready; the original (which is) serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Everything is read from the request inside the future, so the
        // credentials are never held twice (in the future and in the
        // authentication's).
        ResponseFuture {
            inner: Box::pin(async move {
                let credentials = read_credentials(&auth, &req);
                if let Some(gateway) = &gateway {
                    gateway.strip(&mut req);
                }
                let handle = match auth.authenticate(credentials).await {
                    Ok(handle) => handle,
                    Err(err) => return Ok(denial_response(&auth.error_response(&err))),
                };
                if let Some(gateway) = &gateway
                    && let Some(identity) = handle.identity()
                    && gateway.attach(&mut req, &identity).is_err()
                {
                    return Ok(denial_response(&auth.status_response(500)));
                }
                // Read after the authentication, so the capture is not
                // held while the store answers.
                if let Some(csrf) = csrf_capture(&auth, &req)
                    && !handle
                        .enforce_csrf(&csrf, async |limit| read_form(&mut req, limit).await)
                        .await
                {
                    return Ok(denial_response(&handle.denial(Denial::Csrf)));
                }
                // One extension (its `identity()` is the caller): each
                // insert costs an allocation, and a third entry a rehash.
                req.extensions_mut().insert(handle.clone());
                let mut res = inner.call(req).await?;
                if let Some(&ErrorMarker(status, code)) = res.extensions().get::<ErrorMarker>() {
                    // A handler returned an `AuthError`: answer with this
                    // authenticator's configured headers.
                    return Ok(denial_response(&auth.error_answer(status, code)));
                }
                match handle.finish().await {
                    Ok(edits) => apply_edits(res.headers_mut(), edits, &vary),
                    Err(err) => {
                        tracing::warn!(error = %err, "saving the session failed; answering with an error");
                        return Ok(denial_response(&auth.error_response(&err)));
                    }
                }
                Ok(res.map(ResponseBody::inner))
            }),
        }
    }
}
