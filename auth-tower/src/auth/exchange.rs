//! `http` requests and responses as auth-core's exchange reads and edits
//! them.

use std::net::IpAddr;

use auth_core::adapter::{self, CacheControl, Header};
use http::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, COOKIE, HOST, SET_COOKIE, USER_AGENT, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request};

/// Read on every `GET`, so named once.
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

/// A request, for the duration of the exchange's `admit`.
pub(super) struct TowerRequest<'a, B>(pub(super) &'a mut Request<B>);

impl<B: 'static> adapter::Request for TowerRequest<'_, B> {
    type Body = bytes::Bytes;

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
        values.into_iter().map(HeaderValue::as_bytes)
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
        let extensions = self.0.extensions();
        #[cfg(feature = "axum")]
        if let Some(info) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
            return Some(info.0.ip());
        }
        extensions
            .get::<std::net::SocketAddr>()
            .map(std::net::SocketAddr::ip)
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

    /// Only axum's `Body` can be read and rebuilt; other bodies read as
    /// empty (so the CSRF token must come in its header).
    async fn read_body(&mut self, limit: usize) -> Option<bytes::Bytes> {
        #[cfg(feature = "axum")]
        if let Some(body) =
            (self.0.body_mut() as &mut dyn std::any::Any).downcast_mut::<axum::body::Body>()
        {
            let bytes = axum::body::to_bytes(std::mem::take(body), limit)
                .await
                .ok()?;
            *body = axum::body::Body::from(bytes.clone());
            return Some(bytes);
        }
        let _ = limit;
        Some(bytes::Bytes::new())
    }
}

/// A response's headers, for the exchange's `respond`, with the `Vary`
/// value parsed once per service.
pub(super) struct TowerResponse<'a> {
    pub(super) headers: &'a mut HeaderMap,
    pub(super) vary: &'a HeaderValue,
}

impl adapter::Response for TowerResponse<'_> {
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
            self.headers.entry(CACHE_CONTROL).or_insert(value);
        }
    }
}
