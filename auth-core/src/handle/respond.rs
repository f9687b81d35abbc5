//! What the adapter does to the response: after the handler, the cookies
//! to set or remove, `Vary` and `Cache-Control`; on a refusal, the
//! challenges that fit how the caller authenticated.

use super::{AuthHandle, CookieAction, Navigation};
use crate::adapter::CacheControl;
use crate::error::Error;
use crate::identity::AuthMethod;
use crate::refusal::{Refusal, RefusalResponse, Rejection};

/// What an adapter does to the response once the handler has answered,
/// as [`AuthHandle::finish`] decided it: the last step of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct ResponseEdits {
    /// `Set-Cookie` values to append, in order.
    pub(crate) set_cookies: Vec<String>,
    /// Whether the answer depends on the request's credentials: then the
    /// adapter appends [`Authenticator::vary_header`](crate::Authenticator::vary_header) to `Vary` (every
    /// header the credentials are read from).
    pub(crate) vary: bool,
    /// `Cache-Control` to set.
    pub(crate) cache_control: Option<CacheControl>,
}

impl AuthHandle {
    /// The last step of a request, for adapters: saves pending data and
    /// says what to do to the response: the `Set-Cookie` values to send
    /// (a new, refreshed or removed session cookie, a removed access-token
    /// cookie), and the `Vary` and `Cache-Control` an answer that depends
    /// on who asked needs.
    pub(crate) async fn finish(&self) -> Result<ResponseEdits, Error> {
        if !self.shared.state.lock().changes.is_empty() {
            // Boxed: most requests save nothing, and every request's
            // future would otherwise be as large as a save's.
            Box::pin(self.save()).await?;
        }
        let state = self.shared.state.lock();
        let inner = &self.auth.inner;
        let mut edits = ResponseEdits::default();
        match state.cookie {
            CookieAction::None => {}
            CookieAction::Remove => edits.set_cookies.push(inner.cookie.removal_cookie()),
            CookieAction::Set => {
                if let Some(c) = state.data_session() {
                    edits.set_cookies.push(inner.cookie.session_cookie_kept(
                        &c.token.expose(),
                        self.auth.now(),
                        c.record.expires_at(),
                        inner.cookie_is_persistent(c.record.lifetime),
                    ));
                }
            }
        }
        // A login or a logout drops the access token the request carried:
        // it belongs to the session that was.
        if state.remove_access_cookie
            && let Some(policy) = &inner.access_cookie
        {
            edits.set_cookies.push(policy.removal_cookie());
        }
        // A visitor's page may show its data (a cart, a flash message).
        let personal = self.shared.arrived_authenticated
            || state.identity.is_some()
            || state.visitor.is_some();
        edits.vary = personal || !edits.set_cookies.is_empty();
        edits.cache_control = if !edits.set_cookies.is_empty() {
            Some(CacheControl::NoStore)
        } else if personal {
            Some(CacheControl::Private)
        } else {
            None
        };
        Ok(edits)
    }
}

impl AuthHandle {
    /// What `refusal` of this request looks like: the authenticator's
    /// [`render`](crate::Authenticator::render), plus the RFC 6750 `Bearer`
    /// challenges when access tokens are accepted: `error="invalid_token"`
    /// after a bad bearer token, `error="insufficient_scope"` for a bearer
    /// caller lacking a role or a permission (with the permission as
    /// `scope`). A browser navigating to a page is sent to sign in instead
    /// of a 401, when a [login redirect](crate::navigation) is configured,
    /// and gets the renderer's pages for other refusals.
    pub fn render(&self, refusal: &Refusal) -> RefusalResponse {
        let auth = self.authenticator();
        let navigation = self.shared.state.lock().navigation.clone();
        let mut res = match navigation {
            None => auth.render(refusal),
            Some(Navigation { sign_in }) => match (refusal, sign_in) {
                (Refusal::Unauthenticated | Refusal::StaleLogin, Some(location)) => {
                    tracing::debug!(reason = refusal.code(), "browser sent to sign in");
                    return RefusalResponse::see_other(location);
                }
                _ => auth.render_for_browser(refusal),
            },
        };
        if !auth.accepts_bearer() {
            return res;
        }
        let (method, rejection) = self.outcome();
        let bearer = method == Some(AuthMethod::Bearer);
        match refusal {
            Refusal::Unauthenticated => {
                if matches!(rejection, Some(Rejection::InvalidToken { .. })) {
                    res.challenge_first(auth.bearer_challenge(Some("invalid_token")));
                } else {
                    res.challenge_second(auth.bearer_challenge(None));
                }
            }
            Refusal::Forbidden if bearer => {
                res.challenge_first(auth.bearer_challenge(Some("insufficient_scope")));
            }
            Refusal::InsufficientScope { missing } if bearer => {
                res.challenge_first(auth.scope_challenge(missing));
            }
            _ => {}
        }
        res
    }
}
