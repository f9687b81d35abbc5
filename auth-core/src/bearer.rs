//! Authenticating a request by an access token: in `Authorization: Bearer`,
//! or in the access-token cookie with the session cookie beside it.
//!
//! A token that verifies is still refused when it is revoked. The
//! revocation list answers without a store read, but only while it is
//! current (every instance's revocations are reaching it); otherwise the
//! token's session is checked in the store, and a token that names no
//! session of this app is refused with 503 rather than accepted blind.

use crate::authenticator::Authenticator;
use crate::credentials::{BearerCredential, SessionCredential};
use crate::error::Error;
use crate::handle::{AuthHandle, CookieAction, Presented};
use crate::identity::{AuthMethod, Identity};
use crate::jwt::JwtError;
use crate::record::ClientMeta;
use crate::record::unix_millis::to_millis;
use crate::refusal::Rejection;
use crate::revocation::Verdict;
use crate::store::StoreError;
use crate::token::SessionId;

/// An access token that verified, with what its revocation check needs.
struct Verified {
    identity: Identity,
    /// Its `iat`, Unix seconds.
    iat: i64,
    /// The session of this app it belongs to (this app's tokens only).
    sid: Option<SessionId>,
    /// The user its revocations are kept under: the local user, or the
    /// external subject with its issuer.
    user: String,
    issuer: Option<String>,
    /// Whether the verifier already consulted the revocation list (this
    /// app's tokens are checked while they are verified).
    list_checked: bool,
}

impl Authenticator {
    /// Decides a request that presented an access token in `credential`
    /// (`method` says where), with `session` the session cookie beside an
    /// access cookie.
    pub(crate) async fn token_request(
        &self,
        credential: BearerCredential,
        method: AuthMethod,
        session: SessionCredential,
        client: ClientMeta,
    ) -> Result<AuthHandle, Error> {
        let from_cookie = method == AuthMethod::AccessCookie;
        let garbage_cookie = matches!(
            session,
            SessionCredential::Malformed(_) | SessionCredential::Conflicting
        );
        let mut presented = Presented {
            session_cookie: !matches!(session, SessionCredential::None),
            access_cookie: from_cookie,
            session: match session {
                SessionCredential::Token(token) => Some(token),
                _ => None,
            },
            access_session: None,
        };
        let BearerCredential::Token(token) = credential else {
            return Ok(self.token_rejected(client, presented, method, "malformed"));
        };
        let verified = match self.verify_access_token(&token, method).await {
            Ok(verified) => verified,
            Err(err) => return Ok(self.token_rejected(client, presented, method, err.as_str())),
        };
        if self.is_revoked(&verified).await? {
            return Ok(self.token_rejected(client, presented, method, JwtError::Revoked.as_str()));
        }
        if from_cookie {
            presented.access_session = verified.sid.clone();
            if let Some(cookie) = &presented.session
                && verified.sid.as_ref().map(SessionId::key) != Some(cookie.key())
            {
                // Two sessions' credentials in one browser: believe
                // neither, and clear both.
                tracing::info!(
                    reason = "conflicting_cookies",
                    "session and access-token cookies of different sessions"
                );
                let handle = AuthHandle::anonymous(
                    self,
                    client,
                    presented,
                    Some(Rejection::ConflictingCookies),
                );
                handle.set_cookie_action(CookieAction::Remove);
                handle.remove_access_cookie();
                return Ok(handle);
            }
        }
        let handle = AuthHandle::bearer(self, client, presented, verified.identity);
        if from_cookie && garbage_cookie {
            handle.set_cookie_action(CookieAction::Remove);
        }
        Ok(handle)
    }

    /// Anonymous after a refused access token; a refused access cookie is
    /// removed.
    fn token_rejected(
        &self,
        client: ClientMeta,
        presented: Presented,
        method: AuthMethod,
        reason: &'static str,
    ) -> AuthHandle {
        tracing::debug!(reason, %method, "access token rejected");
        let handle = AuthHandle::anonymous(
            self,
            client,
            presented,
            Some(Rejection::InvalidToken { reason }),
        );
        if method == AuthMethod::AccessCookie {
            handle.remove_access_cookie();
        }
        handle
    }

