//! Login-throttle counters: `incr` on an item created with `add`, inside a
//! window item (`<key>:w`, holding the window's id and end) that the first
//! increment starts. A counter belongs to its window, so an expired window
//! starts the count again, by the store's clock, whatever memcached's
//! coarser expiry has not reclaimed yet.

use std::time::Duration;

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::throttle::CounterStore;

use crate::protocol::CasOutcome;
use crate::{CAS_ATTEMPTS, MemcachedStore};

/// A counter's current window.
struct Window {
    id: String,
    /// Unix milliseconds.
    ends_at: i64,
}

impl Window {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (id, ends_at) = text.split_once(' ')?;
        Some(Self {
            id: id.to_owned(),
            ends_at: ends_at.parse().ok()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        format!("{} {}", self.id, self.ends_at).into_bytes()
    }

    fn left(&self, now_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(self.ends_at - now_ms).unwrap_or(0))
    }
}

fn millis(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl MemcachedStore {
    /// The base of a counter's keys: a digest (throttle keys hold user
    /// names, which may hold anything). Its items share one server.
    fn counter_base(&self, key: &str) -> String {
        format!("{}c:{}", self.prefix, crate::key_digest(key))
    }

    /// The counter's live window, with the item's `cas` token, if any.
    async fn window(&self, base: &str) -> Result<Option<(Window, u64)>, StoreError> {
        let key = format!("{base}:w");
        let item = self
            .servers
            .run(base, self.timeout, async |c| c.get(&key).await)
            .await?;
        Ok(item.and_then(|item| {
            let window = Window::parse(&item.value)?;
            (window.ends_at > millis(self.now())).then_some((window, item.cas))
        }))
    }

    fn expiry_of(&self, window: &Window) -> u32 {
        let end =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(window.ends_at) * 1_000_000)
                .unwrap_or_else(|_| self.now());
        self.exptime(end)
    }

    /// The live window, or a new one starting now.
    async fn window_or_start(&self, base: &str, length: Duration) -> Result<Window, StoreError> {
        let key = format!("{base}:w");
        for _ in 0..CAS_ATTEMPTS {
            let now = millis(self.now());
            let item = self
                .servers
                .run(base, self.timeout, async |c| c.get(&key).await)
                .await?;
            let stale_cas = match item {
                Some(item) => match Window::parse(&item.value) {
                    Some(window) if window.ends_at > now => return Ok(window),
                    _ => Some(item.cas),
                },
                None => None,
            };
            let fresh = Window {
                id: auth_core::SessionId::generate()
                    .map_err(StoreError::backend)?
                    .to_string(),
                ends_at: now + i64::try_from(length.as_millis()).unwrap_or(i64::MAX / 2),
            };
            let bytes = fresh.encode();
            let exptime = self.expiry_of(&fresh);
            let started = match stale_cas {
                Some(cas) => {
                    self.servers
                        .run(base, self.timeout, async |c| {
                            c.cas(&key, &bytes, exptime, cas).await
                        })
                        .await?
                        == CasOutcome::Stored
                }
                None => {
                    self.servers
                        .run(base, self.timeout, async |c| {
                            c.add(&key, &bytes, exptime).await
                        })
                        .await?
                }
            };
            if started {
                return Ok(fresh);
            }
        }
        Err(StoreError::Conflict)
    }
}

#[async_trait]
impl CounterStore for MemcachedStore {
    async fn increment(&self, key: &str, window: Duration) -> Result<(u64, Duration), StoreError> {
        let base = self.counter_base(key);
        for _ in 0..CAS_ATTEMPTS {
            let current = self.window_or_start(&base, window).await?;
            let counter = format!("{base}:{}", current.id);
            let exptime = self.expiry_of(&current);
            let count = self
                .servers
                .run(&base, self.timeout, async |c| {
                    if let Some(n) = c.add_to(&counter, true, 1).await? {
                        return Ok(Some(n));
                    }
                    if c.add(&counter, b"1", exptime).await? {
                        return Ok(Some(1));
                    }
                    // Another increment created it first.
                    c.add_to(&counter, true, 1).await
                })
                .await?;
            if let Some(count) = count {
                return Ok((count, current.left(millis(self.now()))));
            }
        }
        Err(StoreError::Conflict)
    }

    async fn decrement(&self, key: &str) -> Result<(), StoreError> {
        let base = self.counter_base(key);
        if let Some((window, _)) = self.window(&base).await? {
            let counter = format!("{base}:{}", window.id);
            self.servers
                .run(&base, self.timeout, async |c| {
                    c.add_to(&counter, false, 1).await
                })
                .await?;
        }
        Ok(())
    }

    async fn count(&self, key: &str) -> Result<(u64, Duration), StoreError> {
        let base = self.counter_base(key);
        let Some((window, _)) = self.window(&base).await? else {
            return Ok((0, Duration::ZERO));
        };
        let counter = format!("{base}:{}", window.id);
        let item = self
            .servers
            .run(&base, self.timeout, async |c| c.get(&counter).await)
            .await?;
        let count = item
            .and_then(|i| std::str::from_utf8(&i.value).ok()?.trim().parse().ok())
            .unwrap_or(0);
        if count == 0 {
            return Ok((0, Duration::ZERO));
        }
        Ok((count, window.left(millis(self.now()))))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let base = self.counter_base(key);
        let key = format!("{base}:w");
        self.servers
            .run(&base, self.timeout, async |c| c.delete(&key).await)
            .await?;
        Ok(())
    }
}
