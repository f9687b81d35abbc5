//! The ID token of a login (OpenID Connect Core 1.0, 3.1.3.7): signed by
//! one of the provider's keys, issued by it for this client, current, and
//! carrying the nonce of this attempt.

use super::client::SsoClient;
use super::secrets::same_secret;
use crate::jwt::TokenType;
use crate::jwt::oidc::ExternalClaims;

/// Why an ID token was refused; each is a reason for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// The signature, the type, the issuer, the audience or the times.
    #[error("the ID token is invalid: {0}")]
    Invalid(crate::jwt::JwtError),
    /// The `nonce` is missing or not this attempt's.
    #[error("the ID token's nonce is not this login's")]
    Nonce,
    /// The authorized party (`azp`) is another client, or is missing from
    /// a token for several audiences.
    #[error("the ID token was issued to another client")]
    AuthorizedParty,
}

impl SsoClient {
    /// The claims of `token`, an ID token for the attempt with `nonce`.
    pub(super) async fn verify_id_token(
        &self,
        token: &str,
        nonce: &str,
    ) -> Result<ExternalClaims, IdTokenError> {
        let claims: ExternalClaims = self
            .provider()
            .verify_with(|tokens| {
                let payload = tokens.verify_signed(token.as_bytes(), TokenType::Id)?;
                let claims = serde_json::from_slice(&payload)
                    .map_err(|_| crate::jwt::JwtError::Malformed)?;
                // `iss` exactly, `aud` containing the client id, `exp`,
                // `nbf` and `iat` within the leeway.
                tokens.check_claims(claims)
            })
            .await
            .map_err(IdTokenError::Invalid)?;
        let presented = claims.custom.get("nonce").and_then(|n| n.as_str());
        if !presented.is_some_and(|n| same_secret(n, nonce)) {
            return Err(IdTokenError::Nonce);
        }
        let several_audiences = matches!(
            &claims.aud,
            Some(crate::jwt::Audience::Many(all)) if all.len() > 1
        );
        match claims.custom.get("azp").map(|a| a.as_str()) {
            Some(Some(azp)) if azp == self.client_id() => {}
            None if !several_audiences => {}
            _ => return Err(IdTokenError::AuthorizedParty),
        }
        Ok(claims)
    }
}
