//! Sessions on Redis and Redis Cluster, through
//! [deadpool-redis](deadpool_redis): an [`auth_core::SessionStore`] for
//! apps that run more than one instance or must survive restarts.
//!
//! ```no_run
//! use auth_core::Authenticator;
//! use auth_redis::RedisStore;
//!
//! let store = RedisStore::from_url("redis://127.0.0.1:6379")?.with_prefix("myapp:");
//! let auth = Authenticator::builder(store).build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - `{prefix}s:{key}`: one string per session (a browser session or a
//!   refresh-token family), under the 16 raw bytes of its id (binary: a
//!   key of 23 bytes with the default prefix fits a smaller allocation than
//!   one with the id in hex), for its whole life: a
//!   fixed header (format 3, version, idle expiry, last refresh, absolute
//!   expiry), the user id, then the rest of the record in auth-core's
//!   compact binary form ([`auth_core::store::compact`]: raw digests,
//!   times once, no JSON unless the application keeps data). A typical
//!   browser session takes under 200 bytes. The record keeps the SHA-256
//!   of the token's secret, never the token: a dump of Redis logs no one
//!   in. Sessions stored as hashes by earlier versions are not read (their
//!   users sign in again); they expire as they would have.
//! - `{prefix}u:{user}`: a sorted set per user of their session ids (the
//!   16 raw bytes; score: creation time), the index behind the device list
//!   and logout-everywhere.
//!
//! Expiry is Redis's own: every write sets `PEXPIREAT` to the session's end
//! (the earlier of idle and absolute expiry), and the index lives as long as
//! its longest-lived session could. Nothing needs sweeping.
//!
//! Every write is one command or a Lua script on one key, so it is atomic:
//! `create` never overwrites (`SET NX`), `update` compares the
//! version and writes in one step (a token rotation, a refresh, a role
//! change, a data save: of racing writers exactly one wins), `touch` and
//! `update` refuse a missing session and never recreate it. Reading a
//! session is one `GET`: one command per request.
//!
//! # The user index on Cluster
//! A session is found by its token alone, so its key cannot carry the
//! user's hash tag, and the index of a user lives on another slot than
//! that user's sessions. No command here ever touches two slots; instead
//! **the index is repaired on read**: an entry is written once its session
//! exists and cleaned after it is deleted, so it may name a session that
//! is gone (for good: keys are never reused), and misses a session only
//! while its login has not yet answered. `list_user` and `delete_user`
//! check every listed key and drop the dangling ones. The same code runs on
//! a standalone server.
//!
//! # A user's sessions
//! `list_user` and `delete_user` read the index once, then send every
//! session's read or delete at once (128 at a time) on the multiplexed
//! connection, and clean the index with one `ZREM`. A session keeps its
//! key when its token rotates, so a deletion of the user's sessions never
//! chases a session from key to key: what it read from the index is what
//! it deletes, and a rotation racing it finds the session gone.

