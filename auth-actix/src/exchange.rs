//! actix requests and responses as auth-core's exchange reads and edits
//! them.

use std::net::IpAddr;

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue,
    SET_COOKIE, USER_AGENT, VARY,
};
use actix_web::web::{Bytes, BytesMut};
use auth_core::adapter::{self, CacheControl, Header};
use futures_util::StreamExt;

/// Read on every `GET`, so named once.
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

/// A request, for the duration of the exchange's `admit`.
pub(crate) struct ActixRequest<'a>(pub(crate) &'a mut ServiceRequest);

impl adapter::Request for ActixRequest<'_> {
    type Body = Bytes;

    fn method(&self) -> &str {
        self.0.method().as_str()
    }

    fn path(&self) -> &str {
        self.0.uri().path()
    }

    fn query(&self) -> Option<&str> {
        self.0.uri().query()
    }

    fn authority(&self) -> Option<&[u8]> {
        self.0
            .headers()
            .get(HOST)
            .map(HeaderValue::as_bytes)
            .or_else(|| self.0.uri().authority().map(|a| a.as_str().as_bytes()))
    }

    fn header_values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]> {
        let headers = self.0.headers();
        let values = match header {
            Header::Cookie => headers.get_all(COOKIE),
            Header::Authorization => headers.get_all(AUTHORIZATION),
            Header::UserAgent => headers.get_all(USER_AGENT),
            other => headers.get_all(other.name()),
        };
        values.map(HeaderValue::as_bytes)
    }

    fn header(&self, header: Header<'_>) -> Option<&[u8]> {
        let headers = self.0.headers();
        let value = match header {
            Header::UserAgent => headers.get(USER_AGENT),
            Header::SecFetchMode => headers.get(SEC_FETCH_MODE),
            Header::Accept => headers.get(ACCEPT),
            other => headers.get(other.name()),
        };
        value.map(HeaderValue::as_bytes)
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.0.peer_addr().map(|a| a.ip())
    }

    fn remove_header(&mut self, header: Header<'_>) {
        self.0.headers_mut().remove(header.name());
    }

    fn set_header(&mut self, header: Header<'_>, value: &str) -> bool {
        match (
            HeaderName::from_bytes(header.name().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                self.0.headers_mut().insert(name, value);
                true
            }
            _ => false,
        }
    }

    async fn read_body(&mut self, limit: usize) -> Option<Bytes> {
        let mut payload = self.0.take_payload();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.ok()?;
            if body.len() + chunk.len() > limit {
                return None;
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        self.0
            .set_payload(actix_web::dev::Payload::from(body.clone()));
        Some(body)
    }
}

/// A response's headers, for the exchange's `respond`, with the `Vary`
/// value parsed once per middleware.
pub(crate) struct ActixResponse<'a> {
    pub(crate) headers: &'a mut HeaderMap,
    pub(crate) vary: &'a HeaderValue,
}

impl adapter::Response for ActixResponse<'_> {
    fn append_set_cookie(&mut self, cookie: String) {
        match HeaderValue::try_from(cookie) {
            Ok(value) => self.headers.append(SET_COOKIE, value),
            Err(_) => tracing::error!("a cookie is not a valid header value"),
        }
    }

    fn append_vary(&mut self) {
        self.headers.append(VARY, self.vary.clone());
    }

    fn set_cache_control(&mut self, value: CacheControl, replace: bool) {
        // Constants: no validation per request.
        const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
        const PRIVATE: HeaderValue = HeaderValue::from_static("private");
        let value = match value {
            CacheControl::NoStore => NO_STORE,
            _ => PRIVATE,
        };
        if replace {
            self.headers.insert(CACHE_CONTROL, value);
        } else {
            if !self.headers.contains_key(CACHE_CONTROL) {
                self.headers.insert(CACHE_CONTROL, value);
            }
        }
    }
}
