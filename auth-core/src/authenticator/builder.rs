//! Building an [`Authenticator`]: every option with its safe default, and
//! the checks that refuse a configuration that cannot work.

use std::fmt;
use std::sync::Arc;

use time::Duration;

use super::{Authenticator, Inner};
use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::cookie::CookiePolicy;
use crate::revocation::Revocations;
use crate::store::SessionStore;

/// Default idle timeout: 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Default absolute timeout: 12 hours.
pub const DEFAULT_ABSOLUTE_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(12 * 60 * 60);

/// Default refresh threshold: a quarter of the idle timeout.
pub const DEFAULT_REFRESH_THRESHOLD: f64 = 0.25;

/// Default idle timeout of remembered sessions: 14 days.
pub const DEFAULT_REMEMBER_IDLE: std::time::Duration =
    std::time::Duration::from_secs(14 * 24 * 60 * 60);

/// Default absolute timeout of remembered sessions: 30 days.
pub const DEFAULT_REMEMBER_ABSOLUTE: std::time::Duration =
    std::time::Duration::from_secs(30 * 24 * 60 * 60);

/// Default idle timeout of visitor sessions: 30 minutes.
pub const DEFAULT_VISITOR_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Default absolute timeout of visitor sessions: 2 hours.
pub const DEFAULT_VISITOR_ABSOLUTE: std::time::Duration =
    std::time::Duration::from_secs(2 * 60 * 60);

/// Default limit of live sessions per user (browser sessions and refresh
/// families): 100, the oldest ending first. It bounds what one account
/// keeps in the store, whatever its clients do.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 100;

/// Default limit on the JSON size of a session's data: 16 KiB.
pub const DEFAULT_MAX_DATA_BYTES: usize = 16 * 1024;

/// What a login past [`AuthenticatorBuilder::with_max_sessions_per_user`]
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionLimit {
    /// Refuse the login ([`Error::TooManySessions`](crate::Error::TooManySessions)).
    Refuse,
    /// End the user's oldest sessions to make room.
    EndOldest,
}

/// Builds an [`Authenticator`]; every option has a safe default.
#[must_use]
pub struct AuthenticatorBuilder {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    idle: std::time::Duration,
    absolute: std::time::Duration,
    refresh_threshold: f64,
    remember_idle: std::time::Duration,
    remember_absolute: std::time::Duration,
    visitor_idle: std::time::Duration,
    visitor_absolute: std::time::Duration,
    session_limit: Option<(usize, SessionLimit)>,
    cookie: CookiePolicy,
    max_data_bytes: usize,
    retry_after: std::time::Duration,
    realm: String,
    renderer: Arc<dyn crate::refusal::RenderRefusal>,
    login_redirect: Option<crate::navigation::LoginRedirect>,
    csrf: Option<crate::csrf::CsrfPolicy>,
    proxies: Option<crate::proxy::TrustedProxies>,
    throttle: Option<crate::throttle::LoginThrottle>,
    grants: crate::identity::RolePermissions,
    custom: Vec<Arc<dyn crate::custom::CustomAuthenticator>>,
    access_cookie: Option<String>,
    single_instance: bool,
    max_staleness: std::time::Duration,
    #[cfg(feature = "jwt")]
    access_tokens: Option<crate::jwt::AccessTokens>,
    #[cfg(feature = "jwt")]
    refresh: Option<crate::jwt::RefreshPolicy>,
    #[cfg(feature = "oidc")]
    external: Vec<crate::jwt::oidc::ExternalIssuer>,
    #[cfg(feature = "oidc")]
    sso: Option<crate::sso::SsoClient>,
}

impl fmt::Debug for AuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("store", &self.store)
            .field("idle", &self.idle)
            .field("absolute", &self.absolute)
            .finish_non_exhaustive()
    }
}

impl AuthenticatorBuilder {
    /// The idle timeout (default 30 minutes): a session unused this long ends.
    pub fn with_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The absolute timeout (default 12 hours): a session ends this long
    /// after login however busy it is.
    pub fn with_absolute_timeout(mut self, absolute: std::time::Duration) -> Self {
        self.absolute = absolute;
        self
    }

