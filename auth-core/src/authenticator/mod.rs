//! The [`Authenticator`]: the application's configuration of
//! authentication, which every request is judged by. Building it
//! ([`builder`]), reading a request's credentials ([`crate::credentials`]),
//! judging them ([`crate::pipeline`], [`crate::bearer`]) and refusing
//! ([`crate::refusal`]) each live in their own module.

mod builder;

pub use builder::{
    AuthenticatorBuilder, DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DATA_BYTES,
    DEFAULT_MAX_SESSIONS_PER_USER, DEFAULT_REFRESH_THRESHOLD, DEFAULT_REMEMBER_ABSOLUTE,
    DEFAULT_REMEMBER_IDLE, DEFAULT_VISITOR_ABSOLUTE, DEFAULT_VISITOR_IDLE, SessionLimit,
};

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::cookie::CookiePolicy;
use crate::record::SessionLifetime;
use crate::revocation::Revocations;
use crate::store::SessionStore;

pub(crate) struct Inner {
    /// Every store call, timed and counted.
    pub(crate) store: crate::store::InstrumentedStore,
    /// The same store, for [`Authenticator::store`].
    store_dyn: Arc<dyn SessionStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) idle: Duration,
    pub(crate) absolute: Duration,
    pub(crate) refresh_after: Duration,
    pub(crate) remember_idle: Duration,
    pub(crate) remember_absolute: Duration,
    pub(crate) remember_refresh_after: Duration,
    pub(crate) visitor_idle: Duration,
    pub(crate) visitor_absolute: Duration,
    pub(crate) visitor_refresh_after: Duration,
    pub(crate) session_limit: Option<(usize, SessionLimit)>,
    pub(crate) cookie: CookiePolicy,
    pub(crate) max_data_bytes: usize,
    pub(crate) retry_after_secs: u64,
    pub(crate) challenge: String,
    pub(crate) realm: String,
    /// The body of every refusal.
    pub(crate) renderer: Arc<dyn crate::refusal::RenderRefusal>,
    /// Where browsers are sent to sign in.
    pub(crate) login_redirect: Option<crate::navigation::LoginRedirect>,
    #[cfg(feature = "jwt")]
    pub(crate) access_tokens: Option<crate::jwt::AccessTokens>,
    #[cfg(feature = "jwt")]
    pub(crate) refresh: Option<crate::jwt::RefreshPolicy>,
    #[cfg(feature = "oidc")]
    pub(crate) external: Vec<crate::jwt::oidc::ExternalIssuer>,
    /// The application's single sign-on client, if configured.
    #[cfg(feature = "oidc")]
    pub(crate) sso: Option<crate::sso::SsoClient>,
    pub(crate) csrf: Option<crate::csrf::CsrfPolicy>,
    pub(crate) proxies: Option<crate::proxy::TrustedProxies>,
    pub(crate) throttle: Option<crate::throttle::LoginThrottle>,
    pub(crate) grants: crate::identity::RolePermissions,
    pub(crate) custom: Vec<Arc<dyn crate::custom::CustomAuthenticator>>,
    pub(crate) custom_headers: Vec<&'static str>,
    /// The policy of the access-token cookie, when tokens may travel in one.
    pub(crate) access_cookie: Option<CookiePolicy>,
    /// Revoked sessions and users, when access tokens (own or external)
    /// are accepted: shared with the own tokens' verifier.
    pub(crate) revocations: Option<Revocations>,
    /// How long a revocation is kept: the longest lifetime of a token it
    /// may refuse.
    pub(crate) revocation_keep: std::time::Duration,
    /// How far behind the revocation feed may be before tokens are
    /// checked against the store.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) max_staleness: std::time::Duration,
    /// `Vary` for answers that depend on the credentials: every header
    /// they are read from.
    pub(crate) vary: Arc<str>,
    /// Delivery of other instances' revocations into the list; stops when
    /// the last clone of the authenticator goes.
    _subscription: Option<crate::revocation::Subscription>,
}

