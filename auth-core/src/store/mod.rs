//! The store contract, and the in-memory store.
//!
//! A store keeps [`SessionRecord`]s under their [`SessionKey`] and indexes
//! them by user. It is a small async trait, usable as `Arc<dyn SessionStore>`;
//! a store for another database is a crate that implements it and runs the
//! conformance suite (feature `testing`) in one test.
//!
//! # The contract
//! Every guarantee of the authenticator under concurrency (a rotation
//! succeeds once or fails; once a logout, a revocation or reuse detection
//! has answered, nothing it ended works again) rests on these, and the
//! conformance suite checks each one with operations that really race.
//!
//! - **One key per session**: a session lives under one key, its id, for
//!   its whole life. Rotating its token changes the record (its
//!   [`verifier`](SessionRecord::verifier)), never the key, so no operation
//!   ever has to move a session between keys. `create` never overwrites a
//!   live record.
//! - **Compare-and-set**: `update` writes only if the stored version equals
//!   the record's, and stores `version + 1`, as one atomic step: of several
//!   updates from the same version exactly one succeeds and the others get
//!   [`StoreError::Conflict`]. Token rotation, refresh-token rotation, role
//!   changes and data saves all go through it.
//! - **No resurrection**: `update` and `touch` of a session that is gone
//!   (deleted or expired) fail and never recreate it, however they race
//!   with the delete. Once `delete` or `delete_user` has answered, what
//!   it deleted stays deleted.
//! - **Expiry**: a record whose [`expires_at`](SessionRecord::expires_at)
//!   has passed is never returned, by `load` or by `list_user`, and is
//!   reclaimed eventually without anyone sweeping by hand.
//! - **Index**: `list_user` and `delete_user` see every session of the user
//!   that existed when they began (and may or may not see one created
//!   while they run); `delete_user` deletes every one it sees and returns
//!   their keys. Deleted and expired sessions never linger in the index.
//! - **Authoritative reads**: `load` reads the store itself;
//!   `load_shared` (every request's read) may come from a short-lived
//!   cache ([`CachedStore`]).
//! - **Errors** say whether retrying can help ([`StoreError::is_retryable`]).
//!   A store never turns an error into "not found": that would log users out
//!   whenever the database hiccups.

mod announcements;
mod cache;
pub mod compact;
mod instrumented;
mod keyed;
mod memory;

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::record::SessionRecord;
use crate::token::SessionKey;

pub use announcements::Announcements;
pub(crate) use announcements::{announce, subscribe, subscribe_through};
pub use cache::{CachedStore, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL};
pub use memory::MemoryStore;

