//! The [`Authenticator`]: the one object adapters talk to.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::cookie::{CookieLookup, CookiePolicy};
use crate::error::Error;
use crate::handle::{AuthHandle, CookieAction, Current, Presented};
use crate::identity::Identity;
use crate::record::{ClientMeta, SessionKind, SessionLifetime};
use crate::revocation::Revocations;
use crate::store::SessionStore;
use crate::token::{SessionToken, TokenError};

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

/// Default limit of live sessions per user (browser sessions and refresh
/// families): 100, the oldest ending first. It bounds what one account
/// keeps in the store, whatever its clients do.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 100;

/// What a login past [`AuthenticatorBuilder::with_max_sessions_per_user`]
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionLimit {
    /// Refuse the login ([`Error::TooManySessions`]).
    Refuse,
    /// End the user's oldest sessions to make room.
    EndOldest,
}

/// Default limit on the JSON size of a session's data: 16 KiB.
pub const DEFAULT_MAX_DATA_BYTES: usize = 16 * 1024;

/// The credentials found in a request, parsed and owned, ready for
/// [`Authenticator::authenticate`]. Built by [`Authenticator::credentials`];
/// holds no borrowed request data so it can cross an `await`.
pub struct Credentials {
    pub(crate) session: SessionCredential,
    pub(crate) bearer: BearerCredential,
    pub(crate) access_cookie: BearerCredential,
    pub(crate) custom: Vec<(&'static str, crate::custom::Presented)>,
    pub(crate) client: ClientMeta,
}

pin_project_lite::pin_project! {
    /// The future of [`Authenticator::authenticate`]: the authentication,
    /// then its outcome in the span and the metrics.
    struct Authenticating<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
    }
}

impl<F> Future for Authenticating<F>
where
    F: Future<Output = Result<AuthHandle, Error>>,
{
    type Output = Result<AuthHandle, Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let (method, outcome, reason) = match &result {
            Ok(handle) => match handle.outcome() {
                (Some(method), _) => (method.as_str(), "authenticated", None),
                (None, Some(rejection)) => {
                    let method = match rejection {
                        Rejection::InvalidToken { .. } => "bearer",
                        Rejection::InvalidCredential { authenticator } => authenticator,
                        _ => "session",
                    };
                    (method, "rejected", Some(rejection.as_str()))
                }
                (None, None) => ("none", "anonymous", None),
            },
            Err(_) => ("session", "error", Some("store")),
        };
        if !this.span.is_disabled() {
            this.span.record("method", method);
            this.span.record("outcome", outcome);
            if let Some(reason) = reason {
                this.span.record("reason", reason);
            }
        }
        if outcome == "rejected"
            && let Some(reason) = reason
        {
            crate::telemetry::rejection(reason);
        }
        crate::telemetry::authentication(method, outcome);
        std::task::Poll::Ready(result)
    }
}

/// Most bytes of an `Authorization` header that are looked at; a longer
/// one is rejected without being copied.
pub const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024;

pub(crate) enum BearerCredential {
    None,
    /// The token's bytes, unchecked: verification reads them strictly.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    Token(Vec<u8>),
    Malformed,
}

impl fmt::Debug for BearerCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Token(_) => "Token(REDACTED)",
            Self::Malformed => "Malformed",
        })
    }
}