/// Turns a request's credentials into an [`AuthHandle`](crate::AuthHandle), and carries the
/// configuration of the session lifecycle. Cheap to clone; build one per
/// application with [`Authenticator::builder`].
///
/// ```
/// use std::time::Duration;
/// use auth_core::{Authenticator, CookiePolicy, MemoryStore};
///
/// let auth = Authenticator::builder(MemoryStore::new())
///     .with_idle_timeout(Duration::from_secs(15 * 60))
///     .with_cookie(CookiePolicy::default().with_name("sid"))
///     .build()?;
/// assert_eq!(auth.cookie_policy().cookie_name(), "__Host-sid");
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Authenticator {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("store", &self.inner.store)
            .field("idle_timeout", &self.inner.idle)
            .field("absolute_timeout", &self.inner.absolute)
            .field("cookie", &self.inner.cookie)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store_dyn
    }

    /// The cookie policy.
    pub fn cookie_policy(&self) -> &CookiePolicy {
        &self.inner.cookie
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The login throttle, if configured.
    pub fn login_throttle(&self) -> Option<&crate::throttle::LoginThrottle> {
        self.inner.throttle.as_ref()
    }

    /// The trusted proxies, if configured.
    pub fn trusted_proxies(&self) -> Option<&crate::proxy::TrustedProxies> {
        self.inner.proxies.as_ref()
    }

    /// Where browsers are sent to sign in, if configured
    /// ([`with_login_redirect`](crate::AuthenticatorBuilder::with_login_redirect)).
    pub fn login_redirect(&self) -> Option<&crate::navigation::LoginRedirect> {
        self.inner.login_redirect.as_ref()
    }

    /// The single sign-on client, if configured
    /// ([`with_sso_client`](crate::AuthenticatorBuilder::with_sso_client)).
    #[cfg(feature = "oidc")]
    pub fn sso_client(&self) -> Option<&crate::sso::SsoClient> {
        self.inner.sso.as_ref()
    }

    /// The CSRF policy, if configured.
    pub fn csrf(&self) -> Option<&crate::csrf::CsrfPolicy> {
        self.inner.csrf.as_ref()
    }

    /// The role-to-permission mapping.
    pub fn role_permissions(&self) -> &crate::identity::RolePermissions {
        &self.inner.grants
    }

    /// The access tokens accepted beside the session cookie, if configured.
    #[cfg(feature = "jwt")]
    pub fn access_tokens(&self) -> Option<&crate::jwt::AccessTokens> {
        self.inner.access_tokens.as_ref()
    }

    /// Whether bearer access tokens are accepted.
    pub fn accepts_bearer(&self) -> bool {
        #[cfg(feature = "oidc")]
        return self.inner.access_tokens.is_some() || !self.inner.external.is_empty();
        #[cfg(all(feature = "jwt", not(feature = "oidc")))]
        return self.inner.access_tokens.is_some();
        #[cfg(not(feature = "jwt"))]
        return false;
    }

    /// The clock's time truncated to milliseconds, the precision every
    /// store keeps, so records read back equal what was written.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let now = self.inner.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now)
    }
}

impl Inner {
    /// Whether the cookie of a session with `lifetime` has a `Max-Age`.
    pub(crate) fn cookie_is_persistent(&self, lifetime: SessionLifetime) -> bool {
        match lifetime {
            SessionLifetime::BrowserSession | SessionLifetime::Visitor => false,
            SessionLifetime::Remembered => true,
            _ => self.cookie.is_persistent(),
        }
    }

    /// The idle timeout and refresh threshold of sessions with `lifetime`.
    pub(crate) fn idle_of(&self, lifetime: SessionLifetime) -> (Duration, Duration) {
        match lifetime {
            SessionLifetime::Remembered => (self.remember_idle, self.remember_refresh_after),
            SessionLifetime::Visitor => (self.visitor_idle, self.visitor_refresh_after),
            _ => (self.idle, self.refresh_after),
        }
    }

    /// The idle and absolute timeouts of a new session with `lifetime`.
    pub(crate) fn lifetimes_of(&self, lifetime: SessionLifetime) -> (Duration, Duration) {
        match lifetime {
            SessionLifetime::Remembered => (self.remember_idle, self.remember_absolute),
            SessionLifetime::Visitor => (self.visitor_idle, self.visitor_absolute),
            _ => (self.idle, self.absolute),
        }
    }
}
