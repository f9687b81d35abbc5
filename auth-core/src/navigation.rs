//! Browsers are sent to sign in; APIs get their 401.
//!
//! A page that needs a login, navigated to by a browser (`Sec-Fetch-Mode:
//! navigate`, or, from a browser too old for Fetch Metadata, an `Accept`
//! that prefers `text/html`), answers `303 See Other` to the app's login
//! page with the page's path and query in a `next` parameter
//! ([`LoginRedirect`], installed with
//! [`with_login_redirect`](crate::AuthenticatorBuilder::with_login_redirect)).
//! Every other caller (`fetch`, an API client) still gets 401 with its
//! `WWW-Authenticate` challenges, and a caller lacking a role still gets
//! 403, as an HTML page for browsers when the app's
//! [`RenderRefusal::render_page`](crate::RenderRefusal::render_page)
//! supplies one.
//!
//! After the login, [`safe_next`] decides whether the `next` the login
//! form carried back may be followed: only a path of this origin, so the
//! login page is never an open redirect.
//!
//! ```
//! use auth_core::navigation::{LoginRedirect, safe_next};
//!
//! let redirect = LoginRedirect::new("/login")?;
//! assert_eq!(redirect.location("/admin?tab=users"), "/login?next=%2Fadmin%3Ftab%3Dusers");
//!
//! assert_eq!(safe_next("/admin"), Some("/admin"));
//! assert_eq!(safe_next("//elsewhere.example"), None);
//! assert_eq!(safe_next("https://elsewhere.example/"), None);
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

use crate::config::ConfigError;

/// The longest `next` target kept, in bytes; a longer one is dropped
/// rather than cut.
pub const MAX_NEXT_LEN: usize = 2048;

/// Where a browser goes to sign in, and the query parameter that carries
/// the page it came from back to the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRedirect {
    url: String,
    parameter: String,
}

impl LoginRedirect {
    /// Sends browsers to `url`: a path of this origin (`/login`) or an
    /// absolute `http(s)` URL (a separate sign-in service). The page they
    /// came from goes in the `next` parameter.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let absolute = url.starts_with("https://") || url.starts_with("http://");
        let valid = (absolute || safe_next(url).is_some())
            && !url.contains('#')
            && url.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(ConfigError::LoginUrl(url.escape_debug().to_string()));
        }
        Ok(Self {
            url: url.to_owned(),
            parameter: "next".into(),
        })
    }

    /// Names the parameter carrying the page (default `next`).
    pub fn with_parameter(mut self, name: &str) -> Result<Self, ConfigError> {
        if name.is_empty() || !name.bytes().all(is_unreserved) {
            return Err(ConfigError::LoginUrl(name.escape_debug().to_string()));
        }
        self.parameter = name.to_owned();
        Ok(self)
    }

    /// The login URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The parameter carrying the page.
    pub fn parameter(&self) -> &str {
        &self.parameter
    }

    /// The `Location` of the redirect from `target` (the path and query
    /// the browser asked for): the login URL with `target`
    /// percent-encoded in the parameter. A target too long or unsafe to
    /// come back to is left out.
    pub fn location(&self, target: &str) -> String {
        let Some(target) = safe_next(target) else {
            return self.url.clone();
        };
        let mut location = String::with_capacity(self.url.len() + target.len() * 3 + 8);
        location.push_str(&self.url);
        location.push(if self.url.contains('?') { '&' } else { '?' });
        location.push_str(&self.parameter);
        location.push('=');
        percent_encode(target, &mut location);
        location
    }
}

/// Whether a request is a browser's navigation to a page: `Sec-Fetch-Mode:
/// navigate` or, without Fetch Metadata, an `Accept` that names
/// `text/html` before any JSON. `fetch` and `XMLHttpRequest` calls of a
/// modern browser send `cors` or `same-origin`, so they get the API's
/// answers.
pub fn is_navigation(sec_fetch_mode: Option<&[u8]>, accept: Option<&[u8]>) -> bool {
    if let Some(mode) = sec_fetch_mode {
        return mode.eq_ignore_ascii_case(b"navigate");
    }
    let Some(accept) = accept else {
        return false;
    };
    let html = memchr::memmem::find(accept, b"text/html");
    let json = memchr::memmem::find(accept, b"json");
    match (html, json) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `next` if it may be followed after a login: a path of this origin
/// (`/…`), not a URL, not scheme-relative (`//…`), without backslashes
/// (which browsers read as slashes), control characters or spaces, at
/// most [`MAX_NEXT_LEN`] bytes. Anything else is `None`: send the user to
/// the home page instead.
pub fn safe_next(next: &str) -> Option<&str> {
    let bytes = next.as_bytes();
    let safe = bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes.len() <= MAX_NEXT_LEN
        && !bytes
            .iter()
            .any(|&b| b == b'\\' || b.is_ascii_control() || b == b' ');
    safe.then_some(next)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

pub(crate) fn percent_encode(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_paths_are_followed() {
        for safe in ["/", "/admin", "/a/b?c=d&e=%2F", "/%2F%2Fhost"] {
            assert_eq!(safe_next(safe), Some(safe), "{safe}");
        }
        for unsafe_ in [
            "",
            "admin",
            "//elsewhere.example",
            "https://elsewhere.example/",
            "/\\elsewhere.example",
            "\\\\elsewhere.example",
            "/a\\b",
            "/a\tb",
            "/a\nb",
            "/a b",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(unsafe_), None, "{unsafe_:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(MAX_NEXT_LEN))), None);
    }

    #[test]
    fn the_location_carries_the_page_encoded() {
        let redirect = LoginRedirect::new("/").unwrap();
        assert_eq!(redirect.location("/admin"), "/?next=%2Fadmin");
        let redirect = LoginRedirect::new("https://id.example/login?app=1")
            .unwrap()
            .with_parameter("return_to")
            .unwrap();
        assert_eq!(
            redirect.location("/a b"),
            "https://id.example/login?app=1",
            "an unsafe target is left out"
        );
        assert_eq!(
            redirect.location("/r?x=é"),
            "https://id.example/login?app=1&return_to=%2Fr%3Fx%3D%C3%A9"
        );
    }

    #[test]
    fn login_urls_are_checked() {
        for bad in ["", "login", "//evil.example", "/log in", "/x#y", "ftp://x"] {
            assert!(LoginRedirect::new(bad).is_err(), "{bad:?}");
        }
        assert!(
            LoginRedirect::new("/")
                .unwrap()
                .with_parameter("a&b")
                .is_err()
        );
    }

    #[test]
    fn navigations_are_told_from_api_calls() {
        assert!(is_navigation(Some(b"navigate"), None));
        assert!(!is_navigation(Some(b"cors"), Some(b"text/html")));
        assert!(is_navigation(
            None,
            Some(b"text/html,application/xhtml+xml,*/*;q=0.8")
        ));
        assert!(!is_navigation(None, Some(b"application/json, text/html")));
        assert!(!is_navigation(None, Some(b"*/*")));
        assert!(!is_navigation(None, None));
    }
}