//! # Revocation announcements
//! With access tokens, an ended session's tokens must stop working on every
//! instance, not just the one that saw the logout. [`Announcements::announce`]
//! runs one script on `{prefix}revocations`: it adds the revocation to that
//! sorted set (score: when to forget it, by Redis's clock), drops forgotten
//! ones, extends the set's expiry, and `PUBLISH`es it on the channel of the
//! same name. Each authenticator subscribes when it is built
//! ([`Announcements::subscribe`]): a task on the current Tokio runtime
//! subscribes, then reads the set to catch up on what it missed, then
//! applies messages as they come; when the connection fails it subscribes
//! again (to the next URL given, after a pause growing to 5 s) and catches
//! up again, and a quiet connection is pinged every 5 s. The listener
//! reports to the list whether it is current (subscribed, caught up, and
//! answering), so that while it is not, the authenticator checks tokens
//! against the sessions instead of trusting the list. On Cluster a
//! classic `PUBLISH` reaches every node, so subscribing to any node
//! suffices; the script touches one key. Announcing happens before the
//! session's records are deleted: if Redis is down, the logout fails
//! (503) and can be retried, rather than half happen.
//!
//! The set holds session ids and user ids, never a credential.
//!
//! # Failure
//! Every call is bounded by a timeout (default 500 ms, [`RedisStore::with_timeout`]).
//! A refused connection, a timeout, an exhausted pool, a dropped
//! connection or a cluster that is down are
//! [`StoreError::Unavailable`] (retryable; the layer answers 503); the pool
//! reconnects by itself when Redis is back. Corrupt data or an unknown
//! format version is [`StoreError::Backend`]. No error ever deletes a
//! session.
//!
//! A standalone connection that failed is replaced by a fresh one from the
//! pool on the next call. A cluster connection is kept: it reconnects node
//! by node, so while one master is down only the sessions on its slots
//! fail (after the timeout: the cluster client retries them until then),
//! and the others are served as before. For that, the cluster must keep
//! serving partial coverage (`cluster-require-full-coverage no`);
//! otherwise Redis itself refuses every command until the master is back.
//!
//! **Durability.** A logout, a revocation or a rotation is acknowledged
//! once Redis has applied it. A Redis that crashes and restarts from its
//! append-only file with the default `appendfsync everysec` may come back
//! without the last second of writes: a session logged out just before
//! the crash would be valid again. Run Redis with `appendfsync always`
//! (or replicas and `WAIT`) where that matters; the failure drills in the
//! repository's `BENCHMARKS.md` kill Redis under load with it and find
//! every logout still in force.
//!
//! Requires Redis 7.0 or newer (`PEXPIRETIME`).
//!
//! # Features
//! | feature | enables |
//! |---|---|
//! | `cluster` | [`RedisStore::cluster`] and [`RedisStore::from_cluster_pool`] |
//! | `testing` | [`testing`]: throwaway `redis-server` processes and clusters for tests |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The examples of the crate README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod announce;
mod keys;
mod record;
use record::corrupt;
mod scripts;

/// The Redis client and pool this store is built on, for building the pool
/// an application passes to [`RedisStore::from_pool`] without depending on
/// `deadpool-redis` itself.
pub use deadpool_redis;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::record::unix_millis::to_millis;
use auth_core::{Announcements, SessionKey, SessionRecord, SessionStore, StoreError};
use deadpool_redis::redis::aio::ConnectionLike;
use deadpool_redis::redis::{self, Cmd, Pipeline, RedisError, RedisFuture, Script, Value};
use futures_util::FutureExt as _;
use futures_util::future::try_join_all;
use time::OffsetDateTime;

/// Default bound on every store call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// How many sessions of a user are read or deleted at once.
const BATCH: usize = 128;

/// Why a [`RedisStore`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL or pool settings were refused.
    #[error("invalid Redis configuration: {0}")]
    Pool(String),
}

#[derive(Clone)]
enum Pool {
    Single(deadpool_redis::Pool),
    #[cfg(feature = "cluster")]
    Cluster(deadpool_redis::cluster::Pool),
}

