//! Access tokens for the browser: issuing one for the cookie session, and
//! the access-token cookie that carries it.

use time::OffsetDateTime;

use crate::authenticator::Authenticator;
use crate::handle::AuthHandle;

impl Authenticator {
    /// The `Set-Cookie` value that hands `token` to the browser in the
    /// access-token cookie (`HttpOnly`, `Max-Age` the token's lifetime);
    /// `None` unless [`with_access_token_cookie`](crate::AuthenticatorBuilder::with_access_token_cookie)
    /// is configured.
    pub fn access_token_cookie(&self, token: &crate::jwt::IssuedToken) -> Option<String> {
        let policy = self.inner.access_cookie.as_ref()?;
        let now = self.now();
        let expires_at = OffsetDateTime::from_unix_timestamp(token.expires_at).unwrap_or(now);
        Some(policy.session_cookie_kept(&token.token, now, expires_at, true))
    }
}

impl AuthHandle {
    /// An access token for the cookie session of this request (its user,
    /// roles and session id), for the app to hand to the browser in the
    /// access-token cookie ([`Authenticator::access_token_cookie`]) or to
    /// a script. `Ok(None)` without a cookie session; an error without a
    /// signing key. Logging the session out revokes the token.
    pub fn issue_access_token(
        &self,
    ) -> Result<Option<crate::jwt::IssuedToken>, crate::jwt::JwtError> {
        let Some(tokens) = self.auth.access_tokens() else {
            return Err(crate::jwt::JwtError::NoSigningKey);
        };
        let subject = {
            let state = self.shared.state.lock();
            let Some(current) = &state.current else {
                return Ok(None);
            };
            let subject = crate::jwt::Subject::new(current.record.user_id.clone())
                .with_roles(current.record.roles.iter().cloned())
                .with_session(current.record.id.clone())
                .issued_after(current.record.tokens_not_before);
            (subject, current.record.clone())
        };
        let (subject, record) = subject;
        let custom = crate::claims::for_token(crate::claims::of_session(&record.data));
        tokens.issue(&subject, custom).map(Some)
    }
}
