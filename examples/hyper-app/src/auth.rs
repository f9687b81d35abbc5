//! Authentication for plain hyper: auth-core's [`Exchange`] shown hyper's
//! requests and responses. This file is a complete adapter, the kind a
//! user writes for a framework the project has none for: it translates,
//! and every decision (credentials, refusals, cookies, `Vary`,
//! `Cache-Control`) is the exchange's.

use std::net::IpAddr;

use auth_core::adapter::{
    self, CacheControl, Exchange, HandlerRefusal, Header, RefusalResponse, admit_caller,
};
use auth_core::{AuthHandle, Authenticator, Identity, Refusal, Requirement};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, SET_COOKIE, VARY};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

/// What the demo's routes answer with.
pub type Answer = Response<Full<Bytes>>;

/// The authentication of every request: [`Auth::admit`] before the route,
/// [`Auth::respond`] after it.
#[derive(Debug, Clone)]
pub struct Auth {
    exchange: Exchange,
    /// The exchange's `Vary`, parsed once.
    vary: HeaderValue,
}

/// A request the exchange let through: its head, its body (read once, on
/// demand) and the caller's handle.
#[derive(Debug)]
pub struct Admitted {
    /// The request line and headers.
    pub head: Parts,
    /// The handle of the caller (anonymous or not).
    pub handle: AuthHandle,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Unread(Incoming),
    Read(Bytes),
    /// Longer than a limit, or broken off.
    Unreadable,
}

impl Body {
    /// The whole body if it is at most `limit` bytes; kept for the next read.
    async fn read(&mut self, limit: usize) -> Option<Bytes> {
        if let Body::Unread(_) = self
            && let Body::Unread(incoming) = std::mem::replace(self, Body::Unreadable)
            && let Ok(collected) = Limited::new(incoming, limit).collect().await
        {
            *self = Body::Read(collected.to_bytes());
        }
        match self {
            Body::Read(bytes) if bytes.len() <= limit => Some(bytes.clone()),
            _ => None,
        }
    }
}

impl Auth {
    /// Authentication by `auth`, recording the peer in the device list.
    pub fn new(auth: Authenticator) -> Self {
        let exchange = Exchange::new(auth);
        Self {
            vary: HeaderValue::from_str(exchange.vary())
                .expect("the authenticator checks its credential header names"),
            exchange,
        }
    }

    /// Before the route: the admitted request, or the answer instead.
    pub async fn admit(&self, req: Request<Incoming>, peer: IpAddr) -> Result<Admitted, Answer> {
        let (head, body) = req.into_parts();
        let mut req = HyperRequest {
            head,
            body: Body::Unread(body),
            peer,
        };
        match self.exchange.admit(&mut req).await {
            Ok(handle) => Ok(Admitted {
                head: req.head,
                handle,
                body: req.body,
            }),
            Err(refusal) => Err(refusal_answer(refusal)),
        }
    }

    /// After the route: its answer with the exchange's edits, or the
    /// answer to its refusal.
    pub async fn respond(&self, handle: &AuthHandle, routed: Result<Answer, Refusal>) -> Answer {
        let (mut res, refused) = match routed {
            Ok(res) => (res, None),
            Err(refusal) => (Answer::default(), Some(HandlerRefusal(refusal))),
        };
        let mut edits = HyperResponse {
            headers: res.headers_mut(),
            vary: &self.vary,
        };
        match self
            .exchange
            .respond(handle, refused.as_ref(), &mut edits)
            .await
        {
            Ok(()) => res,
            Err(refusal) => refusal_answer(refusal),
        }
    }
}

impl Admitted {
    /// The body, if it is at most `limit` bytes.
    pub async fn body(&mut self, limit: usize) -> Option<Bytes> {
        self.body.read(limit).await
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> Option<&[u8]> {
        self.head
            .headers
            .get(CONTENT_TYPE)
            .map(HeaderValue::as_bytes)
    }

    /// The caller, if it meets `requirement` (any caller when `None`); the
    /// answer to send otherwise (401 anonymous, 403 short of it).
    pub fn caller(&self, requirement: Option<&Requirement>) -> Result<Identity, RefusalResponse> {
        admit_caller(&self.handle, requirement)
    }
}

/// A refusal as a hyper response.
fn refusal_answer(refusal: RefusalResponse) -> Answer {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in refusal.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            res.headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    *res.body_mut() = Full::new(Bytes::from(refusal.into_body().into_owned()));
    res
}

/// A hyper request as the exchange reads it.
struct HyperRequest {
    head: Parts,
    body: Body,
    peer: IpAddr,
}

impl adapter::Request for HyperRequest {
    type Body = Bytes;

    fn method(&self) -> &str {
        self.head.method.as_str()
    }

    fn path(&self) -> &str {
        self.head.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.head.uri.query()
    }

    fn authority(&self) -> Option<&[u8]> {
        self.head.headers.get(HOST).map(HeaderValue::as_bytes)
    }

    fn header_values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]> {
        let values = self.head.headers.get_all(header.name());
        values.into_iter().map(HeaderValue::as_bytes)
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        Some(self.peer)
    }

    fn remove_header(&mut self, header: Header<'_>) {
        self.head.headers.remove(header.name());
    }

    fn set_header(&mut self, header: Header<'_>, value: &str) -> bool {
        match (
            HeaderName::from_bytes(header.name().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                self.head.headers.insert(name, value);
                true
            }
            _ => false,
        }
    }

    async fn read_body(&mut self, limit: usize) -> Option<Bytes> {
        self.body.read(limit).await
    }
}

/// A hyper response's headers, as the exchange edits them.
struct HyperResponse<'a> {
    headers: &'a mut HeaderMap,
    vary: &'a HeaderValue,
}

impl adapter::Response for HyperResponse<'_> {
    fn append_set_cookie(&mut self, cookie: String) {
        match HeaderValue::try_from(cookie) {
            Ok(value) => {
                self.headers.append(SET_COOKIE, value);
            }
            Err(_) => tracing::error!("a cookie is not a valid header value"),
        }
    }

    fn append_vary(&mut self) {
        self.headers.append(VARY, self.vary.clone());
    }

    fn set_cache_control(&mut self, value: CacheControl, replace: bool) {
        let value = HeaderValue::from_static(value.as_str());
        if replace {
            self.headers.insert(CACHE_CONTROL, value);
        } else {
            self.headers.entry(CACHE_CONTROL).or_insert(value);
        }
    }
}