impl Credentials {
    /// Adds the request's `Authorization` header values. A `Bearer`
    /// credential is taken (scheme case-insensitive); other schemes are
    /// ignored; two headers or an empty or oversized token make the
    /// credential malformed (and the request is then refused, never
    /// answered from the cookie). The token's characters are checked where
    /// it is verified: an access token is three strict base64url segments.
    pub fn with_authorization<'a, I>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut headers = headers.into_iter();
        let Some(first) = headers.next() else {
            return self;
        };
        let is_bearer = |v: &[u8]| v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"bearer");
        if headers.next().is_some() {
            self.bearer = BearerCredential::Malformed;
            return self;
        }
        if !is_bearer(first) {
            return self;
        }
        let rest = &first[6..];
        let token = rest.trim_ascii_start();
        self.bearer = if rest.first() != Some(&b' ')
            || token.is_empty()
            || token.len() > MAX_AUTHORIZATION_BYTES
        {
            BearerCredential::Malformed
        } else {
            BearerCredential::Token(token.to_vec())
        };
        self
    }

    /// Adds the values of request header `name`, one of the
    /// [`Authenticator::custom_headers`]; other names are ignored.
    /// [`Authenticator::with_custom_headers`] calls it for each of them.
    pub fn with_header<'a, I>(mut self, name: &'static str, values: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        if let Some(presented) = crate::custom::Presented::from_values(values) {
            self.custom.push((name, presented));
        }
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("session", &self.session)
            .field("bearer", &self.bearer)
            .field("access_cookie", &self.access_cookie)
            .field("custom", &self.custom)
            .field("client", &self.client)
            .finish()
    }
}

pub(crate) enum SessionCredential {
    None,
    Token(SessionToken),
    Malformed(TokenError),
    Conflicting,
}

impl fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Token(_) => f.write_str("Token(REDACTED)"),
            Self::Malformed(e) => write!(f, "Malformed({e})"),
            Self::Conflicting => f.write_str("Conflicting"),
        }
    }
}

/// Why a presented credential did not authenticate the request. The request
/// goes on as anonymous; guards and extractors then answer 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The session cookie is not a well-formed token.
    MalformedCookie,
    /// The request carries two different session cookies.
    ConflictingCookies,
    /// No live session has this token (logged out, expired, never existed).
    UnknownSession,
    /// The token belongs to a session of another kind (a refresh session).
    WrongKind,
    /// The `Authorization: Bearer` credential or the access-token cookie
    /// is malformed or its access token failed verification; the reason
    /// says why.
    InvalidToken {
        /// A short, stable reason (`expired`, `bad_signature`, …).
        reason: &'static str,
    },
    /// A [custom credential](crate::custom) was refused.
    InvalidCredential {
        /// The [`name`](crate::custom::CustomAuthenticator::name) of the
        /// authenticator that refused it.
        authenticator: &'static str,
    },
}

impl Rejection {
    /// A short, stable reason for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedCookie => "malformed_cookie",
            Self::ConflictingCookies => "conflicting_cookies",
            Self::UnknownSession => "unknown_session",
            Self::WrongKind => "wrong_kind",
            Self::InvalidToken { reason } => reason,
            Self::InvalidCredential { .. } => "invalid_credential",
        }
    }
}

/// A refusal an adapter turns into a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// No valid credential: 401 with `WWW-Authenticate`.
    Unauthenticated,
    /// Authenticated but lacking a role: 403.
    Forbidden,
    /// Authenticated but lacking a permission: 403 with
    /// `{"error":"insufficient_scope","missing":"<permission>"}` (and an
    /// RFC 6750 `insufficient_scope` challenge naming it, where access
    /// tokens are accepted).
    InsufficientScope {
        /// The permission the caller lacks.
        missing: Arc<str>,
    },
    /// The store failed: 503 with `Retry-After`.
    Unavailable,
    /// Refused as cross-site ([`csrf`](crate::csrf)): 403.
    Csrf,
    /// Logged in, but too long ago for this operation
    /// ([`Requirement::FreshLogin`](crate::Requirement::FreshLogin)): 401
    /// with `{"error":"login_required","reason":"stale_login"}`, so the app
    /// asks for the password again.
    StaleLogin,
    /// Too many failed logins ([`throttle`](crate::throttle)): 429 with
    /// `Retry-After`.
    Throttled {
        /// Seconds until the lockout ends.
        retry_after_secs: u64,
    },
}

