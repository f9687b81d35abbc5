//! The per-request [`AuthHandle`]: login, logout, rotation, the device list
//! and session data, recorded for the adapter to apply to the response.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use crate::authenticator::{Authenticator, Denial, DenialResponse, Rejection};
use crate::csrf::{CsrfFailure, CsrfRequest, CsrfVerdict};
use crate::error::Error;
use crate::identity::AuthMethod;
use crate::identity::Identity;
use crate::record::{ClientMeta, SessionData, SessionKind, SessionLifetime, SessionRecord};
use crate::store::StoreError;
use crate::throttle::{LoginAttempt, Throttled};
use crate::token::{SessionId, SessionToken};

/// How many times a data save re-reads and re-applies its changes after
/// losing a race with another request on the same session.
const SAVE_ATTEMPTS: usize = 3;

/// What to log a user in as.
///
/// ```
/// let login = auth_core::Login::new("alice").with_roles(["user"]).with_label("laptop");
/// # let _ = login;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Login {
    user_id: String,
    roles: Vec<String>,
    label: Option<String>,
    data: SessionData,
    lifetime: SessionLifetime,
}

impl Login {
    /// Logs in `user_id`, with no roles.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            roles: Vec::new(),
            label: None,
            data: SessionData::new(),
            lifetime: SessionLifetime::Standard,
        }
    }

    /// The "remember me" box: ticked (`true`), the session gets the
    /// remembered timeouts and a persistent cookie; not ticked, the
    /// standard timeouts and a cookie the browser forgets when it closes.
    /// Without this call, the [`CookiePolicy`](crate::CookiePolicy) decides.
    pub fn remember(mut self, remember: bool) -> Self {
        self.lifetime = if remember {
            SessionLifetime::Remembered
        } else {
            SessionLifetime::BrowserSession
        };
        self
    }

    /// The user's roles.
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// A label for the device list.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Initial session data.
    pub fn with_data(mut self, data: SessionData) -> Self {
        self.data = data;
        self
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (String, Vec<String>, Option<String>, SessionData) {
        (self.user_id, self.roles, self.label, self.data)
    }
}

/// One of a user's sessions, as the device list shows it: no token, no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The public session id.
    pub id: SessionId,
    /// When the session began.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the session was last seen, to the precision of the refresh
    /// threshold.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// When the session ends unless used again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The client's user agent at login.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub address: Option<String>,
    /// The application's label.
    pub label: Option<String>,
    /// Whether this is the session of the request that asked.
    pub current: bool,
    /// `browser` (a cookie) or `refresh` (an app holding a refresh token).
    pub kind: SessionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieAction {
    None,
    /// Send the current session's token (new, rotated or refreshed).
    Set,
    Remove,
}

pub(crate) struct Current {
    pub(crate) token: SessionToken,
    /// Shared with the store (or its cache) when it keeps records in
    /// `Arc`s: copied only if changed.
    pub(crate) record: Arc<SessionRecord>,
}

/// The cookie credentials a request carried, whichever authenticated it:
/// a login retires them all, a logout ends and removes them all.
#[derive(Default)]
pub(crate) struct Presented {
    /// The session cookie's token, when it parsed, whether or not it
    /// authenticated the request (it may be a stale one, or stand beside
    /// an access cookie).
    pub(crate) session: Option<SessionToken>,
    /// Whether there was a session cookie at all.
    pub(crate) session_cookie: bool,
    /// Whether there was an access-token cookie.
    pub(crate) access_cookie: bool,
    /// The session of the access-token cookie, when it verified (even if
    /// the request was then refused as carrying two sessions' cookies).
    pub(crate) access_session: Option<SessionId>,
}

impl Presented {
    /// A request that carried a session cookie: its token, if it parsed.
    pub(crate) fn cookie(session: Option<SessionToken>) -> Self {
        Self {
            session,
            session_cookie: true,
            ..Self::default()
        }
    }
}

/// `Cache-Control` as the core wants it after the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheControl {
    /// `no-store`, replacing whatever the app set: the answer sets or
    /// removes a credential.
    NoStore,
    /// `private`, unless the app set its own: the answer depends on who
    /// asked.
    Private,
}

impl CacheControl {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoStore => "no-store",
            Self::Private => "private",
        }
    }
}

/// What an adapter does to the response once the handler has answered,
/// as [`AuthHandle::finish`] decided it: the last step of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseEdits {
    /// `Set-Cookie` values to append, in order.
    pub set_cookies: Vec<String>,
    /// Whether the answer depends on the request's credentials: then the
    /// adapter appends [`Authenticator::vary_header`] to `Vary` (every
    /// header the credentials are read from).
    pub vary: bool,
    /// `Cache-Control` to set.
    pub cache_control: Option<CacheControl>,
}

struct State {
    current: Option<Current>,
    identity: Option<Identity>,
    presented: Presented,
    cookie: CookieAction,
    remove_access_cookie: bool,
    /// Data keys changed by this request: `None` means removed.
    changes: BTreeMap<String, Option<Value>>,
    rejection: Option<Rejection>,
}

/// The authentication state of one request, and the way handlers change it.
///
/// The adapter creates it from the request's credentials, puts it in the
/// request, and after the handler applies what it recorded: a new,
/// refreshed or removed cookie, and unsaved data. Clones share the state.
///
/// Operations that change sessions (`login`, `logout`, `rotate`, …) write to
/// the store at once and return its errors, so a handler never reports a
/// login that did not happen. Data changes are saved when the response is
/// produced (or by [`save`](Self::save)).
#[derive(Clone)]
pub struct AuthHandle {
    auth: Authenticator,
    shared: Arc<Shared>,
}

/// What the clones of a handle share: one allocation per request.
struct Shared {
    client: ClientMeta,
    /// Whether the request arrived authenticated.
    arrived_authenticated: bool,
    state: Mutex<State>,
}

impl fmt::Debug for AuthHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("AuthHandle")
            .field("identity", &state.identity)
            .field("cookie", &state.cookie)
            .field("rejection", &state.rejection)
            .finish_non_exhaustive()
    }
}