    /// Verifies an access token with the verifier of its issuer: this
    /// app's [`AccessTokens`](crate::jwt::AccessTokens), or an external
    /// issuer whose issuer the token's `iss` names (in a boxed future: it
    /// may wait for the provider's keys).
    async fn verify_access_token(
        &self,
        token: &[u8],
        method: AuthMethod,
    ) -> Result<Verified, JwtError> {
        let own = self.inner.access_tokens.as_ref();
        #[cfg(feature = "oidc")]
        if !self.inner.external.is_empty()
            && let Some(iss) = crate::jwt::peek_issuer(token)
            && own.is_none_or(|t| t.issuer() != iss)
            && let Some(external) = self.inner.external.iter().find(|e| e.issuer() == iss)
        {
            let claims = Box::pin(external.verify(token)).await?;
            let local = external.local_user(&claims);
            let (user, issuer) = match &local {
                Some(user) => (user.clone(), None),
                None => (claims.sub.clone(), Some(claims.iss.clone())),
            };
            let iat = claims.iat;
            let mapped = external.mapped_claims(&claims);
            return Ok(Verified {
                identity: Identity::from_external_claims(
                    claims,
                    mapped,
                    &self.inner.grants,
                    method,
                    local,
                ),
                iat,
                sid: None,
                user,
                issuer,
                list_checked: false,
            });
        }
        let Some(tokens) = own else {
            return Err(JwtError::Issuer);
        };
        let claims = tokens.verify::<crate::claims::CustomClaims>(token)?;
        let (iat, user) = (claims.iat, claims.sub.clone());
        let identity =
            Identity::from_claims(claims, &self.inner.grants, method, tokens.issuer_arc());
        Ok(Verified {
            sid: identity.session_id().cloned(),
            identity,
            iat,
            user,
            issuer: None,
            list_checked: true,
        })
    }

    /// Whether a verified token is revoked: by the revocation list while it
    /// is current, by its session in the store otherwise.
    async fn is_revoked(&self, verified: &Verified) -> Result<bool, Error> {
        let Some(revocations) = &self.inner.revocations else {
            return Ok(false);
        };
        let staleness = self.inner.max_staleness;
        let verdict = if verified.list_checked {
            if revocations.is_current(staleness) {
                Verdict::Valid
            } else {
                Verdict::Unsure
            }
        } else {
            revocations.verdict(
                verified.sid.as_ref().map(SessionId::as_str),
                &verified.user,
                verified.issuer.as_deref(),
                verified.iat,
                staleness,
            )
        };
        match verdict {
            Verdict::Revoked => Ok(true),
            Verdict::Valid => Ok(false),
            Verdict::Unsure => match &verified.sid {
                Some(sid) => Ok(!self
                    .session_allows(sid, &verified.user, verified.iat)
                    .await?),
                None => {
                    tracing::warn!(
                        "revocations from other instances may be missing, and the token names no session to check: refused"
                    );
                    Err(StoreError::unavailable("the revocation feed is not current").into())
                }
            },
        }
    }

    /// Whether session `sid` of `user` is live and accepts a token issued
    /// at `iat` (Unix seconds): the check of a token when the revocation
    /// list cannot be trusted alone.
    async fn session_allows(&self, sid: &SessionId, user: &str, iat: i64) -> Result<bool, Error> {
        crate::telemetry::token_store_check();
        let now = self.now();
        Ok(match self.inner.store.load(&sid.key()).await? {
            Some(record) => {
                !record.is_expired(now)
                    && record.user_id == user
                    && record
                        .tokens_not_before
                        .is_none_or(|at| iat.saturating_mul(1000) > to_millis(at))
            }
            None => false,
        })
    }
}
