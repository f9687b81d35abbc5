//! The CSRF check of a request: what the exchange captures before the
//! handler runs, and the verdict on it.

use super::{CsrfFailure, CsrfRequest, CsrfVerdict};
use crate::authenticator::Authenticator;
use crate::handle::AuthHandle;
use crate::identity::AuthMethod;

impl Authenticator {
    /// What the CSRF check needs from a request, for adapters: `None`
    /// without a [`CsrfPolicy`](crate::csrf::CsrfPolicy) or for a safe
    /// method, and then nothing is read or copied. `host` (the `Host`
    /// header or, on HTTP/2, the URI's authority) is asked only for an
    /// unsafe method; `header` reads a header by lowercase name.
    pub(crate) fn csrf_capture<'a>(
        &self,
        method: &str,
        path: &str,
        origin: impl FnOnce() -> (Option<&'a [u8]>, Option<&'a [u8]>),
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Option<super::CsrfCapture> {
        let policy = self.csrf()?;
        if !super::is_unsafe_method(method) {
            return None;
        }
        Some(super::CsrfCapture::read(
            policy,
            method,
            path,
            origin(),
            header,
        ))
    }
}

impl AuthHandle {
    /// The CSRF token of the current cookie session (after any login in
    /// this request), for the app to embed in its forms or hand to its
    /// scripts; `None` without a [`CsrfPolicy`](crate::csrf::CsrfPolicy)
    /// or a cookie session. Never log it.
    pub fn csrf_token(&self) -> Option<String> {
        let policy = self.authenticator().csrf()?;
        self.csrf_session().and_then(|id| policy.token_for(&id))
    }

    /// The CSRF check of this request (see [`csrf`](crate::csrf)), which
    /// the adapters run before the handler. Refusals are logged.
    pub(crate) fn check_csrf(&self, request: &CsrfRequest<'_>) -> CsrfVerdict {
        let Some(policy) = self.authenticator().csrf() else {
            return CsrfVerdict::Allow;
        };
        if !super::is_unsafe_method(request.method) {
            return CsrfVerdict::Allow;
        }
        // Credentials a browser never sends on its own need no protection.
        let explicit = matches!(
            self.outcome().0,
            Some(AuthMethod::Bearer | AuthMethod::Custom(_))
        );
        if explicit {
            return CsrfVerdict::Allow;
        }
        let session = self.csrf_session().filter(|_| policy.has_tokens());
        let secure = self.authenticator().cookie_policy().secure();
        if let Err(failure) = policy.check_origin(request, secure) {
            return self.csrf_denied(request.method, failure);
        }
        let Some(id) = session else {
            return CsrfVerdict::Allow;
        };
        if policy.is_token_exempt(request.path) {
            return CsrfVerdict::Allow;
        }
        match request.token {
            Some(token) if policy.verify(&id, token) => CsrfVerdict::Allow,
            Some(_) => self.csrf_denied(request.method, CsrfFailure::BadToken),
            None if request.form => CsrfVerdict::ReadForm,
            None => self.csrf_denied(request.method, CsrfFailure::MissingToken),
        }
    }

    /// The last step after [`CsrfVerdict::ReadForm`]: the token in the
    /// urlencoded `body`. `body` is `None` when it was larger than
    /// [`max_form_bytes`](crate::csrf::CsrfPolicy::max_form_bytes).
    pub(crate) fn check_csrf_form(&self, method: &str, body: Option<&[u8]>) -> CsrfVerdict {
        let Some(policy) = self.authenticator().csrf() else {
            return CsrfVerdict::Allow;
        };
        let Some(body) = body else {
            return self.csrf_denied(method, CsrfFailure::FormTooLarge);
        };
        let Some(id) = self.csrf_session().filter(|_| policy.has_tokens()) else {
            return CsrfVerdict::Allow;
        };
        match super::form_field(body, policy.form_field()) {
            Some(token) if policy.verify(&id, &token) => CsrfVerdict::Allow,
            Some(_) => self.csrf_denied(method, CsrfFailure::BadToken),
            None => self.csrf_denied(method, CsrfFailure::MissingToken),
        }
    }

    /// The whole CSRF check as an adapter runs it: the headers, then, if
    /// the token was not in one, the form body, which `read_form` reads (at
    /// most the limit it is given; `None` if larger) and puts back for the
    /// handler. `false`: refuse with [`Refusal::Csrf`](crate::Refusal::Csrf).
    pub(crate) async fn enforce_csrf<B: AsRef<[u8]>>(
        &self,
        capture: &super::CsrfCapture,
        read_form: impl AsyncFnOnce(usize) -> Option<B>,
    ) -> bool {
        let mut verdict = self.check_csrf(&capture.request());
        if verdict == CsrfVerdict::ReadForm {
            let limit = self
                .authenticator()
                .csrf()
                .map_or(0, |p| p.max_form_bytes());
            let body = read_form(limit).await;
            verdict = self.check_csrf_form(capture.method(), body.as_ref().map(AsRef::as_ref));
        }
        verdict == CsrfVerdict::Allow
    }

    fn csrf_denied(&self, method: &str, failure: CsrfFailure) -> CsrfVerdict {
        crate::telemetry::csrf_rejection(failure.as_str());
        let user = self
            .identity()
            .map(|i| i.user_id().escape_debug().to_string());
        tracing::info!(
            reason = failure.as_str(),
            method,
            user = user.as_deref().unwrap_or("-"),
            "request refused as cross-site"
        );
        CsrfVerdict::Deny(failure)
    }
}