impl AuthHandle {
    fn new(
        auth: &Authenticator,
        client: ClientMeta,
        presented: Presented,
        current: Option<Current>,
        identity: Option<Identity>,
        cookie: CookieAction,
        rejection: Option<Rejection>,
    ) -> Self {
        Self {
            auth: auth.clone(),
            shared: Arc::new(Shared {
                client,
                arrived_authenticated: identity.is_some(),
                state: Mutex::new(State {
                    current,
                    identity,
                    presented,
                    cookie,
                    remove_access_cookie: false,
                    changes: BTreeMap::new(),
                    rejection,
                }),
            }),
        }
    }

    pub(crate) fn anonymous(
        auth: &Authenticator,
        client: ClientMeta,
        presented: Presented,
        rejection: Option<Rejection>,
    ) -> Self {
        Self::new(
            auth,
            client,
            presented,
            None,
            None,
            CookieAction::None,
            rejection,
        )
    }

    pub(crate) fn authenticated(
        auth: &Authenticator,
        client: ClientMeta,
        current: Current,
        identity: Identity,
        cookie: CookieAction,
    ) -> Self {
        let presented = Presented::cookie(Some(current.token.clone()));
        Self::new(
            auth,
            client,
            presented,
            Some(current),
            Some(identity),
            cookie,
            None,
        )
    }

    /// A request authenticated by an access token or a custom credential:
    /// no session record, no cookie of its own.
    pub(crate) fn bearer(
        auth: &Authenticator,
        client: ClientMeta,
        presented: Presented,
        identity: Identity,
    ) -> Self {
        Self::new(
            auth,
            client,
            presented,
            None,
            Some(identity),
            CookieAction::None,
            None,
        )
    }

    /// What a refusal of this request looks like: the authenticator's
    /// [`denial`](Authenticator::denial), plus the RFC 6750 `Bearer`
    /// challenges when access tokens are accepted: `error="invalid_token"`
    /// after a bad bearer token, `error="insufficient_scope"` for a bearer
    /// caller lacking a role or a permission (with the permission as
    /// `scope`).
    pub fn denial(&self, denial: Denial) -> DenialResponse {
        let mut res = self.auth.denial(denial.clone());
        if !self.auth.accepts_bearer() {
            return res;
        }
        let state = self.shared.state.lock();
        match denial {
            Denial::Unauthenticated => {
                if matches!(state.rejection, Some(Rejection::InvalidToken { .. })) {
                    let challenge = self.auth.bearer_challenge(Some("invalid_token"));
                    res.headers.insert(0, ("www-authenticate", challenge));
                } else {
                    res.headers
                        .insert(1, ("www-authenticate", self.auth.bearer_challenge(None)));
                }
            }
            Denial::Forbidden
                if state
                    .identity
                    .as_ref()
                    .is_some_and(|i| i.method() == AuthMethod::Bearer) =>
            {
                let challenge = self.auth.bearer_challenge(Some("insufficient_scope"));
                res.headers.insert(0, ("www-authenticate", challenge));
            }
            Denial::InsufficientScope { missing }
                if state
                    .identity
                    .as_ref()
                    .is_some_and(|i| i.method() == AuthMethod::Bearer) =>
            {
                let challenge = self.auth.scope_challenge(&missing);
                res.headers.insert(0, ("www-authenticate", challenge));
            }
            _ => {}
        }
        res
    }

    pub(crate) fn set_cookie_action(&self, action: CookieAction) {
        self.shared.state.lock().cookie = action;
    }

