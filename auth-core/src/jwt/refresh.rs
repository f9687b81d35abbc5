//! Refresh tokens: the credentials of refresh-kind sessions, rotated on
//! every use, with reuse detection.
//!
//! A refresh token is an opaque session token (256 random bits, stored as
//! its SHA-256) whose session is of kind [`SessionKind::Refresh`], with its
//! own idle and absolute lifetimes. Every use rotates it:
//!
//! - the successor token is derived from the presented one with HMAC-SHA256
//!   under the refresh secret, so every instance that shares the secret
//!   computes the same successor and no raw token is ever stored;
//! - the old record becomes a [`SessionKind::Superseded`] marker, kept until
//!   the family's absolute expiry;
//! - presenting a superseded token within the grace window (default 5 s:
//!   two refreshes racing from one client) yields the same successor;
//!   after it, it is treated as theft: the whole family (the session and
//!   every token of it, the newest included) is revoked, its access tokens
//!   stop working, and a warning is logged.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;

use super::{IssuedToken, JwtError, NoClaims, Subject};
use crate::authenticator::Authenticator;
use crate::error::Error;
use crate::handle::Login;
use crate::record::{ClientMeta, SessionKind, SessionLifetime, SessionRecord};
use crate::store::StoreError;
use crate::token::{SessionId, SessionToken};

/// Default idle lifetime of a refresh session: 14 days.
pub const DEFAULT_REFRESH_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);
/// Default absolute lifetime of a refresh session: 90 days.
pub const DEFAULT_REFRESH_ABSOLUTE: Duration = Duration::from_secs(90 * 24 * 3600);
/// Default grace window for racing refreshes: 5 seconds.
pub const DEFAULT_REFRESH_GRACE: Duration = Duration::from_secs(5);

/// Lifetimes and secret of refresh tokens.
#[derive(Clone)]
#[must_use]
pub struct RefreshPolicy {
    pub(crate) idle: Duration,
    pub(crate) absolute: Duration,
    pub(crate) grace: Duration,
    pub(crate) secret: hmac::Key,
}

impl fmt::Debug for RefreshPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshPolicy")
            .field("idle", &self.idle)
            .field("absolute", &self.absolute)
            .field("grace", &self.grace)
            .field("secret", &"REDACTED")
            .finish()
    }
}

impl RefreshPolicy {
    /// Defaults (14 days idle, 90 days absolute, 5 s grace) with a random
    /// secret. Instances that share refresh sessions must share the secret:
    /// use [`with_secret`](Self::with_secret).
    pub fn new() -> Result<Self, super::KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| super::KeyError::Invalid(e.to_string()))?;
        Ok(Self {
            idle: DEFAULT_REFRESH_IDLE,
            absolute: DEFAULT_REFRESH_ABSOLUTE,
            grace: DEFAULT_REFRESH_GRACE,
            secret: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        })
    }

    /// The secret successors are derived with (at least 32 bytes).
    pub fn with_secret(mut self, secret: &[u8]) -> Result<Self, super::KeyError> {
        if secret.len() < 32 {
            return Err(super::KeyError::WeakSecret);
        }
        self.secret = hmac::Key::new(hmac::HMAC_SHA256, secret);
        Ok(self)
    }

    /// Idle and absolute lifetimes of a refresh session.
    pub fn with_lifetimes(mut self, idle: Duration, absolute: Duration) -> Self {
        self.idle = idle;
        self.absolute = absolute.max(idle);
        self
    }

    /// The window in which a just-superseded token still yields its
    /// successor (default 5 s).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    fn successor(&self, token: &SessionToken) -> SessionToken {
        let tag = hmac::sign(&self.secret, token.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&tag.as_ref()[..32]);
        SessionToken::from_bytes(bytes)
    }
}

/// An access token with its refresh token: the answer of a token endpoint.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenPair {
    /// The access token (JWT).
    pub access_token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"REDACTED")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"REDACTED")
            .finish()
    }
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// Unknown, expired, malformed or not a refresh token: `invalid_grant`.
    #[error("invalid refresh token")]
    Invalid,
    /// A superseded token was presented again: the family is revoked.
    #[error("refresh token reused; its session was revoked")]
    Reused,
    /// Access tokens or refresh tokens are not configured.
    #[error("refresh tokens are not configured")]
    NotConfigured,
    /// The store or the signer failed.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<JwtError> for RefreshError {
    fn from(e: JwtError) -> Self {
        tracing::error!(error = %e, "issuing an access token failed");
        Self::NotConfigured
    }
}

const SUPERSEDED_AT: &str = "superseded_at";

impl Authenticator {
    fn refresh_parts(&self) -> Result<(&super::AccessTokens, &RefreshPolicy), RefreshError> {
        match (&self.inner.access_tokens, &self.inner.refresh) {
            (Some(t), Some(r)) => Ok((t, r)),
            _ => Err(RefreshError::NotConfigured),
        }
    }

