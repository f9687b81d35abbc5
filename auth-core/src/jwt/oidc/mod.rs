//! Access tokens from an external OpenID provider (Keycloak, Auth0, any
//! OIDC issuer): [`ExternalIssuer`], given to
//! [`AuthenticatorBuilder::with_external_issuer`](crate::AuthenticatorBuilder::with_external_issuer).
//!
//! The provider's keys come from its JWKS, found through discovery
//! (`<issuer>/.well-known/openid-configuration`, whose `issuer` must equal
//! the configured one) or given as a URL. They are fetched in the
//! background when the issuer is built, then every
//! [refresh interval](ExternalIssuerBuilder::with_refresh_interval).
//!
//! A token signed with a key not seen yet (the provider rotated) triggers
//! a refresh: at most one at a time (concurrent requests wait for that one
//! fetch, never for a lock held across it), and at most
//! [a few per minute](ExternalIssuerBuilder::with_max_refreshes_per_minute),
//! so a flood of made-up `kid`s cannot turn into a flood of fetches. A
//! failing or slow provider (each fetch has a
//! [timeout](ExternalIssuerBuilder::with_fetch_timeout)) keeps the last
//! good keys, and the failure is logged. Nothing in a token (`jku`, `x5u`,
//! `jwk`) ever chooses a URL.
//!
//! Verification is that of [`AccessTokens`] with the provider's keys: the
//! algorithm comes from the key, `exp`/`nbf`/`iat` within the leeway, `iss`
//! equal to the issuer, `aud` containing the audience. Tokens must be typed
//! `at+jwt` (RFC 9068) unless the issuer is configured to accept untyped
//! ones ([`ExternalIssuerBuilder::accept_untyped`]: Keycloak and Auth0
//! issue access tokens typed `JWT`). Whatever the type, a token that
//! identifies itself as an ID token (a `nonce` or `at_hash` claim,
//! Keycloak's `"typ": "ID"` claim) is refused: an ID token says who logged
//! in to a client, it does not authorize calls. Roles come from the `roles`
//! claim, permissions from `scope` and `permissions`.
//!
//! # Whose identity
//! A provider's subject is not a user of this application: a token with
//! `sub: "alice"` from the provider is not the local user `alice`. Its
//! [`Identity`](crate::Identity) carries the issuer, is not
//! [local](crate::Identity::is_local), and the calls that manage a user's
//! sessions refuse it. An application whose users sign in through the
//! provider maps them explicitly
//! ([`ExternalIssuerBuilder::with_local_users`]). Per-user revocations
//! reach external identities too
//! ([`Authenticator::revoke_external_user_tokens`](crate::Authenticator::revoke_external_user_tokens),
//! or as the local user they map to).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::jwt::oidc::ExternalIssuer;
//! use auth_core::{Authenticator, MemoryStore};
//!
//! let keycloak = ExternalIssuer::builder("https://sso.example/realms/main", "my-api")
//!     .build()?;
//! let auth = Authenticator::builder(MemoryStore::new())
//!     .with_external_issuer(keycloak)
//!     .build()?;
//! # let _ = auth; Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use parking_lot::{Mutex, RwLock};

use super::{AccessTokens, Claims, JwtError, Key};

mod builder;
mod claim_path;
mod discovery;
mod fetch;
mod upstream;

use crate::clock::{Clock, SystemClock};
pub use builder::ExternalIssuerBuilder;
pub use claim_path::{ClaimPath, MappedClaims};
pub(crate) use discovery::ProviderMetadata;
pub use fetch::{FetchError, HttpFetcher, JwksFetcher};
pub use upstream::{UpstreamTokens, UpstreamTokensError};