enum Conn {
    Single(deadpool_redis::Connection),
    #[cfg(feature = "cluster")]
    Cluster(deadpool_redis::cluster::Connection),
    /// A clone of a pooled connection: multiplexed, so every request of
    /// the process can send on it at once.
    SharedSingle(redis::aio::MultiplexedConnection),
    #[cfg(feature = "cluster")]
    SharedCluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    /// A clone to keep for later calls.
    fn share(&self) -> Self {
        match self {
            Self::Single(c) => Self::SharedSingle((**c).clone()),
            Self::SharedSingle(c) => Self::SharedSingle(c.clone()),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => Self::SharedCluster((**c).clone()),
            #[cfg(feature = "cluster")]
            Self::SharedCluster(c) => Self::SharedCluster(c.clone()),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::SharedSingle(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Self::SharedCluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::SharedSingle(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Self::SharedCluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => c.get_db(),
            Self::SharedSingle(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Self::SharedCluster(c) => c.get_db(),
        }
    }
}

struct Scripts {
    update: Script,
    touch: Script,
    delete: Script,
    index_add: Script,
    announce: Script,
    recent_revocations: Script,
    increment: Script,
    decrement: Script,
}

/// A [`SessionStore`] on Redis or Redis Cluster. See the [crate docs](crate)
/// for the layout and guarantees. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    /// A multiplexed connection taken from the pool once and used by every
    /// call until it fails: taking from the pool costs an `UNWATCH` and a
    /// `PING` each time (deadpool-redis checks the connection), which would
    /// triple the commands of every request.
    shared: Arc<parking_lot::Mutex<Option<Conn>>>,
    prefix: Arc<str>,
    timeout: Duration,
    scripts: Arc<Scripts>,
    /// Where the revocation listener subscribes (tried in turn).
    subscribe_urls: Arc<[Arc<str>]>,
    /// The private CA a `rediss://` server is verified with, for the
    /// listener's connections too.
    #[cfg(feature = "tls")]
    tls: Option<Arc<redis::TlsCertificates>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.pool {
            Pool::Single(_) => "standalone",
            #[cfg(feature = "cluster")]
            Pool::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn is_transient(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_cluster_error()
        || matches!(
            err.code(),
            Some("LOADING" | "BUSY" | "TRYAGAIN" | "CLUSTERDOWN" | "MASTERDOWN" | "READONLY")
        )
}

/// A pool of connections to one server. Their commands have no response
/// timeout of their own: every store call runs within the store's
/// [timeout](RedisStore::with_timeout), which bounds the whole call, and a
/// second timer per command (redis-rs's default of 500 ms) would cost a
/// timer's registration on every request for nothing.
fn single_pool(
    server: impl redis::IntoConnectionInfo,
) -> Result<deadpool_redis::Pool, RedisConfigError> {
    let refused = |e: &dyn fmt::Display| RedisConfigError::Pool(e.to_string());
    let manager = deadpool_redis::Manager::new_with_config(
        server,
        redis::AsyncConnectionConfig::new().set_response_timeout(None),
    )
    .map_err(|e| refused(&e))?;
    deadpool_redis::Pool::builder(manager)
        .runtime(deadpool_redis::Runtime::Tokio1)
        .build()
        .map_err(|e| refused(&e))
}

fn map_redis(err: RedisError) -> StoreError {
    if is_transient(&err) {
        StoreError::unavailable(err)
    } else {
        StoreError::backend(err)
    }
}

impl RedisStore {
    fn new(pool: Pool) -> Self {
        Self {
            pool,
            shared: Arc::default(),
            prefix: Arc::from("auth:"),
            timeout: DEFAULT_TIMEOUT,
            scripts: Arc::new(Scripts {
                update: scripts::update(),
                touch: scripts::touch(),
                delete: scripts::delete(),
                index_add: scripts::index_add(),
                announce: scripts::announce(),
                recent_revocations: scripts::recent_revocations(),
                increment: scripts::increment(),
                decrement: scripts::decrement(),
            }),
            subscribe_urls: Arc::new([]),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A store on one Redis server, from a `redis://` URL. Connects lazily:
    /// an unreachable server shows up as 503s, not as a failure here.
    pub fn from_url(url: &str) -> Result<Self, RedisConfigError> {
        let pool = single_pool(url)?;
        Ok(Self::from_pool(pool).with_subscription_urls([url]))
    }

    /// A store on one Redis server over TLS (feature `tls`), from a
    /// `rediss://` URL, verified with the PEM `root_certificate` of a
    /// private CA instead of the system's roots. (With the system's roots,
    /// [`from_url`](Self::from_url) takes `rediss://` URLs as they are.)
    #[cfg(feature = "tls")]
    pub fn from_tls_url(url: &str, root_certificate: &[u8]) -> Result<Self, RedisConfigError> {
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_certificate.to_vec()),
        };
        let client = redis::Client::build_with_tls(url, certificates.clone())
            .map_err(|e| RedisConfigError::Pool(e.to_string()))?;
        // deadpool's own configuration drops TLS parameters: the manager is
        // built from the client's connection details instead.
        let pool = single_pool(client.get_connection_info().clone())?;
        let mut store = Self::from_pool(pool).with_subscription_urls([url]);
        store.tls = Some(Arc::new(certificates));
        Ok(store)
    }

    /// A client for the revocation listener's connection to `url`.
    pub(crate) fn subscription_client(
        &self,
        url: &str,
    ) -> Result<redis::Client, redis::RedisError> {
        #[cfg(feature = "tls")]
        if let Some(certificates) = &self.tls {
            return redis::Client::build_with_tls(url, (**certificates).clone());
        }
        redis::Client::open(url)
    }

    /// A store on a pool the application already has. Every call still
    /// runs within the store's [timeout](Self::with_timeout); a pool built
    /// with `deadpool_redis::Manager::new_with_config` and
    /// `AsyncConnectionConfig::set_response_timeout(None)` (as
    /// [`from_url`](Self::from_url) builds its own) spares each command
    /// redis-rs's own timer besides it.
    pub fn from_pool(pool: deadpool_redis::Pool) -> Self {
        Self::new(Pool::Single(pool))
    }

    /// A store on a Redis Cluster, from the `redis://` URLs of some of its
    /// nodes.
    #[cfg(feature = "cluster")]
    pub fn cluster<S: AsRef<str>>(urls: &[S]) -> Result<Self, RedisConfigError> {
        let urls: Vec<String> = urls.iter().map(|u| u.as_ref().to_owned()).collect();
        if urls.is_empty() {
            return Err(RedisConfigError::Pool("no cluster node URLs".into()));
        }
        let pool = deadpool_redis::cluster::Config::from_urls(urls.clone())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| RedisConfigError::Pool(e.to_string()))?;
        Ok(Self::from_cluster_pool(pool).with_subscription_urls(urls))
    }

    /// A store on a cluster pool the application already has.
    #[cfg(feature = "cluster")]
    pub fn from_cluster_pool(pool: deadpool_redis::cluster::Pool) -> Self {
        Self::new(Pool::Cluster(pool))
    }

    /// The prefix of every key (default `auth:`), so several apps can share
    /// one Redis.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The bound on every store call, connecting included (default 500 ms).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where to subscribe to revocation announcements: one URL of a
    /// standalone server, or URLs of cluster nodes (any node hears every
    /// announcement; the listener moves to the next URL when one fails).
    /// Set by [`from_url`](Self::from_url) and [`cluster`](Self::cluster);
    /// a store built from a pool needs it once access tokens are used.
    #[must_use]
    pub fn with_subscription_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.subscribe_urls = urls.into_iter().map(|u| Arc::from(u.as_ref())).collect();
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of a session: the prefix, `s:`, then the id's 16 raw
    /// bytes.
    ///
    /// ```
    /// use auth_core::SessionKey;
    /// use auth_redis::RedisStore;
    ///
    /// let store = RedisStore::from_url("redis://127.0.0.1:6379")?;
    /// let key = SessionKey::from_bytes([0xab; 16]);
    /// assert_eq!(store.session_key(&key), [&b"auth:s:"[..], &[0xab; 16]].concat());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session_key(&self, key: &SessionKey) -> Vec<u8> {
        keys::session_key(&self.prefix, key)
    }

    /// The Redis key of a session, as a command's argument.
    fn session_arg<'a>(&'a self, key: &'a SessionKey) -> keys::SessionKeyArg<'a> {
        keys::SessionKeyArg {
            prefix: &self.prefix,
            key,
        }
    }

    /// The Redis key of a user's index.
    pub fn index_key(&self, user_id: &str) -> String {
        format!("{}u:{}", self.prefix, user_id)
    }

    /// Checks that Redis answers (`PING`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(async |conn| {
            redis::cmd("PING")
                .query_async::<String>(conn)
                .await
                .map_err(map_redis)
                .map(|_| ())
        })
        .await
    }

    /// A connection from the pool.
    async fn connect(&self) -> Result<Conn, StoreError> {
        Ok(match &self.pool {
            Pool::Single(p) => Conn::Single(p.get().await.map_err(StoreError::unavailable)?),
            #[cfg(feature = "cluster")]
            Pool::Cluster(p) => Conn::Cluster(p.get().await.map_err(StoreError::unavailable)?),
        })
    }

    /// Runs `op` on the shared connection (or, after an error, on one
    /// freshly taken from the pool), within the timeout.
    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Built in place (not bound to a local first): a future moved
        // from a local into another keeps both slots in the caller's,
        // and every store call's future is copied into its box.
        let result = with_timeout(self.timeout, async {
            let shared = self.shared.lock().as_ref().map(Conn::share);
            let mut conn = match shared {
                Some(conn) => conn,
                None => {
                    // Boxed: taking a connection from the pool (which may
                    // connect, with TLS) is a future of kilobytes, and
                    // inline it would make every call's future as large,
                    // to be copied into its box on every request; it
                    // happens once, and again only after an error.
                    let conn = Box::pin(self.connect()).await?;
                    *self.shared.lock() = Some(conn.share());
                    conn
                }
            };
            op(&mut conn).await
        })
        .await;
        if result.as_ref().is_err_and(StoreError::is_retryable) && self.drops_broken_connections() {
            // The connection may be broken: the next call takes one from
            // the pool, which checks it and reconnects.
            self.shared.lock().take();
        }
        result
    }

    /// Whether an error makes the next call take a fresh connection. A
    /// cluster connection mends itself node by node: an error there is
    /// usually one node down, and replacing the connection would stall
    /// the requests for every other node while a new one connects to all
    /// of them (and, with the node down, fails to).
    fn drops_broken_connections(&self) -> bool {
        match &self.pool {
            Pool::Single(_) => true,
            #[cfg(feature = "cluster")]
            Pool::Cluster(_) => false,
        }
    }

    async fn index_add(&self, conn: &mut Conn, record: &SessionRecord) -> Result<(), StoreError> {
        self.scripts
            .index_add
            .key(self.index_key(&record.user_id))
            .arg(to_millis(record.created_at))
            .arg(record.key().as_bytes())
            .arg(to_millis(record.absolute_expires_at))
            .invoke_async::<i64>(conn)
            .await
            .map_err(map_redis)
            .map(|_| ())
    }

    async fn index_remove(
        &self,
        conn: &mut Conn,
        user_id: &str,
        members: &[impl AsRef<[u8]>],
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        redis::cmd("ZREM")
            .arg(self.index_key(user_id))
            .arg(members.iter().map(AsRef::as_ref).collect::<Vec<_>>())
            .query_async::<i64>(conn)
            .await
            .map_err(map_redis)
            .map(|_| ())
    }

    async fn load_with(
        &self,
        conn: &mut Conn,
        key: &SessionKey,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // Sized up front: the command is built without growing.
        let mut get = Cmd::with_capacity(2, 3 + keys::len(&self.prefix));
        get.arg("GET").arg(self.session_arg(key));
        let value: Option<Vec<u8>> = match get.query_async(conn).await {
            Ok(value) => value,
            // A session an earlier version stored as a hash: not one this
            // version can read (the CHANGELOG says so); its user signs in
            // again.
            Err(err) if err.code() == Some("WRONGTYPE") => {
                tracing::warn!("a session stored in an earlier format is ignored");
                None
            }
            Err(err) => return Err(map_redis(err)),
        };
        value.map(|value| record::decode(&value, key)).transpose()
    }

    async fn create_with(&self, conn: &mut Conn, record: &SessionRecord) -> Result<(), StoreError> {
        // The record first, then its index entry: an entry then always
        // names a session that existed, so one whose session is missing is
        // dangling for good and safe to drop. (Index first, a listing
        // between the two steps would drop the entry of a session about to
        // exist.) A record whose entry failed belongs to a login that fails
        // and hands out no token.
        let ends = to_millis(record.expires_at());
        let created: Option<String> = redis::cmd("SET")
            .arg(self.session_arg(&record.key()))
            .arg(record::encode(record, record.version)?)
            .arg("NX")
            .arg("PXAT")
            .arg(ends)
            .query_async(conn)
            .await
            .map_err(map_redis)?;
        if created.is_none() {
            return Err(StoreError::DuplicateKey);
        }
        self.index_add(conn, record).await
    }

    /// Deletes one session; the owner's id if it existed.
    async fn delete_with(
        &self,
        conn: &mut Conn,
        key: &SessionKey,
    ) -> Result<Option<String>, StoreError> {
        self.scripts
            .delete
            .key(self.session_arg(key))
            .invoke_async::<Option<String>>(conn)
            .await
            .map_err(map_redis)
    }

    async fn index_members(
        &self,
        conn: &mut Conn,
        user_id: &str,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        redis::cmd("ZRANGE")
            .arg(self.index_key(user_id))
            .arg(0)
            .arg(-1)
            .query_async(conn)
            .await
            .map_err(map_redis)
    }
}

