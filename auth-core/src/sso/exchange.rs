//! The authorization code exchanged at the provider's token endpoint
//! (OAuth 2.0, section 4.1.3, with the PKCE verifier of RFC 7636).

use base64::Engine as _;

use super::client::{ClientAuth, SsoClient};
use super::login::SsoLoginError;
use crate::navigation::percent_encode;

/// The part of the token endpoint's answer a login uses.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// The error a token endpoint answers (OAuth 2.0, section 5.2).
#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
}

impl SsoClient {
    /// The ID token the provider gives for `code`, proven with `verifier`.
    pub(super) async fn exchange(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<String, SsoLoginError> {
        let inner = &self.inner;
        let metadata = self
            .provider()
            .metadata()
            .await
            .map_err(SsoLoginError::ProviderUnavailable)?;
        let endpoint = metadata.token_endpoint.as_deref().ok_or_else(|| {
            SsoLoginError::ProviderUnavailable("the provider names no token endpoint".into())
        })?;
        let mut form = String::new();
        let mut field = |name: &str, value: &str| {
            if !form.is_empty() {
                form.push('&');
            }
            form.push_str(name);
            form.push('=');
            percent_encode(value, &mut form);
        };
        field("grant_type", "authorization_code");
        field("code", code);
        field("redirect_uri", &inner.redirect_url);
        field("code_verifier", verifier);
        let mut authorization = None;
        match &inner.client_auth {
            ClientAuth::Public => field("client_id", &inner.client_id),
            ClientAuth::SecretPost(secret) => {
                field("client_id", &inner.client_id);
                field("client_secret", secret);
            }
            ClientAuth::SecretBasic(secret) => {
                // RFC 6749, 2.3.1: both parts form-encoded before Basic.
                let mut pair = String::new();
                percent_encode(&inner.client_id, &mut pair);
                pair.push(':');
                percent_encode(secret, &mut pair);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                authorization = Some(format!("Basic {encoded}"));
            }
        }
        let (status, body) = self
            .provider()
            .post_form(endpoint, authorization.as_deref(), &form)
            .await
            .map_err(SsoLoginError::ProviderUnavailable)?;
        if !(200..300).contains(&status) {
            let error = serde_json::from_str::<ErrorAnswer>(&body)
                .ok()
                .and_then(|e| e.error)
                .unwrap_or_else(|| format!("status {status}"));
            return Err(SsoLoginError::ExchangeRefused(error));
        }
        let answer: TokenAnswer = serde_json::from_str(&body).map_err(|_| {
            SsoLoginError::ExchangeRefused("the token endpoint's answer is not JSON".into())
        })?;
        answer
            .id_token
            .ok_or_else(|| SsoLoginError::ExchangeRefused("no id_token in the answer".into()))
    }
}