/// Default interval between background refreshes: 10 minutes.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Default limit of refreshes triggered by unknown key ids: 6 per minute.
pub const DEFAULT_MAX_REFRESHES_PER_MINUTE: usize = 6;
/// Default timeout of one fetch: 5 seconds.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery or JWKS document accepted: 1 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A misconfigured [`ExternalIssuer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The issuer or JWKS URL is not `https` (plain `http` is allowed only
    /// to loopback addresses).
    #[error("{0:?} must be an https URL (http only to a loopback address)")]
    Url(String),
    /// The audience is empty.
    #[error("the audience must not be empty")]
    Audience,
    /// No async runtime to fetch keys in the background.
    #[error("an external issuer needs a Tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("the HTTP client cannot start: {0}")]
    Client(String),
    /// A claim path is empty or has an empty name.
    #[error("{0:?} is not a claim path (names separated by dots)")]
    ClaimPath(String),
}

/// Whether `url` is https, or http to a loopback host.
pub(crate) fn is_allowed_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return url.len() > "https://".len();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host,
    };
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The application's mapping from a provider's token to one of its users.
type LocalUsers = dyn Fn(&ExternalClaims) -> Option<String> + Send + Sync;

/// The claims of an external issuer's token: the registered ones, and every
/// other claim as JSON.
pub type ExternalClaims = Claims<serde_json::Map<String, serde_json::Value>>;

/// Default longest lifetime of an external issuer's access tokens: 24
/// hours (Auth0's default). Revocations of its identities are kept this
/// long.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Keeps the keys fresh until the last [`ExternalIssuer`] clone is gone.
async fn refresh_loop(state: Weak<State>, first: RefreshFuture, interval: Duration) {
    first.await;
    loop {
        tokio::time::sleep(interval).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        let refresh = state.join_refresh();
        drop(state);
        refresh.await;
    }
}

type RefreshFuture = Shared<BoxFuture<'static, ()>>;

struct State {
    claimed_issuer: String,
    discovery_url: String,
    audience: String,
    configured_jwks: Option<String>,
    discovered: Mutex<Option<Arc<ProviderMetadata>>>,
    refresh_interval: Duration,
    max_refreshes: usize,
    fetch_timeout: Duration,
    leeway: Duration,
    clock: Arc<dyn Clock>,
    fetcher: Arc<dyn JwksFetcher>,
    /// The verifier built from the last good key set.
    tokens: RwLock<Option<AccessTokens>>,
    /// The fetch under way, which every caller that needs one joins.
    inflight: Mutex<Option<RefreshFuture>>,
    /// When the refreshes triggered by unknown key ids started.
    recent: Mutex<VecDeque<Instant>>,
    fetches: AtomicU64,
    runtime: tokio::runtime::Handle,
    untyped: bool,
    local_users: Option<Arc<LocalUsers>>,
    max_token_lifetime: Duration,
    role_paths: Vec<ClaimPath>,
    permission_paths: Vec<ClaimPath>,
}

impl State {
    /// The refresh under way, or a new one. The lock is held only to look
    /// at the slot, never across the fetch; the fetch runs as its own task,
    /// so a cancelled request does not cancel it.
    fn join_refresh(self: &Arc<Self>) -> RefreshFuture {
        self.join_refresh_if(|| true)
            .expect("an unconditional refresh always starts")
    }

    fn join_refresh_if(
        self: &Arc<Self>,
        may_start: impl FnOnce() -> bool,
    ) -> Option<RefreshFuture> {
        let mut slot = self.inflight.lock();
        if let Some(running) = &*slot {
            return Some(running.clone());
        }
        if !may_start() {
            return None;
        }
        let state = self.clone();
        let task = self.runtime.spawn(async move {
            state.refresh().await;
            *state.inflight.lock() = None;
        });
        let shared = task.map(|_| ()).boxed().shared();
        *slot = Some(shared.clone());
        Some(shared)
    }

