//! Refresh tokens: the credentials of refresh-kind sessions (refresh
//! families), rotated on every use, with reuse detection.
//!
//! A family is one session record of kind [`SessionKind::Refresh`], with
//! its own idle and absolute lifetimes, that stays under one key however
//! often its token is rotated: what the store holds for a family is
//! bounded. Its token is `<family id>.<generation>.<proof>`, where the
//! proof is an HMAC-SHA256, under the refresh secret, of the id, the
//! generation and a random seed kept in the record. So:
//!
//! - every instance that shares the secret recognises a token, and no
//!   token is ever stored (a store dump holds seeds, which without the
//!   secret make no token; keep the secret out of the store);
//! - a refresh is a compare-and-set of the record from generation `g` to
//!   `g + 1`: of refreshes that race, exactly one rotates. One that
//!   presented generation `g` within the grace window (default 5 s: two
//!   refreshes racing from one client) gets the same successor;
//! - a token of an older generation, which only this server can have
//!   made, is reuse: treated as theft, the whole family (the session and
//!   every token of it, the newest included) is revoked, its access tokens
//!   stop working, and a warning is logged. A token whose proof does not
//!   verify is merely invalid: knowing a family's public id does not let
//!   anyone revoke it;
//! - once the family is revoked (reuse, [`Authenticator::revoke_refresh_token`],
//!   logout everywhere, the session limit), its record is gone and every
//!   compare-and-set fails: no token of it, however new, works again.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;

use super::{IssuedToken, JwtError, Subject};
use crate::authenticator::Authenticator;
use crate::error::Error;
use crate::handle::Login;
use crate::record::{ClientMeta, SessionKind, SessionRecord};
use crate::store::StoreError;
use crate::token::{SessionId, SessionKey, Verifier};

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

    /// The window in which the token just replaced still yields its
    /// successor (default 5 s).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The proof of generation `generation` of family `key` with `seed`.
    fn proof(&self, key: &SessionKey, generation: u64, seed: &Verifier) -> [u8; 32] {
        let mut message = Vec::with_capacity(PROOF_LABEL.len() + 16 + 8 + 32);
        message.extend_from_slice(PROOF_LABEL);
        message.extend_from_slice(key.as_bytes());
        message.extend_from_slice(&generation.to_be_bytes());
        message.extend_from_slice(seed.as_bytes());
        let tag = hmac::sign(&self.secret, &message);
        let mut proof = [0u8; 32];
        proof.copy_from_slice(&tag.as_ref()[..32]);
        proof
    }

    /// The token of generation `generation` of `record`'s family.
    fn token(&self, record: &SessionRecord, generation: u64) -> RefreshToken {
        RefreshToken {
            key: record.key(),
            generation,
            proof: self.proof(&record.key(), generation, &record.verifier),
        }
    }

    /// Whether `token` is one this server made for `record`'s family, in
    /// constant time.
    fn verifies(&self, token: &RefreshToken, record: &SessionRecord) -> bool {
        let expected =
            Verifier::from_bytes(self.proof(&token.key, token.generation, &record.verifier));
        expected.ct_eq(&Verifier::from_bytes(token.proof))
    }
}

/// Domain separation of the proofs.
const PROOF_LABEL: &[u8] = b"auth-kit refresh token v1\0";

/// A presented refresh token, parsed: `<id>.<generation>.<proof>`.
struct RefreshToken {
    key: SessionKey,
    generation: u64,
    proof: [u8; 32],
}

/// Longest generation written in a token: `u64::MAX` has 20 digits.
const MAX_GENERATION_DIGITS: usize = 20;

impl RefreshToken {
    /// Strictly: the id as a session id, the generation in canonical
    /// decimal, the proof as 43 characters of base64url.
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let (id, generation, proof) = (parts.next()?, parts.next()?, parts.next()?);
        let key = id.parse::<SessionId>().ok()?.key();
        if generation.is_empty()
            || generation.len() > MAX_GENERATION_DIGITS
            || !generation.bytes().all(|b| b.is_ascii_digit())
            || (generation.len() > 1 && generation.starts_with('0'))
        {
            return None;
        }
        let generation = generation.parse().ok()?;
        let proof = crate::token::decode_b64url(proof.as_bytes())?
            .try_into()
            .ok()?;
        Some(Self {
            key,
            generation,
            proof,
        })
    }

    fn expose(&self) -> String {
        use base64::Engine as _;
        format!(
            "{}.{}.{}",
            self.key.id(),
            self.generation,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.proof)
        )
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
    /// A token of an older generation was presented again: the family is
    /// revoked.
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

