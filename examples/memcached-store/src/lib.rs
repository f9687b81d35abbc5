//! Sessions in memcached: an [`auth_core::SessionStore`] written only
//! against auth-core's public API, the way a third party's store crate
//! would be, on a backend with no sets, no scripts, no pub/sub and no key
//! listing: only `gets`, `add`, `set`, `cas`, `delete` and `incr`/`decr`,
//! with expiry. auth-core's guide ("Writing a store") walks through it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::Authenticator;
//! use example_memcached_store::MemcachedStore;
//!
//! let store = MemcachedStore::new(["10.0.0.1:11211", "10.0.0.2:11211"])?;
//! let auth = Authenticator::builder(store).build()?;
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! Keys are spread over the servers by consistent hashing. Each session is
//! one item, `<prefix>s:<id hex>`, holding the record as JSON (the SHA-256
//! of the token's secret, never the token), expiring with the session. A
//! user's index, `<prefix>u:<hash of the user id>`, lists their session ids
//! with each one's expiry; it is changed only by compare-and-swap loops
//! (`gets`, then `cas`), pruned of dead entries on every change, and
//! bounded ([`MAX_SESSIONS_PER_INDEX`]).
//!
//! # Concurrency
//! `update` and `touch` are a `gets` and a `cas` on the session's item: of
//! racing rotations one wins, and a `cas` of an item that is gone fails,
//! so nothing a deletion removed comes back. `create` is an `add`, which
//! never overwrites a live session. Login-throttle counters are `incr` on
//! an item created with `add`, within a window item that says when they
//! started.
//!
//! # Revocations between instances
//! No pub/sub: [`Announcements::announce`] numbers each revocation with
//! `incr` on `<prefix>a:head` and stores it as `<prefix>a:<n>` for as long
//! as it matters. Every instance polls the head every 50 ms and reads what
//! it has not seen, so a logout reaches every instance's revocation list
//! and session cache within about 100 ms.
//!
//! # When memcached forgets
//! memcached may evict items when it runs out of memory and forgets them
//! all when it restarts. A lost session is a logout: its cookie no longer
//! finds a record, and the user signs in again. It is never a wrong
//! login: a token is only accepted against the record that holds its
//! verifier. A lost index only hides sessions from the device list and
//! from "log out everywhere" until they expire; a lost announcement log
//! starts again, and instances read it from the start. Give memcached
//! enough memory for every live session, and treat a restart as "everyone
//! signs in again".
//!
//! # A server that is down
//! What lives on a server that cannot be reached fails with
//! [`StoreError::Unavailable`] (a 503 from the middleware, never a
//! logout); keys on the other servers keep working.

mod announce;
mod counters;
mod index;
mod protocol;
mod servers;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::{
    Announcements, Clock, SessionKey, SessionRecord, SessionStore, StoreError, SystemClock,
};
use time::OffsetDateTime;

use protocol::{CasOutcome, Connection, Item, MAX_VALUE_BYTES};
use servers::Servers;

pub use announce::POLL_INTERVAL;
pub use index::MAX_SESSIONS_PER_INDEX;

/// Default time a call may take on one server: 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest relative expiry memcached accepts; longer ones are sent as a
/// Unix time.
const MAX_RELATIVE_EXPIRY: i64 = 30 * 24 * 3600;

/// How many times a compare-and-swap loop tries before giving up with a
/// retryable conflict.
const CAS_ATTEMPTS: usize = 16;

/// A misconfigured [`MemcachedStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemcachedConfigError {
    /// No server was given.
    #[error("at least one memcached server is needed")]
    NoServers,
    /// A server is not `host:port`.
    #[error("{0:?} is not host:port")]
    BadAddress(String),
    /// The key prefix has spaces or control characters.
    #[error("the key prefix may not contain spaces or control characters")]
    BadPrefix,
}