    /// Schedules the removal of the access-token cookie.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn remove_access_cookie(&self) {
        self.shared.state.lock().remove_access_cookie = true;
    }

    /// What the client said about itself (user agent, address).
    pub fn client(&self) -> &ClientMeta {
        &self.shared.client
    }

    /// The authenticator this handle came from.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The CSRF token of the current cookie session (after any login in
    /// this request), for the app to embed in its forms or hand to its
    /// scripts; `None` without a [`CsrfPolicy`](crate::csrf::CsrfPolicy)
    /// or a cookie session. Never log it.
    pub fn csrf_token(&self) -> Option<String> {
        let policy = self.auth.csrf()?;
        self.csrf_session().map(|id| policy.token_for(&id))
    }

    /// The session whose CSRF token this request must carry: the cookie
    /// session's, or that of an access token from the cookie.
    fn csrf_session(&self) -> Option<crate::SessionId> {
        let state = self.shared.state.lock();
        match &state.current {
            Some(current) => Some(current.record.id.clone()),
            None => state
                .identity
                .as_ref()
                .filter(|i| i.method() == AuthMethod::AccessCookie)
                .and_then(|i| i.session_id().cloned()),
        }
    }

    /// The CSRF check of this request (see [`csrf`](crate::csrf)), which
    /// the adapters run before the handler. Refusals are logged.
    pub fn check_csrf(&self, request: &CsrfRequest<'_>) -> CsrfVerdict {
        let Some(policy) = self.auth.csrf() else {
            return CsrfVerdict::Allow;
        };
        if !crate::csrf::is_unsafe_method(request.method) {
            return CsrfVerdict::Allow;
        }
        // Credentials a browser never sends on its own need no protection.
        let explicit = self
            .shared
            .state
            .lock()
            .identity
            .as_ref()
            .is_some_and(|i| matches!(i.method(), AuthMethod::Bearer | AuthMethod::Custom(_)));
        if explicit {
            return CsrfVerdict::Allow;
        }
        let session = self.csrf_session();
        let secure = self.auth.cookie_policy().secure();
        if let Err(failure) = policy.check_origin(request, secure) {
            return self.csrf_denied(request.method, failure);
        }
        let Some(id) = session else {
            return CsrfVerdict::Allow;
        };
        if policy.is_token_exempt(request.path) {
            return CsrfVerdict::Allow;
        }
        match request.token {
            Some(token) if policy.verify(&id, token) => CsrfVerdict::Allow,
            Some(_) => self.csrf_denied(request.method, CsrfFailure::BadToken),
            None if request.form => CsrfVerdict::ReadForm,
            None => self.csrf_denied(request.method, CsrfFailure::MissingToken),
        }
    }

    /// The last step after [`CsrfVerdict::ReadForm`]: the token in the
    /// urlencoded `body`. `body` is `None` when it was larger than
    /// [`max_form_bytes`](crate::csrf::CsrfPolicy::max_form_bytes).
    pub fn check_csrf_form(&self, method: &str, body: Option<&[u8]>) -> CsrfVerdict {
        let Some(policy) = self.auth.csrf() else {
            return CsrfVerdict::Allow;
        };
        let Some(body) = body else {
            return self.csrf_denied(method, CsrfFailure::FormTooLarge);
        };
        let Some(id) = self.csrf_session() else {
            return CsrfVerdict::Allow;
        };
        match crate::csrf::form_field(body, policy.form_field()) {
            Some(token) if policy.verify(&id, &token) => CsrfVerdict::Allow,
            Some(_) => self.csrf_denied(method, CsrfFailure::BadToken),
            None => self.csrf_denied(method, CsrfFailure::MissingToken),
        }
    }

    /// The whole CSRF check as an adapter runs it: the headers, then, if
    /// the token was not in one, the form body, which `read_form` reads (at
    /// most the limit it is given; `None` if larger) and puts back for the
    /// handler. `false`: refuse with [`Denial::Csrf`].
    pub async fn enforce_csrf<B: AsRef<[u8]>>(
        &self,
        capture: &crate::csrf::CsrfCapture,
        read_form: impl AsyncFnOnce(usize) -> Option<B>,
    ) -> bool {
        let mut verdict = self.check_csrf(&capture.request());
        if verdict == CsrfVerdict::ReadForm {
            let limit = self.auth.csrf().map_or(0, |p| p.max_form_bytes());
            let body = read_form(limit).await;
            verdict = self.check_csrf_form(capture.method(), body.as_ref().map(AsRef::as_ref));
        }
        verdict == CsrfVerdict::Allow
    }

    fn csrf_denied(&self, method: &str, failure: CsrfFailure) -> CsrfVerdict {
        crate::telemetry::csrf_rejection(failure.as_str());
        let user = self
            .identity()
            .map(|i| i.user_id().escape_debug().to_string());
        tracing::info!(
            reason = failure.as_str(),
            method,
            user = user.as_deref().unwrap_or("-"),
            "request refused as cross-site"
        );
        CsrfVerdict::Deny(failure)
    }

    /// Reserves a login attempt of `username` from this request's client
    /// address with the [login throttle](crate::throttle), if one is
    /// configured; call it before checking the password, then say how it
    /// went ([`LoginAttempt::failed`], [`LoginAttempt::succeeded`]).
    /// Answer [`Throttled::Limited`] with [`Denial::Throttled`] (429), a
    /// store error with 503.
    pub async fn reserve_login_attempt(&self, username: &str) -> Result<LoginAttempt, Throttled> {
        match self.auth.login_throttle() {
            Some(throttle) => {
                throttle
                    .reserve(username, self.shared.client.address.as_deref())
                    .await
            }
            None => Ok(LoginAttempt::unthrottled()),
        }
    }

    /// Checks `requirement` against the caller, at the authenticator's
    /// time; what guards and extractors of every adapter call.
    pub fn require(&self, requirement: &crate::Requirement) -> Result<(), Denial> {
        requirement.check_at(self.identity().as_ref(), self.auth.now())
    }

    /// Who is calling now (after any login or logout in this request).
    pub fn identity(&self) -> Option<Identity> {
        self.shared.state.lock().identity.clone()
    }

    /// How the caller authenticated and why a credential was rejected, in
    /// one look at the state.
    pub(crate) fn outcome(&self) -> (Option<AuthMethod>, Option<Rejection>) {
        let state = self.shared.state.lock();
        (
            state.identity.as_ref().map(Identity::method),
            state.rejection,
        )
    }

    /// Whether someone is calling now (after any login or logout in this
    /// request): [`identity`](Self::identity) without the copy.
    pub fn is_authenticated(&self) -> bool {
        self.shared.state.lock().identity.is_some()
    }

    /// Why the request's credential was rejected, if it was.
    pub fn rejection(&self) -> Option<Rejection> {
        self.shared.state.lock().rejection
    }

    /// The caller, who must be a local user, and the cookie session's
    /// record, if any.
    fn require_user(&self) -> Result<(Identity, Option<SessionRecord>), Error> {
        let state = self.shared.state.lock();
        let identity = state.identity.clone().ok_or(Error::NoSession)?;
        if !identity.is_local() {
            return Err(Error::NotLocalUser);
        }
        let record = state
            .current
            .as_ref()
            .map(|c| SessionRecord::clone(&c.record));
        Ok((identity, record))
    }

    /// An access token for the cookie session of this request (its user,
    /// roles and session id), for the app to hand to the browser in the
    /// access-token cookie ([`Authenticator::access_token_cookie`]) or to
    /// a script. `Ok(None)` without a cookie session; an error without a
    /// signing key. Logging the session out revokes the token.
    #[cfg(feature = "jwt")]
    pub fn issue_access_token(
        &self,
    ) -> Result<Option<crate::jwt::IssuedToken>, crate::jwt::JwtError> {
        let Some(tokens) = self.auth.access_tokens() else {
            return Err(crate::jwt::JwtError::NoSigningKey);
        };
        let subject = {
            let state = self.shared.state.lock();
            let Some(current) = &state.current else {
                return Ok(None);
            };
            crate::jwt::Subject::new(current.record.user_id.clone())
                .with_roles(current.record.roles.iter().cloned())
                .with_session(current.record.id.clone())
                .issued_after(current.record.tokens_not_before)
        };
        tokens.issue(&subject, &crate::jwt::NoClaims {}).map(Some)
    }

    /// Logs a user in: creates a session with a fresh token and schedules
    /// the cookie. Every credential the request came with is retired
    /// first-come: its session cookie's session and its access cookie's
    /// session end (whoever they belonged to: the defence against session
    /// fixation), with their access tokens, and the access cookie is
    /// removed. The new session counts toward the user's session limit.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use auth_core::{Authenticator, Login, MemoryStore};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new()).build().unwrap();
    /// let handle = auth.authenticate(auth.credentials([], None, None)).await.unwrap();
    /// let identity = handle.login(Login::new("alice").with_roles(["user"])).await.unwrap();
    /// assert_eq!(identity.user_id(), "alice");
    /// let edits = handle.finish().await.unwrap();
    /// assert!(edits.set_cookies[0].starts_with("__Host-session="));
    /// # });
    /// ```
    pub async fn login(&self, login: Login) -> Result<Identity, Error> {
        let retiring = self.presented_sessions().await?;
        let token = SessionToken::generate()?;
        let now = self.auth.now();
        let inner = &self.auth.inner;
        let (idle, absolute) = inner.lifetimes_of(login.lifetime);
        let absolute_expires_at = now + absolute;
        let mut client = self.shared.client.clone();
        client.label = login.label;
        let record = SessionRecord {
            id: token.key().id(),
            user_id: login.user_id,
            kind: SessionKind::Browser,
            verifier: token.verifier(),
            generation: 0,
            rotated_at: now,
            tokens_not_before: None,
            roles: login.roles,
            created_at: now,
            idle_expires_at: (now + idle).min(absolute_expires_at),
            absolute_expires_at,
            last_refresh_at: now,
            data: login.data,
            client,
            lifetime: login.lifetime,
            version: 1,
        };
        check_size(&record.data, inner.max_data_bytes)?;
        inner.store.create(&record).await?;
        let replacing = retiring
            .iter()
            .find(|r| r.user_id == record.user_id)
            .map(SessionRecord::key);
        self.auth
            .enforce_session_limit(&record, replacing.as_ref())
            .await?;
        // The new session exists; if retiring an old one fails, the caller
        // gets an error and no cookie, and the new session expires unused.
        for old in &retiring {
            self.auth.end_session(&old.key()).await?;
        }
        let identity = Identity::from_session(&record, &self.auth.inner.grants);
        tracing::info!(session = %record.id, user = %record.user_id.escape_debug(), "login");
        crate::telemetry::login("browser");
        let mut state = self.shared.state.lock();
        state.remove_access_cookie |= state.presented.access_cookie;
        state.current = Some(Current {
            token,
            record: Arc::new(record),
        });
        state.identity = Some(identity.clone());
        state.cookie = CookieAction::Set;
        state.changes.clear();
        state.rejection = None;
        Ok(identity)
    }

    /// The live sessions whose credentials this request carried: its
    /// cookie session, the session of its access-token cookie, and a
    /// session cookie that did not authenticate it but whose token still
    /// matches its session (beside an access cookie, say). A token that
    /// does not match is no proof of anything and retires nothing.
    async fn presented_sessions(&self) -> Result<Vec<SessionRecord>, Error> {
        let (current, unverified, access_sid) = {
            let state = self.shared.state.lock();
            let current = state
                .current
                .as_ref()
                .map(|c| SessionRecord::clone(&c.record));
            let unverified = match &current {
                Some(_) => None,
                None => state.presented.session.clone(),
            };
            let access_sid = state.presented.access_session.clone();
            (current, unverified, access_sid)
        };
        let store = &self.auth.inner.store;
        let mut sessions: Vec<SessionRecord> = current.into_iter().collect();
        if let Some(token) = unverified
            && let Some(record) = store.load(&token.key()).await?
            && record.kind == SessionKind::Browser
            && token.matches(&record.verifier)
        {
            sessions.push(record);
        }
        if let Some(sid) = access_sid
            && sessions.iter().all(|s| s.id != sid)
            && let Some(record) = store.load(&sid.key()).await?
        {
            sessions.push(record);
        }
        Ok(sessions)
    }

    /// Ends every session this request's credentials belong to (its
    /// cookie session, its access cookie's session, a bearer token's
    /// session) and removes every credential cookie it carried. Returns
    /// whether there was a session to end.
    pub async fn logout(&self) -> Result<bool, Error> {
        let bearer_sid = {
            let state = self.shared.state.lock();
            state
                .identity
                .as_ref()
                .filter(|i| i.method() == AuthMethod::Bearer)
                .and_then(|i| i.session_id().cloned())
        };
        let mut ended = false;
        if let Some(sid) = bearer_sid {
            ended |= self.auth.end_session(&sid.key()).await?;
        }
        for session in self.presented_sessions().await? {
            ended |= self.auth.end_session(&session.key()).await?;
        }
        self.clear_session();
        Ok(ended)
    }

    /// After this request's sessions ended: no caller, and every
    /// credential cookie it carried removed.
    fn clear_session(&self) {
        let mut state = self.shared.state.lock();
        if let Some(c) = state.current.take() {
            tracing::info!(session = %c.record.id, user = %c.record.user_id.escape_debug(), "logout");
        }
        state.identity = None;
        state.changes.clear();
        if state.presented.session_cookie || state.cookie == CookieAction::Set {
            state.cookie = CookieAction::Remove;
        }
        state.remove_access_cookie |= state.presented.access_cookie;
    }

    /// Ends every session of the caller, this one included, and refuses
    /// every access token issued to the caller until now. Returns how many
    /// sessions ended.
    pub async fn logout_everywhere(&self) -> Result<usize, Error> {
        let (identity, _) = self.require_user()?;
        let user = identity.user_id();
        self.auth.cut_off_user_tokens(user).await?;
        let n = self.auth.end_user_sessions(user, None).await?;
        tracing::info!(user = %user.escape_debug(), sessions = n, "logout everywhere");
        self.clear_session();
        Ok(n)
    }

    /// After the caller changed their password: ends every other session,
    /// refuses every access token issued until now, and gives this session
    /// a new token, so a thief holding any old credential is out while the
    /// user stays logged in here. Returns how many other sessions ended.
    pub async fn password_changed(&self) -> Result<usize, Error> {
        let (identity, record) = self.require_user()?;
        let user = identity.user_id();
        let cut_off = self.auth.cut_off_user_tokens(user).await?;
        let keep = record.as_ref().map(SessionRecord::key);
        let ended = self.auth.end_user_sessions(user, keep.as_ref()).await?;
        if record.is_some() {
            self.rotate_with(|r| r.tokens_not_before = r.tokens_not_before.max(Some(cut_off)))
                .await?;
        }
        tracing::info!(user = %user.escape_debug(), sessions = ended, "password changed: other sessions ended");
        Ok(ended)
    }

    /// Ends every session of the caller except this one. Returns how many
    /// ended.
    pub async fn logout_others(&self) -> Result<usize, Error> {
        let (identity, record) = self.require_user()?;
        let user = identity.user_id();
        let keep = record
            .map(|r| r.key())
            .or_else(|| identity.session_id().map(SessionId::key));
        let n = self.auth.end_user_sessions(user, keep.as_ref()).await?;
        tracing::info!(user = %user.escape_debug(), sessions = n, "logout of other sessions");
        Ok(n)
    }

    /// The caller's live sessions, newest first.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let (identity, _) = self.require_user()?;
        let records = self.auth.inner.store.list_user(identity.user_id()).await?;
        Ok(crate::lifecycle::session_infos(
            records,
            identity.session_id(),
        ))
    }

    /// Ends one of the caller's own sessions, by public id (a refresh
    /// family with every token of it). Returns `false` if the caller has
    /// no such session (someone else's id included). Revoking the current
    /// session is a logout.
    pub async fn revoke(&self, id: &SessionId) -> Result<bool, Error> {
        let (identity, record) = self.require_user()?;
        let user = identity.user_id();
        let key = id.key();
        match self.auth.inner.store.load(&key).await? {
            Some(session) if session.user_id == user => {}
            _ => return Ok(false),
        }
        if !self.auth.end_session(&key).await? {
            return Ok(false);
        }
        tracing::info!(session = %id, user = %user.escape_debug(), "session revoked");
        if record.is_some_and(|r| r.id == *id) || identity.session_id() == Some(id) {
            self.clear_session();
        }
        Ok(true)
    }

    /// Gives the current session a new token and retires the old one
    /// atomically (a compare-and-set of the session: of two rotations that
    /// race, one succeeds and the other fails with [`Error::Conflict`]);
    /// the public id, data and expiries stay. Do this on every privilege
    /// change.
    pub async fn rotate(&self) -> Result<(), Error> {
        self.rotate_with(|_| {}).await.map(|_| ())
    }

    /// Changes the session's roles, rotating its token (a privilege
    /// change) and refusing its access tokens issued until now, which
    /// carry the old roles.
    pub async fn set_roles<I, R>(&self, roles: I) -> Result<Identity, Error>
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        let (id, user) = {
            let state = self.shared.state.lock();
            let current = state.current.as_ref().ok_or(Error::NoSession)?;
            (current.record.id.clone(), current.record.user_id.clone())
        };
        // Refused first, everywhere; then the record says so too (for
        // instances that check tokens against it).
        let cut_off = self.auth.revoke_session_tokens_before(&id, &user).await?;
        self.rotate_with(move |r| {
            r.roles = roles;
            r.tokens_not_before = Some(cut_off);
        })
        .await?;
        self.identity().ok_or(Error::NoSession)
    }

    /// Rotates the current session's token, applying `change` (and this
    /// request's pending data) in the same compare-and-set. The session's
    /// id.
    async fn rotate_with(
        &self,
        change: impl FnOnce(&mut SessionRecord),
    ) -> Result<SessionId, Error> {
        let (token, mut record) = {
            let state = self.shared.state.lock();
            let current = state.current.as_ref().ok_or(Error::NoSession)?;
            let mut record = SessionRecord::clone(&current.record);
            apply_changes(&mut record.data, &state.changes);
            (SessionToken::rotate(current.record.key())?, record)
        };
        check_size(&record.data, self.auth.inner.max_data_bytes)?;
        record.verifier = token.verifier();
        record.generation += 1;
        record.rotated_at = self.auth.now();
        change(&mut record);
        record.version = match self.auth.inner.store.update(&record).await {
            Ok(version) => version,
            // Another request rotated or changed it first: this one's
            // token is no longer the session's.
            Err(StoreError::Conflict) => return Err(Error::Conflict),
            Err(StoreError::NotFound) => {
                self.clear_session();
                return Err(Error::NoSession);
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(session = %record.id, user = %record.user_id.escape_debug(), "session rotated");
        let identity = Identity::from_session(&record, &self.auth.inner.grants);
        let id = record.id.clone();
        let mut state = self.shared.state.lock();
        state.current = Some(Current {
            token,
            record: Arc::new(record),
        });
        state.identity = Some(identity);
        state.changes.clear();
        state.cookie = CookieAction::Set;
        Ok(id)
    }

    /// Reads a value from the session's data.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.shared.state.lock();
        let current = state.current.as_ref().ok_or(Error::NoSession)?;
        let value = match state.changes.get(key) {
            Some(changed) => changed.as_ref(),
            None => current.record.data.get_value(key),
        };
        value
            .map(|v| T::deserialize(v).map_err(Error::Data))
            .transpose()
    }

    /// Sets a value in the session's data; saved with the response.
    pub fn insert<T: Serialize>(&self, key: &str, value: &T) -> Result<(), Error> {
        let value = serde_json::to_value(value).map_err(Error::Data)?;
        let mut state = self.shared.state.lock();
        if state.current.is_none() {
            return Err(Error::NoSession);
        }
        state.changes.insert(key.to_owned(), Some(value));
        Ok(())
    }

    /// Removes a value from the session's data; saved with the response.
    pub fn remove(&self, key: &str) -> Result<(), Error> {
        let mut state = self.shared.state.lock();
        if state.current.is_none() {
            return Err(Error::NoSession);
        }
        state.changes.insert(key.to_owned(), None);
        Ok(())
    }

    /// Saves pending data changes now. On a concurrent change by another
    /// request, re-reads the session and re-applies only this request's
    /// changes, so neither request's keys are lost. A session that ended
    /// meanwhile takes the changes with it.
    pub async fn save(&self) -> Result<(), Error> {
        let store = &self.auth.inner.store;
        for _ in 0..SAVE_ATTEMPTS {
            let (mut record, changes) = {
                let state = self.shared.state.lock();
                if state.changes.is_empty() {
                    return Ok(());
                }
                let Some(current) = state.current.as_ref() else {
                    return Ok(());
                };
                (SessionRecord::clone(&current.record), state.changes.clone())
            };
            apply_changes(&mut record.data, &changes);
            check_size(&record.data, self.auth.inner.max_data_bytes)?;
            match store.update(&record).await {
                Ok(version) => {
                    record.version = version;
                    let mut state = self.shared.state.lock();
                    if let Some(current) = state.current.as_mut()
                        && current.record.id == record.id
                    {
                        current.record = Arc::new(record);
                    }
                    state.changes.retain(|k, v| changes.get(k) != Some(v));
                    return Ok(());
                }
                Err(StoreError::Conflict) => match store.load(&record.key()).await? {
                    Some(fresh) => {
                        let mut state = self.shared.state.lock();
                        if let Some(current) = state.current.as_mut() {
                            current.record = Arc::new(fresh);
                        }
                    }
                    None => {
                        self.drop_changes();
                        return Ok(());
                    }
                },
                Err(StoreError::NotFound) => {
                    self.drop_changes();
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    fn drop_changes(&self) {
        tracing::debug!("session ended before its data was saved; changes dropped");
        self.shared.state.lock().changes.clear();
    }

    /// The last step of a request, for adapters: saves pending data and
    /// says what to do to the response: the `Set-Cookie` values to send
    /// (a new, refreshed or removed session cookie, a removed access-token
    /// cookie), and the `Vary` and `Cache-Control` an answer that depends
    /// on who asked needs.
    pub async fn finish(&self) -> Result<ResponseEdits, Error> {
        if !self.shared.state.lock().changes.is_empty() {
            // Boxed: most requests save nothing, and every request's
            // future would otherwise be as large as a save's.
            Box::pin(self.save()).await?;
        }
        let state = self.shared.state.lock();
        let inner = &self.auth.inner;
        let mut edits = ResponseEdits::default();
        match state.cookie {
            CookieAction::None => {}
            CookieAction::Remove => edits.set_cookies.push(inner.cookie.removal_cookie()),
            CookieAction::Set => {
                if let Some(c) = &state.current {
                    edits.set_cookies.push(inner.cookie.session_cookie_kept(
                        &c.token.expose(),
                        self.auth.now(),
                        c.record.expires_at(),
                        inner.cookie_is_persistent(c.record.lifetime),
                    ));
                }
            }
        }
        if state.remove_access_cookie
            && let Some(removal) = self.auth.access_cookie_removal()
        {
            edits.set_cookies.push(removal);
        }
        let personal = self.shared.arrived_authenticated || state.identity.is_some();
        edits.vary = personal || !edits.set_cookies.is_empty();
        edits.cache_control = if !edits.set_cookies.is_empty() {
            Some(CacheControl::NoStore)
        } else if personal {
            Some(CacheControl::Private)
        } else {
            None
        };
        Ok(edits)
    }
}

fn apply_changes(data: &mut SessionData, changes: &BTreeMap<String, Option<Value>>) {
    for (k, v) in changes {
        data.set_value(k, v.clone());
    }
}

fn check_size(data: &SessionData, limit: usize) -> Result<(), Error> {
    if data.is_empty() {
        return Ok(());
    }
    let size = serde_json::to_vec(data).map_err(Error::Data)?.len();
    if size > limit {
        return Err(Error::DataTooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::testing::{CountingStore, FailingStore};
    use crate::{ConfigError, MemoryStore, SessionStore};

    struct Fixture {
        auth: Authenticator,
        store: CountingStore<FailingStore<MemoryStore>>,
        clock: ManualClock,
    }

    fn fixture() -> Fixture {
        let clock = ManualClock::starting_now();
        let store = CountingStore::new(FailingStore::new(MemoryStore::with_clock(Arc::new(
            clock.clone(),
        ))));
        let auth = Authenticator::builder(store.clone())
            .with_clock(Arc::new(clock.clone()))
            .with_cookie(crate::CookiePolicy::default().with_secure(false))
            .with_max_data_bytes(256)
            .build()
            .unwrap();
        Fixture { auth, store, clock }
    }

    impl Fixture {
        async fn request(&self, cookie: Option<&str>) -> AuthHandle {
            let header = cookie.map(|t| format!("session={t}"));
            let headers: Vec<&[u8]> = header.iter().map(|h| h.as_bytes()).collect();
            self.auth
                .authenticate(self.auth.credentials(headers, Some(b"test"), None))
                .await
                .unwrap()
        }

        /// Logs in and returns the token.
        async fn login(&self, user: &str) -> String {
            let handle = self.request(None).await;
            handle
                .login(Login::new(user).with_roles(["user"]))
                .await
                .unwrap();
            token_of(&handle.finish().await.unwrap().set_cookies[0].clone())
        }
    }

    fn token_of(set_cookie: &str) -> String {
        set_cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("session=")
            .to_owned()
    }

    #[tokio::test]
    async fn rotate_issues_a_new_token_and_keeps_the_session() {
        let f = fixture();
        let old = f.login("alice").await;
        let handle = f.request(Some(&old)).await;
        let id = handle.identity().unwrap().session_id().cloned();
        handle.rotate().await.unwrap();
        let new = token_of(&handle.finish().await.unwrap().set_cookies[0].clone());
        assert_ne!(old, new);
        assert!(
            f.request(Some(&old)).await.identity().is_none(),
            "old token dead"
        );
        let after = f.request(Some(&new)).await.identity().unwrap();
        assert_eq!(
            after.session_id().cloned(),
            id,
            "public id survives rotation"
        );
        assert_eq!(f.store.inner().inner().len(), 1);
    }

    #[tokio::test]
    async fn set_roles_rotates_and_changes_roles() {
        let f = fixture();
        let old = f.login("alice").await;
        let handle = f.request(Some(&old)).await;
        let identity = handle.set_roles(["user", "admin"]).await.unwrap();
        assert!(identity.has_role("admin"));
        let new = token_of(&handle.finish().await.unwrap().set_cookies[0].clone());
        assert!(
            f.request(Some(&new))
                .await
                .identity()
                .unwrap()
                .has_role("admin")
        );
        assert!(f.request(Some(&old)).await.identity().is_none());
    }

    #[tokio::test]
    async fn data_is_saved_with_the_response_and_merges_concurrent_changes() {
        let f = fixture();
        let token = f.login("alice").await;
        // Two requests on one session change different keys concurrently.
        let a = f.request(Some(&token)).await;
        let b = f.request(Some(&token)).await;
        a.insert("cart", &vec![1, 2, 3]).unwrap();
        b.insert("theme", &"dark").unwrap();
        assert_eq!(a.get::<Vec<i32>>("cart").unwrap(), Some(vec![1, 2, 3]));
        f.store.take_calls();
        assert!(
            a.finish().await.unwrap().set_cookies.is_empty(),
            "data changes need no cookie"
        );
        assert_eq!(f.store.take_calls().update, 1);
        b.finish().await.unwrap();
        let calls = f.store.take_calls();
        assert_eq!(
            (calls.update, calls.load),
            (2, 1),
            "conflict, re-read, retry: {calls:?}"
        );
        let c = f.request(Some(&token)).await;
        assert_eq!(c.get::<Vec<i32>>("cart").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(c.get::<String>("theme").unwrap().as_deref(), Some("dark"));
        c.remove("cart").unwrap();
        c.finish().await.unwrap();
        let d = f.request(Some(&token)).await;
        assert_eq!(d.get::<Vec<i32>>("cart").unwrap(), None);
        assert!(
            matches!(d.get::<i32>("theme"), Err(Error::Data(_))),
            "wrong type is an error"
        );
    }

    #[tokio::test]
    async fn oversized_data_is_refused() {
        let f = fixture();
        let token = f.login("alice").await;
        let handle = f.request(Some(&token)).await;
        handle.insert("blob", &"x".repeat(300)).unwrap();
        let err = handle.finish().await.unwrap_err();
        assert!(matches!(err, Error::DataTooLarge { limit: 256 }));
        assert_eq!(err.status(), 413);
    }

    #[tokio::test]
    async fn data_operations_need_a_session() {
        let f = fixture();
        let handle = f.request(None).await;
        assert!(matches!(handle.insert("k", &1), Err(Error::NoSession)));
        assert!(matches!(handle.get::<i32>("k"), Err(Error::NoSession)));
        assert!(matches!(
            handle.logout_everywhere().await,
            Err(Error::NoSession)
        ));
        assert!(matches!(handle.rotate().await, Err(Error::NoSession)));
        assert!(!handle.logout().await.unwrap());
    }

    #[tokio::test]
    async fn data_of_a_session_ended_meanwhile_is_dropped_quietly() {
        let f = fixture();
        let token = f.login("alice").await;
        let a = f.request(Some(&token)).await;
        a.insert("k", &1).unwrap();
        f.request(Some(&token)).await.logout().await.unwrap();
        assert!(a.finish().await.unwrap().set_cookies.is_empty());
        assert!(
            f.store.inner().inner().is_empty(),
            "the save did not resurrect it"
        );
    }

    #[tokio::test]
    async fn store_errors_are_errors_not_anonymous() {
        let f = fixture();
        let token = f.login("alice").await;
        f.store.inner().set_failing(true);
        let creds = f
            .auth
            .credentials([format!("session={token}").as_bytes()], None, None);
        let err = f.auth.authenticate(creds).await.unwrap_err();
        assert_eq!(err.status(), 503);
        // Without a credential no store is needed.
        let creds = f.auth.credentials([], None, None);
        assert!(f.auth.authenticate(creds).await.is_ok());
        f.store.inner().set_failing(false);
        assert!(f.request(Some(&token)).await.identity().is_some());
    }

    #[tokio::test]
    async fn rejections_carry_reasons_and_clear_dead_cookies() {
        let f = fixture();
        let cases = [
            ("session=nope", Some(Rejection::MalformedCookie), true),
            (
                &*format!("session={}.{}", "A".repeat(22), "A".repeat(43)),
                Some(Rejection::UnknownSession),
                true,
            ),
            (
                "session=a; session=b",
                Some(Rejection::ConflictingCookies),
                false,
            ),
            ("other=1", None, false),
        ];
        for (header, reason, clears) in cases {
            f.store.take_calls();
            let handle = f
                .auth
                .authenticate(f.auth.credentials([header.as_bytes()], None, None))
                .await
                .unwrap();
            assert_eq!(handle.rejection(), reason, "{header}");
            assert!(handle.identity().is_none());
            let cookies = handle.finish().await.unwrap().set_cookies;
            assert_eq!(!cookies.is_empty(), clears, "{header}");
            let loads = f.store.take_calls().load;
            let expect_load = usize::from(reason == Some(Rejection::UnknownSession));
            assert_eq!(
                loads, expect_load,
                "malformed input never reaches the store: {header}"
            );
        }
    }

    #[tokio::test]
    async fn a_refresh_session_token_is_not_a_browser_session() {
        let f = fixture();
        let token = SessionToken::generate().unwrap();
        let mut record =
            crate::testing::sample_record("alice", f.clock.now(), time::Duration::minutes(5));
        record.id = token.key().id();
        record.verifier = token.verifier();
        record.kind = SessionKind::Refresh;
        f.store.create(&record).await.unwrap();
        let handle = f.request(Some(&token.expose())).await;
        assert_eq!(handle.rejection(), Some(Rejection::WrongKind));
        assert!(handle.identity().is_none());
    }

    #[tokio::test]
    async fn the_session_list_is_newest_first_and_marks_the_current_one() {
        let f = fixture();
        let first = f.login("alice").await;
        f.clock.advance(time::Duration::seconds(5));
        let second = f.login("alice").await;
        let handle = f.request(Some(&first)).await;
        let list = handle.sessions().await.unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0].created_at > list[1].created_at);
        assert!(list[1].current && !list[0].current);
        assert_eq!(list[0].user_agent.as_deref(), Some("test"));
        let other = f.request(Some(&second)).await.identity().unwrap();
        assert_eq!(&list[0].id, other.session_id().unwrap());
        assert_eq!(handle.logout_others().await.unwrap(), 1);
        assert!(f.request(Some(&second)).await.identity().is_none());
        assert!(f.request(Some(&first)).await.identity().is_some());
    }

    #[test]
    fn invalid_configurations_are_refused_at_build_time() {
        use std::time::Duration as D;
        let build = |b: crate::AuthenticatorBuilder| b.build().map(|_| ()).unwrap_err();
        let base = || Authenticator::builder(MemoryStore::new());
        assert_eq!(
            build(base().with_idle_timeout(D::ZERO)),
            ConfigError::IdleTimeout
        );
        assert_eq!(
            build(
                base()
                    .with_idle_timeout(D::from_secs(60))
                    .with_absolute_timeout(D::from_secs(30))
            ),
            ConfigError::AbsoluteTimeout
        );
        assert_eq!(
            build(base().with_refresh_threshold(1.5)),
            ConfigError::RefreshThreshold
        );
        assert_eq!(
            build(base().with_refresh_threshold(f64::NAN)),
            ConfigError::RefreshThreshold
        );
        assert_eq!(build(base().with_realm("a\"b")), ConfigError::Realm);
        assert_eq!(
            build(base().with_cookie(crate::CookiePolicy::default().with_name("a b"))),
            ConfigError::CookieName
        );
    }

    #[tokio::test]
    async fn debug_output_holds_no_secret() {
        let f = fixture();
        let token = f.login("alice").await;
        let handle = f.request(Some(&token)).await;
        let shown = format!("{handle:?} {:?} {:?}", f.auth, handle.identity());
        assert!(!shown.contains(&token), "{shown}");
    }

    fn policies_fixture(limit: Option<(usize, crate::SessionLimit)>) -> Fixture {
        let clock = ManualClock::starting_now();
        let store = CountingStore::new(FailingStore::new(MemoryStore::with_clock(Arc::new(
            clock.clone(),
        ))));
        let mut builder = Authenticator::builder(store.clone())
            .with_clock(Arc::new(clock.clone()))
            .with_cookie(crate::CookiePolicy::default().with_secure(false))
            .with_remember_me(
                std::time::Duration::from_secs(7 * 86_400),
                std::time::Duration::from_secs(30 * 86_400),
            );
        if let Some((n, on_exceed)) = limit {
            builder = builder.with_max_sessions_per_user(n, on_exceed);
        }
        Fixture {
            auth: builder.build().unwrap(),
            store,
            clock,
        }
    }

    #[tokio::test]
    async fn remember_me_chooses_cookie_and_lifetimes() {
        let f = policies_fixture(None);
        let login = async |login: Login| {
            let handle = f.request(None).await;
            handle.login(login).await.unwrap();
            handle.finish().await.unwrap().set_cookies[0].clone()
        };
        let remembered = login(Login::new("alice").remember(true)).await;
        assert!(remembered.contains("Max-Age=604800"), "{remembered}");
        let forgotten = login(Login::new("alice").remember(false)).await;
        assert!(!forgotten.contains("Max-Age"), "{forgotten}");
        let standard = login(Login::new("alice")).await;
        assert!(standard.contains("Max-Age=1800"), "{standard}");

        // Two days later (past a quarter of its 7-day idle timeout) only
        // the remembered session lives, and its refresh sends the
        // persistent cookie again.
        f.clock.advance(time::Duration::days(2));
        let handle = f.request(Some(&token_of(&remembered))).await;
        assert!(handle.identity().is_some());
        let again = handle.finish().await.unwrap().set_cookies[0].clone();
        assert!(again.contains("Max-Age=604800"), "{again}");
        assert!(
            f.request(Some(&token_of(&forgotten)))
                .await
                .identity()
                .is_none()
        );
        assert!(
            f.request(Some(&token_of(&standard)))
                .await
                .identity()
                .is_none()
        );

        // A refreshed browser-session cookie stays without Max-Age.
        let forgotten = login(Login::new("bob").remember(false)).await;
        f.clock.advance(time::Duration::minutes(10));
        let refreshed = f
            .request(Some(&token_of(&forgotten)))
            .await
            .finish()
            .await
            .unwrap()
            .set_cookies;
        assert!(refreshed.iter().all(|c| !c.contains("Max-Age")));
    }

    #[tokio::test]
    async fn the_session_limit_refuses_or_ends_the_oldest() {
        let f = policies_fixture(Some((2, crate::SessionLimit::Refuse)));
        let first = f.login("alice").await;
        f.clock.advance(time::Duration::seconds(1));
        f.login("alice").await;
        let handle = f.request(None).await;
        assert!(matches!(
            handle.login(Login::new("alice")).await,
            Err(Error::TooManySessions)
        ));
        assert_eq!(Error::TooManySessions.status(), 409);
        f.login("bob").await;
        // Logging in again from a session of the user replaces it: allowed.
        let handle = f.request(Some(&first)).await;
        handle.login(Login::new("alice")).await.unwrap();

        let f = policies_fixture(Some((2, crate::SessionLimit::EndOldest)));
        let oldest = f.login("alice").await;
        f.clock.advance(time::Duration::seconds(1));
        let middle = f.login("alice").await;
        f.clock.advance(time::Duration::seconds(1));
        let newest = f.login("alice").await;
        assert!(f.request(Some(&oldest)).await.identity().is_none(), "ended");
        assert!(f.request(Some(&middle)).await.identity().is_some());
        assert!(f.request(Some(&newest)).await.identity().is_some());
        assert_eq!(f.store.inner().inner().len(), 2);
    }

    #[tokio::test]
    async fn a_password_change_keeps_this_session_rotated_and_ends_the_rest() {
        let f = policies_fixture(None);
        let here = f.login("alice").await;
        let elsewhere = f.login("alice").await;
        let handle = f.request(Some(&here)).await;
        let id = handle.identity().unwrap().session_id().cloned();
        assert_eq!(handle.password_changed().await.unwrap(), 1);
        let rotated = token_of(&handle.finish().await.unwrap().set_cookies[0].clone());
        assert_ne!(rotated, here, "a new token");
        assert!(f.request(Some(&here)).await.identity().is_none());
        assert!(f.request(Some(&elsewhere)).await.identity().is_none());
        let still = f.request(Some(&rotated)).await.identity().unwrap();
        assert_eq!(still.session_id().cloned(), id, "the same session");
    }
}