/// How many times a refresh re-reads its family after losing a race.
const REFRESH_ATTEMPTS: usize = 3;

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
                .with_session(record.id.clone())
                .issued_after(record.tokens_not_before),
            crate::claims::for_token(crate::claims::of_session(&record.data)),
        )?)
    }

    fn pair(&self, record: &SessionRecord, generation: u64) -> Result<TokenPair, RefreshError> {
        let (_, policy) = self.refresh_parts()?;
        let access = self.access_for(record)?;
        Ok(TokenPair {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: policy.token(record, generation).expose(),
        })
    }

    /// Logs a user in for an app: a refresh family and a first pair of
    /// tokens. Check the credentials first. The family counts toward the
    /// user's session limit.
    pub async fn issue_tokens(
        &self,
        login: Login,
        client: ClientMeta,
    ) -> Result<TokenPair, RefreshError> {
        let (_, policy) = self.refresh_parts()?;
        let now = self.now();
        let absolute = now + policy.absolute;
        let (user_id, roles, label, data) = login.into_parts();
        let mut client = client;
        client.label = label;
        let record = SessionRecord {
            roles,
            idle_expires_at: (now + policy.idle).min(absolute),
            data,
            client,
            ..SessionRecord::new(
                SessionId::generate().map_err(Error::from)?,
                user_id,
                SessionKind::Refresh,
                Verifier::random().map_err(Error::from)?,
                now,
                absolute,
            )
        };
        self.inner.store.create(&record).await?;
        self.enforce_session_limit(&record, None).await?;
        tracing::info!(session = %record.id, user = %record.user_id.escape_debug(), "token login");
        crate::telemetry::login("refresh");
        self.pair(&record, 0)
    }

    /// Exchanges a refresh token for a new pair, rotating it. See the
    /// [module docs](self) for reuse detection.
    pub async fn refresh_tokens(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let (_, policy) = self.refresh_parts()?;
        let presented = RefreshToken::parse(refresh_token).ok_or(RefreshError::Invalid)?;
        let store = &self.inner.store;
        for _ in 0..REFRESH_ATTEMPTS {
            let now = self.now();
            let Some(record) = store.load(&presented.key).await? else {
                return Err(RefreshError::Invalid);
            };
            if record.kind != SessionKind::Refresh
                || record.is_expired(now)
                || !policy.verifies(&presented, &record)
            {
                tracing::debug!(reason = "invalid_refresh_token", "refresh refused");
                return Err(RefreshError::Invalid);
            }
            let current = record.generation;
            if presented.generation == current {
                let mut next = record.clone();
                next.generation = current + 1;
                next.rotated_at = now;
                next.last_refresh_at = now;
                next.idle_expires_at = (now + policy.idle).min(record.absolute_expires_at);
                match store.update(&next).await {
                    Ok(version) => {
                        next.version = version;
                        return self.pair(&next, next.generation);
                    }
                    // Another refresh of this token rotated first: read
                    // the family again, and answer as it says.
                    Err(StoreError::Conflict) => continue,
                    // Revoked meanwhile.
                    Err(StoreError::NotFound) => return Err(RefreshError::Invalid),
                    Err(err) => return Err(err.into()),
                }
            }
            let within_grace = now - record.rotated_at <= policy.grace;
            if presented.generation + 1 == current && within_grace {
                // Two refreshes from one client crossed: both get the
                // successor.
                return self.pair(&record, current);
            }
            if presented.generation < current {
                tracing::warn!(
                    session = %record.id,
                    user = %record.user_id.escape_debug(),
                    presented = presented.generation,
                    current,
                    "refresh token reuse detected: suspected theft, session revoked"
                );
                self.end_session(&record.key()).await?;
                return Err(RefreshError::Reused);
            }
            // A later generation than the family's: only the secret could
            // have made it.
            tracing::warn!(session = %record.id, "refresh token from the future refused");
            return Err(RefreshError::Invalid);
        }
        Err(RefreshError::Failed(Error::Conflict))
    }

    /// Revokes the refresh token's whole family (RFC 7009). Returns whether
    /// it named a live family; unknown or forged tokens are not an error
    /// and revoke nothing.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<bool, Error> {
        let (Some(presented), Some(policy)) = (
            RefreshToken::parse(refresh_token),
            self.inner.refresh.as_ref(),
        ) else {
            return Ok(false);
        };
        match self.inner.store.load(&presented.key).await? {
            Some(r) if r.kind == SessionKind::Refresh && policy.verifies(&presented, &r) => {
                tracing::info!(session = %r.id, user = %r.user_id.escape_debug(), "refresh token revoked");
                self.end_session(&r.key()).await
            }
            _ => Ok(false),
        }
    }
}
