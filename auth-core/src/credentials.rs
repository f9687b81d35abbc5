//! The credentials of a request, as the adapter found them: the session
//! cookie, the access-token cookie, `Authorization`, custom credential
//! headers, and the client's description of itself. Parsing does no I/O
//! and never fails: bad input becomes a credential that authentication
//! rejects with a reason.

use std::fmt;

use crate::adapter::{Header, Request};
use crate::authenticator::Authenticator;
use crate::cookie::CookieLookup;
use crate::record::ClientMeta;
use crate::token::{SessionToken, TokenError};

/// Most bytes of an `Authorization` header that are looked at; a longer
/// one is rejected without being copied.
pub(crate) const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024;

/// The credentials found in a request, parsed and owned, ready for
/// [`Authenticator::authenticate`]. Built by [`Authenticator::credentials`];
/// holds no borrowed request data so it can cross an `await`.
pub(crate) struct Credentials {
    pub(crate) session: SessionCredential,
    pub(crate) bearer: BearerCredential,
    pub(crate) access_cookie: BearerCredential,
    pub(crate) custom: Vec<(&'static str, crate::custom::Presented)>,
    pub(crate) client: ClientMeta,
}

pub(crate) enum BearerCredential {
    None,
    /// The token's bytes, unchecked: verification reads them strictly.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    Token(Vec<u8>),
    Malformed,
}

impl fmt::Debug for BearerCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Token(_) => "Token(REDACTED)",
            Self::Malformed => "Malformed",
        })
    }
}

impl Credentials {
    /// Adds the request's `Authorization` header values. A `Bearer`
    /// credential is taken (scheme case-insensitive); other schemes are
    /// ignored; two headers or an empty or oversized token make the
    /// credential malformed (and the request is then refused, never
    /// answered from the cookie). The token's characters are checked where
    /// it is verified: an access token is three strict base64url segments.
    pub(crate) fn with_authorization<'a, I>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut headers = headers.into_iter();
        let Some(first) = headers.next() else {
            return self;
        };
        let is_bearer = |v: &[u8]| v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"bearer");
        if headers.next().is_some() {
            self.bearer = BearerCredential::Malformed;
            return self;
        }
        if !is_bearer(first) {
            return self;
        }
        let rest = &first[6..];
        let token = rest.trim_ascii_start();
        self.bearer = if rest.first() != Some(&b' ')
            || token.is_empty()
            || token.len() > MAX_AUTHORIZATION_BYTES
        {
            BearerCredential::Malformed
        } else {
            BearerCredential::Token(token.to_vec())
        };
        self
    }

    /// Adds the values of request header `name`, one of the
    /// [`Authenticator::custom_headers`]; other names are ignored.
    /// [`Authenticator::with_custom_headers`] calls it for each of them.
    pub(crate) fn with_header<'a, I>(mut self, name: &'static str, values: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        if let Some(presented) = crate::custom::Presented::from_values(values) {
            self.custom.push((name, presented));
        }
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("session", &self.session)
            .field("bearer", &self.bearer)
            .field("access_cookie", &self.access_cookie)
            .field("custom", &self.custom)
            .field("client", &self.client)
            .finish()
    }
}

pub(crate) enum SessionCredential {
    None,
    Token(SessionToken),
    Malformed(TokenError),
    Conflicting,
}

impl fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Token(_) => f.write_str("Token(REDACTED)"),
            Self::Malformed(e) => write!(f, "Malformed({e})"),
            Self::Conflicting => f.write_str("Conflicting"),
        }
    }
}

impl Authenticator {
    /// Step 1 of a request: parse what the adapter found. `cookie_headers`
    /// are the raw values of every `Cookie` header; `user_agent` and
    /// `address` describe the client for the device list.
    ///
    /// This does no I/O and never fails: bad input becomes a credential
    /// that [`authenticate`](Self::authenticate) rejects with a reason.
    pub(crate) fn credentials<'a, I>(
        &self,
        cookie_headers: I,
        user_agent: Option<&[u8]>,
        address: Option<String>,
    ) -> Credentials
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let (session, access_cookie) = match &self.inner.access_cookie {
            None => (
                self.inner.cookie.find_session_cookie(cookie_headers),
                CookieLookup::Absent,
            ),
            Some(access) => {
                // One past the limit: the lookup must know when some went
                // unread.
                let headers: Vec<&'a [u8]> = cookie_headers
                    .into_iter()
                    .take(crate::cookie::MAX_COOKIE_HEADERS + 1)
                    .collect();
                (
                    self.inner
                        .cookie
                        .find_session_cookie(headers.iter().copied()),
                    access.find_session_cookie(headers),
                )
            }
        };
        let session = match session {
            CookieLookup::Absent => SessionCredential::None,
            CookieLookup::Conflicting => SessionCredential::Conflicting,
            CookieLookup::Found(value) => match SessionToken::parse(value) {
                Ok(token) => SessionCredential::Token(token),
                Err(err) => SessionCredential::Malformed(err),
            },
        };
        let access_cookie = match access_cookie {
            CookieLookup::Absent => BearerCredential::None,
            CookieLookup::Conflicting => BearerCredential::Malformed,
            CookieLookup::Found(value) => {
                if value.is_empty() || value.len() > MAX_AUTHORIZATION_BYTES {
                    BearerCredential::Malformed
                } else {
                    BearerCredential::Token(value.to_vec())
                }
            }
        };
        let user_agent = user_agent.and_then(|ua| std::str::from_utf8(ua).ok());
        Credentials {
            session,
            bearer: BearerCredential::None,
            access_cookie,
            custom: Vec::new(),
            client: ClientMeta::new(user_agent, address),
        }
    }

    /// The credentials `req` presents, with the client's `address`: the
    /// cookies, `Authorization`, the custom credential headers and the user
    /// agent.
    pub(crate) fn read_credentials<R: Request + ?Sized>(
        &self,
        req: &R,
        address: Option<String>,
    ) -> Credentials {
        let credentials = self
            .credentials(
                req.header_values(Header::Cookie),
                req.header(Header::UserAgent),
                address,
            )
            .with_authorization(req.header_values(Header::Authorization));
        self.inner
            .custom_headers
            .iter()
            .fold(credentials, |credentials, name| {
                credentials.with_header(name, req.header_values(Header::Named(name)))
            })
    }
}
