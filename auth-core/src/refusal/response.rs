//! A refusal as it goes on the wire: the status, the protocol headers the
//! core decides, and the body the application's renderer writes.

use std::borrow::Cow;

use super::{Refusal, RenderedBody};
use crate::authenticator::Authenticator;

/// What a [`Refusal`] looks like on the wire, identical in every adapter:
/// adapters copy it verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalResponse {
    status: u16,
    headers: Vec<(&'static str, Cow<'static, str>)>,
    body: Cow<'static, str>,
}

impl RefusalResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, lowercase names, in order (`Content-Type` among them).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.headers.iter().map(|(name, value)| (*name, &**value))
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The body, owned: borrowed from a constant when it is one.
    pub fn into_body(self) -> Cow<'static, str> {
        self.body
    }

    /// The same answer with another body, for a handler that refuses in its
    /// own words (a login page after a wrong password) but keeps the
    /// protocol headers.
    ///
    /// ```
    /// use auth_core::{Authenticator, MemoryStore, Refusal, RenderedBody};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new()).build()?;
    /// let page = auth
    ///     .render(&Refusal::Unauthenticated)
    ///     .with_body(RenderedBody::new("text/html; charset=utf-8", "<p>Wrong password</p>"));
    /// assert_eq!(page.status(), 401);
    /// assert!(page.header("www-authenticate").is_some());
    /// assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_body(mut self, body: RenderedBody) -> Self {
        for (name, value) in &mut self.headers {
            if *name == "content-type" {
                *value = body.content_type.clone();
            }
        }
        self.body = body.body;
        self
    }

    /// 500 `{"error":"internal"}`, for a server misconfigured so that no
    /// authenticator is at hand to render it.
    pub(crate) fn internal() -> Self {
        Self {
            status: 500,
            headers: vec![
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
            ],
            body: r#"{"error":"internal"}"#.into(),
        }
    }

    /// 303 to `location`, never stored: a browser sent to sign in.
    pub(crate) fn see_other(location: String) -> Self {
        Self {
            status: 303,
            headers: vec![
                ("location", location.into()),
                ("cache-control", "no-store".into()),
            ],
            body: Cow::Borrowed(""),
        }
    }

    /// Adds a challenge before the others.
    pub(crate) fn challenge_first(&mut self, challenge: String) {
        self.headers
            .insert(0, ("www-authenticate", challenge.into()));
    }

    /// Adds a challenge after the first.
    pub(crate) fn challenge_second(&mut self, challenge: String) {
        let at = self.headers.len().min(1);
        self.headers
            .insert(at, ("www-authenticate", challenge.into()));
    }
}

impl Authenticator {
    /// What `refusal` looks like on the wire: its status, the protocol
    /// headers (`WWW-Authenticate` for 401, `Retry-After` for 429 and 503,
    /// `Cache-Control: no-store` always), and the body of the configured
    /// [`RenderRefusal`](crate::RenderRefusal).
    ///
    /// ```
    /// use auth_core::{Authenticator, MemoryStore, Refusal};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new()).build()?;
    /// let answer = auth.render(&Refusal::Unavailable);
    /// assert_eq!(answer.status(), 503);
    /// assert_eq!(answer.header("retry-after"), Some("1"));
    /// assert_eq!(answer.body(), r#"{"error":"unavailable"}"#);
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    pub fn render(&self, refusal: &Refusal) -> RefusalResponse {
        self.render_body(refusal, self.inner.renderer.render(refusal))
    }

    /// What `refusal` looks like to a browser navigating to a page: the
    /// renderer's [page](crate::RenderRefusal::render_page) if it has one.
    pub(crate) fn render_for_browser(&self, refusal: &Refusal) -> RefusalResponse {
        let renderer = &self.inner.renderer;
        let body = renderer
            .render_page(refusal)
            .unwrap_or_else(|| renderer.render(refusal));
        self.render_body(refusal, body)
    }

    /// `refusal` with `body`, and the protocol headers.
    fn render_body(&self, refusal: &Refusal, body: RenderedBody) -> RefusalResponse {
        let RenderedBody { content_type, body } = body;
        let mut headers = Vec::with_capacity(4);
        match refusal {
            Refusal::Unauthenticated | Refusal::StaleLogin => {
                headers.push(("www-authenticate", self.inner.challenge.clone().into()));
            }
            Refusal::Throttled { retry_after_secs } => {
                headers.push(("retry-after", retry_after_secs.max(&1).to_string().into()));
            }
            Refusal::Unavailable => {
                headers.push((
                    "retry-after",
                    self.inner.retry_after_secs.to_string().into(),
                ));
            }
            _ => {}
        }
        headers.push(("content-type", content_type));
        headers.push(("cache-control", "no-store".into()));
        RefusalResponse {
            status: refusal.status(),
            headers,
            body,
        }
    }

    /// The RFC 6750 challenge for bearer tokens, with an `error` when one
    /// was presented and failed.
    pub(crate) fn bearer_challenge(&self, error: Option<&str>) -> String {
        match error {
            Some(error) => format!("Bearer realm=\"{}\", error=\"{error}\"", self.inner.realm),
            None => format!("Bearer realm=\"{}\"", self.inner.realm),
        }
    }

    /// The RFC 6750 challenge for a bearer caller lacking `scope`; the
    /// scope is named when it is a valid scope token (RFC 6749 3.3).
    pub(crate) fn scope_challenge(&self, scope: &str) -> String {
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        let mut challenge = self.bearer_challenge(Some("insufficient_scope"));
        if valid {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        challenge
    }
}
