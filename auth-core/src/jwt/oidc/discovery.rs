//! The provider's discovery document (OpenID Connect Discovery 1.0): where
//! its keys are, and the endpoints a login through it uses.

use std::sync::Arc;

use super::{State, is_allowed_url};

/// What this crate reads of a discovery document. Every URL in it is
/// checked like the configured ones (https, or http to a loopback host).
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct ProviderMetadata {
    /// Must equal the configured issuer.
    pub(crate) issuer: String,
    /// The key set.
    pub(crate) jwks_uri: String,
    /// Where a login sends the browser.
    #[serde(default)]
    pub(crate) authorization_endpoint: Option<String>,
    /// Where the authorization code is exchanged.
    #[serde(default)]
    pub(crate) token_endpoint: Option<String>,
    /// Where a logout may send the browser (RP-Initiated Logout 1.0).
    #[serde(default)]
    pub(crate) end_session_endpoint: Option<String>,
}

impl ProviderMetadata {
    fn check(&self, claimed_issuer: &str) -> Result<(), String> {
        if self.issuer.trim_end_matches('/') != claimed_issuer.trim_end_matches('/') {
            return Err(format!(
                "the discovery document names issuer {:?}",
                self.issuer
            ));
        }
        let urls = [
            ("jwks_uri", Some(&self.jwks_uri)),
            (
                "authorization_endpoint",
                self.authorization_endpoint.as_ref(),
            ),
            ("token_endpoint", self.token_endpoint.as_ref()),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
        ];
        for (name, url) in urls {
            if let Some(url) = url
                && !is_allowed_url(url)
            {
                return Err(format!(
                    "the discovery document's {name} {url:?} is not https"
                ));
            }
        }
        Ok(())
    }
}

impl State {
    /// The discovery document: fetched and checked once, then kept (a
    /// failed fetch is tried again by the next caller).
    pub(super) async fn discover(&self) -> Result<Arc<ProviderMetadata>, String> {
        if let Some(known) = self.discovered.lock().clone() {
            return Ok(known);
        }
        let body = self.fetch(&self.discovery_url).await?;
        let metadata: ProviderMetadata =
            serde_json::from_str(&body).map_err(|e| format!("bad discovery document: {e}"))?;
        metadata.check(&self.claimed_issuer)?;
        let metadata = Arc::new(metadata);
        *self.discovered.lock() = Some(metadata.clone());
        Ok(metadata)
    }
}