/// What a [`Denial`] looks like on the wire, identical in every adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialResponse {
    /// The status code.
    pub status: u16,
    /// Headers to set, with lowercase names.
    pub headers: Vec<(&'static str, String)>,
    /// A short JSON body; internal detail never goes here.
    pub body: std::borrow::Cow<'static, str>,
}

pub(crate) struct Inner {
    /// Every store call, timed and counted.
    pub(crate) store: crate::telemetry::InstrumentedStore,
    /// The same store, for [`Authenticator::store`].
    store_dyn: Arc<dyn SessionStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) idle: Duration,
    pub(crate) absolute: Duration,
    pub(crate) refresh_after: Duration,
    pub(crate) remember_idle: Duration,
    pub(crate) remember_absolute: Duration,
    pub(crate) remember_refresh_after: Duration,
    pub(crate) session_limit: Option<(usize, SessionLimit)>,
    pub(crate) cookie: CookiePolicy,
    pub(crate) max_data_bytes: usize,
    retry_after_secs: u64,
    challenge: String,
    pub(crate) realm: String,
    #[cfg(feature = "jwt")]
    pub(crate) access_tokens: Option<crate::jwt::AccessTokens>,
    #[cfg(feature = "jwt")]
    pub(crate) refresh: Option<crate::jwt::RefreshPolicy>,
    #[cfg(feature = "oidc")]
    pub(crate) external: Vec<crate::jwt::oidc::ExternalIssuer>,
    pub(crate) csrf: Option<crate::csrf::CsrfPolicy>,
    pub(crate) throttle: Option<crate::throttle::LoginThrottle>,
    pub(crate) grants: crate::identity::RolePermissions,
    custom: Vec<Arc<dyn crate::custom::CustomAuthenticator>>,
    custom_headers: Vec<&'static str>,
    /// The policy of the access-token cookie, when tokens may travel in one.
    access_cookie: Option<CookiePolicy>,
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

