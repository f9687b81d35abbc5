use auth_core::Authenticator;
use tower_layer::Layer;

use super::AuthService;
use super::service::Gateway;

/// Applies [`AuthService`] to a service. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Authenticator,
    gateway: Option<Gateway>,
}

impl AuthLayer {
    /// A layer that authenticates with `auth`.
    pub fn new(auth: Authenticator) -> Self {
        Self {
            auth,
            gateway: None,
        }
    }

    /// Gateway mode (feature `jwt`): every authenticated request reaches the
    /// inner service with a short-lived JWT for the services behind it, in
    /// the header that `gateway` names; the token is minted once per
    /// session and lifetime, not per request. Whatever the client sent in
    /// that header is removed first, so a client can never choose it.
    ///
    /// ```
    /// use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key};
    /// use auth_core::{Authenticator, MemoryStore};
    /// use auth_tower::AuthLayer;
    ///
    /// let internal = AccessTokens::builder("https://gateway.example")
    ///     .with_audience("internal")
    ///     .with_signing_key(Key::generate("gw-1", Algorithm::EdDSA)?)
    ///     .build()?;
    /// let auth = Authenticator::builder(MemoryStore::new()).build()?;
    /// let layer = AuthLayer::new(auth)
    ///     .with_gateway(GatewayTokens::new("x-user-token", internal)?);
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "jwt")]
    #[must_use]
    pub fn with_gateway(mut self, gateway: auth_core::jwt::GatewayTokens) -> Self {
        self.gateway = Some(Gateway::new(gateway));
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut service = AuthService::new(inner, self.auth.clone());
        service.gateway = self.gateway.clone();
        service
    }
}
