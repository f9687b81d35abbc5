//! RP-Initiated Logout 1.0: after a session signed in through the
//! provider ends here, the browser may be sent to the provider's
//! `end_session_endpoint` to end the provider's session too.

use super::client::SsoClient;
use super::sign_in::{SIGN_IN_KEY, SignIn};
use crate::handle::AuthHandle;
use crate::navigation::percent_encode;

impl AuthHandle {
    /// Where to send the browser to log out of `sso`'s provider too: its
    /// end-session endpoint with the session's ID token as
    /// `id_token_hint`, the client id, and the client's post-logout
    /// redirect when configured. `None` when the caller's session was not
    /// signed in through this provider, or the provider has no such
    /// endpoint. Call it before [`logout`](Self::logout), which forgets
    /// the session.
    pub async fn sso_logout_url(&self, sso: &SsoClient) -> Option<String> {
        let sign_in = self.get::<SignIn>(SIGN_IN_KEY).ok().flatten()?;
        if sign_in.issuer != sso.issuer() {
            return None;
        }
        let metadata = match sso.provider().metadata().await {
            Ok(metadata) => metadata,
            Err(reason) => {
                tracing::warn!(issuer = %sso.issuer(), %reason, "the provider's end-session endpoint is unknown");
                return None;
            }
        };
        let endpoint = metadata.end_session_endpoint.as_deref()?;
        let mut url = String::from(endpoint);
        url.push(if endpoint.contains('?') { '&' } else { '?' });
        url.push_str("id_token_hint=");
        percent_encode(&sign_in.id_token, &mut url);
        url.push_str("&client_id=");
        percent_encode(sso.client_id(), &mut url);
        if let Some(redirect) = &sso.inner.post_logout_redirect {
            url.push_str("&post_logout_redirect_uri=");
            percent_encode(redirect, &mut url);
        }
        Some(url)
    }
}