/// Turns a request's credentials into an [`AuthHandle`], and carries the
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
    session_limit: Option<(usize, SessionLimit)>,
    cookie: CookiePolicy,
    max_data_bytes: usize,
    retry_after: std::time::Duration,
    realm: String,
    csrf: Option<crate::csrf::CsrfPolicy>,
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

    /// Protects cookie-authenticated requests against cross-site request
    /// forgery (off by default); see [`csrf`](crate::csrf). The adapters
    /// enforce it before the handler runs.
    pub fn with_csrf(mut self, policy: crate::csrf::CsrfPolicy) -> Self {
        self.csrf = Some(policy);
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
    pub fn with_access_token_cookie(mut self, name: impl Into<String>) -> Self {
        self.access_cookie = Some(name.into());
        self
    }

    /// At most `limit` live sessions per user (browser sessions and
    /// refresh families alike). A login past it is refused
    /// ([`Error::TooManySessions`], 409) or ends the user's oldest sessions,
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
    /// ([`SessionStore::subscribe`] answers `None`) is refused when access
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
        let idle = Duration::try_from(self.idle).map_err(|_| ConfigError::IdleTimeout)?;
        let absolute =
            Duration::try_from(self.absolute).map_err(|_| ConfigError::AbsoluteTimeout)?;
        if idle <= Duration::ZERO {
            return Err(ConfigError::IdleTimeout);
        }
        if absolute < idle {
            return Err(ConfigError::AbsoluteTimeout);
        }
        if !(0.0..=1.0).contains(&self.refresh_threshold) {
            return Err(ConfigError::RefreshThreshold);
        }
        let remember_idle =
            Duration::try_from(self.remember_idle).map_err(|_| ConfigError::IdleTimeout)?;
        let remember_absolute =
            Duration::try_from(self.remember_absolute).map_err(|_| ConfigError::AbsoluteTimeout)?;
        if remember_idle <= Duration::ZERO {
            return Err(ConfigError::IdleTimeout);
        }
        if remember_absolute < remember_idle {
            return Err(ConfigError::AbsoluteTimeout);
        }
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
            Some(revocations) => match self
                .store
                .subscribe(revocations)
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
            Arc::new(crate::telemetry::InstrumentedStore(Arc::clone(&self.store)));
        Ok(Authenticator {
            inner: Arc::new(Inner {
                _subscription: subscription,
                revocations,
                revocation_keep,
                max_staleness: self.max_staleness,
                vary: vary.into(),
                store: crate::telemetry::InstrumentedStore(self.store),
                store_dyn,
                csrf: self.csrf,
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
                session_limit: self.session_limit,
                cookie: self.cookie,
                max_data_bytes: self.max_data_bytes,
                retry_after_secs: retry_after_secs.max(1),
                challenge,
                realm: self.realm,
                #[cfg(feature = "jwt")]
                access_tokens: self.access_tokens,
                #[cfg(feature = "jwt")]
                refresh: self.refresh,
                #[cfg(feature = "oidc")]
                external: self.external,
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
            session_limit: Some((DEFAULT_MAX_SESSIONS_PER_USER, SessionLimit::EndOldest)),
            cookie: CookiePolicy::default(),
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
            retry_after: std::time::Duration::from_secs(1),
            realm: "app".into(),
            csrf: None,
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
        }
    }

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

    /// The CSRF policy, if configured.
    pub fn csrf(&self) -> Option<&crate::csrf::CsrfPolicy> {
        self.inner.csrf.as_ref()
    }

    /// What the CSRF check needs from a request, for adapters: `None`
    /// without a [`CsrfPolicy`](crate::csrf::CsrfPolicy) or for a safe
    /// method, and then nothing is read or copied. `host` (the `Host`
    /// header or, on HTTP/2, the URI's authority) is asked only for an
    /// unsafe method; `header` reads a header by lowercase name.
    ///
    /// ```
    /// use auth_core::csrf::CsrfPolicy;
    /// use auth_core::{Authenticator, MemoryStore};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new())
    ///     .with_csrf(CsrfPolicy::new(&[7; 32]).expect("a 32-byte key"))
    ///     .build()?;
    /// let no_host = || -> Option<&[u8]> { unreachable!("a GET needs no host") };
    /// assert!(auth.csrf_capture("GET", "/", no_host, |_| None).is_none());
    /// let capture = auth.csrf_capture("POST", "/logout", || Some(&b"example.com"[..]), |_| None);
    /// assert_eq!(capture.unwrap().method(), "POST");
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    pub fn csrf_capture<'a>(
        &self,
        method: &str,
        path: &str,
        host: impl FnOnce() -> Option<&'a [u8]>,
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Option<crate::csrf::CsrfCapture> {
        let policy = self.csrf()?;
        if !crate::csrf::is_unsafe_method(method) {
            return None;
        }
        Some(crate::csrf::CsrfCapture::read(
            policy,
            method,
            path,
            host(),
            header,
        ))
    }

    /// The request headers the [custom authenticators](crate::custom) read,
    /// in order; adapters hand their values to
    /// [`Credentials::with_header`].
    pub fn custom_headers(&self) -> &[&'static str] {
        &self.inner.custom_headers
    }

    /// Adds to `credentials` the values of every
    /// [custom header](Self::custom_headers), as `values` reads them from
    /// the request: what adapters call once per request.
    pub fn with_custom_headers<'a, F, I>(
        &self,
        credentials: Credentials,
        mut values: F,
    ) -> Credentials
    where
        F: FnMut(&'static str) -> I,
        I: IntoIterator<Item = &'a [u8]>,
    {
        self.inner
            .custom_headers
            .iter()
            .fold(credentials, |credentials, name| {
                credentials.with_header(name, values(name))
            })
    }

    /// The `Vary` value of an answer that depends on the request's
    /// credentials: every header they are read from (`Cookie,
    /// Authorization`, then the custom credential headers). Adapters build
    /// the header value once and add it when
    /// [`ResponseEdits::vary`](crate::ResponseEdits::vary) says so.
    pub fn vary_header(&self) -> &str {
        &self.inner.vary
    }

    /// The role-to-permission mapping.
    pub fn role_permissions(&self) -> &crate::identity::RolePermissions {
        &self.inner.grants
    }

    /// The `Set-Cookie` value that hands `token` to the browser in the
    /// access-token cookie (`HttpOnly`, `Max-Age` the token's lifetime);
    /// `None` unless [`with_access_token_cookie`](AuthenticatorBuilder::with_access_token_cookie)
    /// is configured.
    #[cfg(feature = "jwt")]
    pub fn access_token_cookie(&self, token: &crate::jwt::IssuedToken) -> Option<String> {
        let policy = self.inner.access_cookie.as_ref()?;
        let now = self.now();
        let expires_at = OffsetDateTime::from_unix_timestamp(token.expires_at).unwrap_or(now);
        Some(policy.session_cookie_kept(&token.token, now, expires_at, true))
    }

    /// The `Set-Cookie` value that removes the access-token cookie, if one
    /// is configured. A login and a logout send it (through
    /// [`AuthHandle::finish`]) when the request carried the cookie.
    pub(crate) fn access_cookie_removal(&self) -> Option<String> {
        Some(self.inner.access_cookie.as_ref()?.removal_cookie())
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

    /// The RFC 6750 challenge for bearer tokens, with an `error` when one
    /// was presented and failed.
    pub(crate) fn bearer_challenge(&self, error: Option<&str>) -> String {
        match error {
            Some(error) => format!("Bearer realm=\"{}\", error=\"{error}\"", self.inner.realm),
            None => format!("Bearer realm=\"{}\"", self.inner.realm),
        }
    }

    /// The RFC 6750 challenge for a bearer caller lacking `scope`; the
    /// scope is named when it is a valid scope token (RFC 6749 3.3).
    pub(crate) fn scope_challenge(&self, scope: &str) -> String {
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        let mut challenge = self.bearer_challenge(Some("insufficient_scope"));
        if valid {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        challenge
    }

    /// Step 1 of a request: parse what the adapter found. `cookie_headers`
    /// are the raw values of every `Cookie` header; `user_agent` and
    /// `address` describe the client for the device list.
    ///
    /// This does no I/O and never fails: bad input becomes a credential
    /// that [`authenticate`](Self::authenticate) rejects with a reason.
    pub fn credentials<'a, I>(
        &self,
        cookie_headers: I,
        user_agent: Option<&[u8]>,
        address: Option<String>,
    ) -> Credentials
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let (session, access_cookie) = match &self.inner.access_cookie {
            None => (
                self.inner.cookie.find_session_cookie(cookie_headers),
                CookieLookup::Absent,
            ),
            Some(access) => {
                // One past the limit: the lookup must know when some went
                // unread.
                let headers: Vec<&'a [u8]> = cookie_headers
                    .into_iter()
                    .take(crate::cookie::MAX_COOKIE_HEADERS + 1)
                    .collect();
                (
                    self.inner
                        .cookie
                        .find_session_cookie(headers.iter().copied()),
                    access.find_session_cookie(headers),
                )
            }
        };
        let session = match session {
            CookieLookup::Absent => SessionCredential::None,
            CookieLookup::Conflicting => SessionCredential::Conflicting,
            CookieLookup::Found(value) => match SessionToken::parse(value) {
                Ok(token) => SessionCredential::Token(token),
                Err(err) => SessionCredential::Malformed(err),
            },
        };
        let access_cookie = match access_cookie {
            CookieLookup::Absent => BearerCredential::None,
            CookieLookup::Conflicting => BearerCredential::Malformed,
            CookieLookup::Found(value) => {
                if value.is_empty() || value.len() > MAX_AUTHORIZATION_BYTES {
                    BearerCredential::Malformed
                } else {
                    BearerCredential::Token(value.to_vec())
                }
            }
        };
        let user_agent = user_agent.and_then(|ua| std::str::from_utf8(ua).ok());
        Credentials {
            session,
            bearer: BearerCredential::None,
            access_cookie,
            custom: Vec::new(),
            client: ClientMeta::new(user_agent, address),
        }
    }

    /// Step 2 of a request: resolve the credentials into an [`AuthHandle`].
    ///
    /// A missing or rejected credential gives an anonymous handle (with
    /// [`AuthHandle::rejection`] saying why, and a scheduled removal of a
    /// dead cookie). A store failure is an `Err`: never anonymous.
    ///
    /// Below the refresh threshold this costs exactly one store read; above
    /// it, one read and one `touch`, and the cookie is sent again.
    pub fn authenticate(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<AuthHandle, Error>> + Send + '_ {
        use tracing::Instrument as _;
        // Without a subscriber that wants debug spans, none is made: the
        // span machinery would cost more than the rest of a request.
        let span = if tracing::level_enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!(
                "authenticate",
                method = tracing::field::Empty,
                outcome = tracing::field::Empty,
                reason = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        // A named future rather than an `async` block, which would keep a
        // second copy of the credentials beside the inner future's.
        Authenticating {
            inner: self
                .authenticate_inner(credentials)
                .instrument(span.clone()),
            span,
        }
    }

    // An `async` block rather than an `async fn`: the block uses the
    // credentials where they were captured, where an `async fn` would move
    // them into a second slot of its future (so would binding their fields
    // to locals).
    #[allow(clippy::manual_async_fn)]
    fn authenticate_inner(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<AuthHandle, Error>> + Send + '_ {
        async move {
            if !credentials.custom.is_empty() {
                for authenticator in &self.inner.custom {
                    let header = authenticator.header();
                    let Some((_, presented)) =
                        credentials.custom.iter().find(|(name, _)| *name == header)
                    else {
                        continue;
                    };
                    // Boxed: this path is rare, and its future would otherwise
                    // enlarge every request's.
                    return Box::pin(self.custom(&**authenticator, presented, credentials.client))
                        .await;
                }
            }
            #[cfg(feature = "jwt")]
            if self.accepts_bearer() {
                match (credentials.bearer, credentials.access_cookie) {
                    (BearerCredential::None, BearerCredential::None) => {}
                    // A browser: the access cookie, with the session
                    // cookie beside it.
                    (BearerCredential::None, access) => {
                        return Box::pin(self.token_request(
                            access,
                            crate::AuthMethod::AccessCookie,
                            credentials.session,
                            credentials.client,
                        ))
                        .await;
                    }
                    // The `Authorization` header alone decides: a request
                    // with a bearer token never falls back to a cookie.
                    (bearer, _) => {
                        return Box::pin(self.token_request(
                            bearer,
                            crate::AuthMethod::Bearer,
                            SessionCredential::None,
                            credentials.client,
                        ))
                        .await;
                    }
                }
            }
            #[cfg(not(feature = "jwt"))]
            let _ = (credentials.bearer, credentials.access_cookie);
            let token = match credentials.session {
                SessionCredential::None => {
                    return Ok(AuthHandle::anonymous(
                        self,
                        credentials.client,
                        Presented::default(),
                        None,
                    ));
                }
                SessionCredential::Conflicting => {
                    // Not removed: the other copy may be a cookie tossed in
                    // from a sibling domain, which a removal cannot reach.
                    tracing::info!(reason = "conflicting_cookies", "session cookie rejected");
                    return Ok(AuthHandle::anonymous(
                        self,
                        credentials.client,
                        Presented::cookie(None),
                        Some(Rejection::ConflictingCookies),
                    ));
                }
                SessionCredential::Malformed(err) => {
                    tracing::debug!(reason = "malformed_cookie", error = %err, "session cookie rejected");
                    return Ok(self.rejected(
                        credentials.client,
                        Presented::cookie(None),
                        Rejection::MalformedCookie,
                    ));
                }
                SessionCredential::Token(token) => token,
            };
            let key = token.key();
            let now = self.now();
            let mut record = match self.inner.store.load_shared(&key).await {
                // The secret is checked only once a record was found: an
                // unknown id costs no hashing.
                Ok(Some(record)) if !record.is_expired(now) && token.matches(&record.verifier) => {
                    record
                }
                Ok(_) => {
                    return Ok(self.rejected(
                        credentials.client,
                        Presented::cookie(Some(token)),
                        Rejection::UnknownSession,
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "session store failed during authentication");
                    return Err(err.into());
                }
            };
            if record.kind != SessionKind::Browser {
                return Ok(self.rejected(
                    credentials.client,
                    Presented::cookie(Some(token)),
                    Rejection::WrongKind,
                ));
            }
            let mut cookie = CookieAction::None;
            let (idle, refresh_after) = self.inner.idle_of(record.lifetime);
            if now - record.last_refresh_at >= refresh_after {
                let idle_expires_at = (now + idle).min(record.absolute_expires_at);
                if idle_expires_at > record.idle_expires_at {
                    // Boxed: one request in many refreshes, and the future
                    // would otherwise enlarge every request's.
                    match Box::pin(self.inner.store.touch(&key, idle_expires_at, now)).await {
                        Ok(true) => {
                            crate::telemetry::refresh();
                            let record = Arc::make_mut(&mut record);
                            record.idle_expires_at = idle_expires_at;
                            record.last_refresh_at = now;
                            if self.inner.cookie_is_persistent(record.lifetime) {
                                cookie = CookieAction::Set;
                            }
                        }
                        Ok(false) => {
                            return Ok(self.rejected(
                                credentials.client,
                                Presented::cookie(Some(token)),
                                Rejection::UnknownSession,
                            ));
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "session store failed during refresh");
                            return Err(err.into());
                        }
                    }
                }
            }
            let identity = Identity::from_session(&record, &self.inner.grants);
            Ok(AuthHandle::authenticated(
                self,
                credentials.client,
                Current { token, record },
                identity,
                cookie,
            ))
        }
    }

    /// Decides a request by the credential it presented to `authenticator`.
    async fn custom(
        &self,
        authenticator: &dyn crate::custom::CustomAuthenticator,
        presented: &crate::custom::Presented,
        client: ClientMeta,
    ) -> Result<AuthHandle, Error> {
        let name = authenticator.name();
        let refused = Rejection::InvalidCredential {
            authenticator: name,
        };
        let crate::custom::Presented::Value(value) = presented else {
            tracing::debug!(
                authenticator = name,
                reason = "malformed",
                "credential rejected"
            );
            return Ok(AuthHandle::anonymous(
                self,
                client,
                Presented::default(),
                Some(refused),
            ));
        };
        match authenticator.authenticate(value).await {
            Ok(Some(identity)) => {
                let identity = if self.inner.grants.is_empty() {
                    identity
                } else {
                    let granted = self
                        .inner
                        .grants
                        .of_roles(identity.roles(), identity.permissions().to_vec());
                    identity.with_permissions(granted)
                };
                Ok(AuthHandle::bearer(
                    self,
                    client,
                    Presented::default(),
                    identity,
                ))
            }
            Ok(None) => {
                tracing::info!(authenticator = name, "credential rejected");
                Ok(AuthHandle::anonymous(
                    self,
                    client,
                    Presented::default(),
                    Some(refused),
                ))
            }
            Err(err) => {
                tracing::warn!(authenticator = name, error = %err, "credential check failed");
                Err(err.into())
            }
        }
    }

    /// Anonymous, with the session cookie (dead or garbage) removed.
    pub(crate) fn rejected(
        &self,
        client: ClientMeta,
        presented: Presented,
        reason: Rejection,
    ) -> AuthHandle {
        tracing::debug!(reason = reason.as_str(), "session cookie rejected");
        let handle = AuthHandle::anonymous(self, client, presented, Some(reason));
        handle.set_cookie_action(CookieAction::Remove);
        handle
    }

    /// What a [`Denial`] looks like on the wire. Adapters copy it verbatim,
    /// so every framework answers the same bytes.
    pub fn denial(&self, denial: Denial) -> DenialResponse {
        let json = ("content-type", "application/json".to_owned());
        let no_store = ("cache-control", "no-store".to_owned());
        match denial {
            Denial::Unauthenticated => DenialResponse {
                status: 401,
                headers: vec![
                    ("www-authenticate", self.inner.challenge.clone()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"unauthenticated"}"#.into(),
            },
            Denial::Forbidden => DenialResponse {
                status: 403,
                headers: vec![json, no_store],
                body: r#"{"error":"forbidden"}"#.into(),
            },
            Denial::InsufficientScope { missing } => DenialResponse {
                status: 403,
                headers: vec![json, no_store],
                body: serde_json::json!({"error": "insufficient_scope", "missing": &*missing})
                    .to_string()
                    .into(),
            },
            Denial::StaleLogin => DenialResponse {
                status: 401,
                headers: vec![
                    ("www-authenticate", self.inner.challenge.clone()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"login_required","reason":"stale_login"}"#.into(),
            },
            Denial::Csrf => DenialResponse {
                status: 403,
                headers: vec![json, no_store],
                body: r#"{"error":"csrf_rejected"}"#.into(),
            },
            Denial::Throttled { retry_after_secs } => DenialResponse {
                status: 429,
                headers: vec![
                    ("retry-after", retry_after_secs.max(1).to_string()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"too_many_attempts"}"#.into(),
            },
            Denial::Unavailable => DenialResponse {
                status: 503,
                headers: vec![
                    ("retry-after", self.inner.retry_after_secs.to_string()),
                    json,
                    no_store,
                ],
                body: r#"{"error":"unavailable"}"#.into(),
            },
        }
    }

    /// The response for an [`Error`] that escaped a handler or the layer.
    pub fn error_response(&self, error: &Error) -> DenialResponse {
        self.error_answer(error.status(), error.code())
    }

    /// The response for an error by its [`status`](Error::status) and
    /// [`code`](Error::code), as adapters carry them from a handler's
    /// error to the layer.
    pub fn error_answer(&self, status: u16, code: &'static str) -> DenialResponse {
        match status {
            401 => self.denial(Denial::Unauthenticated),
            503 => self.denial(Denial::Unavailable),
            status => DenialResponse {
                status,
                headers: vec![
                    ("content-type", "application/json".to_owned()),
                    ("cache-control", "no-store".to_owned()),
                ],
                body: format!(r#"{{"error":"{code}"}}"#).into(),
            },
        }
    }

    /// The response for a bare error status: 401 and 503 as configured,
    /// anything else as `internal`.
    pub fn status_response(&self, status: u16) -> DenialResponse {
        self.error_answer(status, "internal")
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
            SessionLifetime::BrowserSession => false,
            SessionLifetime::Remembered => true,
            _ => self.cookie.is_persistent(),
        }
    }

    /// The idle timeout and refresh threshold of sessions with `lifetime`.
    pub(crate) fn idle_of(&self, lifetime: SessionLifetime) -> (Duration, Duration) {
        match lifetime {
            SessionLifetime::Remembered => (self.remember_idle, self.remember_refresh_after),
            _ => (self.idle, self.refresh_after),
        }
    }

    /// The idle and absolute timeouts of a new session with `lifetime`.
    pub(crate) fn lifetimes_of(&self, lifetime: SessionLifetime) -> (Duration, Duration) {
        match lifetime {
            SessionLifetime::Remembered => (self.remember_idle, self.remember_absolute),
            _ => (self.idle, self.absolute),
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