/// Sessions, login-throttle counters and revocation announcements in
/// memcached; see the [crate docs](crate). Cheap to clone: clones share
/// the connections.
#[derive(Clone)]
pub struct MemcachedStore {
    servers: Arc<Servers>,
    prefix: Arc<str>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("servers", &self.servers)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A memcached key part for `text`, which may hold anything (spaces,
/// control characters, any length): 32 hex digits of its SHA-256.
fn key_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in &digest[..16] {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn decode(item: &Item) -> Result<SessionRecord, StoreError> {
    serde_json::from_slice(&item.value).map_err(StoreError::backend)
}

fn encode(record: &SessionRecord) -> Result<Vec<u8>, StoreError> {
    let bytes = serde_json::to_vec(record).map_err(StoreError::backend)?;
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(StoreError::backend(
            "the session is larger than a memcached item",
        ));
    }
    Ok(bytes)
}

impl MemcachedStore {
    /// A store on `servers` (`host:port` each), keys spread over them by
    /// consistent hashing; the order does not matter.
    pub fn new<I, S>(servers: I) -> Result<Self, MemcachedConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let addresses: Vec<String> = servers.into_iter().map(Into::into).collect();
        if addresses.is_empty() {
            return Err(MemcachedConfigError::NoServers);
        }
        for address in &addresses {
            let valid = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(MemcachedConfigError::BadAddress(address.clone()));
            }
        }
        Ok(Self {
            servers: Arc::new(Servers::new(&addresses)),
            prefix: Arc::from("auth:"),
            clock: Arc::new(SystemClock),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Prefixes every key (default `auth:`), so several apps can share
    /// servers.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, MemcachedConfigError> {
        if prefix.bytes().any(|b| b <= b' ' || b == 0x7f) || prefix.len() > 64 {
            return Err(MemcachedConfigError::BadPrefix);
        }
        self.prefix = Arc::from(prefix);
        Ok(self)
    }

    /// The clock expiry is judged by (default the system clock; give it
    /// the authenticator's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a call may take on one server (default 1 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// memcached's expiry for an item that must outlive `expires_at` (by
    /// the store's clock), with a second of grace.
    fn exptime(&self, expires_at: OffsetDateTime) -> u32 {
        let ttl = ((expires_at - self.now()).whole_seconds() + 1).max(1);
        let exptime = if ttl <= MAX_RELATIVE_EXPIRY {
            ttl
        } else {
            OffsetDateTime::now_utc().unix_timestamp() + ttl
        };
        u32::try_from(exptime).unwrap_or(u32::MAX)
    }

    fn session_key(&self, key: &SessionKey) -> String {
        format!("{}s:{}", self.prefix, key.to_hex())
    }

    async fn run<T>(
        &self,
        routing: &str,
        op: impl AsyncFnOnce(&mut Connection) -> std::io::Result<T> + Clone,
    ) -> Result<T, StoreError> {
        self.servers.run(routing, self.timeout, op).await
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, StoreError> {
        self.run(key, async |c| c.get(key).await).await
    }

    /// The live record under `key`, with its compare-and-swap token.
    async fn live(&self, key: &str) -> Result<Option<(SessionRecord, u64)>, StoreError> {
        let Some(item) = self.get(key).await? else {
            return Ok(None);
        };
        let record = decode(&item)?;
        Ok((!record.is_expired(self.now())).then_some((record, item.cas)))
    }

    /// The items of `keys`, fetched with one `gets` per server.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Item>, StoreError> {
        let mut by_server: Vec<Vec<&str>> = vec![Vec::new(); self.servers.len()];
        for key in keys {
            by_server[self.servers.server_of(key)].push(key);
        }
        let mut items = Vec::new();
        for group in by_server.into_iter().filter(|g| !g.is_empty()) {
            let found = self.run(group[0], async |c| c.gets(&group).await).await?;
            items.extend(found.into_iter().map(|(_, item)| item));
        }
        Ok(items)
    }
}

#[async_trait]
impl SessionStore for MemcachedStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let key = self.session_key(&record.key());
        let bytes = encode(record)?;
        let exptime = self.exptime(record.expires_at());
        let added = self
            .run(&key, async |c| c.add(&key, &bytes, exptime).await)
            .await?;
        if !added {
            // memcached may still hold a session that expired by the clock
            // (its own expiry is coarser): only that may be replaced.
            let Some(item) = self.get(&key).await? else {
                return Err(StoreError::Conflict);
            };
            if !decode(&item)?.is_expired(self.now()) {
                return Err(StoreError::DuplicateKey);
            }
            let cas = item.cas;
            let outcome = self
                .run(&key, async |c| c.cas(&key, &bytes, exptime, cas).await)
                .await?;
            if outcome != CasOutcome::Stored {
                return Err(StoreError::Conflict);
            }
        }
        if let Err(error) = self.index_add(record).await {
            // Unlisted, the session could not be ended with its user's:
            // it does not stay.
            let _ = self.run(&key, async |c| c.delete(&key).await).await;
            return Err(error);
        }
        Ok(())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .live(&self.session_key(key))
            .await?
            .map(|(record, _)| record))
    }

    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let key = self.session_key(&record.key());
        let Some((stored, cas)) = self.live(&key).await? else {
            return Err(StoreError::NotFound);
        };
        if stored.version != record.version {
            return Err(StoreError::Conflict);
        }
        let mut next = record.clone();
        next.version = record.version + 1;
        let bytes = encode(&next)?;
        let exptime = self.exptime(next.expires_at());
        match self
            .run(&key, async |c| c.cas(&key, &bytes, exptime, cas).await)
            .await?
        {
            CasOutcome::Stored => Ok(next.version),
            CasOutcome::Changed => Err(StoreError::Conflict),
            CasOutcome::Gone => Err(StoreError::NotFound),
        }
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let key = self.session_key(key);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, cas)) = self.live(&key).await? else {
                return Ok(false);
            };
            record.idle_expires_at = idle_expires_at;
            record.last_refresh_at = last_refresh_at;
            let bytes = encode(&record)?;
            let exptime = self.exptime(record.expires_at());
            match self
                .run(&key, async |c| c.cas(&key, &bytes, exptime, cas).await)
                .await?
            {
                CasOutcome::Stored => return Ok(true),
                CasOutcome::Gone => return Ok(false),
                // Another request changed it: touch the new version.
                CasOutcome::Changed => {}
            }
        }
        Err(StoreError::Conflict)
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let key = self.session_key(key);
        let Some(item) = self.get(&key).await? else {
            return Ok(false);
        };
        let record = decode(&item)?;
        let deleted = self.run(&key, async |c| c.delete(&key).await).await?;
        if deleted {
            self.index_remove_quietly(&record.user_id, &[record.id.as_str()])
                .await;
        }
        Ok(deleted && !record.is_expired(self.now()))
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let ids = self.index_ids(user_id).await?;
        let keys: Vec<String> = ids
            .iter()
            .filter_map(|id| id.parse::<auth_core::SessionId>().ok())
            .map(|id| self.session_key(&id.key()))
            .collect();
        let now = self.now();
        let mut records = Vec::new();
        for item in self.get_many(&keys).await? {
            let record = decode(&item)?;
            if record.user_id == user_id && !record.is_expired(now) {
                records.push(record);
            }
        }
        if records.len() < ids.len() {
            let dead: Vec<&str> = ids
                .iter()
                .map(String::as_str)
                .filter(|id| records.iter().all(|r| r.id.as_str() != *id))
                .collect();
            self.index_remove_quietly(user_id, &dead).await;
        }
        Ok(records)
    }

    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let ids = self.index_ids(user_id).await?;
        let now = self.now();
        let mut deleted = Vec::new();
        let mut gone = Vec::new();
        for id in &ids {
            let Ok(id) = id.parse::<auth_core::SessionId>() else {
                continue;
            };
            let session = id.key();
            if Some(&session) == keep {
                continue;
            }
            let key = self.session_key(&session);
            let Some(item) = self.get(&key).await? else {
                gone.push(id);
                continue;
            };
            let record = decode(&item)?;
            if self.run(&key, async |c| c.delete(&key).await).await? && !record.is_expired(now) {
                deleted.push(session);
            }
            gone.push(id);
        }
        let gone: Vec<&str> = gone.iter().map(auth_core::SessionId::as_str).collect();
        self.index_remove_quietly(user_id, &gone).await;
        Ok(deleted)
    }

    fn announcements(&self) -> Option<&dyn Announcements> {
        Some(self)
    }
}
