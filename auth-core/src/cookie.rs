//! Cookie policy: the `Set-Cookie` values for the session cookie, and
//! finding it among the `Cookie` headers of a request.
//!
//! Defaults: `HttpOnly` (scripts cannot read the token), `Secure` (never
//! sent over plain HTTP), `SameSite=Lax` (not sent on cross-site
//! sub-requests and POSTs), `Path=/`, no `Domain` (the cookie stays on the
//! host that set it), and, because all of that holds, the `__Host-` name
//! prefix, which makes browsers refuse the cookie if any of it is missing
//! and so stops a sibling subdomain from planting one.
//!
//! Turning `Secure` off (for local development over `http://`) also drops
//! the `__Host-` prefix, which browsers would otherwise refuse.

use std::fmt::Write as _;

use time::{Duration, OffsetDateTime};

use crate::config::ConfigError;

/// Most bytes of `Cookie` header that are searched; the rest is ignored.
pub const MAX_COOKIE_HEADER: usize = 8 * 1024;
/// Most `Cookie` headers looked at; the rest are ignored, so the work
/// stays bounded whatever a client sends.
pub const MAX_COOKIE_HEADERS: usize = 32;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Sent with same-site requests and top-level cross-site navigations.
    Lax,
    /// Sent with every request; requires `Secure`.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// How the session cookie is named, scoped and flagged.
///
/// ```
/// use auth_core::CookiePolicy;
///
/// let policy = CookiePolicy::default();
/// assert_eq!(policy.cookie_name(), "__Host-session");
/// let removal = policy.removal_cookie();
/// assert!(removal.starts_with("__Host-session=; "));
/// assert!(removal.contains("Max-Age=0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    name: String,
    full_name: String,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    path: String,
    domain: Option<String>,
    host_prefix: bool,
    persistent: bool,
}

impl Default for CookiePolicy {
    fn default() -> Self {
        let mut p = Self {
            name: "session".into(),
            full_name: String::new(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: "/".into(),
            domain: None,
            host_prefix: true,
            persistent: false,
        };
        p.full_name = p.compute_name();
        p
    }
}

/// The outcome of looking for the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieLookup<'a> {
    /// No session cookie.
    Absent,
    /// One value (perhaps repeated identically).
    Found(&'a [u8]),
    /// Two or more different values: a sign of cookie tossing or a stale
    /// cookie on a wider path. Treated as no session.
    Conflicting,
}

pub(crate) fn is_token_char(b: u8) -> bool {
    // RFC 6265 cookie-name is an RFC 7230 token.
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_path_or_domain_char(b: u8) -> bool {
    b.is_ascii_graphic() && b != b';' && b != b','
}

impl CookiePolicy {
    /// The default policy (see the [module docs](self)).
    pub fn new() -> Self {
        Self::default()
    }

    fn compute_name(&self) -> String {
        if self.host_prefix && self.secure {
            format!("__Host-{}", self.name)
        } else {
            self.name.clone()
        }
    }

    fn rebuild(mut self) -> Self {
        self.full_name = self.compute_name();
        self
    }

    /// The cookie's base name (default `session`); the `__Host-` prefix is
    /// added when it applies.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.rebuild()
    }

    /// Whether the cookie is `Secure` (default `true`). Off only for local
    /// development over plain HTTP; it also drops the `__Host-` prefix.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self.rebuild()
    }