    /// The share of the idle timeout that must pass since the last refresh
    /// before a request pushes the idle expiry forward (default 0.25). Below
    /// it, a request costs one store read and no write. `0.0` refreshes on
    /// every request.
    pub fn with_refresh_threshold(mut self, share: f64) -> Self {
        self.refresh_threshold = share;
        self
    }

    /// The cookie policy (default [`CookiePolicy::default`]).
    pub fn with_cookie(mut self, cookie: CookiePolicy) -> Self {
        self.cookie = cookie;
        self
    }

    /// The clock (default the system clock). Give the store the same one.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The largest JSON size of a session's data (default 16 KiB).
    pub fn with_max_data_bytes(mut self, bytes: usize) -> Self {
        self.max_data_bytes = bytes;
        self
    }

    /// The `Retry-After` sent with 503 answers to store failures (default
    /// 1 second, rounded up to whole seconds).
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `app`).
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Renders the body of every refusal (default [`JsonRefusals`](crate::JsonRefusals)):
    /// HTML pages, `application/problem+json`, the application's own JSON.
    /// See [`RenderRefusal`](crate::RenderRefusal).
    pub fn with_refusal_renderer(mut self, renderer: impl crate::refusal::RenderRefusal) -> Self {
        self.renderer = Arc::new(renderer);
        self
    }

    /// The timeouts of [visitor sessions](crate::AuthHandle#before-the-login)
    /// (defaults: 30 minutes idle, 2 hours in all): what an anonymous
    /// visitor's data lives for. Its cookie is always a browser-session
    /// cookie.
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_core::{Authenticator, MemoryStore};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new())
    ///     .with_visitor_timeouts(Duration::from_secs(10 * 60), Duration::from_secs(60 * 60))
    ///     .build()?;
    /// # let _ = auth;
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    pub fn with_visitor_timeouts(
        mut self,
        idle: std::time::Duration,
        absolute: std::time::Duration,
    ) -> Self {
        self.visitor_idle = idle;
        self.visitor_absolute = absolute;
        self
    }

    /// Sends browsers that navigate to a page needing a login to sign in
    /// (303 to the login page, the page they wanted in its `next`
    /// parameter) instead of answering 401; API calls still get 401. See
    /// [`navigation`](crate::navigation).
    ///
    /// ```
    /// use auth_core::navigation::LoginRedirect;
    /// use auth_core::{Authenticator, MemoryStore};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new())
    ///     .with_login_redirect(LoginRedirect::new("/login")?)
    ///     .build()?;
    /// assert_eq!(auth.login_redirect().map(|r| r.url()), Some("/login"));
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    pub fn with_login_redirect(mut self, redirect: crate::navigation::LoginRedirect) -> Self {
        self.login_redirect = Some(redirect);
        self
    }

    /// Accepts `Authorization: Bearer` access tokens beside the session
    /// cookie (feature `jwt`): one authenticator for browsers and mobile
    /// apps. A request that carries a bearer token is judged by it alone,
    /// never by its cookie. Session logouts and revocations are announced
    /// to `tokens`' revocation list, so access tokens of an ended session
    /// stop working at once.
    #[cfg(feature = "jwt")]
    pub fn with_access_tokens(mut self, tokens: crate::jwt::AccessTokens) -> Self {
        self.access_tokens = Some(tokens);
        self
    }

    /// Issues and rotates refresh tokens (feature `jwt`; needs
    /// [`with_access_tokens`](Self::with_access_tokens)). See
    /// [`jwt::refresh`](crate::jwt::refresh).
    #[cfg(feature = "jwt")]
    pub fn with_refresh_tokens(mut self, policy: crate::jwt::RefreshPolicy) -> Self {
        self.refresh = Some(policy);
        self
    }

    /// How requests are protected against cross-site request forgery; see
    /// [`csrf`](crate::csrf). By default the Fetch Metadata and `Origin`
    /// checks run ([`CsrfPolicy::origins_only`](crate::csrf::CsrfPolicy::origins_only));
    /// a policy with a key adds the session-bound token. The adapters
    /// enforce it before the handler runs.
    pub fn with_csrf(mut self, policy: crate::csrf::CsrfPolicy) -> Self {
        self.csrf = Some(policy);
        self
    }

    /// Turns the cross-site checks off, the Fetch Metadata and `Origin`
    /// checks that run by default included: only for an app that refuses
    /// cross-site requests some other way (a proxy in front, say), or that
    /// no browser ever reaches.
    pub fn without_csrf(mut self) -> Self {
        self.csrf = None;
        self
    }

    /// Behind a load balancer: connections from `proxies` speak for their
    /// clients (`Forwarded` / `X-Forwarded-For` give the client address for
    /// the device list and the per-address throttle; `X-Forwarded-Host` and
    /// `X-Forwarded-Proto` the origin the CSRF check expects). Off by
    /// default, when those headers are ignored; see [`proxy`](crate::proxy).
    pub fn with_trusted_proxies(mut self, proxies: crate::proxy::TrustedProxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// Counts login attempts and refuses those past its limits (off by
    /// default); see [`throttle`](crate::throttle) and
    /// [`AuthHandle::reserve_login_attempt`](crate::AuthHandle::reserve_login_attempt).
    pub fn with_login_throttle(mut self, throttle: crate::throttle::LoginThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// The idle and absolute timeouts of sessions whose login chose
    /// "remember me" ([`Login::remember`](crate::Login::remember)); default
    /// 14 and 30 days. Their cookie is persistent.
    pub fn with_remember_me(
        mut self,
        idle: std::time::Duration,
        absolute: std::time::Duration,
    ) -> Self {
        self.remember_idle = idle;
        self.remember_absolute = absolute;
        self
    }

    /// Accepts bearer access tokens of an external OpenID provider too
    /// ([`oidc`](crate::jwt::oidc)); a token goes to the verifier whose
    /// issuer its `iss` names. Several may be added. Feature `oidc`.
    #[cfg(feature = "oidc")]
    pub fn with_external_issuer(mut self, issuer: crate::jwt::oidc::ExternalIssuer) -> Self {
        self.external.push(issuer);
        self
    }

    /// The single sign-on client of the application's login through a
    /// provider ([`sso`](crate::sso)), kept here for its handlers to find
    /// ([`Authenticator::sso_client`](crate::Authenticator::sso_client)).
    /// Feature `oidc`.
    #[cfg(feature = "oidc")]
    pub fn with_sso_client(mut self, client: crate::sso::SsoClient) -> Self {
        self.sso = Some(client);
        self
    }

    /// Which permissions each role grants (default none): applied to the
    /// roles of every identity, from sessions, tokens and custom
    /// credentials alike.
    pub fn with_role_permissions(mut self, grants: crate::identity::RolePermissions) -> Self {
        self.grants = grants;
        self
    }

    /// Adds a [custom authenticator](crate::custom), tried after those
    /// added before it and before access tokens and the session cookie.
    pub fn with_authenticator(
        mut self,
        authenticator: impl crate::custom::CustomAuthenticator,
    ) -> Self {
        self.custom.push(Arc::new(authenticator));
        self
    }

    /// Accepts access tokens in an `HttpOnly` cookie named `name` too (with
    /// the session cookie's attributes and `__Host-` prefix), so browser
    /// scripts never hold them. Needs access tokens
    /// ([`with_access_tokens`](Self::with_access_tokens)). Set it with
    /// [`Authenticator::access_token_cookie`]; the CSRF policy applies to
    /// requests it authenticates, as to the session cookie.
    #[cfg(feature = "jwt")]
    pub fn with_access_token_cookie(mut self, name: impl Into<String>) -> Self {
        self.access_cookie = Some(name.into());
        self
    }

    /// At most `limit` live sessions per user (browser sessions and
    /// refresh families alike). A login past it is refused
    /// ([`Error::TooManySessions`](crate::Error::TooManySessions), 409) or ends the user's oldest sessions,
    /// as `on_exceed` says. The limit holds however many logins race.
    /// Default: [`DEFAULT_MAX_SESSIONS_PER_USER`], ending the oldest.
    pub fn with_max_sessions_per_user(mut self, limit: usize, on_exceed: SessionLimit) -> Self {
        self.session_limit = Some((limit.max(1), on_exceed));
        self
    }

    /// No limit on a user's sessions: what one account keeps in the store
    /// is then bounded only by expiry.
    pub fn without_session_limit(mut self) -> Self {
        self.session_limit = None;
        self
    }

    /// Declares that this is the only instance using the store, so
    /// revocations need not travel between processes. Without it, a store
    /// that cannot deliver revocation announcements
    /// ([`SessionStore::announcements`] answers `None`) is refused when access
    /// tokens are accepted ([`ConfigError::RevocationsNotShared`]): another
    /// instance would go on accepting the tokens of a session ended here.
    pub fn with_single_instance(mut self) -> Self {
        self.single_instance = true;
        self
    }

    /// How far behind the delivery of other instances' revocations may be
    /// (default [`DEFAULT_MAX_STALENESS`](crate::revocation::DEFAULT_MAX_STALENESS),
    /// 15 s). Past it (or while the delivery is disconnected), an access
    /// token is accepted only after its session is checked in the store,
    /// and one that names no session of this app is refused with 503.
    pub fn with_revocation_staleness(mut self, staleness: std::time::Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// How long a revocation must be kept: the longest lifetime (with
    /// leeway) of a token it may refuse.
    fn revocation_keep(&self) -> std::time::Duration {
        #[cfg(feature = "jwt")]
        #[allow(unused_mut)]
        let mut keep = self
            .access_tokens
            .as_ref()
            .map_or(std::time::Duration::ZERO, |t| t.revocations().retention());
        #[cfg(not(feature = "jwt"))]
        let keep = std::time::Duration::ZERO;
        #[cfg(feature = "oidc")]
        for issuer in &self.external {
            keep = keep.max(issuer.max_token_lifetime());
        }
        keep
    }

    /// Checks the configuration and builds the authenticator.
    pub fn build(self) -> Result<Authenticator, ConfigError> {
        let revocation_keep = self.revocation_keep();
        let (idle, absolute) = checked_timeouts(self.idle, self.absolute)?;
        if !(0.0..=1.0).contains(&self.refresh_threshold) {
            return Err(ConfigError::RefreshThreshold);
        }
        let (remember_idle, remember_absolute) =
            checked_timeouts(self.remember_idle, self.remember_absolute)?;
        let (visitor_idle, visitor_absolute) =
            checked_timeouts(self.visitor_idle, self.visitor_absolute)?;
        self.cookie.validate()?;
        let mut custom_headers: Vec<&'static str> = Vec::new();
        for authenticator in &self.custom {
            let header = authenticator.header();
            if !crate::custom::is_header_name(header)
                || custom_headers.contains(&header)
                || ["authorization", "cookie"].contains(&header)
            {
                return Err(ConfigError::CustomHeader(header.to_owned()));
            }
            custom_headers.push(header);
        }
        let access_cookie = match self.access_cookie {
            None => None,
            Some(name) => {
                #[cfg(feature = "jwt")]
                let has_tokens = self.access_tokens.is_some();
                #[cfg(not(feature = "jwt"))]
                let has_tokens = false;
                if !has_tokens {
                    return Err(ConfigError::AccessCookieWithoutTokens);
                }
                let policy = self
                    .cookie
                    .clone()
                    .with_name(name)
                    .with_http_only(true)
                    .with_persistent(true);
                policy.validate()?;
                if policy.cookie_name() == self.cookie.cookie_name() {
                    return Err(ConfigError::CookieName);
                }
                Some(policy)
            }
        };
        if self
            .realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(ConfigError::Realm);
        }
        let retry_after_secs =
            self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        let challenge = format!(
            "Cookie realm=\"{}\", cookie-name=\"{}\"",
            self.realm,
            self.cookie.cookie_name()
        );
        #[cfg(feature = "jwt")]
        let revocations = {
            #[cfg(feature = "oidc")]
            let external = !self.external.is_empty();
            #[cfg(not(feature = "oidc"))]
            let external = false;
            match &self.access_tokens {
                Some(tokens) => Some(tokens.revocations().clone()),
                None if external => Some(Revocations::new(std::time::Duration::ZERO)),
                None => None,
            }
        };
        #[cfg(not(feature = "jwt"))]
        let revocations: Option<Revocations> = None;
        let subscription = match &revocations {
            Some(revocations) => match crate::store::subscribe(&*self.store, revocations)
                .map_err(|e| ConfigError::Announcements(error_chain(&e)))?
            {
                Some(subscription) => Some(subscription),
                None if self.single_instance => None,
                None => return Err(ConfigError::RevocationsNotShared),
            },
            None => None,
        };
        let mut vary = String::from("Cookie, Authorization");
        for header in &custom_headers {
            vary.push_str(", ");
            vary.push_str(header);
        }
        let store_dyn: Arc<dyn SessionStore> =
            Arc::new(crate::store::InstrumentedStore(Arc::clone(&self.store)));
        Ok(Authenticator {
            inner: Arc::new(Inner {
                _subscription: subscription,
                revocations,
                revocation_keep,
                max_staleness: self.max_staleness,
                vary: vary.into(),
                store: crate::store::InstrumentedStore(self.store),
                store_dyn,
                csrf: self.csrf,
                proxies: self.proxies,
                throttle: self.throttle,
                grants: self.grants,
                custom: self.custom,
                custom_headers,
                access_cookie,
                clock: self.clock,
                idle,
                absolute,
                refresh_after: idle * self.refresh_threshold,
                remember_idle,
                remember_absolute,
                remember_refresh_after: remember_idle * self.refresh_threshold,
                visitor_idle,
                visitor_absolute,
                visitor_refresh_after: visitor_idle * self.refresh_threshold,
                session_limit: self.session_limit,
                cookie: self.cookie,
                max_data_bytes: self.max_data_bytes,
                retry_after_secs: retry_after_secs.max(1),
                challenge,
                realm: self.realm,
                renderer: self.renderer,
                login_redirect: self.login_redirect,
                #[cfg(feature = "jwt")]
                access_tokens: self.access_tokens,
                #[cfg(feature = "jwt")]
                refresh: self.refresh,
                #[cfg(feature = "oidc")]
                external: self.external,
                #[cfg(feature = "oidc")]
                sso: self.sso,
            }),
        })
    }
}

impl Authenticator {
    /// Starts building an authenticator on `store`.
    pub fn builder(store: impl SessionStore) -> AuthenticatorBuilder {
        Self::builder_shared(Arc::new(store))
    }

    /// Starts building an authenticator on a store that is already shared.
    pub fn builder_shared(store: Arc<dyn SessionStore>) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            store,
            clock: Arc::new(SystemClock),
            idle: DEFAULT_IDLE_TIMEOUT,
            absolute: DEFAULT_ABSOLUTE_TIMEOUT,
            refresh_threshold: DEFAULT_REFRESH_THRESHOLD,
            remember_idle: DEFAULT_REMEMBER_IDLE,
            remember_absolute: DEFAULT_REMEMBER_ABSOLUTE,
            visitor_idle: DEFAULT_VISITOR_IDLE,
            visitor_absolute: DEFAULT_VISITOR_ABSOLUTE,
            session_limit: Some((DEFAULT_MAX_SESSIONS_PER_USER, SessionLimit::EndOldest)),
            cookie: CookiePolicy::default(),
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
            retry_after: std::time::Duration::from_secs(1),
            realm: "app".into(),
            renderer: Arc::new(crate::refusal::JsonRefusals),
            login_redirect: None,
            csrf: Some(crate::csrf::CsrfPolicy::origins_only()),
            proxies: None,
            throttle: None,
            grants: crate::identity::RolePermissions::new(),
            custom: Vec::new(),
            access_cookie: None,
            single_instance: false,
            max_staleness: crate::revocation::DEFAULT_MAX_STALENESS,
            #[cfg(feature = "jwt")]
            access_tokens: None,
            #[cfg(feature = "jwt")]
            refresh: None,
            #[cfg(feature = "oidc")]
            external: Vec::new(),
            #[cfg(feature = "oidc")]
            sso: None,
        }
    }
}

/// An error and its sources, for messages that outlive the error.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// An idle and an absolute timeout that can work: the idle one positive,
/// the absolute one at least as long.
fn checked_timeouts(
    idle: std::time::Duration,
    absolute: std::time::Duration,
) -> Result<(Duration, Duration), ConfigError> {
    let idle = Duration::try_from(idle).map_err(|_| ConfigError::IdleTimeout)?;
    let absolute = Duration::try_from(absolute).map_err(|_| ConfigError::AbsoluteTimeout)?;
    if idle <= Duration::ZERO {
        return Err(ConfigError::IdleTimeout);
    }
    if absolute < idle {
        return Err(ConfigError::AbsoluteTimeout);
    }
    Ok((idle, absolute))
}
