//! A request and a response for driving the [`Exchange`](crate::adapter::Exchange)
//! without a web framework: what tests, benchmarks and adapter authors use
//! to see the flow's decisions directly.

use std::net::IpAddr;

use crate::adapter::{CacheControl, Header, Request, Response};

/// A request made of plain values, implementing [`Request`]. Header
/// values are bytes, so tests can send what no framework would accept.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use auth_core::adapter::Exchange;
/// use auth_core::testing::{TestRequest, TestResponse};
/// use auth_core::{Authenticator, Login, MemoryStore};
///
/// let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build()?);
/// let handle = exchange.admit(&mut TestRequest::post("/login")).await.expect("goes on");
/// handle.login(Login::new("alice")).await?;
/// let mut res = TestResponse::new();
/// exchange.respond(&handle, None, &mut res).await.expect("saved");
/// let cookie = res.cookie_pair(0).expect("a session cookie");
///
/// let handle = exchange
///     .admit(&mut TestRequest::get("/me").with_header("cookie", cookie))
///     .await
///     .expect("goes on");
/// assert_eq!(handle.identity().unwrap().user_id(), "alice");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    peer: Option<IpAddr>,
    body: Vec<u8>,
}

impl TestRequest {
    /// A request with `method` for `path` (and its query, if any), without
    /// headers.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            ..Self::default()
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// A `POST` to `path`.
    pub fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    /// Adds a value of header `name` (any case), after those already there.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// The peer's address.
    #[must_use]
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Every value of header `name` (lowercase) the request holds now,
    /// after the exchange's edits.
    pub fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

impl Request for TestRequest {
    type Body = Vec<u8>;

    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(&self.path, |(path, _)| path)
    }

    fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, query)| query)
    }

    fn authority(&self) -> Option<&[u8]> {
        self.header(Header::Named("host"))
    }

    fn header_values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]> {
        let name = header.name().to_owned();
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn remove_header(&mut self, header: Header<'_>) {
        self.headers.retain(|(n, _)| n != header.name());
    }

    fn set_header(&mut self, header: Header<'_>, value: &str) -> bool {
        self.remove_header(header);
        self.headers
            .push((header.name().to_owned(), value.as_bytes().to_vec()));
        true
    }

    async fn read_body(&mut self, limit: usize) -> Option<Vec<u8>> {
        (self.body.len() <= limit).then(|| self.body.clone())
    }
}

/// The headers the exchange writes into a response, implementing
/// [`Response`]. Whether it appended `Vary` (the exchange's value) is
/// [`varies`](Self::varies).
#[derive(Debug, Clone, Default)]
pub struct TestResponse {
    headers: Vec<(&'static str, String)>,
    varies: bool,
}

impl TestResponse {
    /// An empty response.
    pub fn new() -> Self {
        Self::default()
    }

    /// A response whose handler set `Cache-Control: value`.
    pub fn with_cache_control(value: &str) -> Self {
        Self {
            headers: vec![("cache-control", value.to_owned())],
            varies: false,
        }
    }

    /// The `Set-Cookie` values, in order.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.values("set-cookie")
    }

    /// The `name=value` pair of the `index`th `Set-Cookie`, as a browser
    /// sends it back in `Cookie`.
    pub fn cookie_pair(&self, index: usize) -> Option<&str> {
        let cookie = *self.set_cookies().get(index)?;
        cookie.split(';').next()
    }

    /// Every value of header `name` (lowercase), in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the exchange appended `Vary`.
    pub fn varies(&self) -> bool {
        self.varies
    }
}

impl Response for TestResponse {
    fn append_set_cookie(&mut self, cookie: String) {
        self.headers.push(("set-cookie", cookie));
    }

    fn append_vary(&mut self) {
        self.varies = true;
    }

    fn set_cache_control(&mut self, value: CacheControl, replace: bool) {
        let set = self.headers.iter().any(|(n, _)| *n == "cache-control");
        if replace {
            self.headers.retain(|(n, _)| *n != "cache-control");
        } else if set {
            return;
        }
        self.headers
            .push(("cache-control", value.as_str().to_owned()));
    }
}
