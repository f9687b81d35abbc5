//! Building [`AccessTokens`], and the checks of its configuration.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{
    AccessTokens, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_TTL, Inner, JwtConfigError, Key,
    keys,
};
use crate::clock::{Clock, SystemClock};
use crate::revocation::Revocations;

impl AccessTokens {
    /// Starts building for `issuer` (the `iss` of every token; required).
    pub fn builder(issuer: impl Into<String>) -> AccessTokensBuilder {
        AccessTokensBuilder {
            issuer: issuer.into(),
            audience: None,
            keys: Vec::new(),
            signing: None,
            ttl: DEFAULT_TTL,
            leeway: DEFAULT_LEEWAY,
            max_bytes: DEFAULT_MAX_TOKEN_BYTES,
            clock: Arc::new(SystemClock),
            revocations: None,
            untyped: false,
        }
    }
}

/// Builds [`AccessTokens`].
#[must_use]
pub struct AccessTokensBuilder {
    issuer: String,
    audience: Option<String>,
    keys: Vec<Key>,
    signing: Option<String>,
    ttl: Duration,
    leeway: Duration,
    max_bytes: usize,
    clock: Arc<dyn Clock>,
    revocations: Option<Revocations>,
    untyped: bool,
}

impl fmt::Debug for AccessTokensBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokensBuilder")
            .field("issuer", &self.issuer)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl AccessTokensBuilder {
    /// The audience put into tokens and required of them.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The key that signs (it verifies too). The last one given wins.
    pub fn with_signing_key(mut self, key: Key) -> Self {
        self.signing = Some(key.kid.clone());
        self.keys.push(key);
        self
    }

    /// A key that only verifies (an old key during rotation).
    pub fn with_verification_key(mut self, key: Key) -> Self {
        self.keys.push(key.verification_only());
        self
    }

    /// The lifetime of issued tokens (default 5 minutes).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Tolerated clock skew (default 30 seconds).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The largest token accepted, in bytes (default 8 KiB).
    pub fn with_max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The clock (default the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The revocation list consulted on every verification (default a new,
    /// empty one). Share it with the [`Authenticator`](crate::Authenticator)
    /// so logouts reach tokens.
    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Also accepts tokens whose `typ` is `JWT` or absent, as providers that
    /// do not follow RFC 9068 issue them (Keycloak, Auth0). Keep the
    /// audience check on: it is then what tells an access token from an ID
    /// token.
    pub fn accept_untyped(mut self) -> Self {
        self.untyped = true;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<AccessTokens, JwtConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(JwtConfigError::EmptyIssuer);
        }
        if self
            .audience
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(JwtConfigError::EmptyAudience);
        }
        if self.keys.is_empty() {
            return Err(JwtConfigError::NoKeys);
        }
        if self.ttl.is_zero() || self.leeway >= self.ttl {
            return Err(JwtConfigError::Lifetime);
        }
        let mut keys = HashMap::new();
        for key in self.keys {
            let kid = key.kid.clone();
            if keys.insert(kid.clone(), key).is_some() {
                return Err(JwtConfigError::DuplicateKid(kid));
            }
        }
        if let Some(kid) = &self.signing
            && !keys.get(kid).is_some_and(Key::can_sign)
        {
            return Err(JwtConfigError::NotASigningKey);
        }
        let ttl_secs = self.ttl.as_secs().max(1);
        Ok(AccessTokens {
            inner: Arc::new(Inner {
                keys: keys
                    .into_iter()
                    .map(|(kid, key)| {
                        let verifier = keys::Verifier::new(&key);
                        (kid, (key, verifier))
                    })
                    .collect(),
                signing: self.signing,
                issuer_arc: Arc::from(self.issuer.as_str()),
                issuer: self.issuer,
                audience: self.audience,
                ttl: Duration::from_secs(ttl_secs),
                leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
                max_bytes: self.max_bytes,
                clock: self.clock,
                untyped: self.untyped,
                revocations: self
                    .revocations
                    .unwrap_or_else(|| Revocations::new(self.ttl + self.leeway)),
            }),
        })
    }
}
