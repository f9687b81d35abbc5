//! Ending sessions, and what spans all of a user's sessions: the per-user
//! limit, role changes everywhere, the administrator's view.
//!
//! Every guarantee here holds when requests race, because each rests on
//! one atomic store operation ([the store contract](crate::store)):
//!
//! - a session lives under one key for its whole life, and everything
//!   that changes it (a rotation, a refresh, a role change, a data save)
//!   is a compare-and-set on that key, which fails once the session is
//!   deleted; so once an end has answered, nothing of the ended session
//!   works again, whatever ran at the same time;
//! - an end refuses the session's access tokens on every instance before
//!   it deletes (an error leaves it undone and retryable), then refuses
//!   the tokens of sessions the delete found that it had not seen;
//! - the per-user limit is checked after the new session is written, by
//!   the login itself, so concurrent logins can never all squeeze in.

use serde::Serialize;
use time::OffsetDateTime;

use crate::authenticator::{Authenticator, SessionLimit};
use crate::error::Error;
use crate::record::{SessionKind, SessionRecord};
use crate::revocation::Revocation;
use crate::store::StoreError;
use crate::token::{SessionId, SessionKey};

/// One of a user's sessions, as the device list shows it: no token, no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The public session id.
    pub id: SessionId,
    /// When the session began.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the session was last seen, to the precision of the refresh
    /// threshold.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// When the session ends unless used again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The client's user agent at login.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub address: Option<String>,
    /// The application's label.
    pub label: Option<String>,
    /// Whether this is the session of the request that asked.
    pub current: bool,
    /// `browser` (a cookie) or `refresh` (an app holding a refresh token).
    pub kind: SessionKind,
}

/// How many times a change to every session of a user re-reads a session
/// that another request changed meanwhile.
const UPDATE_ATTEMPTS: usize = 5;

impl Authenticator {
    /// Ends one session: refuses its access tokens everywhere, then deletes
    /// it. Whether a live one existed.
    pub(crate) async fn end_session(&self, key: &SessionKey) -> Result<bool, Error> {
        self.revoke_session_tokens(&key.id()).await?;
        Ok(self.inner.store.delete(key).await?)
    }

    /// Ends every session of `user` except `keep`, and refuses their
    /// access tokens everywhere. How many ended.
    pub(crate) async fn end_user_sessions(
        &self,
        user: &str,
        keep: Option<&SessionKey>,
    ) -> Result<usize, Error> {
        let store = &self.inner.store;
        let mut announced = Vec::new();
        if self.accepts_bearer() {
            for record in store.list_user(user).await? {
                let key = record.key();
                if Some(&key) != keep {
                    self.revoke_session_tokens(&record.id).await?;
                    announced.push(key);
                }
            }
        }
        let deleted = store.delete_user(user, keep).await?;
        if self.accepts_bearer() {
            // A session created between the listing and the delete: its
            // tokens die with it too.
            for key in deleted.iter().filter(|k| !announced.contains(k)) {
                self.revoke_session_tokens(&key.id()).await?;
            }
        }
        Ok(deleted.len())
    }

