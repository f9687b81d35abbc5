use std::task::{Context, Poll};

use auth_core::adapter::{Exchange, HandlerRefusal};
use http::{HeaderValue, Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use super::exchange::{TowerRequest, TowerResponse};
use crate::body::ResponseBody;
use crate::response::refusal_response;

/// Authenticates each request; see [`AuthLayer`](super::AuthLayer).
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    exchange: Exchange,
    /// The exchange's `Vary`, parsed once.
    vary: HeaderValue,
}

impl<S> AuthService<S> {
    /// Wraps `inner`, running `exchange` around it.
    pub fn new(inner: S, exchange: Exchange) -> Self {
        Self {
            inner,
            vary: HeaderValue::from_str(exchange.vary())
                .expect("the authenticator checks its credential header names"),
            exchange,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
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
        let exchange = self.exchange.clone();
        let vary = self.vary.clone();
        // The clone is not ready; the original (which is) serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(Box::pin(async move {
            let handle = match exchange.admit(&mut TowerRequest(&mut req)).await {
                Ok(handle) => handle,
                Err(refusal) => return Ok(refusal_response(refusal)),
            };
            // One extension (its `identity()` is the caller): each insert
            // costs an allocation, and a third entry a rehash.
            req.extensions_mut().insert(handle.clone());
            let mut res = inner.call(req).await?;
            let refused = res.extensions().get::<HandlerRefusal>().cloned();
            let mut edits = TowerResponse {
                headers: res.headers_mut(),
                vary: &vary,
            };
            match exchange
                .respond(&handle, refused.as_ref(), &mut edits)
                .await
            {
                Ok(()) => Ok(res.map(ResponseBody::inner)),
                Err(refusal) => Ok(refusal_response(refusal)),
            }
        }))
    }
}