/// The session key an index member names; `None` for one that is not 16
/// bytes (never written by this version).
fn index_member(member: &[u8]) -> Option<SessionKey> {
    member.try_into().ok().map(SessionKey::from_bytes)
}

/// `work`, or unavailable after `timeout`. A combinator rather than an
/// `async fn`, which would hold `work` twice: as its argument and inside
/// the timeout.
fn with_timeout<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, StoreError>>,
) -> impl Future<Output = Result<T, StoreError>> {
    tokio::time::timeout(timeout, work).map(move |finished| {
        finished.unwrap_or_else(|_| {
            Err(StoreError::unavailable(format!(
                "Redis did not answer within {timeout:?}"
            )))
        })
    })
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.run(async |conn| self.create_with(conn, record).await)
            .await
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.run(async |conn| self.load_with(conn, key).await).await
    }

    // The default would box `load`'s future a second time inside its own.
    async fn load_shared(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        let record = self
            .run(async |conn| self.load_with(conn, key).await)
            .await?;
        Ok(record.map(Arc::new))
    }

    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        // Written as the next version; the script checks the current one.
        let value = record::encode(record, record.version + 1)?;
        self.run(async |conn| {
            let n: i64 = self
                .scripts
                .update
                .key(self.session_arg(&record.key()))
                .arg(record.version.to_string())
                .arg(&record.user_id)
                .arg(&value)
                .invoke_async(conn)
                .await
                .map_err(map_redis)?;
            match n {
                -1 => Err(StoreError::NotFound),
                -2 => Err(StoreError::Conflict),
                -3 => Err(StoreError::backend(
                    "update may not change a session's owner",
                )),
                n => u64::try_from(n).map_err(|_| corrupt("version")),
            }
        })
        .await
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.run(async |conn| {
            let n: i64 = self
                .scripts
                .touch
                .key(self.session_arg(key))
                .arg(to_millis(idle_expires_at))
                .arg(to_millis(last_refresh_at))
                .invoke_async(conn)
                .await
                .map_err(map_redis)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.run(async |conn| match self.delete_with(conn, key).await? {
            Some(user) => {
                self.index_remove(conn, &user, &[key.as_bytes()]).await?;
                Ok(true)
            }
            None => Ok(false),
        })
        .await
    }

    /// One `ZRANGE`, then every listed session's `GET` at once (in
    /// batches, on the multiplexed connection), then one `ZREM` of the
    /// dangling entries.
    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.run(async |conn| {
            let members = self.index_members(conn, user_id).await?;
            let mut out = Vec::with_capacity(members.len());
            let mut dangling = Vec::new();
            for batch in members.chunks(BATCH) {
                let loads = batch.iter().map(|member| {
                    let mut conn = conn.share();
                    async move {
                        Ok::<_, StoreError>(match index_member(member) {
                            Some(key) => self.load_with(&mut conn, &key).await?,
                            None => None,
                        })
                    }
                });
                for (member, record) in batch.iter().zip(try_join_all(loads).await?) {
                    match record {
                        Some(record) if record.user_id == user_id => out.push(record),
                        _ => dangling.push(member.clone()),
                    }
                }
            }
            self.index_remove(conn, user_id, &dangling).await?;
            Ok(out)
        })
        .await
    }

    /// One `ZRANGE`, then every listed session's delete at once (in
    /// batches), then one `ZREM`.
    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        self.run(async |conn| {
            let members: Vec<Vec<u8>> = self
                .index_members(conn, user_id)
                .await?
                .into_iter()
                .filter(|m| keep.is_none_or(|keep| m[..] != keep.as_bytes()[..]))
                .collect();
            let mut deleted = Vec::new();
            for batch in members.chunks(BATCH) {
                let deletes = batch.iter().map(|member| {
                    let mut conn = conn.share();
                    async move {
                        let Some(key) = index_member(member) else {
                            return Ok(None);
                        };
                        Ok::<_, StoreError>(
                            self.delete_with(&mut conn, &key)
                                .await?
                                .filter(|owner| owner == user_id)
                                .map(|_| key),
                        )
                    }
                });
                deleted.extend(try_join_all(deletes).await?.into_iter().flatten());
            }
            self.index_remove(conn, user_id, &members).await?;
            Ok(deleted)
        })
        .await
    }

    fn announcements(&self) -> Option<&dyn Announcements> {
        Some(self)
    }
}