    /// Takes one of the minute's refreshes for unknown key ids, if any is
    /// left.
    fn take_budget(&self) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            recent.pop_front();
        }
        if recent.len() >= self.max_refreshes {
            return false;
        }
        recent.push_back(now);
        true
    }

    async fn fetch(&self, url: &str) -> Result<String, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.fetch_timeout, self.fetcher.get(url)).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("fetching {url} timed out")),
        }
    }

    /// Fetches the key set and, when it is good, swaps it in; otherwise
    /// keeps the last good one and logs why.
    async fn refresh(&self) {
        match self.fetch_keys().await {
            Ok(tokens) => {
                tracing::debug!(issuer = %self.claimed_issuer, "external issuer keys refreshed");
                *self.tokens.write() = Some(tokens);
            }
            Err(reason) => {
                let keeping = self.tokens.read().is_some();
                tracing::warn!(
                    issuer = %self.claimed_issuer,
                    %reason,
                    keeping_last_good_keys = keeping,
                    "refreshing the external issuer's keys failed"
                );
            }
        }
    }

    async fn jwks_url(&self) -> Result<String, String> {
        if let Some(url) = &self.configured_jwks {
            return Ok(url.clone());
        }
        Ok(self.discover().await?.jwks_uri.clone())
    }

    async fn fetch_keys(&self) -> Result<AccessTokens, String> {
        let url = self.jwks_url().await?;
        let body = self.fetch(&url).await?;
        let keys = Key::from_jwks(&body).map_err(|e| format!("bad JWKS: {e}"))?;
        let mut builder = AccessTokens::builder(self.claimed_issuer.clone())
            .with_audience(self.audience.clone())
            .with_leeway(self.leeway)
            .with_ttl(self.leeway + Duration::from_secs(60))
            .with_clock(self.clock.clone());
        if self.untyped {
            builder = builder.accept_untyped();
        }
        for key in keys {
            builder = builder.with_verification_key(key);
        }
        builder.build().map_err(|e| format!("bad JWKS: {e}"))
    }
}

/// An external OpenID provider whose access tokens are accepted; see the
/// [module docs](self). Cheap to clone; the background refresh stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct ExternalIssuer {
    state: Arc<State>,
}

impl fmt::Debug for ExternalIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalIssuer")
            .field("issuer", &self.state.claimed_issuer)
            .field("audience", &self.state.audience)
            .field("refresh_interval", &self.state.refresh_interval)
            .field("has_keys", &self.state.tokens.read().is_some())
            .finish_non_exhaustive()
    }
}

