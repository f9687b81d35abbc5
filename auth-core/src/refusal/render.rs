//! The body of a refusal: JSON by default, or whatever the application
//! renders (HTML pages, `application/problem+json`).

use std::borrow::Cow;
use std::fmt;

use super::Refusal;

/// Renders the body of every refusal: the middleware's, the guards', the
/// extractors' and a handler's `AuthError`. The status code and the
/// protocol headers (`WWW-Authenticate`, `Retry-After`,
/// `Cache-Control: no-store`) are the core's; the body and its content
/// type are the renderer's. Install one with
/// [`with_refusal_renderer`](crate::AuthenticatorBuilder::with_refusal_renderer).
///
/// A body never holds internal detail: a refusal carries none.
///
/// ```
/// use auth_core::{Authenticator, MemoryStore, Refusal, RenderRefusal, RenderedBody};
///
/// /// RFC 9457 problem details.
/// #[derive(Debug)]
/// struct Problems;
///
/// impl RenderRefusal for Problems {
///     fn render(&self, refusal: &Refusal) -> RenderedBody {
///         let body = format!(
///             r#"{{"type":"about:blank","status":{},"title":"{}"}}"#,
///             refusal.status(),
///             refusal.code(),
///         );
///         RenderedBody::new("application/problem+json", body)
///     }
/// }
///
/// let auth = Authenticator::builder(MemoryStore::new())
///     .with_refusal_renderer(Problems)
///     .build()?;
/// let answer = auth.render(&Refusal::Forbidden);
/// assert_eq!(answer.status(), 403);
/// assert_eq!(answer.header("content-type"), Some("application/problem+json"));
/// assert_eq!(answer.body(), r#"{"type":"about:blank","status":403,"title":"forbidden"}"#);
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
pub trait RenderRefusal: fmt::Debug + Send + Sync + 'static {
    /// The body of `refusal`, with its content type.
    fn render(&self, refusal: &Refusal) -> RenderedBody;

    /// The page a browser navigating to a page gets for `refusal` (an
    /// HTML "access denied" page, say), or `None` (the default) for
    /// [`render`](Self::render)'s body. A navigation that needs a login is
    /// redirected to sign in instead, when
    /// [`with_login_redirect`](crate::AuthenticatorBuilder::with_login_redirect)
    /// is configured.
    fn render_page(&self, refusal: &Refusal) -> Option<RenderedBody> {
        let _ = refusal;
        None
    }
}

/// A rendered body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedBody {
    pub(crate) content_type: Cow<'static, str>,
    pub(crate) body: Cow<'static, str>,
}

impl RenderedBody {
    /// `body`, sent with `Content-Type: content_type`.
    pub fn new(
        content_type: impl Into<Cow<'static, str>>,
        body: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            content_type: content_type.into(),
            body: body.into(),
        }
    }
}

/// The default renderer: `{"error":"<code>"}` as `application/json`, plus
/// `missing` naming the permission of [`Refusal::InsufficientScope`] and
/// `reason` for [`Refusal::StaleLogin`] (`stale_login`).
///
/// ```
/// use auth_core::{JsonRefusals, Refusal, RenderRefusal};
///
/// let body = JsonRefusals.render(&Refusal::InsufficientScope { missing: "reports:write".into() });
/// # let _ = &body;
/// let answer = auth_core::Authenticator::builder(auth_core::MemoryStore::new())
///     .build()?
///     .render(&Refusal::InsufficientScope { missing: "reports:write".into() });
/// assert_eq!(answer.body(), r#"{"error":"insufficient_scope","missing":"reports:write"}"#);
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonRefusals;

impl RenderRefusal for JsonRefusals {
    fn render(&self, refusal: &Refusal) -> RenderedBody {
        // The common bodies are constants: no allocation on a refusal.
        let body: Cow<'static, str> = match refusal {
            Refusal::Unauthenticated => r#"{"error":"unauthenticated"}"#.into(),
            Refusal::Forbidden => r#"{"error":"forbidden"}"#.into(),
            Refusal::Unavailable => r#"{"error":"unavailable"}"#.into(),
            Refusal::Csrf => r#"{"error":"csrf_rejected"}"#.into(),
            Refusal::StaleLogin => r#"{"error":"login_required","reason":"stale_login"}"#.into(),
            Refusal::Throttled { .. } => r#"{"error":"too_many_attempts"}"#.into(),
            Refusal::InsufficientScope { missing } => {
                serde_json::json!({"error": "insufficient_scope", "missing": &**missing})
                    .to_string()
                    .into()
            }
            other => serde_json::json!({"error": other.code()})
                .to_string()
                .into(),
        };
        RenderedBody::new("application/json", body)
    }
}