/// Throttle counters: `{prefix}{key}` with Redis's own expiry; one key
/// per call, so they work on Cluster too.
#[async_trait]
impl auth_core::throttle::CounterStore for RedisStore {
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (count, left): (u64, i64) = self
            .run(async |conn| {
                self.scripts
                    .increment
                    .key(format!("{}{key}", self.prefix))
                    .arg(window_ms)
                    .invoke_async(conn)
                    .await
                    .map_err(map_redis)
            })
            .await?;
        Ok((count, Duration::from_millis(left.max(0).cast_unsigned())))
    }

    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError> {
        let (count, left): (Option<u64>, i64) = self
            .run(async |conn| {
                redis::pipe()
                    .get(format!("{}{key}", self.prefix))
                    .pttl(format!("{}{key}", self.prefix))
                    .query_async(conn)
                    .await
                    .map_err(map_redis)
            })
            .await?;
        Ok(match count {
            Some(n) if left > 0 => (n, Duration::from_millis(left.cast_unsigned())),
            _ => (0, Duration::ZERO),
        })
    }

    async fn decrement(&self, key: &str) -> Result<(), StoreError> {
        self.run(async |conn| {
            self.scripts
                .decrement
                .key(format!("{}{key}", self.prefix))
                .invoke_async::<i64>(conn)
                .await
                .map_err(map_redis)
                .map(|_| ())
        })
        .await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.run(async |conn| {
            redis::cmd("DEL")
                .arg(format!("{}{key}", self.prefix))
                .query_async::<i64>(conn)
                .await
                .map_err(map_redis)
                .map(|_| ())
        })
        .await
    }
}
