//! Building an [`ExternalIssuer`]: its settings, checked when it is built,
//! which starts the background refresh of its keys.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::{
    ClaimPath, ExternalClaims, ExternalIssuer, HttpFetcher, JwksFetcher, LocalUsers, OidcError,
    State, is_allowed_url, refresh_loop,
};
use crate::clock::Clock;

/// Builds an [`ExternalIssuer`].
#[must_use]
pub struct ExternalIssuerBuilder {
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) jwks_url: Option<String>,
    pub(super) refresh_interval: Duration,
    pub(super) max_refreshes_per_minute: usize,
    pub(super) fetch_timeout: Duration,
    pub(super) leeway: Duration,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) fetcher: Option<Arc<dyn JwksFetcher>>,
    pub(super) untyped: bool,
    pub(super) local_users: Option<Arc<LocalUsers>>,
    pub(super) max_token_lifetime: Duration,
    pub(super) role_paths: Vec<ClaimPath>,
    pub(super) permission_paths: Vec<ClaimPath>,
}

impl fmt::Debug for ExternalIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalIssuerBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl ExternalIssuerBuilder {
    /// Fetches keys from this JWKS URL instead of discovering it.
    pub fn with_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// How often keys are refreshed in the background (default 10 min).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// At most this many refreshes a minute triggered by unknown key ids
    /// (default 6; at least 1).
    pub fn with_max_refreshes_per_minute(mut self, max: usize) -> Self {
        self.max_refreshes_per_minute = max.max(1);
        self
    }

    /// The timeout of one fetch (default 5 s).
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Tolerated clock skew (default 30 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock (default the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Fetches with `fetcher` instead of [`HttpFetcher`].
    pub fn with_fetcher(mut self, fetcher: impl JwksFetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Also accepts access tokens typed `JWT` or untyped, as Keycloak and
    /// Auth0 issue them. Keep the audience narrow: with ID tokens refused
    /// by their claims, it is what tells this API's tokens from others.
    pub fn accept_untyped(mut self) -> Self {
        self.untyped = true;
        self
    }

    /// Maps the provider's tokens to users of this application: `map`
    /// returns the local user id for a token's claims (say, from a verified
    /// `email` claim), or `None` to leave it an external identity. A
    /// mapped identity is that local user in every respect: its sessions,
    /// its revocations.
    pub fn with_local_users(
        mut self,
        map: impl Fn(&ExternalClaims) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.local_users = Some(Arc::new(map));
        self
    }

    /// Also takes roles from the claim at `path` ([`ClaimPath`]):
    /// `realm_access.roles` (Keycloak's realm roles),
    /// `resource_access.my-api.roles` (a Keycloak client's roles),
    /// `https://example.com/roles` (an Auth0 namespaced claim). The
    /// `roles` claim always counts; several paths add up.
    ///
    /// ```
    /// use auth_core::jwt::oidc::ExternalIssuer;
    ///
    /// let keycloak = ExternalIssuer::builder("https://sso.example/realms/main", "my-api")
    ///     .with_roles_claim("realm_access.roles")?
    ///     .with_roles_claim("resource_access.my-api.roles")?;
    /// # let _ = keycloak;
    /// # Ok::<(), auth_core::jwt::oidc::OidcError>(())
    /// ```
    pub fn with_roles_claim(mut self, path: &str) -> Result<Self, OidcError> {
        let path = ClaimPath::new(path).ok_or_else(|| OidcError::ClaimPath(path.into()))?;
        self.role_paths.push(path);
        Ok(self)
    }

    /// Also takes permissions from the claim at `path`, beside `scope` and
    /// `permissions` (see [`with_roles_claim`](Self::with_roles_claim)).
    pub fn with_permissions_claim(mut self, path: &str) -> Result<Self, OidcError> {
        let path = ClaimPath::new(path).ok_or_else(|| OidcError::ClaimPath(path.into()))?;
        self.permission_paths.push(path);
        Ok(self)
    }

    /// The longest lifetime of the provider's access tokens (default 24
    /// hours): how long a revocation of one of its identities is kept.
    pub fn with_max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// Checks the configuration and starts fetching keys in the background
    /// (on the current Tokio runtime). It does not wait for the first
    /// fetch: [`ready`](ExternalIssuer::ready) does.
    pub fn build(self) -> Result<ExternalIssuer, OidcError> {
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        // Without a JWKS URL, the issuer is where discovery starts; with
        // one, it is only the `iss` tokens carry, which may be any string.
        if self.jwks_url.is_none() && !is_allowed_url(&issuer) {
            return Err(OidcError::Url(self.issuer));
        }
        if issuer.is_empty() {
            return Err(OidcError::Url(self.issuer));
        }
        if let Some(url) = &self.jwks_url
            && !is_allowed_url(url)
        {
            return Err(OidcError::Url(url.clone()));
        }
        if self.audience.trim().is_empty() {
            return Err(OidcError::Audience);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OidcError::NoRuntime)?;
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => Arc::new(HttpFetcher::new()?),
        };
        let state = Arc::new(State {
            // The `iss` of tokens is compared as the configuration gives it.
            claimed_issuer: self.issuer.clone(),
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            audience: self.audience,
            configured_jwks: self.jwks_url,
            discovered: Mutex::new(None),
            refresh_interval: self.refresh_interval,
            max_refreshes: self.max_refreshes_per_minute,
            fetch_timeout: self.fetch_timeout,
            leeway: self.leeway,
            clock: self.clock,
            fetcher,
            tokens: RwLock::new(None),
            inflight: Mutex::new(None),
            recent: Mutex::new(VecDeque::new()),
            fetches: AtomicU64::new(0),
            runtime: runtime.clone(),
            untyped: self.untyped,
            local_users: self.local_users,
            role_paths: self.role_paths,
            permission_paths: self.permission_paths,
            max_token_lifetime: self.max_token_lifetime + self.leeway,
        });
        let first = state.join_refresh();
        let weak = Arc::downgrade(&state);
        runtime.spawn(refresh_loop(weak, first, self.refresh_interval));
        Ok(ExternalIssuer { state })
    }
}
