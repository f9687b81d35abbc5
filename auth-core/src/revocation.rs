//! Revoked sessions and users, kept in memory so verifying an access token
//! needs no store lookup, and announced to the other instances through the
//! store.
//!
//! Every [`Authenticator`](crate::Authenticator) that accepts access tokens
//! keeps a [`Revocations`] list. When a session ends (logout, logout
//! everywhere, a revoked device, detected refresh-token reuse) or its
//! tokens are cut off (a role or password change), the authenticator adds
//! a [`Revocation`] to its own list and hands it to
//! [`Announcements::announce`]; at build time it calls
//! [`Announcements::subscribe`] so the announcements of the other instances
//! reach its list too. The memory store delivers within the process;
//! `auth-redis` through Redis pub/sub, with a sorted set from which a
//! subscriber that was disconnected catches up.
//!
//! A list is only as good as its feed. A store reports the feed's health
//! ([`Revocations::feed_live`], [`Revocations::feed_lost`]); while it is
//! disconnected, or has not proved itself current within the allowed
//! staleness, the authenticator does not take the list's word: it checks a
//! token's session in the store, and refuses (503) a token it cannot check
//! that way.
//!
//! [`Announcements::announce`]: crate::Announcements::announce
//! [`Announcements::subscribe`]: crate::Announcements::subscribe

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// One revocation, as announced to other instances.
///
/// Times are Unix milliseconds. [`encode`](Self::encode) and
/// [`decode`](Self::decode) give the wire form stores carry (compact
/// JSON); a store crate treats it as opaque text.
///
/// ```
/// use auth_core::revocation::Revocation;
///
/// let r = Revocation::UserBefore { user: "alice".into(), issuer: None, not_before: 1_700_000_000_123 };
/// assert_eq!(Revocation::decode(&r.encode()), Some(r));
/// assert_eq!(Revocation::decode("{not json"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Revocation {
    /// Every access token of this session (its public id, the tokens'
    /// `sid`): the session ended.
    Session {
        /// The session's public id.
        sid: String,
    },
    /// The access tokens of this session issued up to `not_before`: its
    /// roles changed, or its user's password.
    SessionBefore {
        /// The session's public id.
        sid: String,
        /// Unix milliseconds; tokens issued up to then are refused.
        not_before: i64,
    },
    /// Every access token of a user issued up to `not_before`: a password
    /// change, logout everywhere, a role change.
    UserBefore {
        /// The user id (the tokens' `sub`, or the local user an external
        /// identity maps to).
        user: String,
        /// For an identity of an external issuer that maps to no local
        /// user: the issuer; `None` for local users.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
        /// Unix milliseconds; tokens issued up to then are refused.
        not_before: i64,
    },
    /// Cached copies of this session ([`CachedStore`](crate::CachedStore))
    /// are stale: it ended or changed. Tokens are not affected.
    StaleSession {
        /// The session's public id.
        sid: String,
    },
    /// Cached copies of every session of this user are stale.
    StaleUser {
        /// The user id.
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

/// How far behind the feed of other instances' revocations may be before
/// a list stops being trusted alone: 15 seconds. Stores prove their feed
/// current more often than that (`auth-redis` pings every 5 seconds).
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(15);

/// Refused up to this Unix millisecond, remembered until then.
#[derive(Clone, Copy)]
struct NotBefore {
    millis: i64,
    until: Instant,
}

impl NotBefore {
    fn merge(&mut self, millis: i64, until: Instant) {
        self.millis = self.millis.max(millis);
        self.until = self.until.max(until);
    }
}

/// A whole session revoked: every token refused, whenever issued.
const ALL: i64 = i64::MAX;

#[derive(Default)]
struct State {
    /// Per session id: tokens issued up to then are refused.
    sessions: HashMap<String, NotBefore>,
    /// Per local user: tokens issued up to then are refused.
    users: HashMap<String, NotBefore>,
    /// Per external issuer and subject.
    external: HashMap<(String, String), NotBefore>,
    /// Stale cached sessions: when the news arrived, until when to keep it.
    stale_sessions: HashMap<String, (Instant, Instant)>,
    /// Users all of whose cached sessions are stale.
    stale_users: HashMap<String, (Instant, Instant)>,
    inserts: usize,
}

/// Whether announcements from other instances are reaching the list, read
/// on every bearer request: atomics, not a lock.
struct Feed {
    /// Whether a store delivers announcements (rather than everything
    /// being revoked in this process, as with the memory store).
    remote: AtomicBool,
    /// Whether the delivery failed since it last proved current.
    lost: AtomicBool,
    /// When it last proved current (caught up, or the connection
    /// answered), in milliseconds since `epoch`; 0 for never.
    live_at: AtomicU64,
    /// When it was last lost, in milliseconds since `epoch`; 0 for never.
    lost_at: AtomicU64,
    epoch: Instant,
}

impl Feed {
    fn local() -> Self {
        Self {
            remote: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            live_at: AtomicU64::new(0),
            lost_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn since_epoch(&self) -> u64 {
        // At least 1: 0 means never.
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("remote", &self.remote.load(Ordering::Relaxed))
            .field("lost", &self.lost.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Whether a token may be accepted on the revocation list's word alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The list refuses it.
    Revoked,
    /// The list does not refuse it, and the list is current.
    Valid,
    /// The list does not refuse it, but announcements from other instances
    /// may be missing (the feed is disconnected, or has not caught up
    /// within the allowed staleness): check the session in the store, or
    /// refuse.
    Unsure,
}

/// The session ids revoked recently, and per-user "not before" times, with
/// the health of the feed that brings other instances' revocations.
///
/// An entry is kept for `retention`, which must be at least the longest
/// access-token lifetime plus leeway: after that no token that it could
/// refuse is still valid anyway. Times are kept to the millisecond; a token
/// (whose `iat` is in whole seconds) issued in the same second as a
/// revocation is refused, and tokens made afterwards from the changed
/// session carry an `iat` past it. Clones share the list.
///
/// ```
/// use std::time::Duration;
/// use auth_core::revocation::Revocations;
///
/// let revocations = Revocations::new(Duration::from_secs(330));
/// revocations.revoke_session("Fv3EbrH4dL0Xk7e1mV4tQw");
/// assert!(revocations.is_revoked(Some("Fv3EbrH4dL0Xk7e1mV4tQw"), "alice", None, 0));
/// ```
#[derive(Clone)]
pub struct Revocations {
    state: Arc<RwLock<State>>,
    feed: Arc<Feed>,
    retention: Duration,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read();
        f.debug_struct("Revocations")
            .field("sessions", &state.sessions.len())
            .field("users", &(state.users.len() + state.external.len()))
            .field("retention", &self.retention)
            .field("feed", &*self.feed)
            .finish()
    }
}

impl Revocations {
    /// An empty list that remembers entries for `retention`.
    pub fn new(retention: Duration) -> Self {
        Self {
            state: Arc::default(),
            feed: Arc::new(Feed::local()),
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
            feed: Arc::downgrade(&self.feed),
            retention: self.retention,
        }
    }

    /// Applies `revocation`, remembering it for `keep` (announcements from
    /// other instances carry how long their sender keeps them). An entry
    /// already known is kept for the longer of the two times, and refuses
    /// up to the later of the two instants.
    pub fn apply(&self, revocation: &Revocation, keep: Duration) {
        let now = Instant::now();
        let until = now + keep;
        let mut state = self.state.write();
        let entry = NotBefore { millis: 0, until };
        match revocation {
            Revocation::Session { sid } => {
                state
                    .sessions
                    .entry(sid.clone())
                    .or_insert(entry)
                    .merge(ALL, until);
            }
            Revocation::SessionBefore { sid, not_before } => {
                state
                    .sessions
                    .entry(sid.clone())
                    .or_insert(entry)
                    .merge(*not_before, until);
            }
            Revocation::UserBefore {
                user,
                issuer: None,
                not_before,
            } => {
                state
                    .users
                    .entry(user.clone())
                    .or_insert(entry)
                    .merge(*not_before, until);
            }
            Revocation::UserBefore {
                user,
                issuer: Some(issuer),
                not_before,
            } => {
                state
                    .external
                    .entry((issuer.clone(), user.clone()))
                    .or_insert(entry)
                    .merge(*not_before, until);
            }
            Revocation::StaleSession { sid } => {
                let entry = state
                    .stale_sessions
                    .entry(sid.clone())
                    .or_insert((now, until));
                *entry = (now, entry.1.max(until));
            }
            Revocation::StaleUser { user } => {
                let entry = state
                    .stale_users
                    .entry(user.clone())
                    .or_insert((now, until));
                *entry = (now, entry.1.max(until));
            }
        }
        state.inserts += 1;
        if state.inserts.is_multiple_of(64) {
            state.sessions.retain(|_, e| e.until > now);
            state.users.retain(|_, e| e.until > now);
            state.external.retain(|_, e| e.until > now);
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

    /// Refuses every token of local user `user` issued up to `not_before`
    /// (Unix milliseconds).
    pub fn revoke_user_before(&self, user: &str, not_before: i64) {
        self.apply(
            &Revocation::UserBefore {
                user: user.to_owned(),
                issuer: None,
                not_before,
            },
            self.retention,
        );
    }

    /// Whether a token of session `sid`, user `user` (of external `issuer`,
    /// `None` for a local user), issued at `iat` (Unix seconds) is revoked.
    /// A token issued in the same second as a revocation counts as issued
    /// before it.
    pub fn is_revoked(
        &self,
        sid: Option<&str>,
        user: &str,
        issuer: Option<&str>,
        iat: i64,
    ) -> bool {
        let state = self.state.read();
        if state.sessions.is_empty() && state.users.is_empty() && state.external.is_empty() {
            return false;
        }
        let now = Instant::now();
        let issued = iat.saturating_mul(1000);
        let refuses =
            |entry: Option<&NotBefore>| entry.is_some_and(|e| e.until > now && issued <= e.millis);
        if let Some(sid) = sid
            && refuses(state.sessions.get(sid))
        {
            return true;
        }
        match issuer {
            None => refuses(state.users.get(user)),
            Some(issuer) if !state.external.is_empty() => {
                refuses(state.external.get(&(issuer.to_owned(), user.to_owned())))
            }
            Some(_) => false,
        }
    }

    /// The cut-off a new revocation of local user `user`'s tokens (of
    /// session `sid`) at `at_millis` must have to refuse every token
    /// issued until then: a token made after an earlier revocation of the
    /// same second carries the next second's `iat`, so the cut-off reaches
    /// that second too.
    pub fn cut_off(&self, user: &str, sid: Option<&str>, at_millis: i64) -> i64 {
        let state = self.state.read();
        let now = Instant::now();
        let stamped = |entry: Option<&NotBefore>| {
            entry
                .filter(|e| e.until > now && e.millis != ALL)
                .map(|e| (e.millis.div_euclid(1000) + 1).saturating_mul(1000))
        };
        let session = sid.and_then(|sid| stamped(state.sessions.get(sid)));
        let user = stamped(state.users.get(user));
        at_millis
            .max(session.unwrap_or(i64::MIN))
            .max(user.unwrap_or(i64::MIN))
    }

    /// Whether a cached copy of session `sid` of `user`, loaded at
    /// `loaded_at`, was made stale by a stale notice that arrived since.
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

    /// For stores: announcements will come from other instances, and until
    /// [`feed_live`](Self::feed_live) says the delivery is current, the
    /// list cannot be trusted alone. Called when a subscription starts.
    pub fn feed_connecting(&self) {
        self.feed.live_at.store(0, Ordering::Release);
        self.feed.lost.store(false, Ordering::Release);
        self.feed.remote.store(true, Ordering::Release);
    }

    /// For stores: the delivery is current now (subscribed and caught up,
    /// or the connection just answered a ping).
    pub fn feed_live(&self) {
        let feed = &self.feed;
        feed.live_at.store(feed.since_epoch(), Ordering::Release);
        if feed.lost.swap(false, Ordering::AcqRel) {
            tracing::info!("revocation announcements are arriving again");
        }
    }

    /// For stores: the delivery failed; announcements may be missed until
    /// it is live again.
    pub fn feed_lost(&self) {
        let feed = &self.feed;
        if !feed.remote.load(Ordering::Acquire) {
            return;
        }
        feed.lost_at.store(feed.since_epoch(), Ordering::Release);
        if !feed.lost.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                "revocation announcements are not arriving; access tokens are checked against the store"
            );
            crate::telemetry::revocation_feed_lost();
        }
    }

    /// Whether the list has every revocation announced more than
    /// `staleness` ago: always for a list fed within the process; for a
    /// store's feed, when it is connected and proved current within
    /// `staleness`.
    pub fn is_current(&self, staleness: Duration) -> bool {
        let feed = &self.feed;
        if !feed.remote.load(Ordering::Acquire) {
            return true;
        }
        if feed.lost.load(Ordering::Acquire) {
            return false;
        }
        let live_at = feed.live_at.load(Ordering::Acquire);
        live_at != 0
            && feed.since_epoch().saturating_sub(live_at)
                <= u64::try_from(staleness.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the feed was lost at or after `at`: what was read before
    /// then may have been changed by an announcement that never arrived.
    pub fn feed_lost_since(&self, at: Instant) -> bool {
        let lost_at = self.feed.lost_at.load(Ordering::Acquire);
        // Milliseconds are rounded down: a millisecond of margin keeps the
        // answer on the safe side.
        lost_at != 0 && self.feed.epoch + Duration::from_millis(lost_at + 1) >= at
    }

    /// [`is_revoked`](Self::is_revoked), and whether the answer can be
    /// trusted with a feed that may be `staleness` behind.
    pub fn verdict(
        &self,
        sid: Option<&str>,
        user: &str,
        issuer: Option<&str>,
        iat: i64,
        staleness: Duration,
    ) -> Verdict {
        if self.is_revoked(sid, user, issuer, iat) {
            Verdict::Revoked
        } else if self.is_current(staleness) {
            Verdict::Valid
        } else {
            Verdict::Unsure
        }
    }
}

/// A [`Revocations`] list that may have been dropped: what a store keeps for
/// a subscriber, so a forgotten subscription cannot keep a list alive.
#[derive(Debug, Clone)]
pub struct WeakRevocations {
    state: Weak<RwLock<State>>,
    feed: Weak<Feed>,
    retention: Duration,
}

impl WeakRevocations {
    /// The list, if someone still holds it.
    pub fn upgrade(&self) -> Option<Revocations> {
        Some(Revocations {
            state: self.state.upgrade()?,
            feed: self.feed.upgrade()?,
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
/// the delivery. [`Announcements::subscribe`](crate::Announcements::subscribe)
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
