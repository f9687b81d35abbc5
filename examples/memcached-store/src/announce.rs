//! Revocation announcements without pub/sub: a numbered log that every
//! instance polls. `incr <prefix>a:head` numbers an announcement, which is
//! stored as `<prefix>a:<n>` for as long as it matters; every instance
//! reads the head every [`POLL_INTERVAL`] and then what it has not seen.
//! The log's items all live on one server (the head's), so they are
//! reachable together.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth_core::revocation::{Revocation, Revocations, Subscription, WeakRevocations};
use auth_core::{Announcements, StoreError};

use crate::MemcachedStore;

/// How often an instance reads the log: a logout reaches every instance
/// within about twice this.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How far back a new subscriber reads.
const CATCH_UP: u64 = 1024;
/// The most announcements one poll reads.
const MAX_PER_POLL: u64 = 256;
/// How long a numbered announcement may be missing (numbered, not yet
/// stored) before it is taken as lost and skipped.
const MISSING_GRACE: Duration = Duration::from_secs(1);
/// Longest time an announcement is kept: memcached's longest relative
/// expiry.
const MAX_KEEP_SECS: u64 = 30 * 24 * 3600;

/// Where the subscriber is in the log.
struct Position {
    /// The next number to read; `None` before the first poll.
    next: Option<u64>,
    /// Since when `next` has been numbered but not found.
    missing_since: Option<Instant>,
}

impl MemcachedStore {
    fn log_routing(&self) -> String {
        format!("{}a", self.prefix)
    }

    fn log_key(&self, n: u64) -> String {
        format!("{}a:{n}", self.prefix)
    }

    fn head_key(&self) -> String {
        format!("{}a:head", self.prefix)
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let key = self.head_key();
        let item = self
            .servers
            .run(&self.log_routing(), self.timeout, async |c| {
                c.get(&key).await
            })
            .await?;
        Ok(item
            .and_then(|i| std::str::from_utf8(&i.value).ok()?.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Reads what `position` has not seen into `list`.
    async fn poll(&self, list: &Revocations, position: &mut Position) -> Result<(), StoreError> {
        let head = self.head().await?;
        let mut next = match position.next {
            Some(next) => next,
            None => head.saturating_sub(CATCH_UP) + 1,
        };
        if head + 1 < next {
            // The log started again (memcached restarted or evicted the
            // head): read it from its start.
            tracing::warn!("the revocation log in memcached started again");
            next = 1;
        }
        let first = next;
        let last = head.min(first + MAX_PER_POLL - 1);
        if first <= last {
            let keys: Vec<String> = (first..=last).map(|n| self.log_key(n)).collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let found = self
                .servers
                .run(&self.log_routing(), self.timeout, async |c| {
                    c.gets(&refs).await
                })
                .await?;
            let found: std::collections::HashMap<String, Vec<u8>> =
                found.into_iter().map(|(k, i)| (k, i.value)).collect();
            for n in first..=last {
                match found.get(&self.log_key(n)) {
                    Some(entry) => {
                        match parse(entry) {
                            Some((revocation, keep)) => list.apply(&revocation, keep),
                            None => tracing::warn!("unreadable revocation announcement ignored"),
                        }
                        next = n + 1;
                        position.missing_since = None;
                    }
                    None => {
                        let since = *position.missing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() < MISSING_GRACE {
                            break;
                        }
                        // Expired or lost: nothing to wait for.
                        next = n + 1;
                        position.missing_since = None;
                    }
                }
            }
        }
        position.next = Some(next);
        Ok(())
    }
}

/// `"{keep_ms} {revocation}"`.
fn parse(entry: &[u8]) -> Option<(Revocation, Duration)> {
    let text = std::str::from_utf8(entry).ok()?;
    let (keep, revocation) = text.split_once(' ')?;
    Some((
        Revocation::decode(revocation)?,
        Duration::from_millis(keep.parse().ok()?),
    ))
}

/// Polls until the list is dropped.
async fn follow(store: MemcachedStore, sink: WeakRevocations) {
    let mut position = Position {
        next: None,
        missing_since: None,
    };
    loop {
        let Some(list) = sink.upgrade() else {
            return;
        };
        match store.poll(&list, &mut position).await {
            Ok(()) => list.feed_live(),
            Err(error) => {
                tracing::warn!(%error, "reading the revocation log in memcached failed");
                list.feed_lost();
            }
        }
        drop(list);
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Stops the poller when the subscription goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl Announcements for MemcachedStore {
    /// Numbers the revocation with `incr` on the head and stores it under
    /// its number for `keep`.
    async fn announce(&self, revocation: &Revocation, keep: Duration) -> Result<(), StoreError> {
        let head = self.head_key();
        let keep_ms = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX).max(1);
        let entry = format!("{keep_ms} {}", revocation.encode());
        let exptime = u32::try_from((keep.as_secs() + 2).min(MAX_KEEP_SECS)).unwrap_or(u32::MAX);
        let routing = self.log_routing();
        let prefix = self.prefix.clone();
        self.servers
            .run(&routing, self.timeout, async |c| {
                let n = match c.add_to(&head, true, 1).await? {
                    Some(n) => n,
                    None => {
                        // No log yet (or it was lost): start it; if another
                        // instance just did, count on from theirs.
                        c.add(&head, b"0", 0).await?;
                        c.add_to(&head, true, 1)
                            .await?
                            .ok_or_else(|| std::io::Error::other("the log head vanished"))?
                    }
                };
                c.set(&format!("{prefix}a:{n}"), entry.as_bytes(), exptime)
                    .await
            })
            .await
    }

    /// Spawns a poller on the current Tokio runtime.
    fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::backend("revocation announcements need a running Tokio runtime")
        })?;
        // Until the first poll, the list may be missing revocations:
        // tokens are checked against the store.
        sink.feed_connecting();
        let task = runtime.spawn(follow(self.clone(), sink.downgrade()));
        Ok(Subscription::new(AbortOnDrop(task)))
    }
}
