//! [`UpstreamTokens`]: a service behind a gateway accepts the token the
//! gateway put in a request header, verified with the gateway's published
//! keys, and nothing else; it keeps no sessions of its own.

use async_trait::async_trait;

use super::ExternalIssuer;
use crate::custom::CustomAuthenticator;
use crate::identity::{AuthMethod, Identity, RolePermissions};
use crate::store::StoreError;

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
        Ok(Self { header, issuer })
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
