//! Revoked sessions and users, kept in memory so verifying an access token
//! needs no store lookup, and announced to the other instances through the
//! store.
//!
//! Every [`Authenticator`](crate::Authenticator) with access tokens keeps a
//! [`Revocations`] list. When a session ends (logout, logout everywhere, a
//! revoked device, detected refresh-token reuse) or a user's tokens are cut
//! off (a password change), the authenticator adds a [`Revocation`] to its
//! own list and hands it to [`SessionStore::announce`]; at build time it
//! calls [`SessionStore::subscribe`] so the announcements of the other
//! instances reach its list too. The memory store delivers within the
//! process; `auth-redis` through Redis pub/sub, with a sorted set from which
//! a subscriber that was disconnected catches up.
//!
//! [`SessionStore::announce`]: crate::SessionStore::announce
//! [`SessionStore::subscribe`]: crate::SessionStore::subscribe

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// One revocation, as announced to other instances.
///
/// [`encode`](Self::encode) and [`decode`](Self::decode) give the wire form
/// stores carry (compact JSON); a store crate treats it as opaque text.
///
/// ```
/// use auth_core::revocation::Revocation;
///
/// let r = Revocation::UserBefore { user: "alice".into(), not_before: 1_700_000_000 };
/// assert_eq!(Revocation::decode(&r.encode()), Some(r));
/// assert_eq!(Revocation::decode("{not json"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Revocation {
    /// Every token of this session (its public id, the tokens' `sid`).
    Session {
        /// The session's public id.
        sid: String,
    },
    /// Every token of `user` issued before `not_before` (Unix seconds).
    UserBefore {
        /// The user id (the tokens' `sub`).
        user: String,
        /// Tokens with an `iat` before this are refused.
        not_before: i64,
    },
    /// Cached copies of a session ([`CachedStore`](crate::CachedStore))
    /// are stale: it ended or changed. Tokens are not affected.
    Stale {
        /// The session's public id; `None` for every session of `user`.
        sid: Option<String>,
        /// The session's user.
        user: String,
    },
}

impl Revocation {
    /// The wire form: compact JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a revocation always serializes")
    }

    /// Parses the wire form; `None` for anything else (logged by callers).
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

#[derive(Default)]
struct State {
    /// Revoked session ids, until when to remember them.
    sessions: HashMap<String, Instant>,
    /// Per user: tokens issued before this Unix time are refused.
    users: HashMap<String, (i64, Instant)>,
    /// Stale cached sessions: when the news arrived, until when to keep it.
    stale_sessions: HashMap<String, (Instant, Instant)>,
    /// Users all of whose cached sessions are stale.
    stale_users: HashMap<String, (Instant, Instant)>,
    inserts: usize,
}

/// The session ids revoked recently, and per-user "not before" times.
///
/// An entry is kept for `retention`, which must be at least the longest
/// access-token lifetime plus leeway: after that no token that it could
/// refuse is still valid anyway. Clones share the list.
///
/// ```
/// use std::time::Duration;
/// use auth_core::revocation::Revocations;
///
/// let revocations = Revocations::new(Duration::from_secs(330));
/// revocations.revoke_session("Fv3EbrH4dL0Xk7e1mV4tQw");
/// assert!(revocations.is_revoked(Some("Fv3EbrH4dL0Xk7e1mV4tQw"), "alice", 0));
/// ```
#[derive(Clone)]
pub struct Revocations {
    state: Arc<RwLock<State>>,
    retention: Duration,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read();
        f.debug_struct("Revocations")
            .field("sessions", &state.sessions.len())
            .field("users", &state.users.len())
            .field("retention", &self.retention)
            .finish()
    }
}

impl Revocations {
    /// An empty list that remembers entries for `retention`.
    pub fn new(retention: Duration) -> Self {
        Self {
            state: Arc::default(),
            retention,
        }
    }

    /// How long entries are kept.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// A handle that does not keep the list alive; stores hold these for
    /// their subscribers.
    pub fn downgrade(&self) -> WeakRevocations {
        WeakRevocations {
            state: Arc::downgrade(&self.state),
            retention: self.retention,
        }
    }

