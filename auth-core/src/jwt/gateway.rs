//! Gateway tokens: a short-lived JWT for the services behind the app,
//! minted once per session and token lifetime.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

use super::{AccessTokens, JwtError, Subject};
use crate::identity::Identity;

/// Default bound on cached tokens; past it, expired ones are dropped and,
/// if that is not enough, the cache starts over.
pub const DEFAULT_GATEWAY_CAPACITY: usize = 100_000;

#[derive(Clone)]
struct Cached {
    user: Arc<str>,
    roles: Vec<String>,
    value: Arc<str>,
    /// Mint a new one from this Unix second on.
    renew_at: i64,
    expires_at: i64,
}

/// Mints the token that a gateway passes to the services behind it: for a
/// caller authenticated by session (or by a bearer token), a JWT from
/// `tokens` (own issuer, audience and key for internal services, if you
/// like) naming the user, roles and session.
///
/// A token is reused for the same session (and the same user and roles)
/// until three quarters of its lifetime have passed, so signing happens
/// once per session and lifetime, not once per request. The adapters put it
/// in a request header of the app's choosing ([`header_name`](Self::header_name)),
/// after removing any copy the client sent.
///
/// ```
/// use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key};
///
/// let internal = AccessTokens::builder("https://gateway.example")
///     .with_audience("internal")
///     .with_signing_key(Key::generate("gw-1", Algorithm::EdDSA)?)
///     .build()?;
/// let gateway = GatewayTokens::new("x-user-token", internal)?;
/// assert_eq!(gateway.header_name(), "x-user-token");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct GatewayTokens {
    header: Arc<str>,
    bearer: bool,
    tokens: AccessTokens,
    capacity: usize,
    /// Shared by clones.
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

impl fmt::Debug for GatewayTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayTokens")
            .field("header", &self.header)
            .field("cached", &self.cached())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Why a [`GatewayTokens`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayConfigError {
    /// The header name is empty or not an HTTP token.
    #[error("the gateway header name must be a non-empty HTTP token")]
    HeaderName,
    /// The tokens have no signing key.
    #[error("gateway tokens need a signing key")]
    NoSigningKey,
}

impl GatewayTokens {
    /// Tokens from `tokens` (which must have a signing key) in request
    /// header `header` (case-insensitive; stored lowercase). In
    /// `Authorization` the value is `Bearer <jwt>`, in any other header the
    /// bare JWT.
    pub fn new(header: &str, tokens: AccessTokens) -> Result<Self, GatewayConfigError> {
        let header = header.to_ascii_lowercase();
        if header.is_empty() || !header.bytes().all(crate::cookie::is_token_char) {
            return Err(GatewayConfigError::HeaderName);
        }
        if !tokens.can_sign() {
            return Err(GatewayConfigError::NoSigningKey);
        }
        Ok(Self {
            bearer: header == "authorization",
            header: header.into(),
            tokens,
            capacity: DEFAULT_GATEWAY_CAPACITY,
            cache: Arc::default(),
        })
    }

    /// Bounds the number of cached tokens (default
    /// [`DEFAULT_GATEWAY_CAPACITY`]).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The request header, lowercase.
    pub fn header_name(&self) -> &str {
        &self.header
    }

    /// The tokens minted from.
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// How many tokens are cached.
    pub fn cached(&self) -> usize {
        self.cache.read().len()
    }

    /// The header value for `identity`: cached while it has more than a
    /// quarter of its lifetime left, minted otherwise. Never log it.
    pub fn header_value(&self, identity: &Identity) -> Result<Arc<str>, JwtError> {
        let inner = self;
        let now = inner.tokens.now();
        let cache_key = match identity.session_id() {
            Some(sid) => format!("s:{sid}"),
            None => format!("u:{}", identity.user_id()),
        };
        let fits = |c: &Cached| {
            now < c.renew_at && &*c.user == identity.user_id() && c.roles == identity.roles()
        };
        if let Some(hit) = inner.cache.read().get(&cache_key).filter(|c| fits(c)) {
            return Ok(hit.value.clone());
        }
        let mut subject = Subject::new(identity.user_id())
            .with_roles(identity.roles())
            .issued_after(identity.tokens_not_before());
        if let Some(sid) = identity.session_id() {
            subject = subject.with_session(sid.clone());
        }
        let issued = inner
            .tokens
            .issue(&subject, crate::claims::for_token(identity.claims()))?;
        let value: Arc<str> = if inner.bearer {
            format!("Bearer {}", issued.token).into()
        } else {
            issued.token.into()
        };
        let lifetime = issued.expires_at - now;
        let entry = Cached {
            user: identity.user_id().into(),
            roles: identity.roles().to_vec(),
            value: value.clone(),
            renew_at: issued.expires_at - lifetime / 4,
            expires_at: issued.expires_at,
        };
        let mut cache = inner.cache.write();
        if cache.len() >= inner.capacity && !cache.contains_key(&cache_key) {
            cache.retain(|_, c| c.expires_at > now);
            if cache.len() >= inner.capacity {
                tracing::debug!(
                    capacity = inner.capacity,
                    "gateway token cache full; starting over"
                );
                cache.clear();
            }
        }
        cache.insert(cache_key, entry);
        Ok(value)
    }
}