pub(crate) use instrumented::InstrumentedStore;

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` found the key taken by a live session.
    #[error("a session with this key already exists")]
    DuplicateKey,
    /// `update` lost a race: the stored version is not the record's.
    #[error("the session was changed concurrently")]
    Conflict,
    /// The session to update does not exist (or expired).
    #[error("no such session")]
    NotFound,
    /// The backend could not be reached or timed out; retrying may help.
    #[error("session store unavailable")]
    Unavailable(#[source] BoxError),
    /// The backend answered with something unusable (corrupt data, a
    /// version of the layout this code does not know); retrying won't help.
    #[error("session store failed")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Conflict)
    }

    /// Wraps a backend error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Wraps a backend error as [`StoreError::Backend`].
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }
}

/// Where sessions live. See the [module docs](self) for the contract.
///
/// ```
/// use std::sync::Arc;
/// use auth_core::{MemoryStore, SessionStore};
///
/// let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
/// # let _ = store;
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a new record under [`record.key()`](SessionRecord::key).
    /// [`StoreError::DuplicateKey`] if a live record holds the key; an
    /// existing live record is never overwritten.
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// The live record under `key`, or `None` if there is none or it
    /// expired, read from the store itself (never from a cache).
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// What [`load`](Self::load) returns, shared: the authenticator reads
    /// every request's session through this. The default wraps `load`'s
    /// record in an `Arc`; a store that keeps its records in `Arc`s (the
    /// [`MemoryStore`], the [`CachedStore`]) hands out a reference instead
    /// of a copy. An override must answer as `load` does, except that a
    /// cache may answer from a copy a little older (the conformance suite
    /// checks it).
    async fn load_shared(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        Ok(self.load(key).await?.map(Arc::new))
    }

    /// What [`load_shared`](Self::load_shared) would answer, if this store
    /// can tell at once, without waiting for anything: a store that keeps
    /// its records in this process (the [`MemoryStore`], a
    /// [`CachedStore`] holding the record). `None` (the default) means
    /// "ask `load_shared`", and the authenticator then does. It spares
    /// such a store's every request a boxed future and the timing of a
    /// call that did no I/O. An override must answer as `load_shared`
    /// would at that moment (the conformance suite checks it).
    ///
    /// ```
    /// use auth_core::{MemoryStore, SessionKind, SessionRecord, SessionStore, SessionToken};
    /// use time::{Duration, OffsetDateTime};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = MemoryStore::new();
    /// let token = SessionToken::generate()?;
    /// let now = OffsetDateTime::now_utc();
    /// let record = SessionRecord::new(token.key().id(), "alice", SessionKind::Browser, token.verifier(), now, now + Duration::hours(1));
    /// store.create(&record).await?;
    /// let found = store.load_now(&token.key()).expect("in memory: answered at once")?;
    /// assert_eq!(found.as_deref(), Some(&record));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        let _ = key;
        None
    }

    /// Compare-and-set: replaces the record if the stored version equals
    /// `record.version`, storing it with `version + 1`, which it returns,
    /// in one atomic step. [`StoreError::Conflict`] if the versions differ,
    /// [`StoreError::NotFound`] if the session is gone (it is never
    /// recreated). The id and user id of a session never change.
    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError>;

    /// Moves the idle expiry and the last-refresh time, nothing else (the
    /// version stays). Returns `false`, and writes nothing, if the session
    /// is gone.
    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes a session. Returns whether a live one existed.
    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// The user's live sessions, in no particular order.
    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes every session of the user except `keep`, if given: every
    /// one that existed when the call began, and perhaps some created
    /// while it ran. Returns the keys of the live sessions it deleted.
    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError>;

    /// How this store tells the other instances sharing it about
    /// revocations, if it can: a store that implements [`Announcements`]
    /// returns `Some(self)`. `None` (the default) is right for a store only
    /// one process uses.
    fn announcements(&self) -> Option<&dyn Announcements> {
        None
    }
}

/// A boxed store call, as `async_trait` spells it.
type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Forwards to the store inside, handing back its boxed future as is (an
/// `async` forwarder would box every call once more).
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn create<'life0, 'life1, 'async_trait>(
        &'life0 self,
        record: &'life1 SessionRecord,
    ) -> Call<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).create(record)
    }
    fn load<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 SessionKey,
    ) -> Call<'async_trait, Option<SessionRecord>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).load(key)
    }
    fn load_shared<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 SessionKey,
    ) -> Call<'async_trait, Option<Arc<SessionRecord>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).load_shared(key)
    }
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        (**self).load_now(key)
    }
    fn update<'life0, 'life1, 'async_trait>(
        &'life0 self,
        record: &'life1 SessionRecord,
    ) -> Call<'async_trait, u64>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).update(record)
    }
    fn touch<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Call<'async_trait, bool>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).touch(key, idle_expires_at, last_refresh_at)
    }
    fn delete<'life0, 'life1, 'async_trait>(
        &'life0 self,
        key: &'life1 SessionKey,
    ) -> Call<'async_trait, bool>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).delete(key)
    }
    fn list_user<'life0, 'life1, 'async_trait>(
        &'life0 self,
        user_id: &'life1 str,
    ) -> Call<'async_trait, Vec<SessionRecord>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).list_user(user_id)
    }
    fn delete_user<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        user_id: &'life1 str,
        keep: Option<&'life2 SessionKey>,
    ) -> Call<'async_trait, Vec<SessionKey>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (**self).delete_user(user_id, keep)
    }
    fn announcements(&self) -> Option<&dyn Announcements> {
        (**self).announcements()
    }
}
