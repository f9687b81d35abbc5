//! The request as the exchange sees it: its head, a bounded read of its
//! body, and the one header the exchange writes (the gateway token).

use std::future::Future;
use std::net::IpAddr;

/// A request header the exchange reads or writes. The headers read on
/// every request (the credentials, and for a `GET` the two that tell a
/// page navigation) are variants of their own, so an adapter can map them
/// to header names it parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Header<'a> {
    /// `Cookie`: the session and access-token cookies.
    Cookie,
    /// `Authorization`: bearer tokens.
    Authorization,
    /// `User-Agent`, kept with a new session for the device list.
    UserAgent,
    /// `Sec-Fetch-Mode`: whether a `GET` is a browser's navigation to a
    /// page (see [`navigation`](crate::navigation)).
    SecFetchMode,
    /// `Accept`: a browser without Fetch Metadata says it wants a page.
    Accept,
    /// Any other header, by its lowercase name: the CSRF headers, the
    /// custom credential headers, the gateway header.
    Named(&'a str),
}

impl Header<'_> {
    /// The header's lowercase name.
    #[inline]
    pub fn name(&self) -> &str {
        match self {
            Self::Cookie => "cookie",
            Self::Authorization => "authorization",
            Self::UserAgent => "user-agent",
            Self::SecFetchMode => "sec-fetch-mode",
            Self::Accept => "accept",
            Self::Named(name) => name,
        }
    }
}

/// A framework's request, as an adapter shows it to the
/// [`Exchange`](super::Exchange): implemented on a borrowed view of the
/// request, for the duration of [`admit`](super::Exchange::admit).
///
/// Reading is by name and never fails: a value that is not valid for the
/// framework is simply absent. The exchange writes only the gateway header
/// and, to read a CSRF token from a form, the body, which the adapter puts
/// back for the handler.
pub trait Request {
    /// The body bytes the exchange reads, as the framework holds them.
    type Body: AsRef<[u8]>;

    /// The method, as sent (`GET`, `POST`, …).
    fn method(&self) -> &str;

    /// The path of the request target, without the query.
    fn path(&self) -> &str;

    /// The query of the request target, without the `?`; a browser sent
    /// to sign in comes back to the path and this query. The default says
    /// there is none.
    fn query(&self) -> Option<&str> {
        None
    }

    /// The `Host` header or, on HTTP/2, the target's authority.
    fn authority(&self) -> Option<&[u8]>;

    /// Every value of `header`, in the order received.
    fn header_values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]>;

    /// The first value of `header`.
    fn header(&self, header: Header<'_>) -> Option<&[u8]> {
        self.header_values(header).next()
    }

    /// The address of the peer that sent the request, if the framework
    /// knows it.
    fn peer_ip(&self) -> Option<IpAddr>;

    /// Removes every value of `header`.
    fn remove_header(&mut self, header: Header<'_>);

    /// Sets `header` to `value`, replacing any; `false` if the framework
    /// refuses the value.
    fn set_header(&mut self, header: Header<'_>, value: &str) -> bool;

    /// Reads the body, at most `limit` bytes, and puts it back for the
    /// handler; `None` when it is longer or cannot be read. A framework
    /// whose body cannot be put back answers with an empty body (the CSRF
    /// token must then come in its header).
    fn read_body(&mut self, limit: usize) -> impl Future<Output = Option<Self::Body>>;
}
