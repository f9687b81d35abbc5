//! What the CSRF check reads from a request, and its verdict.

use std::fmt;

use super::CsrfPolicy;

/// What the CSRF check looks at in a request; adapters fill it from the
/// headers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CsrfRequest<'a> {
    /// The method, e.g. `POST`.
    pub(crate) method: &'a str,
    /// The path, e.g. `/login`.
    pub(crate) path: &'a str,
    /// `Sec-Fetch-Site`.
    pub(crate) sec_fetch_site: Option<&'a [u8]>,
    /// `Origin`.
    pub(crate) origin: Option<&'a [u8]>,
    /// `Referer`.
    pub(crate) referer: Option<&'a [u8]>,
    /// `Host` (or the URI's authority on HTTP/2), or a trusted proxy's
    /// `X-Forwarded-Host`.
    pub(crate) host: Option<&'a [u8]>,
    /// A trusted proxy's `X-Forwarded-Proto`: the only scheme the origin
    /// may have.
    pub(crate) scheme: Option<&'a [u8]>,
    /// The token header (default `X-CSRF-Token`).
    pub(crate) token: Option<&'a [u8]>,
    /// Whether the body is `application/x-www-form-urlencoded`.
    pub(crate) form: bool,
}

/// The headers of an unsafe request that the CSRF check needs, copied so
/// they can cross an `await` (adapters capture them before authenticating).
#[derive(Clone, Default)]
pub(crate) struct CsrfCapture {
    method: String,
    path: String,
    sec_fetch_site: Option<Vec<u8>>,
    origin: Option<Vec<u8>>,
    referer: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
    token: Option<Vec<u8>>,
    form: bool,
}

impl fmt::Debug for CsrfCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfCapture")
            .field("method", &self.method)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .finish_non_exhaustive()
    }
}

/// Most bytes of any one header the capture keeps; longer values are
/// treated as absent origins (refused) or bad tokens.
const MAX_CAPTURED: usize = 4096;

impl CsrfCapture {
    /// The capture of an unsafe request.
    pub(crate) fn read<'a>(
        policy: &CsrfPolicy,
        method: &str,
        path: &str,
        (host, scheme): (Option<&[u8]>, Option<&[u8]>),
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Self {
        let keep = |v: &[u8]| v[..v.len().min(MAX_CAPTURED)].to_vec();
        let form = header("content-type").is_some_and(|ct| {
            let essence = ct.split(|b| *b == b';').next().unwrap_or_default();
            essence
                .trim_ascii()
                .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        });
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            sec_fetch_site: header("sec-fetch-site").map(keep),
            origin: header("origin").map(keep),
            referer: header("referer").map(keep),
            host: host.map(keep),
            scheme: scheme.map(keep),
            token: header(policy.header_name()).map(keep),
            form,
        }
    }

    /// The captured request, for [`AuthHandle::check_csrf`](crate::AuthHandle::check_csrf).
    pub(crate) fn request(&self) -> CsrfRequest<'_> {
        CsrfRequest {
            method: &self.method,
            path: &self.path,
            sec_fetch_site: self.sec_fetch_site.as_deref(),
            origin: self.origin.as_deref(),
            referer: self.referer.as_deref(),
            host: self.host.as_deref(),
            scheme: self.scheme.as_deref(),
            token: self.token.as_deref(),
            form: self.form,
        }
    }

    /// The request's method.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }
}

/// Whether `method` changes state, so needs the CSRF check.
pub(crate) fn is_unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The outcome of [`AuthHandle::check_csrf`](crate::AuthHandle::check_csrf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum CsrfVerdict {
    /// Go on.
    Allow,
    /// Every check passed but the token, which was not in a header and may
    /// be in the form body: read at most
    /// [`max_form_bytes`](CsrfPolicy::max_form_bytes) of it and call
    /// [`AuthHandle::check_csrf_form`](crate::AuthHandle::check_csrf_form).
    ReadForm,
    /// Refuse with [`Refusal::Csrf`](crate::Refusal::Csrf).
    Deny(CsrfFailure),
}

/// Why a request was refused as cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum CsrfFailure {
    /// `Sec-Fetch-Site: cross-site`.
    CrossSite,
    /// `Sec-Fetch-Site: same-site`, not trusted.
    SameSite,
    /// `Origin` is not a trusted origin.
    Origin,
    /// `Referer` is not from a trusted origin.
    Referer,
    /// No token in the header or form.
    MissingToken,
    /// A token that is not this session's.
    BadToken,
    /// A form body too large to search for the token.
    FormTooLarge,
}

impl CsrfFailure {
    /// A short, stable reason for logs and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::CrossSite => "cross_site",
            Self::SameSite => "same_site",
            Self::Origin => "origin_mismatch",
            Self::Referer => "referer_mismatch",
            Self::MissingToken => "missing_token",
            Self::BadToken => "bad_token",
            Self::FormTooLarge => "form_too_large",
        }
    }
}

/// The value of `field` in a urlencoded body, percent-decoded; `None` when
/// absent or not decodable.
pub(crate) fn form_field(body: &[u8], field: &str) -> Option<Vec<u8>> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[..0]),
        };
        (name == field.as_bytes()).then(|| percent_decode(value))?
    })
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}
