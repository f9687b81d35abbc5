//! The per-request [`AuthHandle`]: login, logout, rotation, the device list
//! and session data, recorded for the adapter to apply to the response.

#[cfg(feature = "jwt")]
mod access;
mod data;
mod flash;
mod password;
mod respond;
mod session;
#[cfg(test)]
mod tests;
mod visitor;

pub use flash::FLASH_KEY;
pub use password::LoginError;
pub use session::Login;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use crate::authenticator::Authenticator;
use crate::error::Error;
use crate::identity::{AuthMethod, Identity};
use crate::record::{ClientMeta, SessionRecord};
use crate::refusal::{Refusal, Rejection};
use crate::token::{SessionId, SessionToken};

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

struct State {
    /// The session of the caller, when a session cookie authenticated
    /// them or they logged in.
    current: Option<Current>,
    /// An anonymous visitor's session, which holds data but authenticates
    /// no one: the one the cookie carried, or the one this request
    /// created.
    visitor: Option<Current>,
    identity: Option<Identity>,
    presented: Presented,
    cookie: CookieAction,
    remove_access_cookie: bool,
    /// Data keys changed by this request: `None` means removed.
    changes: BTreeMap<String, Option<Value>>,
    rejection: Option<Rejection>,
    /// Set when the request is a browser's navigation to a page.
    navigation: Option<Navigation>,
}

impl State {
    /// The session the app's data lives in: the caller's, or the
    /// anonymous visitor's.
    fn data_session(&self) -> Option<&Current> {
        self.current.as_ref().or(self.visitor.as_ref())
    }

    fn data_session_mut(&mut self) -> Option<&mut Current> {
        self.current.as_mut().or(self.visitor.as_mut())
    }

    /// Whether the app may write data: into a session, or as an anonymous
    /// caller (the first write starts a visitor's session). A caller
    /// authenticated without a session (an access token) may not.
    fn may_write_data(&self) -> bool {
        self.data_session().is_some() || self.identity.is_none()
    }
}

/// A browser's navigation to a page: refusals answer it with pages, and a
/// missing login with a redirect to sign in, when one is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Navigation {
    /// The `Location` that sends the browser to sign in and back.
    pub(crate) sign_in: Option<String>,
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
///
/// # Before the login
///
/// An anonymous visitor has a session too once the app stores something
/// for them ([`insert`](Self::insert), [`set_flash`](Self::set_flash)): a
/// cart, the page to return to, an OAuth `state`. It is created on the
/// first write, never for a read, and carried by the same session cookie
/// (a browser-session cookie); it authenticates no one, counts toward no
/// user's session limit, shows in no device list, and lives for the
/// [visitor timeouts](crate::AuthenticatorBuilder::with_visitor_timeouts).
/// A login replaces it with the user's session under a new token (no
/// fixation), keeping the keys [`Login::carrying`] names; removing its
/// last key ends it. Cross-site requests of a visitor are refused by the
/// Fetch Metadata and `Origin` checks; the session-bound CSRF token
/// protects what a login grants.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use auth_core::adapter::Exchange;
/// use auth_core::testing::{TestRequest, TestResponse};
/// use auth_core::{Authenticator, Login, MemoryStore};
///
/// let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build().unwrap());
/// // A visitor fills a cart: the first write starts a visitor's session.
/// let handle = exchange.admit(&mut TestRequest::post("/cart")).await.unwrap();
/// handle.insert("cart", &["book"]).unwrap();
/// let mut response = TestResponse::new();
/// exchange.respond(&handle, None, &mut response).await.unwrap();
/// let visitor = response.cookie_pair(0).unwrap().to_owned();
///
/// // At login, the cart moves into the user's session, under a new token.
/// let login = TestRequest::post("/login").with_header("cookie", &visitor);
/// let handle = exchange.admit(&mut login.clone()).await.unwrap();
/// assert!(handle.identity().is_none(), "a visitor is nobody");
/// handle.login(Login::new("alice").carrying(["cart"])).await.unwrap();
/// assert_eq!(handle.get::<Vec<String>>("cart").unwrap(), Some(vec!["book".to_owned()]));
/// let mut response = TestResponse::new();
/// exchange.respond(&handle, None, &mut response).await.unwrap();
/// assert_ne!(response.cookie_pair(0).unwrap(), visitor);
/// # });
/// ```
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
                    visitor: None,
                    identity,
                    presented,
                    cookie,
                    remove_access_cookie: false,
                    changes: BTreeMap::new(),
                    rejection,
                    navigation: None,
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

    /// An anonymous request carrying a visitor's session cookie.
    pub(crate) fn visitor(
        auth: &Authenticator,
        client: ClientMeta,
        visitor: Current,
        cookie: CookieAction,
    ) -> Self {
        let presented = Presented::cookie(Some(visitor.token.clone()));
        let handle = Self::new(auth, client, presented, None, None, cookie, None);
        handle.shared.state.lock().visitor = Some(visitor);
        handle
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

    pub(crate) fn set_cookie_action(&self, action: CookieAction) {
        self.shared.state.lock().cookie = action;
    }

    /// Schedules the removal of the access-token cookie.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn remove_access_cookie(&self) {
        self.shared.state.lock().remove_access_cookie = true;
    }

    /// Marks the request as a browser's navigation to a page.
    pub(crate) fn set_navigation(&self, navigation: Navigation) {
        self.shared.state.lock().navigation = Some(navigation);
    }

    /// What the client said about itself (user agent, address).
    pub fn client(&self) -> &ClientMeta {
        &self.shared.client
    }

    /// The authenticator this handle came from.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Checks `requirement` against the caller, at the authenticator's
    /// time; what guards and extractors of every adapter call.
    pub fn require(&self, requirement: &crate::guard::Requirement) -> Result<(), Refusal> {
        requirement.check_at(self.identity().as_ref(), self.auth.now())
    }

    /// Who is calling now (after any login or logout in this request).
    pub fn identity(&self) -> Option<Identity> {
        self.shared.state.lock().identity.clone()
    }

    /// The session whose CSRF token this request must carry: the cookie
    /// session's, or that of an access token from the cookie.
    pub(crate) fn csrf_session(&self) -> Option<SessionId> {
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
    fn require_user(&self) -> Result<(Identity, String, Option<SessionRecord>), Error> {
        let state = self.shared.state.lock();
        let identity = state.identity.clone().ok_or(Error::NoSession)?;
        let record = state
            .current
            .as_ref()
            .map(|c| SessionRecord::clone(&c.record));
        // A provider's subject has sessions of its own when it signed in
        // here (under its namespaced owner name); its access tokens name
        // no sessions to manage.
        let owner = match &record {
            Some(record) => record.user_id.clone(),
            None if identity.is_local() => identity.user_id().to_owned(),
            None => return Err(Error::NotLocalUser),
        };
        Ok((identity, owner, record))
    }
}
