//! Revocation announcements between instances: Redis pub/sub for live
//! delivery, a sorted set for catching up after a disconnection.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::revocation::{Revocation, Revocations, Subscription, WeakRevocations};
use auth_core::{Announcements, StoreError};
use deadpool_redis::redis;
use futures_util::StreamExt;

use crate::{RedisStore, map_redis, with_timeout};

/// How often a quiet subscription checks its connection, and so proves its
/// feed current: well within auth-core's default staleness of 15 s.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// The longest wait between two attempts to resubscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl RedisStore {
    /// The sorted set of recent revocations.
    pub fn revocations_key(&self) -> String {
        format!("{}revocations", self.prefix)
    }

    /// The pub/sub channel of revocations.
    pub fn revocations_channel(&self) -> String {
        format!("{}revocations", self.prefix)
    }

    pub(crate) async fn announce_revocation(
        &self,
        revocation: &Revocation,
        keep: Duration,
    ) -> Result<(), StoreError> {
        let member = revocation.encode();
        let keep_ms = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(async |conn| {
            self.scripts
                .announce
                .key(self.revocations_key())
                .arg(member)
                .arg(keep_ms)
                .arg(self.revocations_channel())
                .invoke_async::<i64>(conn)
                .await
                .map_err(map_redis)
                .map(|_| ())
        })
        .await
    }

    /// Applies the revocations Redis still remembers to `sink`.
    async fn catch_up(&self, sink: &Revocations) -> Result<usize, StoreError> {
        let flat: Vec<String> = self
            .run(async |conn| {
                self.scripts
                    .recent_revocations
                    .key(self.revocations_key())
                    .invoke_async(conn)
                    .await
                    .map_err(map_redis)
            })
            .await?;
        let Some((now, rest)) = flat.split_first() else {
            return Ok(0);
        };
        let now: i64 = now.parse().unwrap_or(i64::MAX);
        let mut applied = 0;
        for pair in rest.chunks_exact(2) {
            let forget: i64 = pair[1].parse().unwrap_or(0);
            let keep = Duration::from_millis(u64::try_from(forget - now).unwrap_or(0));
            match Revocation::decode(&pair[0]) {
                Some(revocation) if !keep.is_zero() => {
                    sink.apply(&revocation, keep);
                    applied += 1;
                }
                Some(_) => {}
                None => tracing::warn!("unreadable revocation in Redis ignored"),
            }
        }
        Ok(applied)
    }

    pub(crate) fn subscribe_revocations(
        &self,
        sink: &Revocations,
    ) -> Result<Subscription, StoreError> {
        if self.subscribe_urls.is_empty() {
            return Err(StoreError::backend(
                "revocation announcements need a Redis URL to subscribe to: \
                 a store built from a pool needs RedisStore::with_subscription_urls",
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::backend("revocation announcements need a running Tokio runtime")
        })?;
        // Until the listener has subscribed and caught up, the list may be
        // missing revocations: tokens are checked against the store.
        sink.feed_connecting();
        let task = runtime.spawn(listen(self.clone(), sink.downgrade()));
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

/// Receives announcements until the list is dropped, resubscribing (to the
/// next node URL, after a growing pause) whenever the connection fails.
async fn listen(store: RedisStore, sink: WeakRevocations) {
    let mut failures: u32 = 0;
    for url in store.subscribe_urls.iter().cycle() {
        match listen_once(&store, url, &sink, &mut failures).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    "revocation subscription to Redis lost; resubscribing"
                );
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

/// One subscription: subscribe, catch up, then apply messages. `Ok` when
/// the list was dropped, `Err` when the connection failed.
async fn listen_once(
    store: &RedisStore,
    url: &Arc<str>,
    sink: &WeakRevocations,
    failures: &mut u32,
) -> Result<(), StoreError> {
    let client = store.subscription_client(url).map_err(map_redis)?;
    let pubsub = with_timeout(store.timeout, async {
        client.get_async_pubsub().await.map_err(map_redis)
    })
    .await?;
    let (mut control, mut messages) = pubsub.split();
    with_timeout(store.timeout, async {
        control
            .subscribe(store.revocations_channel())
            .await
            .map_err(map_redis)
    })
    .await?;
    // Subscribed first, then caught up: nothing announced in between is
    // missed (some may arrive twice, which is harmless).
    let Some(list) = sink.upgrade() else {
        return Ok(());
    };
    let applied = store.catch_up(&list).await?;
    list.feed_live();
    drop(list);
    tracing::debug!(applied, "revocation subscription ready");
    *failures = 0;
    loop {
        let next = tokio::time::timeout(KEEPALIVE, messages.next()).await;
        let Some(list) = sink.upgrade() else {
            return Ok(());
        };
        match next {
            Ok(Some(message)) => {
                let payload: String = message.get_payload().map_err(map_redis)?;
                match parse(&payload) {
                    Some((revocation, keep)) => list.apply(&revocation, keep),
                    None => tracing::warn!("unreadable revocation announcement ignored"),
                }
                list.feed_live();
            }
            Ok(None) => return Err(StoreError::unavailable("the subscription closed")),
            Err(_) => {
                // Messages arrive in order: once the ping is answered,
                // everything published before it has been applied.
                with_timeout(store.timeout, async {
                    control.ping::<redis::Value>().await.map_err(map_redis)
                })
                .await?;
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
impl Announcements for RedisStore {
    /// Adds the revocation to a sorted set (kept for `keep`) and publishes
    /// it on a channel, in one script.
    async fn announce(&self, revocation: &Revocation, keep: Duration) -> Result<(), StoreError> {
        self.announce_revocation(revocation, keep).await
    }

    /// Spawns a listener on the current Tokio runtime: it subscribes to the
    /// channel, catches up from the sorted set, and resubscribes after any
    /// failure.
    fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError> {
        self.subscribe_revocations(sink)
    }
}
