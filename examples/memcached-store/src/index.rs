//! Each user's index: the ids of their sessions, each with its expiry, in
//! one item changed only by compare-and-swap loops, pruned of dead entries
//! on every change, and bounded.

use auth_core::{SessionRecord, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::protocol::CasOutcome;
use crate::{CAS_ATTEMPTS, MemcachedStore};

/// The most sessions one user's index lists (dead ones pruned first): a
/// login past it fails rather than leave a session that "log out
/// everywhere" could not find. The authenticator's session limit keeps
/// users far below it.
pub const MAX_SESSIONS_PER_INDEX: usize = 2_000;

#[derive(Default, Serialize, Deserialize)]
struct Index {
    /// Session id and its expiry (Unix seconds).
    sessions: Vec<(String, i64)>,
}

impl Index {
    fn prune(&mut self, now: i64) {
        self.sessions.retain(|(_, expires)| *expires >= now);
    }

    fn latest_expiry(&self) -> i64 {
        self.sessions.iter().map(|(_, e)| *e).max().unwrap_or(0)
    }
}

impl MemcachedStore {
    /// The index's key: a digest of the user id, which may hold anything.
    fn index_key(&self, user_id: &str) -> String {
        format!("{}u:{}", self.prefix, crate::key_digest(user_id))
    }

    /// Changes `user_id`'s index with `change` until a `cas` (or the `add`
    /// of a new one) goes through.
    async fn change_index(
        &self,
        user_id: &str,
        change: impl Fn(&mut Index) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let key = self.index_key(user_id);
        let now = self.now().unix_timestamp();
        for _ in 0..CAS_ATTEMPTS {
            let current = self.get(&key).await?;
            let mut index = match &current {
                Some(item) => serde_json::from_slice(&item.value).map_err(StoreError::backend)?,
                None => Index::default(),
            };
            index.prune(now);
            change(&mut index)?;
            let bytes = serde_json::to_vec(&index).map_err(StoreError::backend)?;
            let until = OffsetDateTime::from_unix_timestamp(index.latest_expiry().max(now))
                .unwrap_or_else(|_| self.now());
            let exptime = self.exptime(until);
            let written = match &current {
                Some(item) => {
                    let cas = item.cas;
                    self.run(&key, async |c| c.cas(&key, &bytes, exptime, cas).await)
                        .await?
                        == CasOutcome::Stored
                }
                None => {
                    self.run(&key, async |c| c.add(&key, &bytes, exptime).await)
                        .await?
                }
            };
            if written {
                return Ok(());
            }
        }
        Err(StoreError::Conflict)
    }

    /// Lists `record`'s session in its user's index.
    pub(crate) async fn index_add(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let id = record.id.as_str().to_owned();
        // The absolute expiry: the idle one moves with every touch.
        let expires = record.absolute_expires_at.unix_timestamp();
        self.change_index(&record.user_id, |index| {
            if index.sessions.iter().any(|(s, _)| *s == id) {
                return Ok(());
            }
            if index.sessions.len() >= MAX_SESSIONS_PER_INDEX {
                return Err(StoreError::backend(
                    "the user's session index in memcached is full",
                ));
            }
            index.sessions.push((id.clone(), expires));
            Ok(())
        })
        .await
    }

    /// Takes `ids` out of `user_id`'s index. A failure only leaves entries
    /// that every reader skips (their sessions are gone), so it is logged,
    /// not returned.
    pub(crate) async fn index_remove_quietly(&self, user_id: &str, ids: &[&str]) {
        if ids.is_empty() {
            return;
        }
        let result = self
            .change_index(user_id, |index| {
                index.sessions.retain(|(s, _)| !ids.contains(&s.as_str()));
                Ok(())
            })
            .await;
        if let Err(error) = result {
            tracing::debug!(%error, "a user's session index in memcached was not pruned");
        }
    }

    /// The session ids `user_id`'s index lists, live by their expiry.
    pub(crate) async fn index_ids(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let Some(item) = self.get(&self.index_key(user_id)).await? else {
            return Ok(Vec::new());
        };
        let mut index: Index = serde_json::from_slice(&item.value).map_err(StoreError::backend)?;
        index.prune(self.now().unix_timestamp());
        Ok(index.sessions.into_iter().map(|(id, _)| id).collect())
    }
}
