//! The request flow every adapter drives: before the handler,
//! [`admit`](Exchange::admit); after it, [`respond`](Exchange::respond).

use std::net::IpAddr;
use std::sync::Arc;

use super::request::{Header, Request};
use super::response::CacheControl;
use super::response::Response;
use crate::authenticator::Authenticator;
use crate::csrf::CsrfCapture;
use crate::handle::{AuthHandle, Navigation};
use crate::proxy::TrustedProxies;
use crate::refusal::{Refusal, RefusalResponse};

/// One request's way through authentication, for adapters: read the
/// credentials, authenticate, hand the services behind a gateway their
/// token, check CSRF; then, after the handler, answer its refusal or save
/// the session and edit the response. Every decision is made here, so
/// every framework answers the same bytes; an adapter translates its
/// request and response ([`Request`], [`Response`]) and calls the two
/// steps. Cheap to clone.
///
/// ```
/// use auth_core::adapter::Exchange;
/// use auth_core::{Authenticator, MemoryStore};
///
/// let auth = Authenticator::builder(MemoryStore::new()).build()?;
/// let exchange = Exchange::new(auth).with_client_address(false);
/// assert_eq!(exchange.vary(), "Cookie, Authorization");
/// assert_eq!(exchange.gateway_header(), None);
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Exchange {
    inner: Arc<Settings>,
}

#[derive(Debug, Clone)]
struct Settings {
    auth: Authenticator,
    client_address: bool,
    #[cfg(feature = "jwt")]
    gateway: Option<crate::jwt::GatewayTokens>,
}

/// A handler's refusal, carried on its response from the adapter's error
/// type (`AuthError`) to [`Exchange::respond`], which answers it as the
/// authenticator renders refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerRefusal(pub Refusal);

impl Exchange {
    /// The exchange of `auth`, recording client addresses.
    pub fn new(auth: Authenticator) -> Self {
        Self {
            inner: Arc::new(Settings {
                auth,
                client_address: true,
                #[cfg(feature = "jwt")]
                gateway: None,
            }),
        }
    }

    /// Whether the peer address goes into the device list (default `true`).
    /// Behind a proxy the peer is the proxy; turn it off rather than show
    /// the proxy's address.
    #[must_use]
    pub fn with_client_address(mut self, record: bool) -> Self {
        Arc::make_mut(&mut self.inner).client_address = record;
        self
    }