    /// Applies `revocation`, remembering it for `keep` (announcements from
    /// other instances carry how long their sender keeps them). An entry
    /// already known is kept for the longer of the two times.
    pub fn apply(&self, revocation: &Revocation, keep: Duration) {
        let until = Instant::now() + keep;
        let mut state = self.state.write();
        match revocation {
            Revocation::Session { sid } => {
                let entry = state.sessions.entry(sid.clone()).or_insert(until);
                *entry = (*entry).max(until);
            }
            Revocation::UserBefore { user, not_before } => {
                let entry = state
                    .users
                    .entry(user.clone())
                    .or_insert((*not_before, until));
                entry.0 = entry.0.max(*not_before);
                entry.1 = entry.1.max(until);
            }
            Revocation::Stale { sid, user } => {
                let now = Instant::now();
                let map = match sid {
                    Some(sid) => state.stale_sessions.entry(sid.clone()),
                    None => state.stale_users.entry(user.clone()),
                };
                let entry = map.or_insert((now, until));
                *entry = (now, entry.1.max(until));
            }
        }
        self.prune(&mut state);
    }

    fn prune(&self, state: &mut State) {
        state.inserts += 1;
        if state.inserts.is_multiple_of(64) {
            let now = Instant::now();
            state.sessions.retain(|_, until| *until > now);
            state.users.retain(|_, (_, until)| *until > now);
            state.stale_sessions.retain(|_, (_, until)| *until > now);
            state.stale_users.retain(|_, (_, until)| *until > now);
        }
    }

    /// Refuses every token of the session `sid` from now on.
    ///
    /// This changes this list only; [`Authenticator`](crate::Authenticator)
    /// also announces to the other instances.
    pub fn revoke_session(&self, sid: &str) {
        self.apply(
            &Revocation::Session {
                sid: sid.to_owned(),
            },
            self.retention,
        );
    }

    /// Refuses every token of `user` issued before `not_before` (Unix
    /// seconds): logout everywhere, a password change.
    pub fn revoke_user_before(&self, user: &str, not_before: i64) {
        self.apply(
            &Revocation::UserBefore {
                user: user.to_owned(),
                not_before,
            },
            self.retention,
        );
    }

    /// Whether a token of session `sid`, user `user`, issued at `iat` is
    /// revoked.
    pub fn is_revoked(&self, sid: Option<&str>, user: &str, iat: i64) -> bool {
        let state = self.state.read();
        if state.sessions.is_empty() && state.users.is_empty() {
            return false;
        }
        let now = Instant::now();
        if let Some(sid) = sid
            && state.sessions.get(sid).is_some_and(|until| *until > now)
        {
            return true;
        }
        state
            .users
            .get(user)
            .is_some_and(|(nbf, until)| *until > now && iat < *nbf)
    }
}

impl Revocations {
    /// Whether a cached copy of session `sid` of `user`, loaded at
    /// `loaded_at`, was made stale by a [`Revocation::Stale`] that arrived
    /// since.
    pub fn is_stale(&self, sid: &str, user: &str, loaded_at: Instant) -> bool {
        let state = self.state.read();
        if state.stale_sessions.is_empty() && state.stale_users.is_empty() {
            return false;
        }
        let now = Instant::now();
        let newer = |entry: Option<&(Instant, Instant)>| {
            entry.is_some_and(|(arrived, until)| *until > now && *arrived >= loaded_at)
        };
        newer(state.stale_sessions.get(sid)) || newer(state.stale_users.get(user))
    }
}

/// A [`Revocations`] list that may have been dropped: what a store keeps for
/// a subscriber, so a forgotten subscription cannot keep a list alive.
#[derive(Debug, Clone)]
pub struct WeakRevocations {
    state: Weak<RwLock<State>>,
    retention: Duration,
}

impl WeakRevocations {
    /// The list, if someone still holds it.
    pub fn upgrade(&self) -> Option<Revocations> {
        Some(Revocations {
            state: self.state.upgrade()?,
            retention: self.retention,
        })
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// Keeps a store's delivery of announcements running; dropping it stops
/// the delivery. [`SessionStore::subscribe`](crate::SessionStore::subscribe)
/// returns one, and the [`Authenticator`](crate::Authenticator) holds it.
pub struct Subscription {
    _guard: Box<dyn Send + Sync>,
}

impl Subscription {
    /// A subscription that runs until `guard` is dropped (a task handle that
    /// aborts on drop, a registration that removes itself).
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Self {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}
