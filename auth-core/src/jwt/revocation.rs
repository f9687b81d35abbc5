//! Revoked sessions and users, kept in memory so verifying a token needs no
//! store lookup.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

#[derive(Default)]
struct State {
    /// Revoked session ids, until when to remember them.
    sessions: HashMap<String, Instant>,
    /// Per user: tokens issued before this Unix time are refused.
    users: HashMap<String, (i64, Instant)>,
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
/// use auth_core::jwt::Revocations;
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

    fn prune(&self, state: &mut State) {
        state.inserts += 1;
        if state.inserts.is_multiple_of(64) {
            let now = Instant::now();
            state.sessions.retain(|_, until| *until > now);
            state.users.retain(|_, (_, until)| *until > now);
        }
    }

    /// Refuses every token of the session `sid` from now on.
    pub fn revoke_session(&self, sid: &str) {
        let mut state = self.state.write();
        state
            .sessions
            .insert(sid.to_owned(), Instant::now() + self.retention);
        self.prune(&mut state);
    }

    /// Refuses every token of `user` issued before `not_before` (Unix
    /// seconds): logout everywhere, a password change.
    pub fn revoke_user_before(&self, user: &str, not_before: i64) {
        let mut state = self.state.write();
        let until = Instant::now() + self.retention;
        let entry = state
            .users
            .entry(user.to_owned())
            .or_insert((not_before, until));
        entry.0 = entry.0.max(not_before);
        entry.1 = until;
        self.prune(&mut state);
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