    /// Whether the cookie is `HttpOnly` (default `true`).
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The `SameSite` attribute (default `Lax`).
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// The `Path` attribute (default `/`). A path other than `/` drops the
    /// `__Host-` prefix, which requires `/`.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self.rebuild()
    }

    /// A `Domain` attribute (default none, which keeps the cookie on the
    /// exact host). Setting one drops the `__Host-` prefix.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self.rebuild()
    }

    /// Whether to use the `__Host-` prefix when the cookie is `Secure`, has
    /// `Path=/` and no `Domain` (default `true`).
    pub fn with_host_prefix(mut self, host_prefix: bool) -> Self {
        self.host_prefix = host_prefix;
        self.rebuild()
    }

    /// Whether the cookie carries `Max-Age` and survives a browser restart,
    /// or is a browser-session cookie (the default, as users expect of a
    /// login without "remember me"; the server-side timeouts apply either
    /// way). A login's [`remember`](crate::Login::remember) overrides it.
    pub fn with_persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// The name the cookie is set and looked up under.
    pub fn cookie_name(&self) -> &str {
        &self.full_name
    }

    /// Whether the cookie is `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Whether the cookie carries `Max-Age`.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_char) {
            return Err(ConfigError::CookieName);
        }
        if !self.path.starts_with('/') || !self.path.bytes().all(is_path_or_domain_char) {
            return Err(ConfigError::CookiePath);
        }
        if let Some(d) = &self.domain
            && (d.is_empty() || !d.bytes().all(is_path_or_domain_char))
        {
            return Err(ConfigError::CookieDomain);
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::SameSiteNoneWithoutSecure);
        }
        Ok(())
    }

    fn uses_host_prefix(&self) -> bool {
        self.host_prefix && self.secure
    }

    fn write_attributes(&self, out: &mut String) {
        // `__Host-` requires Path=/ and no Domain; both are forced then.
        if self.uses_host_prefix() {
            out.push_str("; Path=/");
        } else {
            let _ = write!(out, "; Path={}", self.path);
            if let Some(d) = &self.domain {
                let _ = write!(out, "; Domain={d}");
            }
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        let _ = write!(out, "; SameSite={}", self.same_site.as_str());
    }

    /// The `Set-Cookie` value that hands `token` to the client, expiring at
    /// `expires_at` (as `Max-Age`, counted from `now`) when persistent.
    pub fn session_cookie(
        &self,
        token: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> String {
        self.session_cookie_kept(token, now, expires_at, self.persistent)
    }

    /// [`session_cookie`](Self::session_cookie), persistent (with
    /// `Max-Age`) or a browser-session cookie as `persistent` says.
    pub fn session_cookie_kept(
        &self,
        token: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        persistent: bool,
    ) -> String {
        let mut out = String::with_capacity(160);
        let _ = write!(out, "{}={token}", self.full_name);
        if persistent {
            // Rounded up: the server decides expiry; the cookie must not
            // vanish a moment before it.
            let left = (expires_at - now).max(Duration::ZERO);
            let secs = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
            let _ = write!(out, "; Max-Age={secs}");
        }
        self.write_attributes(&mut out);
        out
    }

    /// The `Set-Cookie` value that removes the cookie. It repeats the
    /// attributes, because browsers only replace a cookie whose name, path
    /// and domain match.
    pub fn removal_cookie(&self) -> String {
        let mut out = String::with_capacity(160);
        let _ = write!(
            out,
            "{}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.full_name
        );
        self.write_attributes(&mut out);
        out
    }

    /// Finds the session cookie among the request's `Cookie` header values.
    ///
    /// Tolerates other cookies, junk between them, missing spaces, quoted
    /// values and non-UTF-8 bytes. Only the first [`MAX_COOKIE_HEADER`]
    /// bytes of each of the first [`MAX_COOKIE_HEADERS`] headers are
    /// searched. Two different values for the session cookie give
    /// [`CookieLookup::Conflicting`], never the first; so does a value
    /// found when part of the headers went unread, where a second one
    /// could be.
    ///
    /// ```
    /// use auth_core::{CookiePolicy, cookie::CookieLookup};
    ///
    /// let policy = CookiePolicy::default().with_secure(false);
    /// let headers: [&[u8]; 1] = [b"theme=dark; session=abc; x"];
    /// assert_eq!(policy.find_session_cookie(headers), CookieLookup::Found(b"abc"));
    /// let headers: [&[u8]; 2] = [b"session=abc", b"session=def"];
    /// assert_eq!(policy.find_session_cookie(headers), CookieLookup::Conflicting);
    /// ```
    pub fn find_session_cookie<'a, I>(&self, headers: I) -> CookieLookup<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let name = self.full_name.as_bytes();
        let mut found: Option<&'a [u8]> = None;
        let mut unread = false;
        let mut headers = headers.into_iter();
        for header in headers.by_ref().take(MAX_COOKIE_HEADERS) {
            unread |= header.len() > MAX_COOKIE_HEADER;
            let mut rest = &header[..header.len().min(MAX_COOKIE_HEADER)];
            loop {
                // `memchr`: this runs on every request.
                let (pair, next) = match memchr::memchr(b';', rest) {
                    Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                    None => (rest, None),
                };
                // `name=value`, with optional spaces around both.
                if let Some(after) = pair.trim_ascii_start().strip_prefix(name)
                    && let [b'=', value @ ..] = after.trim_ascii_start()
                {
                    let mut value = value.trim_ascii();
                    if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                        value = &value[1..value.len() - 1];
                    }
                    match found {
                        None => found = Some(value),
                        Some(prev) if prev == value => {}
                        Some(_) => return CookieLookup::Conflicting,
                    }
                }
                match next {
                    Some(next) => rest = next,
                    None => break,
                }
            }
        }
        unread |= headers.next().is_some();
        match found {
            Some(_) if unread => CookieLookup::Conflicting,
            Some(value) => CookieLookup::Found(value),
            None => CookieLookup::Absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// The plain reading of RFC 6265's `Cookie` header that the fast
    /// lookup must agree with.
    fn reference<'a>(name: &[u8], headers: &[&'a [u8]]) -> CookieLookup<'a> {
        let mut found: Option<&'a [u8]> = None;
        let unread = headers.len() > MAX_COOKIE_HEADERS
            || headers
                .iter()
                .take(MAX_COOKIE_HEADERS)
                .any(|h| h.len() > MAX_COOKIE_HEADER);
        for header in headers.iter().take(MAX_COOKIE_HEADERS) {
            let header = &header[..header.len().min(MAX_COOKIE_HEADER)];
            for pair in header.split(|b| *b == b';') {
                let pair = pair.trim_ascii();
                let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                    continue;
                };
                if pair[..eq].trim_ascii() != name {
                    continue;
                }
                let mut value = pair[eq + 1..].trim_ascii();
                if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                    value = &value[1..value.len() - 1];
                }
                match found {
                    None => found = Some(value),
                    Some(prev) if prev == value => {}
                    Some(_) => return CookieLookup::Conflicting,
                }
            }
        }
        match found {
            Some(_) if unread => CookieLookup::Conflicting,
            Some(value) => CookieLookup::Found(value),
            None => CookieLookup::Absent,
        }
    }

    #[test]
    fn a_value_found_beside_unread_bytes_is_a_conflict() {
        let policy = CookiePolicy::default().with_secure(false);
        // A second value past the size limit would be missed: the first
        // is not believed.
        let long = format!("session=abc; {}; session=evil", "x=1; ".repeat(2000));
        assert!(long.len() > MAX_COOKIE_HEADER);
        assert_eq!(
            lookup(&policy, &[long.as_bytes()]),
            CookieLookup::Conflicting
        );
        // So is one found when headers past the count limit go unread.
        let mut many: Vec<&[u8]> = vec![b"a=1"; MAX_COOKIE_HEADERS];
        many[0] = b"session=abc";
        many.push(b"session=evil");
        assert_eq!(lookup(&policy, &many), CookieLookup::Conflicting);
        // Without the session cookie in the read part, it is absent.
        let long = format!("{}; session=late", "x=1; ".repeat(2000));
        assert_eq!(lookup(&policy, &[long.as_bytes()]), CookieLookup::Absent);
        // Within the limits, found.
        many.truncate(MAX_COOKIE_HEADERS);
        assert_eq!(lookup(&policy, &many), CookieLookup::Found(b"abc"));
    }

    proptest::proptest! {
        #[test]
        fn lookup_agrees_with_the_plain_reading(
            headers in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "session", "session2", "sessio", "=", ";", " ", "\t", "\"", "v", "a=b",
                    ]),
                    0..16,
                ),
                0..4,
            )
        ) {
            let policy = CookiePolicy::default().with_secure(false);
            let headers: Vec<String> = headers.iter().map(|pieces| pieces.concat()).collect();
            let headers: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
            proptest::prop_assert_eq!(
                lookup(&policy, &headers),
                reference(b"session", &headers)
            );
        }
    }

    fn lookup<'a>(policy: &CookiePolicy, headers: &[&'a [u8]]) -> CookieLookup<'a> {
        policy.find_session_cookie(headers.iter().copied())
    }

    #[test]
    fn default_cookie_has_every_protective_attribute() {
        let p = CookiePolicy::default();
        let now = datetime!(2030-01-01 0:00 UTC);
        let c = p.session_cookie("TOKEN", now, now + Duration::minutes(30));
        assert_eq!(
            c, "__Host-session=TOKEN; Path=/; HttpOnly; Secure; SameSite=Lax",
            "a browser-session cookie unless asked to persist"
        );
        let persistent = p.with_persistent(true);
        assert_eq!(
            persistent.session_cookie("TOKEN", now, now + Duration::minutes(30)),
            "__Host-session=TOKEN; Max-Age=1800; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn removal_repeats_the_attributes() {
        let p = CookiePolicy::default().with_secure(false).with_path("/app");
        assert_eq!(
            p.removal_cookie(),
            "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn insecure_drops_the_host_prefix_and_secure() {
        let p = CookiePolicy::default()
            .with_secure(false)
            .with_persistent(true);
        assert_eq!(p.cookie_name(), "session");
        let now = datetime!(2030-01-01 0:00 UTC);
        let c = p.session_cookie("T", now, now);
        assert!(!c.contains("Secure"));
        assert!(c.contains("Max-Age=0"));
    }

    #[test]
    fn domain_and_path_apply_without_host_prefix() {
        let p = CookiePolicy::default()
            .with_host_prefix(false)
            .with_domain("example.com")
            .with_path("/app")
            .with_same_site(SameSite::Strict)
            .with_persistent(false);
        let now = datetime!(2030-01-01 0:00 UTC);
        assert_eq!(
            p.session_cookie("T", now, now),
            "session=T; Path=/app; Domain=example.com; HttpOnly; Secure; SameSite=Strict"
        );
    }

    #[test]
    fn invalid_policies_are_refused() {
        let cases = [
            (
                CookiePolicy::default().with_name(""),
                ConfigError::CookieName,
            ),
            (
                CookiePolicy::default().with_name("a b"),
                ConfigError::CookieName,
            ),
            (
                CookiePolicy::default().with_name("a;b"),
                ConfigError::CookieName,
            ),
            (
                CookiePolicy::default().with_path("app"),
                ConfigError::CookiePath,
            ),
            (
                CookiePolicy::default().with_path("/a;b"),
                ConfigError::CookiePath,
            ),
            (
                CookiePolicy::default().with_domain("a;b"),
                ConfigError::CookieDomain,
            ),
            (
                CookiePolicy::default()
                    .with_secure(false)
                    .with_same_site(SameSite::None),
                ConfigError::SameSiteNoneWithoutSecure,
            ),
        ];
        for (policy, want) in cases {
            assert_eq!(policy.validate(), Err(want));
        }
        assert_eq!(CookiePolicy::default().validate(), Ok(()));
    }

    #[test]
    fn lookup_cases() {
        let p = CookiePolicy::default().with_secure(false);
        let cases: &[(&[&[u8]], CookieLookup<'_>)] = &[
            (&[], CookieLookup::Absent),
            (&[b""], CookieLookup::Absent),
            (&[b"other=1"], CookieLookup::Absent),
            (&[b"session=abc"], CookieLookup::Found(b"abc")),
            (&[b"a=1;session=abc;b=2"], CookieLookup::Found(b"abc")),
            (&[b"  session = abc  ; b"], CookieLookup::Found(b"abc")),
            (&[b"session=\"abc\""], CookieLookup::Found(b"abc")),
            (&[b";;;=;==;session=abc"], CookieLookup::Found(b"abc")),
            (&[b"session=abc; session=abc"], CookieLookup::Found(b"abc")),
            (&[b"session=abc", b"session=abd"], CookieLookup::Conflicting),
            (&[b"session=abc; session="], CookieLookup::Conflicting),
            (&[b"Session=abc"], CookieLookup::Absent),
            (&[b"xsession=abc"], CookieLookup::Absent),
            (&[b"session=\xff\xfe"], CookieLookup::Found(b"\xff\xfe")),
            (&[b"session=a=b"], CookieLookup::Found(b"a=b")),
        ];
        for (headers, want) in cases {
            assert_eq!(lookup(&p, headers), *want, "{headers:?}");
        }
    }

    #[test]
    fn lookup_uses_the_prefixed_name_when_secure() {
        let p = CookiePolicy::default();
        assert_eq!(lookup(&p, &[b"session=abc"]), CookieLookup::Absent);
        assert_eq!(
            lookup(&p, &[b"__Host-session=abc"]),
            CookieLookup::Found(b"abc")
        );
    }

    #[test]
    fn lookup_ignores_bytes_past_the_limit() {
        let p = CookiePolicy::default().with_secure(false);
        let mut header = vec![b'x'; MAX_COOKIE_HEADER];
        header.extend_from_slice(b"; session=abc");
        assert_eq!(lookup(&p, &[&header]), CookieLookup::Absent);
    }
}
