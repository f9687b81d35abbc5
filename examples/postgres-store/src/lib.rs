//! Sessions in PostgreSQL: an [`auth_core::SessionStore`] written only
//! against auth-core's public API, the way a third party's store crate
//! would be. auth-core's guide ("Writing a store") walks through it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::Authenticator;
//! use example_postgres_store::PostgresStore;
//!
//! let store = PostgresStore::connect("postgres://app@127.0.0.1/app").await?;
//! store.migrate().await?;
//! let auth = Authenticator::builder(store).build()?;
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! One row per session in `auth_sessions` (see `migrations/`) for its whole
//! life, keyed by the hex of its id, with the user id, the record as JSONB
//! (which holds the SHA-256 of the token's secret, never the token), and
//! the expiry times and version in their own columns, which override the
//! copies inside the JSON. An index on `user_id` is the per-user index:
//! being the same table, it can never disagree with the sessions.
//!
//! # Expiry
//! Every query compares against `now` from the store's [`Clock`] (give it
//! the authenticator's), so an expired row is never returned, touched or
//! updated, and its key is free again. Rows stay until
//! [`PostgresStore::delete_expired`] removes them: run it from a periodic
//! task.
//!
//! # Concurrency
//! `update` is one `UPDATE … WHERE version = $expected`, so a stale write
//! changes no row and is reported as a conflict: of racing rotations, one
//! wins. `touch` and `update` only ever change a live row, so nothing a
//! deletion removed comes back. `delete_user` is one `DELETE … RETURNING`.
//!
//! # Revocations between instances
//! [`Announcements::announce`] inserts the revocation into `auth_revocations`
//! (kept until it no longer matters, by the database's clock) and sends it
//! with `NOTIFY`, in one statement. Each authenticator's subscription
//! listens on a connection of its own: it `LISTEN`s, catches up from the
//! table, then applies notifications as they come, checks a quiet
//! connection every 5 seconds, and reconnects after a failure, telling the
//! authenticator whether its list is current.

mod announce;

pub use announce::LISTENER_NAME;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::throttle::CounterStore;
use auth_core::{
    Announcements, Clock, SessionKey, SessionRecord, SessionStore, StoreError, SystemClock,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::types::Json;
use tokio_postgres::{NoTls, Row};

/// The schema, idempotent: safe to run at every start.
pub const MIGRATION: &str = include_str!("../migrations/001_sessions.sql");

/// Default bound on every store call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a [`PostgresStore`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresConfigError {
    /// The connection string was refused.
    #[error("invalid PostgreSQL configuration: {0}")]
    Config(#[from] tokio_postgres::Error),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// A [`SessionStore`] (and [`CounterStore`]) on PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    /// Where the revocation listener connects.
    listen: Option<Arc<tokio_postgres::Config>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Whether retrying can help: connection trouble, timeouts, serialization
/// failures and an overloaded server, yes; anything the database refused
/// on its merits, no.
fn map_pg(err: tokio_postgres::Error) -> StoreError {
    let retryable = match err.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }
    };
    if retryable {
        StoreError::unavailable(err)
    } else {
        StoreError::backend(err)
    }
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::backend(format!("corrupt session row: {err}"))
}

const LIVE: &str = "idle_expires_at > $1 AND absolute_expires_at > $1";

