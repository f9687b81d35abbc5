//! [`UpstreamTokens`]: a service behind a gateway accepts the token the
//! gateway put in a request header, verified with the gateway's published
//! keys, and nothing else; it keeps no sessions of its own.

use std::time::Duration;

use async_trait::async_trait;

use super::ExternalIssuer;
use crate::custom::CustomAuthenticator;
use crate::identity::{AuthMethod, Identity, RolePermissions};
use crate::revocation::{DEFAULT_MAX_STALENESS, Revocations, Subscription, Verdict};
use crate::store::{Announcements, StoreError};

/// Accepts the tokens a gateway in front of this service mints
/// ([`GatewayTokens`](crate::jwt::GatewayTokens)) from the header it puts
/// them in, verified with the gateway's keys (its JWKS URL, refreshed as
/// for any [`ExternalIssuer`]), its issuer and the audience of internal
/// services. The gateway's users are this service's: the identity is the
/// token's subject, with its roles, as a local user.
///
/// A custom authenticator, so it works in every adapter and answers 401
/// for a missing, forged or expired token. The gateway removes any copy of
/// the header a client sent, so only the gateway's token reaches here;
/// keep the service unreachable except through it.
///
/// A gateway token stays valid for its (short) lifetime after its session
/// ends, unless the service also hears the gateway's revocation
/// announcements ([`with_revocations`](Self::with_revocations)).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use auth_core::jwt::oidc::{ExternalIssuer, UpstreamTokens};
/// use auth_core::{Authenticator, MemoryStore};
///
/// let gateway = ExternalIssuer::builder("auth-demo-gateway", "internal")
///     .with_jwks_url("http://127.0.0.1:3000/.well-known/gateway-jwks.json")
///     .build()?;
/// let auth = Authenticator::builder(MemoryStore::new())
///     .with_authenticator(UpstreamTokens::new("x-user-token", gateway)?)
///     .build()?;
/// # let _ = auth; Ok(()) }
/// ```
#[derive(Debug)]
pub struct UpstreamTokens {
    header: &'static str,
    issuer: ExternalIssuer,
    revocations: Option<Heard>,
}

/// The gateway's revocations, as its store announces them.
#[derive(Debug)]
struct Heard {
    list: Revocations,
    _subscription: Subscription,
}

/// Why an [`UpstreamTokens`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamTokensError {
    /// The header name is empty, not lowercase or not an HTTP token.
    #[error("{0:?} is not a lowercase HTTP header name")]
    HeaderName(&'static str),
}

impl UpstreamTokens {
    /// Tokens of `issuer` (the gateway: its issuer name, the audience of
    /// internal services, its JWKS) in the request header `header`
    /// (lowercase).
    pub fn new(header: &'static str, issuer: ExternalIssuer) -> Result<Self, UpstreamTokensError> {
        if !crate::custom::is_header_name(header) {
            return Err(UpstreamTokensError::HeaderName(header));
        }
        Ok(Self {
            header,
            issuer,
            revocations: None,
        })
    }

    /// Also refuses the tokens of sessions and users the gateway revoked
    /// (a logout, logout everywhere, a password or role change), heard
    /// through the announcements of the gateway's store (for Redis, the
    /// same server and key prefix as the gateway's `RedisStore`), so that
    /// a logout reaches this service at once instead of when the token
    /// expires. Fails closed: while the announcements are not arriving (or
    /// are more than 15 s behind), every token is refused with a store
    /// error (503), since this service has no sessions to check instead.
    ///
    /// Subscribes at once, on the current Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use auth_core::jwt::oidc::{ExternalIssuer, UpstreamTokens};
    /// use auth_core::MemoryStore;
    ///
    /// // In production, the gateway's store: `RedisStore` on its server.
    /// let gateways_store = MemoryStore::new();
    /// let gateway = ExternalIssuer::builder("auth-demo-gateway", "internal")
    ///     .with_jwks_url("http://127.0.0.1:3000/.well-known/gateway-jwks.json")
    ///     .build()?;
    /// let tokens = UpstreamTokens::new("x-user-token", gateway)?
    ///     .with_revocations(&gateways_store)?;
    /// # let _ = tokens; Ok(()) }
    /// ```
    pub fn with_revocations(
        mut self,
        announcements: &dyn Announcements,
    ) -> Result<Self, StoreError> {
        // Entries outlive every token they could refuse.
        let list = Revocations::new(self.issuer.max_token_lifetime() + Duration::from_secs(60));
        let subscription = announcements.subscribe(&list)?;
        self.revocations = Some(Heard {
            list,
            _subscription: subscription,
        });
        Ok(self)
    }
}

#[async_trait]
impl CustomAuthenticator for UpstreamTokens {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn header(&self) -> &'static str {
        self.header
    }

    async fn authenticate(&self, credential: &str) -> Result<Option<Identity>, StoreError> {
        let claims = match self.issuer.verify(credential.as_bytes()).await {
            Ok(claims) => claims,
            Err(reason) => {
                tracing::debug!(%reason, issuer = %self.issuer.issuer(), "gateway token refused");
                return Ok(None);
            }
        };
        if let Some(heard) = &self.revocations {
            // The gateway revokes its own users' tokens: by the token's
            // session and subject, as it issued them.
            match heard.list.verdict(
                claims.sid.as_deref(),
                &claims.sub,
                None,
                claims.iat,
                DEFAULT_MAX_STALENESS,
            ) {
                Verdict::Valid => {}
                Verdict::Revoked => {
                    tracing::debug!(issuer = %self.issuer.issuer(), "gateway token revoked");
                    return Ok(None);
                }
                Verdict::Unsure => {
                    return Err(StoreError::unavailable(
                        "the gateway's revocation announcements are not arriving",
                    ));
                }
            }
        }
        let local = Some(
            self.issuer
                .local_user(&claims)
                .unwrap_or_else(|| claims.sub.clone()),
        );
        let mapped = self.issuer.mapped_claims(&claims);
        Ok(Some(Identity::from_external_claims(
            claims,
            mapped,
            &RolePermissions::new(),
            AuthMethod::Custom("gateway"),
            local,
        )))
    }
}