    fn access_for(&self, record: &SessionRecord) -> Result<IssuedToken, RefreshError> {
        let (tokens, _) = self.refresh_parts()?;
        Ok(tokens.issue(
            &Subject::new(&record.user_id)
                .with_roles(record.roles.iter().cloned())
                .with_session(record.id.clone()),
            &NoClaims {},
        )?)
    }

    fn pair(
        &self,
        record: &SessionRecord,
        refresh: &SessionToken,
    ) -> Result<TokenPair, RefreshError> {
        let access = self.access_for(record)?;
        Ok(TokenPair {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: refresh.expose(),
        })
    }

    /// Logs a user in for an app: a refresh session and a first pair of
    /// tokens. Check the credentials first.
    pub async fn issue_tokens(
        &self,
        login: Login,
        client: ClientMeta,
    ) -> Result<TokenPair, RefreshError> {
        let (_, policy) = self.refresh_parts()?;
        let token = SessionToken::generate().map_err(Error::from)?;
        let now = self.now();
        let absolute = now + policy.absolute;
        let (user_id, roles, label, data) = login.into_parts();
        let mut client = client;
        client.label = label;
        let record = SessionRecord {
            key: token.key(),
            id: SessionId::generate().map_err(Error::from)?,
            user_id,
            kind: SessionKind::Refresh,
            roles,
            created_at: now,
            idle_expires_at: (now + policy.idle).min(absolute),
            absolute_expires_at: absolute,
            last_refresh_at: now,
            data,
            client,
            lifetime: SessionLifetime::Standard,
            version: 1,
        };
        self.inner.store.create(&record).await?;
        tracing::info!(session = %record.id, user = %record.user_id, "token login");
        crate::telemetry::login("refresh");
        self.pair(&record, &token)
    }

    /// Exchanges a refresh token for a new pair, rotating it. See the
    /// [module docs](self) for reuse detection.
    pub async fn refresh_tokens(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let (_, policy) = self.refresh_parts()?;
        let presented =
            SessionToken::parse(refresh_token.as_bytes()).map_err(|_| RefreshError::Invalid)?;
        let store = &self.inner.store;
        let now = self.now();
        let Some(record) = store.load(&presented.key()).await? else {
            return Err(RefreshError::Invalid);
        };
        if record.is_expired(now) {
            return Err(RefreshError::Invalid);
        }
        let successor = policy.successor(&presented);
        match record.kind {
            SessionKind::Refresh => {
                let mut next = record.clone();
                next.key = successor.key();
                next.version = 1;
                next.idle_expires_at = (now + policy.idle).min(record.absolute_expires_at);
                next.last_refresh_at = now;
                match store.create(&next).await {
                    // A racing refresh of the same token got there first; it
                    // created this very successor.
                    Ok(()) | Err(StoreError::DuplicateKey) => {}
                    Err(e) => return Err(e.into()),
                }
                let mut marker = record.clone();
                marker.kind = SessionKind::Superseded;
                marker.data = crate::SessionData::new();
                marker
                    .data
                    .set_value(SUPERSEDED_AT, Some(serde_json::json!(now.unix_timestamp())));
                marker.idle_expires_at = record.absolute_expires_at;
                match store.update(&marker).await {
                    Ok(_) | Err(StoreError::Conflict | StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
                self.pair(&next, &successor)
            }
            SessionKind::Superseded => {
                let at = record
                    .data
                    .get::<i64>(SUPERSEDED_AT)
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                let grace = i64::try_from(policy.grace.as_secs()).unwrap_or(i64::MAX);
                if now.unix_timestamp() - at <= grace
                    && let Some(next) = store.load(&successor.key()).await?
                    && next.kind == SessionKind::Refresh
                    && !next.is_expired(now)
                {
                    return self.pair(&next, &successor);
                }
                tracing::warn!(
                    session = %record.id,
                    user = %record.user_id,
                    "refresh token reuse detected: suspected theft, session revoked"
                );
                self.end_family(&record.user_id, &record.id).await?;
                Err(RefreshError::Reused)
            }
            _ => Err(RefreshError::Invalid),
        }
    }

    /// Revokes the refresh token's whole session (RFC 7009). Returns
    /// whether it named a session; unknown tokens are not an error.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<bool, Error> {
        let Ok(presented) = SessionToken::parse(refresh_token.as_bytes()) else {
            return Ok(false);
        };
        match self.inner.store.load(&presented.key()).await? {
            Some(r) if matches!(r.kind, SessionKind::Refresh | SessionKind::Superseded) => {
                tracing::info!(session = %r.id, user = %r.user_id, "refresh token revoked");
                self.end_family(&r.user_id, &r.id).await
            }
            _ => Ok(false),
        }
    }
}