impl PostgresStore {
    /// A store on the database at `url` (`postgres://user@host/db`).
    /// Connects lazily: an unreachable server shows up as 503s.
    pub async fn connect(url: &str) -> Result<Self, PostgresConfigError> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| PostgresConfigError::Pool(e.to_string()))?;
        Ok(Self::from_pool(pool).with_listen_config(config))
    }

    /// A store on a pool the application already has. Revocation
    /// announcements need a connection of their own: give its settings
    /// with [`with_listen_config`](Self::with_listen_config).
    pub fn from_pool(pool: Pool) -> Self {
        Self {
            pool,
            clock: Arc::new(SystemClock),
            timeout: DEFAULT_TIMEOUT,
            listen: None,
        }
    }

    /// Where the listener for revocation announcements connects (set by
    /// [`connect`](Self::connect)).
    #[must_use]
    pub fn with_listen_config(mut self, config: tokio_postgres::Config) -> Self {
        self.listen = Some(Arc::new(config));
        self
    }

    /// The clock that judges expiry (default the system clock). Give it
    /// the authenticator's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The bound on every call, connecting included (default 2 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates the tables and indexes if they are missing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.run(async |client| client.batch_execute(MIGRATION).await.map_err(map_pg))
            .await
    }

    /// Deletes rows that expired more than `grace` ago; returns how many.
    pub async fn delete_expired(&self, grace: Duration) -> Result<u64, StoreError> {
        let cutoff = self.clock.now() - grace;
        self.run(async |client| {
            client
                .execute(
                    "DELETE FROM auth_sessions \
                     WHERE LEAST(idle_expires_at, absolute_expires_at) <= $1",
                    &[&cutoff],
                )
                .await
                .map_err(map_pg)
        })
        .await
    }

    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let work = async {
            let mut client = self.pool.get().await.map_err(StoreError::unavailable)?;
            op(&mut client).await
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!(
                "PostgreSQL did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// A record from a row of `record, idle_expires_at, last_refresh_at,
/// version`.
fn record_of(row: &Row) -> Result<SessionRecord, StoreError> {
    let Json(mut record): Json<SessionRecord> = row.try_get(0).map_err(corrupt)?;
    record.idle_expires_at = row.try_get(1).map_err(corrupt)?;
    record.last_refresh_at = row.try_get(2).map_err(corrupt)?;
    let version: i64 = row.try_get(3).map_err(corrupt)?;
    record.version = u64::try_from(version).map_err(corrupt)?;
    Ok(record)
}

fn version_of(record: &SessionRecord) -> Result<i64, StoreError> {
    i64::try_from(record.version).map_err(|_| StoreError::backend("version out of range"))
}

const SELECT: &str = "SELECT record, idle_expires_at, last_refresh_at, version FROM auth_sessions";

/// Inserts `record`, or takes over an expired row under the same key;
/// `false` if a live session holds the key.
async fn insert(
    client: &impl deadpool_postgres::GenericClient,
    record: &SessionRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let inserted = client
        .execute(
            "INSERT INTO auth_sessions (key, user_id, record, idle_expires_at, \
             absolute_expires_at, last_refresh_at, version) \
             VALUES ($2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (key) DO UPDATE SET user_id = EXCLUDED.user_id, \
               record = EXCLUDED.record, idle_expires_at = EXCLUDED.idle_expires_at, \
               absolute_expires_at = EXCLUDED.absolute_expires_at, \
               last_refresh_at = EXCLUDED.last_refresh_at, version = EXCLUDED.version \
             WHERE NOT (auth_sessions.idle_expires_at > $1 \
                        AND auth_sessions.absolute_expires_at > $1)",
            &[
                &now,
                &record.key().to_hex(),
                &record.user_id,
                &Json(record),
                &record.idle_expires_at,
                &record.absolute_expires_at,
                &record.last_refresh_at,
                &version_of(record)?,
            ],
        )
        .await
        .map_err(map_pg)?;
    Ok(inserted == 1)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let now = self.now();
        self.run(async |client| match insert(&*client, record, now).await? {
            true => Ok(()),
            false => Err(StoreError::DuplicateKey),
        })
        .await
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.now();
        self.run(async |client| {
            let row = client
                .query_opt(
                    &format!("{SELECT} WHERE key = $2 AND {LIVE}"),
                    &[&now, &key.to_hex()],
                )
                .await
                .map_err(map_pg)?;
            row.as_ref().map(record_of).transpose()
        })
        .await
    }

    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let now = self.now();
        self.run(async |client| {
            let row = client
                .query_opt(
                    &format!(
                        "UPDATE auth_sessions SET record = $5, idle_expires_at = $6, \
                         last_refresh_at = $7, version = version + 1 \
                         WHERE key = $2 AND user_id = $3 AND version = $4 AND {LIVE} \
                         RETURNING version"
                    ),
                    &[
                        &now,
                        &record.key().to_hex(),
                        &record.user_id,
                        &version_of(record)?,
                        &Json(record),
                        &record.idle_expires_at,
                        &record.last_refresh_at,
                    ],
                )
                .await
                .map_err(map_pg)?;
            if let Some(row) = row {
                let version: i64 = row.try_get(0).map_err(corrupt)?;
                return u64::try_from(version).map_err(corrupt);
            }
            // Nothing changed: a stale version, or no such live session.
            let exists = client
                .query_opt(
                    &format!(
                        "SELECT 1 FROM auth_sessions WHERE key = $2 AND user_id = $3 AND {LIVE}"
                    ),
                    &[&now, &record.key().to_hex(), &record.user_id],
                )
                .await
                .map_err(map_pg)?;
            Err(if exists.is_some() {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            })
        })
        .await
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        self.run(async |client| {
            let n = client
                .execute(
                    &format!(
                        "UPDATE auth_sessions SET idle_expires_at = $3, last_refresh_at = $4 \
                         WHERE key = $2 AND {LIVE}"
                    ),
                    &[&now, &key.to_hex(), &idle_expires_at, &last_refresh_at],
                )
                .await
                .map_err(map_pg)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let now = self.now();
        self.run(async |client| {
            let row = client
                .query_opt(
                    &format!("DELETE FROM auth_sessions WHERE key = $2 RETURNING ({LIVE})"),
                    &[&now, &key.to_hex()],
                )
                .await
                .map_err(map_pg)?;
            match row {
                Some(row) => row.try_get::<_, bool>(0).map_err(corrupt),
                None => Ok(false),
            }
        })
        .await
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let now = self.now();
        self.run(async |client| {
            let rows = client
                .query(
                    &format!("{SELECT} WHERE user_id = $2 AND {LIVE}"),
                    &[&now, &user_id],
                )
                .await
                .map_err(map_pg)?;
            rows.iter().map(record_of).collect()
        })
        .await
    }

    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let now = self.now();
        let keep = keep.map(SessionKey::to_hex).unwrap_or_default();
        self.run(async |client| {
            let rows = client
                .query(
                    &format!(
                        "DELETE FROM auth_sessions WHERE user_id = $2 AND key <> $3 \
                         RETURNING key, ({LIVE})"
                    ),
                    &[&now, &user_id, &keep],
                )
                .await
                .map_err(map_pg)?;
            let mut deleted = Vec::new();
            for row in &rows {
                if row.try_get::<_, bool>(1).map_err(corrupt)? {
                    let key: &str = row.try_get(0).map_err(corrupt)?;
                    deleted.push(SessionKey::from_hex(key).ok_or_else(|| corrupt("key"))?);
                }
            }
            Ok(deleted)
        })
        .await
    }

    fn announcements(&self) -> Option<&dyn Announcements> {
        Some(self)
    }
}

/// Throttle counters in `auth_counters`: one upsert per failed login.
#[async_trait]
impl CounterStore for PostgresStore {
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError> {
        let now = self.now();
        let ends = now + window;
        let row = self
            .run(async |client| {
                client
                    .query_one(
                        "INSERT INTO auth_counters (key, count, expires_at) VALUES ($1, 1, $3) \
                         ON CONFLICT (key) DO UPDATE SET \
                           count = CASE WHEN auth_counters.expires_at <= $2 THEN 1 \
                                        ELSE auth_counters.count + 1 END, \
                           expires_at = CASE WHEN auth_counters.expires_at <= $2 THEN $3 \
                                        ELSE auth_counters.expires_at END \
                         RETURNING count, expires_at",
                        &[&key, &now, &ends],
                    )
                    .await
                    .map_err(map_pg)
            })
            .await?;
        counter_of(&row, now)
    }

    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError> {
        let now = self.now();
        let row = self
            .run(async |client| {
                client
                    .query_opt(
                        "SELECT count, expires_at FROM auth_counters \
                         WHERE key = $1 AND expires_at > $2",
                        &[&key, &now],
                    )
                    .await
                    .map_err(map_pg)
            })
            .await?;
        match row {
            Some(row) => counter_of(&row, now),
            None => Ok((0, Duration::ZERO)),
        }
    }

    async fn decrement(&self, key: &str) -> Result<(), StoreError> {
        let now = self.now();
        self.run(async |client| {
            client
                .execute(
                    "UPDATE auth_counters SET count = GREATEST(count - 1, 0) \
                     WHERE key = $1 AND expires_at > $2",
                    &[&key, &now],
                )
                .await
                .map(|_| ())
                .map_err(map_pg)
        })
        .await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.run(async |client| {
            client
                .execute("DELETE FROM auth_counters WHERE key = $1", &[&key])
                .await
                .map(|_| ())
                .map_err(map_pg)
        })
        .await
    }
}

fn counter_of(row: &Row, now: OffsetDateTime) -> Result<(u64, Duration), StoreError> {
    let count: i64 = row.try_get(0).map_err(corrupt)?;
    let ends: OffsetDateTime = row.try_get(1).map_err(corrupt)?;
    let left = Duration::try_from(ends - now).unwrap_or(Duration::ZERO);
    Ok((u64::try_from(count).map_err(corrupt)?, left))
}