impl ExternalIssuer {
    /// Trusts tokens from `issuer` (exactly the `iss` they carry) for
    /// `audience`.
    pub fn builder(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> ExternalIssuerBuilder {
        ExternalIssuerBuilder {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            max_refreshes_per_minute: DEFAULT_MAX_REFRESHES_PER_MINUTE,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            leeway: super::DEFAULT_LEEWAY,
            clock: Arc::new(SystemClock),
            fetcher: None,
            untyped: false,
            local_users: None,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            role_paths: Vec::new(),
            permission_paths: Vec::new(),
        }
    }

    /// How long a revocation of one of its identities must be kept: the
    /// longest lifetime of its tokens, with the leeway.
    pub(crate) fn max_token_lifetime(&self) -> Duration {
        self.state.max_token_lifetime
    }

    /// The roles and permissions at the issuer's claim paths.
    pub(crate) fn mapped_claims(&self, claims: &ExternalClaims) -> MappedClaims {
        let collect = |paths: &[ClaimPath]| {
            paths
                .iter()
                .flat_map(|p| p.strings(claims))
                .collect::<Vec<_>>()
        };
        MappedClaims {
            roles: collect(&self.state.role_paths),
            permissions: collect(&self.state.permission_paths),
        }
    }

    /// The local user `claims` map to, by the application's mapping.
    pub(crate) fn local_user(&self, claims: &ExternalClaims) -> Option<String> {
        self.state.local_users.as_ref().and_then(|map| map(claims))
    }

    /// The issuer, as tokens must name it.
    pub fn issuer(&self) -> &str {
        &self.state.claimed_issuer
    }

    /// How many documents have been fetched (discovery and JWKS), for
    /// monitoring.
    pub fn fetches(&self) -> u64 {
        self.state.fetches.load(Ordering::Relaxed)
    }

    /// Waits for the fetch under way, if any; whether keys are loaded.
    pub async fn ready(&self) -> bool {
        let running = self.state.inflight.lock().clone();
        if let Some(running) = running {
            running.await;
        }
        self.state.tokens.read().is_some()
    }

    /// Refreshes the keys now (joining a refresh under way).
    pub async fn refresh(&self) {
        self.state.join_refresh().await;
    }

    /// Verifies a token of this issuer. A key id not in the current set
    /// waits for one refresh, within the per-minute budget. ID tokens are
    /// refused ([`JwtError::WrongType`]).
    pub async fn verify(&self, token: &[u8]) -> Result<ExternalClaims, JwtError> {
        self.verify_with(|tokens| tokens.verify(token))
            .await
            .and_then(refuse_id_tokens)
    }

    /// `verify` run with the current keys; when it finds the key id
    /// unknown, again after one refresh within the per-minute budget.
    pub(crate) async fn verify_with<R>(
        &self,
        verify: impl Fn(&AccessTokens) -> Result<R, JwtError>,
    ) -> Result<R, JwtError> {
        let current = self.state.tokens.read().clone();
        let first = match &current {
            Some(tokens) => verify(tokens),
            None => Err(JwtError::UnknownKey),
        };
        if !matches!(first, Err(JwtError::UnknownKey)) {
            return first;
        }
        let state = &self.state;
        let Some(refresh) = state.join_refresh_if(|| state.take_budget()) else {
            tracing::debug!(issuer = %state.claimed_issuer, "unknown key id; refresh budget spent");
            return first;
        };
        refresh.await;
        let current = state.tokens.read().clone();
        match current {
            Some(tokens) => verify(&tokens),
            None => Err(JwtError::UnknownKey),
        }
    }

    /// The provider's metadata from its discovery document (fetched once,
    /// then kept).
    pub(crate) async fn metadata(&self) -> Result<Arc<ProviderMetadata>, String> {
        self.state.discover().await
    }

    /// The tolerated clock skew.
    pub(crate) fn leeway(&self) -> Duration {
        self.state.leeway
    }

    /// The current time, by the issuer's clock.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.state.clock.now()
    }

    /// Posts `form` to `url` with the issuer's fetcher and timeout.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        form: &str,
    ) -> Result<(u16, String), String> {
        let state = &self.state;
        state.fetches.fetch_add(1, Ordering::Relaxed);
        let post = state.fetcher.post_form(url, authorization, form);
        match tokio::time::timeout(state.fetch_timeout, post).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("posting to {url} timed out")),
        }
    }
}

/// Refuses a token that says it is an ID token: one with a `nonce` or an
/// `at_hash` (OpenID Connect Core 2), or Keycloak's `"typ": "ID"` claim.
fn refuse_id_tokens(claims: ExternalClaims) -> Result<ExternalClaims, JwtError> {
    let custom = &claims.custom;
    let typ_is_id = custom
        .get("typ")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("ID"));
    if custom.contains_key("nonce") || custom.contains_key("at_hash") || typ_is_id {
        tracing::debug!(
            reason = "id_token",
            "an ID token was presented as an access token"
        );
        return Err(JwtError::WrongType);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_unless_loopback() {
        for ok in [
            "https://sso.example/realms/x",
            "http://127.0.0.1:8080/x",
            "http://localhost:3000",
            "http://[::1]:80/",
        ] {
            assert!(is_allowed_url(ok), "{ok}");
        }
        for bad in [
            "http://sso.example",
            "http://127.0.0.1.evil.example/",
            "ftp://x",
            "https://",
            "sso.example",
        ] {
            assert!(!is_allowed_url(bad), "{bad}");
        }
    }
}