    /// After `record` was created for a login: holds the user to the
    /// session limit, counting every live session but `replacing` (the
    /// one the login retires). With [`SessionLimit::Refuse`] a login past
    /// the limit removes its own session and fails; with
    /// [`SessionLimit::EndOldest`] the oldest sessions beyond the limit
    /// end (this one too, and the login fails, if more than the limit are
    /// newer).
    ///
    /// Checked after the write, by every login: of several logins that
    /// race, the last one to write sees all the others, so the user never
    /// keeps more than the limit. With `EndOldest` they agree on which
    /// sessions are the newest, so at least one of them succeeds; with
    /// `Refuse`, racing logins past the limit may all be refused (the
    /// user's existing sessions are never touched).
    pub(crate) async fn enforce_session_limit(
        &self,
        record: &SessionRecord,
        replacing: Option<&SessionKey>,
    ) -> Result<(), Error> {
        let Some((limit, on_exceed)) = self.inner.session_limit else {
            return Ok(());
        };
        let own = record.key();
        let listed = match self.inner.store.list_user(&record.user_id).await {
            Ok(listed) => listed,
            Err(err) => {
                self.discard(&own).await;
                return Err(err.into());
            }
        };
        let mut live: Vec<SessionRecord> = listed
            .into_iter()
            .filter(|r| Some(&r.key()) != replacing)
            .collect();
        if live.iter().all(|r| r.key() != own) {
            // Not listed: ended by another login's limit, or by a logout
            // of the user, while this one ran.
            return Err(Error::TooManySessions);
        }
        if live.len() <= limit {
            return Ok(());
        }
        if on_exceed == SessionLimit::Refuse {
            tracing::info!(
                user = %record.user_id.escape_debug(),
                sessions = live.len(),
                "login refused: session limit"
            );
            self.discard(&own).await;
            return Err(Error::TooManySessions);
        }
        // Newest first, in an order every racing login agrees on (time,
        // then id): the newest session of all is never ended by anyone,
        // so of logins that race at least one succeeds.
        live.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        let mut own_ended = false;
        for oldest in &live[limit..] {
            tracing::info!(
                session = %oldest.id,
                user = %record.user_id.escape_debug(),
                "session ended: session limit"
            );
            own_ended |= oldest.key() == own;
            self.end_session(&oldest.key()).await?;
        }
        if own_ended {
            return Err(Error::TooManySessions);
        }
        Ok(())
    }

    /// Removes a session whose login failed before its token was handed
    /// out; a failure only leaves a session nobody holds the token of.
    async fn discard(&self, key: &SessionKey) {
        if let Err(err) = self.inner.store.delete(key).await {
            tracing::warn!(error = %err, "removing the session of a failed login failed");
        }
    }