    /// Gateway mode (feature `jwt`): every authenticated request reaches
    /// the handlers with a short-lived JWT for the services behind the
    /// app, in the header that `gateway` names; the token is minted once
    /// per session and lifetime, not per request. Whatever the client sent
    /// in that header is removed first, so a client can never choose it.
    ///
    /// ```
    /// use auth_core::adapter::Exchange;
    /// use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key};
    /// use auth_core::{Authenticator, MemoryStore};
    ///
    /// let internal = AccessTokens::builder("https://gateway.example")
    ///     .with_audience("internal")
    ///     .with_signing_key(Key::generate("gw-1", Algorithm::EdDSA)?)
    ///     .build()?;
    /// let auth = Authenticator::builder(MemoryStore::new()).build()?;
    /// let exchange = Exchange::new(auth)
    ///     .with_gateway(GatewayTokens::new("X-User-Token", internal)?);
    /// assert_eq!(exchange.gateway_header(), Some("x-user-token"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "jwt")]
    #[must_use]
    pub fn with_gateway(mut self, gateway: crate::jwt::GatewayTokens) -> Self {
        Arc::make_mut(&mut self.inner).gateway = Some(gateway);
        self
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// The `Vary` value of an answer that depends on the credentials:
    /// every header they are read from (`Cookie, Authorization`, then the
    /// custom credential headers). Constant for the exchange's life.
    pub fn vary(&self) -> &str {
        &self.inner.auth.inner.vary
    }

    /// The gateway header's lowercase name, in gateway mode.
    pub fn gateway_header(&self) -> Option<&str> {
        #[cfg(feature = "jwt")]
        return self.inner.gateway.as_ref().map(|g| g.header_name());
        #[cfg(not(feature = "jwt"))]
        None
    }

    /// Before the handler: authenticates `req` and, if it may go on, the
    /// [`AuthHandle`] to attach to it (its `identity()` is the caller, if
    /// any). Anonymous requests go on; guards and extractors refuse them
    /// where a login is required. Otherwise the answer to send instead:
    /// 503 when the store fails (never anonymous, never a logout), 403 for
    /// a cross-site request, 500 when a gateway token cannot be minted.
    pub async fn admit<R: Request>(&self, req: &mut R) -> Result<AuthHandle, RefusalResponse> {
        let auth = &self.inner.auth;
        let proxies = auth.trusted_proxies();
        let address = self
            .inner
            .client_address
            .then(|| client_ip(&*req, proxies).map(|ip| ip.to_string()))
            .flatten();
        // The credentials are read before the client's copy of the gateway
        // header goes (with the gateway in `Authorization`, the client's
        // bearer token still counts), and passed on without a named local:
        // the future would keep a second slot for it.
        let authenticating = auth.authenticate(auth.read_credentials(&*req, address));
        if let Some(header) = self.gateway_header() {
            req.remove_header(Header::Named(header));
        }
        let handle = authenticating
            .await
            .map_err(|error| auth.render(&Refusal::of_error(&error)))?;
        #[cfg(feature = "jwt")]
        if let Some(gateway) = &self.inner.gateway
            && let Some(identity) = handle.identity()
        {
            self.attach_gateway_token(req, gateway, &identity)?;
        }
        if matches!(req.method(), "GET" | "HEAD")
            && crate::navigation::is_navigation(
                req.header(Header::SecFetchMode),
                req.header(Header::Accept),
            )
        {
            handle.set_navigation(Navigation {
                sign_in: auth.login_redirect().map(|r| r.location(&target(&*req))),
            });
        }
        // Read after the authentication, so the capture is not held while
        // the store answers. Boxed: only unsafe requests get here, and the
        // check (which may read the body) would otherwise enlarge every
        // request's future.
        let capture = auth.csrf_capture(
            req.method(),
            req.path(),
            || own_origin(&*req, proxies),
            |name| req.header(Header::Named(name)),
        );
        if let Some(capture) = capture
            && !Box::pin(enforce_csrf(&handle, capture, req)).await
        {
            return Err(handle.render(&Refusal::Csrf));
        }
        Ok(handle)
    }

    /// Puts the gateway token of `identity` into `req`; an answer of 500
    /// when it cannot be minted or sent.
    #[cfg(feature = "jwt")]
    fn attach_gateway_token<R: Request>(
        &self,
        req: &mut R,
        gateway: &crate::jwt::GatewayTokens,
        identity: &crate::Identity,
    ) -> Result<(), RefusalResponse> {
        let refused = || self.inner.auth.render(&Refusal::of_status(500));
        let value = gateway.header_value(identity).map_err(|error| {
            tracing::error!(error = %error, "minting the gateway token failed");
            refused()
        })?;
        if !req.set_header(Header::Named(gateway.header_name()), &value) {
            tracing::error!("the gateway token is not a valid header value");
            return Err(refused());
        }
        Ok(())
    }

    /// After the handler: the answer to its refusal, if it refused (what
    /// its `AuthError` carried, as [`HandlerRefusal`]); otherwise saves
    /// pending session data and edits `res`: the `Set-Cookie` values (a
    /// new, refreshed or removed session cookie, a removed access-token
    /// cookie), `Vary` on the credential headers and `Cache-Control` for
    /// an answer that depends on who asked. A failed save answers 503
    /// instead of the handler's response.
    pub async fn respond<R: Response>(
        &self,
        handle: &AuthHandle,
        handler_refusal: Option<&HandlerRefusal>,
        res: &mut R,
    ) -> Result<(), RefusalResponse> {
        if let Some(HandlerRefusal(refusal)) = handler_refusal {
            return Err(handle.render(refusal));
        }
        let edits = handle.finish().await.map_err(|error| {
            tracing::warn!(error = %error, "saving the session failed; answering with an error");
            handle.render(&Refusal::of_error(&error))
        })?;
        for cookie in edits.set_cookies {
            res.append_set_cookie(cookie);
        }
        if edits.vary {
            res.append_vary();
        }
        match edits.cache_control {
            // A credential is never stored, whatever the handler said.
            Some(value @ CacheControl::NoStore) => res.set_cache_control(value, true),
            // The handler's own choice stands.
            Some(value @ CacheControl::Private) => res.set_cache_control(value, false),
            None => {}
        }
        Ok(())
    }
}

/// The path and query `req` asked for.
fn target<R: Request>(req: &R) -> std::borrow::Cow<'_, str> {
    match req.query() {
        Some(query) => format!("{}?{query}", req.path()).into(),
        None => req.path().into(),
    }
}

/// The client's address: the peer's, or behind trusted `proxies` the one
/// they forwarded.
fn client_ip<R: Request>(req: &R, proxies: Option<&TrustedProxies>) -> Option<IpAddr> {
    let peer = req.peer_ip()?;
    Some(match proxies {
        Some(proxies) => proxies.client_ip(
            peer,
            req.header_values(Header::Named("forwarded")),
            req.header_values(Header::Named("x-forwarded-for")),
        ),
        None => peer,
    })
}

/// The host and scheme `req` was sent to, as the CSRF check compares
/// them with its `Origin`: the `Host` header and no scheme, or behind a
/// trusted proxy what it forwarded. Asked only for unsafe requests.
fn own_origin<'a, R: Request>(
    req: &'a R,
    proxies: Option<&TrustedProxies>,
) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
    let Some(proxies) = proxies else {
        return (req.authority(), None);
    };
    let peer = req.peer_ip();
    let forwarded = |name| proxies.forwarded_value(peer, req.header_values(Header::Named(name)));
    (
        forwarded("x-forwarded-host").or_else(|| req.authority()),
        forwarded("x-forwarded-proto"),
    )
}

/// The CSRF check of `req`, reading its form body if the token is not in a
/// header.
async fn enforce_csrf<R: Request>(handle: &AuthHandle, capture: CsrfCapture, req: &mut R) -> bool {
    handle
        .enforce_csrf(&capture, async |limit| req.read_body(limit).await)
        .await
}
