//! The session lifecycle on one request: logging in and out, rotating the
//! token, the caller's device list, and ending the caller's sessions.

use std::sync::Arc;

use super::data::{apply_changes, check_size};
use super::{AuthHandle, CookieAction, Current};
use crate::claims::{CLAIMS_KEY, CustomClaims};
use crate::error::Error;
use crate::identity::{AuthMethod, Identity};
use crate::lifecycle::SessionInfo;
use crate::record::{SessionData, SessionKind, SessionLifetime, SessionRecord};
use crate::store::StoreError;
use crate::throttle::{LoginAttempt, Throttled};
use crate::token::{SessionId, SessionToken};

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
    claims: Option<CustomClaims>,
    lifetime: SessionLifetime,
    /// Keys of the visitor's data the new session keeps.
    carried: Vec<String>,
    /// Set by single sign-on, whose logins are of reserved owner names.
    pub(crate) reserved_owner: bool,
}

impl Login {
    /// The session's data, with the custom claims under their key.
    fn data_with_claims(data: SessionData, claims: Option<CustomClaims>) -> SessionData {
        let mut data = data;
        if let Some(claims) = claims {
            data.set_value(CLAIMS_KEY, Some(serde_json::Value::Object(claims)));
        }
        data
    }
}

impl Login {
    /// Logs in `user_id`, with no roles.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            roles: Vec::new(),
            label: None,
            data: SessionData::new(),
            claims: None,
            lifetime: SessionLifetime::Standard,
            carried: Vec::new(),
            reserved_owner: false,
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

    /// The application's own claims about the user (a JSON object: a
    /// tenant, a plan), kept with the session or refresh family, put into
    /// every access token and gateway token minted for it, and read by
    /// handlers through [`Identity::custom_claims`] (the adapters'
    /// `Claims<C>` extractor). [`Error::Data`] if they are not an object
    /// or use a [registered name](crate::claims::REGISTERED_CLAIMS).
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Plan {
    ///     tenant: String,
    ///     plan: String,
    /// }
    ///
    /// let plan = Plan { tenant: "acme".into(), plan: "gold".into() };
    /// let login = auth_core::Login::new("alice").with_claims(&plan)?;
    /// # let _ = login;
    /// assert!(auth_core::Login::new("alice").with_claims(&serde_json::json!({"sub": "root"})).is_err());
    /// # Ok::<(), auth_core::Error>(())
    /// ```
    pub fn with_claims<C: serde::Serialize>(mut self, claims: &C) -> Result<Self, Error> {
        self.claims = Some(crate::claims::to_custom_claims(claims)?);
        Ok(self)
    }

    /// Keeps these keys of the anonymous [visitor's
    /// session](crate::AuthHandle#before-the-login) in the new session (a
    /// cart, a preference); the rest of the visitor's data ends with it.
    /// A key [`with_data`](Self::with_data) sets wins.
    pub fn carrying<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.carried = keys.into_iter().map(Into::into).collect();
        self
    }

    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (String, Vec<String>, Option<String>, SessionData) {
        let data = Self::data_with_claims(self.data, self.claims);
        (self.user_id, self.roles, self.label, data)
    }
}

impl AuthHandle {
    /// Logs a user in: creates a session with a fresh token and schedules
    /// the cookie. Every credential the request came with is retired
    /// first-come: its session cookie's session and its access cookie's
    /// session end (whoever they belonged to: the defence against session
    /// fixation), with their access tokens, and the access cookie is
    /// removed. The new session counts toward the user's session limit.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use auth_core::adapter::Exchange;
    /// use auth_core::testing::{TestRequest, TestResponse};
    /// use auth_core::{Authenticator, Login, MemoryStore};
    ///
    /// let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build().unwrap());
    /// let handle = exchange.admit(&mut TestRequest::post("/login")).await.unwrap();
    /// let identity = handle.login(Login::new("alice").with_roles(["user"])).await.unwrap();
    /// assert_eq!(identity.user_id(), "alice");
    /// let mut response = TestResponse::new();
    /// exchange.respond(&handle, None, &mut response).await.unwrap();
    /// assert!(response.set_cookies()[0].starts_with("__Host-session="));
    /// # });
    /// ```
    pub async fn login(&self, mut login: Login) -> Result<Identity, Error> {
        if crate::owner::is_reserved(&login.user_id) && !login.reserved_owner {
            return Err(Error::ReservedUserId);
        }
        for (key, value) in self.visitor_data(&login.carried) {
            if login.data.get_value(&key).is_none() {
                login.data.set_value(&key, Some(value));
            }
        }
        let retiring = self.presented_sessions().await?;
        let token = SessionToken::generate()?;
        let now = self.auth.now();
        let inner = &self.auth.inner;
        let (idle, absolute) = inner.lifetimes_of(login.lifetime);
        let absolute_expires_at = now + absolute;
        let mut client = self.shared.client.clone();
        client.label = login.label;
        let record = SessionRecord {
            roles: login.roles,
            idle_expires_at: (now + idle).min(absolute_expires_at),
            data: Login::data_with_claims(login.data, login.claims),
            client,
            lifetime: login.lifetime,
            ..SessionRecord::new(
                token.key().id(),
                login.user_id,
                SessionKind::Browser,
                token.verifier(),
                now,
                absolute_expires_at,
            )
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
        state.visitor = None;
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
                .data_session()
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
        state.visitor = None;
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
        let (_, user, _) = self.require_user()?;
        let user = user.as_str();
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
        let (_, user, record) = self.require_user()?;
        let user = user.as_str();
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
        let (identity, user, record) = self.require_user()?;
        let user = user.as_str();
        let keep = record
            .map(|r| r.key())
            .or_else(|| identity.session_id().map(SessionId::key));
        let n = self.auth.end_user_sessions(user, keep.as_ref()).await?;
        tracing::info!(user = %user.escape_debug(), sessions = n, "logout of other sessions");
        Ok(n)
    }

    /// The caller's live sessions, newest first.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let (identity, user, _) = self.require_user()?;
        let records = self.auth.inner.store.list_user(&user).await?;
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
        let (identity, user, record) = self.require_user()?;
        let user = user.as_str();
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
}

impl AuthHandle {
    /// Reserves a login attempt of `username` from this request's client
    /// address with the [login throttle](crate::throttle), if one is
    /// configured; call it before checking the password, then say how it
    /// went ([`LoginAttempt::failed`], [`LoginAttempt::succeeded`]).
    /// Answer [`Throttled::Limited`] with [`Refusal::Throttled`](crate::Refusal::Throttled) (429), a
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
}