    /// Ends every session of local user `user` (browser sessions and
    /// refresh-token families) on every instance, and refuses every access
    /// token issued to them until now: what an administrator does to
    /// force a user out. How many sessions ended.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use auth_core::adapter::Exchange;
    /// use auth_core::testing::TestRequest;
    /// use auth_core::{Authenticator, Login, MemoryStore};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new()).build()?;
    /// let exchange = Exchange::new(auth.clone());
    /// let handle = exchange.admit(&mut TestRequest::post("/login")).await.expect("admitted");
    /// handle.login(Login::new("mallory")).await?;
    /// assert_eq!(auth.end_all_sessions_of("mallory").await?, 1);
    /// assert!(auth.sessions_of("mallory").await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn end_all_sessions_of(&self, user: &str) -> Result<usize, Error> {
        self.cut_off_user_tokens(user).await?;
        let ended = self.end_user_sessions(user, None).await?;
        tracing::info!(user = %user.escape_debug(), sessions = ended, "all sessions of the user ended");
        Ok(ended)
    }

    /// The live sessions of local user `user`, newest first, as the device
    /// list shows them (none is marked current).
    pub async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        Ok(session_infos(self.inner.store.list_user(user).await?, None))
    }

    /// Gives every session of local user `user` the roles `roles`, on
    /// every instance, and refuses the access tokens issued until now (they
    /// carry the old roles): clients get tokens with the new roles at their
    /// next refresh. Sessions created meanwhile carry what their login
    /// gave them. How many sessions changed.
    pub async fn set_user_roles<I, R>(&self, user: &str, roles: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        let cut_off = crate::record::unix_millis::from_millis(self.cut_off(user, None))
            .unwrap_or_else(|| self.now());
        let mut changed = 0;
        for record in self.inner.store.list_user(user).await? {
            if self
                .update_session(record, |r| {
                    r.roles = roles.clone();
                    r.tokens_not_before = r.tokens_not_before.max(Some(cut_off));
                })
                .await?
            {
                changed += 1;
            }
        }
        // After the records: a token made from a record with the old roles
        // is older than this and refused; one made from a changed record
        // is stamped past it.
        self.revoke_tokens(Revocation::UserBefore {
            user: user.to_owned(),
            issuer: None,
            not_before: crate::record::unix_millis::to_millis(cut_off),
        })
        .await?;
        tracing::info!(user = %user.escape_debug(), sessions = changed, "roles changed");
        Ok(changed)
    }

    /// Applies `change` to a session with compare-and-set, re-reading it
    /// when another request changed it meanwhile. `false` if it is gone.
    pub(crate) async fn update_session(
        &self,
        mut record: SessionRecord,
        change: impl Fn(&mut SessionRecord),
    ) -> Result<bool, Error> {
        let store = &self.inner.store;
        for _ in 0..UPDATE_ATTEMPTS {
            change(&mut record);
            match store.update(&record).await {
                Ok(_) => return Ok(true),
                Err(StoreError::NotFound) => return Ok(false),
                Err(StoreError::Conflict) => match store.load(&record.key()).await? {
                    Some(fresh) => record = fresh,
                    None => return Ok(false),
                },
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::Conflict)
    }

    /// Refuses the access tokens of session `id` from now on, here and,
    /// through the store, on every instance. The session itself is left
    /// alone; ends of sessions call this before they delete. A no-op
    /// without access tokens.
    pub async fn revoke_session_tokens(&self, id: &SessionId) -> Result<(), Error> {
        self.revoke_tokens(Revocation::Session {
            sid: id.as_str().to_owned(),
        })
        .await
    }

    /// Refuses the access tokens of session `id` of `user` issued until
    /// now (a token issued in this very second is refused too, and tokens
    /// issued afterwards carry a later `iat`). The cut-off, which the
    /// session's record keeps as its `tokens_not_before`.
    pub(crate) async fn revoke_session_tokens_before(
        &self,
        id: &SessionId,
        user: &str,
    ) -> Result<OffsetDateTime, Error> {
        let not_before = self.cut_off(user, Some(id));
        self.revoke_tokens(Revocation::SessionBefore {
            sid: id.as_str().to_owned(),
            not_before,
        })
        .await?;
        Ok(crate::record::unix_millis::from_millis(not_before).unwrap_or_else(|| self.now()))
    }

    /// Refuses every access token of local user `user` issued until now
    /// (to the millisecond), here and on every instance: call it on a
    /// password change. Sessions stay, and tokens made from them from now
    /// on work (end them with
    /// [`AuthHandle::logout_everywhere`](crate::AuthHandle::logout_everywhere),
    /// [`AuthHandle::logout_others`](crate::AuthHandle::logout_others) or
    /// [`end_all_sessions_of`](Self::end_all_sessions_of)). A no-op
    /// without access tokens.
    pub async fn revoke_user_tokens(&self, user: &str) -> Result<(), Error> {
        if self.inner.revocations.is_none() {
            return Ok(());
        }
        let cut_off = self.cut_off_user_tokens(user).await?;
        // Each session records the cut-off: the tokens made from it from
        // now on are stamped past it, and an instance that checks tokens
        // against the store refuses the older ones.
        for record in self.inner.store.list_user(user).await? {
            self.update_session(record, |r| {
                r.tokens_not_before = r.tokens_not_before.max(Some(cut_off));
            })
            .await?;
        }
        Ok(())
    }

    /// Announces that `user`'s tokens issued until now are refused; the
    /// cut-off.
    pub(crate) async fn cut_off_user_tokens(&self, user: &str) -> Result<OffsetDateTime, Error> {
        let not_before = self.cut_off(user, None);
        self.revoke_tokens(Revocation::UserBefore {
            user: user.to_owned(),
            issuer: None,
            not_before,
        })
        .await?;
        Ok(crate::record::unix_millis::from_millis(not_before).unwrap_or_else(|| self.now()))
    }

    /// Refuses every access token that external `issuer` gave its subject
    /// `subject` until now, for identities the app does not map to a local
    /// user (mapped ones are revoked as their local user). A no-op
    /// without access tokens.
    pub async fn revoke_external_user_tokens(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<(), Error> {
        self.revoke_tokens(Revocation::UserBefore {
            user: subject.to_owned(),
            issuer: Some(issuer.to_owned()),
            not_before: crate::record::unix_millis::to_millis(self.now()),
        })
        .await
    }

    /// The cut-off of a revocation of `user`'s tokens (of session `sid`)
    /// now, in Unix milliseconds: it also reaches tokens stamped with a
    /// later second after an earlier revocation of this second.
    fn cut_off(&self, user: &str, sid: Option<&SessionId>) -> i64 {
        let now = crate::record::unix_millis::to_millis(self.now());
        match &self.inner.revocations {
            Some(revocations) => revocations.cut_off(user, sid.map(SessionId::as_str), now),
            None => now,
        }
    }

    async fn revoke_tokens(&self, revocation: Revocation) -> Result<(), Error> {
        let Some(revocations) = &self.inner.revocations else {
            return Ok(());
        };
        crate::telemetry::revocation(match revocation {
            Revocation::Session { .. } | Revocation::SessionBefore { .. } => "session",
            _ => "user",
        });
        let keep = self.inner.revocation_keep;
        revocations.apply(&revocation, keep);
        self.inner.store.announce(&revocation, keep).await?;
        Ok(())
    }
}

/// Sessions as the device list shows them, newest first; `current` marks
/// the caller's own.
pub(crate) fn session_infos(
    records: Vec<SessionRecord>,
    current: Option<&SessionId>,
) -> Vec<SessionInfo> {
    let mut list: Vec<SessionInfo> = records
        .into_iter()
        .filter(|r| matches!(r.kind, SessionKind::Browser | SessionKind::Refresh))
        .map(|r| SessionInfo {
            kind: r.kind,
            current: current == Some(&r.id),
            expires_at: r.expires_at(),
            id: r.id,
            created_at: r.created_at,
            last_seen_at: r.last_refresh_at,
            user_agent: r.client.user_agent,
            address: r.client.address,
            label: r.client.label,
        })
        .collect();
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    list
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::{Authenticator, Login, MemoryStore, SessionLimit, SessionStore};

    /// Logins released together, over and over: the user never keeps more
    /// sessions than the limit, whichever way they interleave.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_logins_never_exceed_the_limit() {
        for limit in [1, 3] {
            for trial in 0..30 {
                let clock = ManualClock::starting_now();
                let store = MemoryStore::with_clock(Arc::new(clock.clone()));
                let auth = Authenticator::builder(store.clone())
                    .with_clock(Arc::new(clock))
                    .with_max_sessions_per_user(limit, SessionLimit::EndOldest)
                    .build()
                    .unwrap();
                let barrier = Arc::new(tokio::sync::Barrier::new(8));
                let logins: Vec<_> = (0..8)
                    .map(|_| {
                        let (auth, barrier) = (auth.clone(), barrier.clone());
                        tokio::spawn(async move {
                            let handle = auth
                                .authenticate(auth.credentials([], None, None))
                                .await
                                .unwrap();
                            barrier.wait().await;
                            handle.login(Login::new("alice")).await.is_ok()
                        })
                    })
                    .collect();
                let mut succeeded = 0;
                for login in logins {
                    succeeded += usize::from(login.await.unwrap());
                }
                let live = store.list_user("alice").await.unwrap().len();
                assert!(
                    live <= limit,
                    "limit {limit}, trial {trial}: {live} sessions live, {succeeded} logins succeeded"
                );
                assert!(live >= 1, "limit {limit}, trial {trial}: every login lost");
            }
        }
    }
}
