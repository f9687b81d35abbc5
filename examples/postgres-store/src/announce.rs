//! Revocation announcements between instances: `NOTIFY` for live delivery,
//! the `auth_revocations` table for catching up after a disconnection.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::revocation::{Revocation, Revocations, Subscription, WeakRevocations};
use auth_core::{Announcements, StoreError};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::{PostgresStore, map_pg};

/// The channel of announcements.
const CHANNEL: &str = "auth_revocations";
/// The `application_name` of the listener's connection.
pub const LISTENER_NAME: &str = "auth-revocation-listener";
/// How often a quiet listener checks its connection, and so proves its
/// feed current: well within auth-core's default staleness of 15 s.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// The longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl PostgresStore {
    pub(crate) async fn announce_revocation(
        &self,
        revocation: &Revocation,
        keep: Duration,
    ) -> Result<(), StoreError> {
        let member = revocation.encode();
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX).max(1);
        let payload = format!("{keep_ms} {member}");
        self.run(async |client| {
            // One statement: forgotten revocations go, this one is kept
            // until it no longer matters (by the database's clock), and
            // the notification leaves when it commits.
            client
                .execute(
                    "WITH forgotten AS (DELETE FROM auth_revocations WHERE forget_at <= now()), \
                     kept AS (INSERT INTO auth_revocations (revocation, forget_at) \
                              VALUES ($1, now() + $2 * interval '1 millisecond')) \
                     SELECT pg_notify($3, $4)",
                    &[&member, &(keep_ms as f64), &CHANNEL, &payload],
                )
                .await
                .map(|_| ())
                .map_err(map_pg)
        })
        .await
    }

    pub(crate) fn subscribe_revocations(
        &self,
        sink: &Revocations,
    ) -> Result<Subscription, StoreError> {
        let Some(config) = self.listen.clone() else {
            return Err(StoreError::backend(
                "revocation announcements need a connection of their own: \
                 a store built from a pool needs PostgresStore::with_listen_config",
            ));
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::backend("revocation announcements need a running Tokio runtime")
        })?;
        // Until the listener has caught up, the list may be missing
        // revocations: tokens are checked against the store.
        sink.feed_connecting();
        let task = runtime.spawn(listen(config, self.timeout, sink.downgrade()));
        Ok(Subscription::new(AbortOnDrop(task)))
    }
}

/// Stops the listener when the subscription goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Receives announcements until the list is dropped, listening again
/// (after a growing pause) whenever the connection fails.
async fn listen(config: Arc<tokio_postgres::Config>, timeout: Duration, sink: WeakRevocations) {
    let mut failures: u32 = 0;
    loop {
        match listen_once(&config, timeout, &sink, &mut failures).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, "revocation listener lost PostgreSQL; listening again");
                match sink.upgrade() {
                    Some(list) => list.feed_lost(),
                    None => return,
                }
            }
        }
        let pause = Duration::from_millis(50)
            .saturating_mul(2u32.saturating_pow(failures.min(10)))
            .min(MAX_BACKOFF);
        failures = failures.saturating_add(1);
        tokio::time::sleep(pause).await;
    }
}

async fn bounded<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(map_pg),
        Err(_) => Err(StoreError::unavailable("PostgreSQL did not answer in time")),
    }
}

/// One connection: listen, catch up, then apply notifications. `Ok` when
/// the list was dropped, `Err` when the connection failed.
async fn listen_once(
    config: &tokio_postgres::Config,
    timeout: Duration,
    sink: &WeakRevocations,
    failures: &mut u32,
) -> Result<(), StoreError> {
    // Named, so an operator can tell it from the pool's connections.
    let mut config = config.clone();
    config.application_name(LISTENER_NAME);
    let (client, mut connection) = bounded(timeout, config.connect(NoTls)).await?;
    // The connection is driven by a task of its own, which hands the
    // notifications over and ends when the connection does.
    let (notes, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if notes.send(note.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "revocation listener connection failed");
                    return;
                }
            }
        }
    });
    let _driver = AbortOnDrop(driver);
    bounded(timeout, client.batch_execute(&format!("LISTEN {CHANNEL}"))).await?;
    // Listening first, then caught up: nothing announced in between is
    // missed (some may arrive twice, which is harmless).
    let recent = bounded(
        timeout,
        client.query(
            "SELECT revocation, \
                    (extract(epoch FROM forget_at - now()) * 1000)::bigint \
             FROM auth_revocations WHERE forget_at > now()",
            &[],
        ),
    )
    .await?;
    let Some(list) = sink.upgrade() else {
        return Ok(());
    };
    for row in recent {
        let (text, keep_ms): (String, i64) = (row.get(0), row.get(1));
        match Revocation::decode(&text) {
            Some(revocation) => list.apply(
                &revocation,
                Duration::from_millis(u64::try_from(keep_ms).unwrap_or(0)),
            ),
            None => tracing::warn!("unreadable revocation in PostgreSQL ignored"),
        }
    }
    list.feed_live();
    drop(list);
    *failures = 0;
    loop {
        let next = tokio::time::timeout(KEEPALIVE, received.recv()).await;
        let Some(list) = sink.upgrade() else {
            return Ok(());
        };
        match next {
            Ok(Some(payload)) => {
                match parse(&payload) {
                    Some((revocation, keep)) => list.apply(&revocation, keep),
                    None => tracing::warn!("unreadable revocation announcement ignored"),
                }
                list.feed_live();
            }
            Ok(None) => return Err(StoreError::unavailable("the listener's connection closed")),
            Err(_) => {
                // Notifications arrive in order on the connection: once
                // this query is answered, every earlier one is in the
                // channel.
                bounded(timeout, client.batch_execute("SELECT 1")).await?;
                while let Ok(payload) = received.try_recv() {
                    match parse(&payload) {
                        Some((revocation, keep)) => list.apply(&revocation, keep),
                        None => tracing::warn!("unreadable revocation announcement ignored"),
                    }
                }
                list.feed_live();
            }
        }
    }
}

/// `"{keep_ms} {revocation}"`.
fn parse(payload: &str) -> Option<(Revocation, Duration)> {
    let (keep, revocation) = payload.split_once(' ')?;
    let keep = Duration::from_millis(keep.parse().ok()?);
    Some((Revocation::decode(revocation)?, keep))
}

#[async_trait]
impl Announcements for PostgresStore {
    /// Inserts the revocation into `auth_revocations` and sends it with
    /// `NOTIFY`, in one statement.
    async fn announce(&self, revocation: &Revocation, keep: Duration) -> Result<(), StoreError> {
        self.announce_revocation(revocation, keep).await
    }

    /// Spawns a listener on the current Tokio runtime, with a connection
    /// of its own.
    fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError> {
        self.subscribe_revocations(sink)
    }
}
