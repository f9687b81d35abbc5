use auth_core::Authenticator;
use auth_core::adapter::Exchange;
use tower_layer::Layer;

use super::AuthService;

/// The authentication layer: authenticates every request, attaches the
/// caller, and applies the session decisions to the response.
///
/// For each request, the [`AuthService`] it makes:
/// 1. reads the `Cookie` headers, `User-Agent` and the client address
///    (axum's `ConnectInfo<SocketAddr>` or a `SocketAddr` extension);
/// 2. asks the [`Authenticator`](auth_core::Authenticator) who is calling:
///    one store read, plus a refresh write once the threshold has passed;
/// 3. inserts the [`AuthHandle`](auth_core::AuthHandle) into the request's
///    extensions; its [`identity`](auth_core::AuthHandle::identity) is the
///    caller, if any;
/// 4. runs the inner service;
/// 5. saves pending session data and applies what the core decided
///    ([`Exchange::respond`](auth_core::adapter::Exchange::respond)): the
///    `Set-Cookie` values, `Vary` on the credential headers, and
///    `Cache-Control`.
///
/// A store failure answers 503 with `Retry-After` before the inner service
/// runs (or instead of its response, if saving failed afterwards): never as
/// anonymous, never as a logout.
///
/// The layer does not refuse anonymous requests; put
/// [`Require`](crate::Require) or the
/// [`CurrentUser`](crate::CurrentUser) extractor where login is required.
///
/// ```
/// use axum::{Router, routing::get};
/// use auth_core::{Authenticator, MemoryStore};
/// use auth_tower::{AuthLayer, CurrentUser};
///
/// async fn me(CurrentUser(user): CurrentUser) -> String {
///     user.user_id().to_owned()
/// }
///
/// let auth = Authenticator::builder(MemoryStore::new()).build()?;
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .layer(AuthLayer::new(auth));
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer {
    exchange: Exchange,
}

impl AuthLayer {
    /// A layer that authenticates with `auth`.
    pub fn new(auth: Authenticator) -> Self {
        Self {
            exchange: Exchange::new(auth),
        }
    }

    /// Whether the peer address goes into the device list (default `true`),
    /// read from axum's `ConnectInfo<SocketAddr>` (feature `axum`) or a
    /// `SocketAddr` request extension. Behind a proxy the peer is the
    /// proxy; turn it off rather than show the proxy's address.
    #[must_use]
    pub fn with_client_address(mut self, record: bool) -> Self {
        self.exchange = self.exchange.with_client_address(record);
        self
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
        self.exchange = self.exchange.with_gateway(gateway);
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, self.exchange.clone())
    }
}
