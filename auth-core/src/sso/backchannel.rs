//! OpenID Connect Back-Channel Logout 1.0: the provider posts a logout
//! token when its user or its session logs out, and every session signed
//! in from it ends here, on every instance.

use std::time::Duration;

use serde::Deserialize;

use super::client::SsoClient;
use super::secrets::fingerprint;
use crate::authenticator::Authenticator;
use crate::error::Error;
use crate::jwt::{Audience, JwtError, TokenType};

/// The event a logout token must carry.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old a logout token may be (by its `iat`) and still be accepted:
/// its `jti` is remembered this long (with the leeway), so a replay is
/// refused for as long as the token would be accepted.
pub const MAX_LOGOUT_TOKEN_AGE: Duration = Duration::from_secs(5 * 60);

/// The claims of a logout token (section 2.4).
#[derive(Deserialize)]
struct LogoutClaims {
    iss: String,
    aud: Audience,
    iat: i64,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    events: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    nonce: Option<serde::de::IgnoredAny>,
}

/// Why a back-channel logout was refused. Answer
/// [`status`](Self::status): 400 for a bad or replayed token (the
/// specification's answer), 501 when the client does not take them, the
/// store error's own (503) when the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelError {
    /// The client was built without
    /// [`with_backchannel_logout`](super::SsoClientBuilder::with_backchannel_logout).
    #[error("back-channel logout is not enabled")]
    NotEnabled,
    /// The logout token failed a check; the reason is for the log.
    #[error("invalid logout token: {0}")]
    Invalid(&'static str),
    /// A logout token with this `jti` was accepted before.
    #[error("the logout token was used before")]
    Replayed,
    /// The store failed: nothing is known to have ended, and the provider
    /// should try again.
    #[error(transparent)]
    Store(#[from] Error),
}

impl BackchannelError {
    /// The HTTP status to answer the provider.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotEnabled => 501,
            Self::Invalid(_) | Self::Replayed => 400,
            Self::Store(err) => err.status(),
        }
    }
}

impl From<crate::store::StoreError> for BackchannelError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Store(err.into())
    }
}

fn invalid(err: JwtError) -> BackchannelError {
    BackchannelError::Invalid(match err {
        JwtError::UnknownKey => "unknown key",
        JwtError::BadSignature => "bad signature",
        JwtError::WrongType => "wrong type",
        JwtError::AlgorithmMismatch => "algorithm mismatch",
        JwtError::TooLarge => "too large",
        _ => "malformed",
    })
}

impl Authenticator {
    /// Handles a back-channel logout from `sso`'s provider: verifies
    /// `logout_token` (the signature with the provider's keys; `iss`;
    /// `aud` naming the client; `iat` at most [`MAX_LOGOUT_TOKEN_AGE`]
    /// old; `exp` when present; a `jti`; the back-channel logout event;
    /// `sid` or `sub`; no `nonce`), refuses a `jti` seen before (on any
    /// instance), and ends every session signed in during the provider's
    /// session `sid` (or, without one, as its subject `sub`), with their
    /// access tokens, on every instance. How many sessions ended.
    pub async fn backchannel_logout(
        &self,
        sso: &SsoClient,
        logout_token: &str,
    ) -> Result<usize, BackchannelError> {
        let result = self.backchannel_logout_inner(sso, logout_token).await;
        match &result {
            Ok(ended) => {
                tracing::info!(issuer = %sso.issuer(), sessions = ended, "back-channel logout")
            }
            Err(err) => {
                tracing::warn!(issuer = %sso.issuer(), reason = %err, "back-channel logout refused")
            }
        }
        result
    }

    async fn backchannel_logout_inner(
        &self,
        sso: &SsoClient,
        logout_token: &str,
    ) -> Result<usize, BackchannelError> {
        let counters = sso
            .inner
            .replay_counters
            .as_ref()
            .ok_or(BackchannelError::NotEnabled)?;
        let provider = sso.provider();
        let payload = provider
            .verify_with(|tokens| tokens.verify_signed(logout_token.as_bytes(), TokenType::Logout))
            .await
            .map_err(invalid)?;
        let claims: LogoutClaims = serde_json::from_slice(&payload)
            .map_err(|_| BackchannelError::Invalid("malformed claims"))?;
        let now = provider.now().unix_timestamp();
        let leeway = i64::try_from(provider.leeway().as_secs()).unwrap_or(i64::MAX);
        let max_age = i64::try_from(MAX_LOGOUT_TOKEN_AGE.as_secs()).unwrap_or(i64::MAX);
        let check = |ok: bool, reason: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(BackchannelError::Invalid(reason))
            }
        };
        check(claims.iss == sso.issuer(), "issuer")?;
        check(claims.aud.contains(sso.client_id()), "audience")?;
        check(
            claims.iat <= now.saturating_add(leeway),
            "issued in the future",
        )?;
        check(
            claims.iat >= now.saturating_sub(max_age + leeway),
            "too old",
        )?;
        check(
            claims
                .exp
                .is_none_or(|exp| now < exp.saturating_add(leeway)),
            "expired",
        )?;
        let event = claims.events.as_ref().and_then(|e| e.get(LOGOUT_EVENT));
        check(
            event.is_some_and(serde_json::Value::is_object),
            "no logout event",
        )?;
        check(claims.nonce.is_none(), "a nonce")?;
        check(
            claims.sid.is_some() || claims.sub.is_some(),
            "neither sid nor sub",
        )?;
        let jti = claims
            .jti
            .as_deref()
            .filter(|j| !j.is_empty())
            .ok_or(BackchannelError::Invalid("no jti"))?;
        // Remembered for as long as the token could be accepted.
        let window = MAX_LOGOUT_TOKEN_AGE + provider.leeway() * 2;
        let key = format!("sso.logout.{}", fingerprint(&[&claims.iss, jti]));
        let (seen, _) = counters.increment(&key, window).await?;
        if seen > 1 {
            return Err(BackchannelError::Replayed);
        }
        let ended = super::links::end_filed(
            self,
            &claims.iss,
            claims.sid.as_deref(),
            claims.sub.as_deref(),
        )
        .await;
        if ended.is_err() {
            // Not done: the provider's retry of this token must be taken.
            let _ = counters.decrement(&key).await;
        }
        Ok(ended?)
    }
}
