//! The store as the authenticator sees it: every call timed, and its
//! failures counted (see [`telemetry`](crate::telemetry)).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::record::SessionRecord;
use crate::revocation::{Revocation, Revocations, Subscription};
use crate::store::{Announcements, SessionStore, StoreError};
use crate::telemetry::{self, Retryable, STORE_DURATION, static_key};
use crate::token::SessionKey;

/// A failure worth counting: conflicts and duplicates are answers.
fn failure(error: &StoreError) -> Option<Retryable> {
    matches!(error, StoreError::Unavailable(_) | StoreError::Backend(_))
        .then(|| Retryable(error.is_retryable()))
}

/// The store as the authenticator sees it: every call timed and counted.
///
/// The authenticator calls the inherent methods, which add no allocation
/// of their own; the [`SessionStore`] impl (for [`Authenticator::store`])
/// forwards to them.
///
/// [`Authenticator::store`]: crate::Authenticator::store
#[derive(Debug)]
pub(crate) struct InstrumentedStore(pub(crate) Arc<dyn SessionStore>);

macro_rules! timed {
    ($op:literal, $call:expr) => {{
        let start = Instant::now();
        let result = $call.await;
        telemetry::store_call(
            $op,
            static_key!(STORE_DURATION, "op" => $op),
            start.elapsed(),
            result.as_ref().err().and_then(failure),
        );
        result
    }};
}

impl InstrumentedStore {
    pub(crate) async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        timed!("create", self.0.create(record))
    }
    pub(crate) async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        timed!("load", self.0.load(key))
    }
    pub(crate) async fn load_shared(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        // The same operation as `load`, for the operator.
        timed!("load", self.0.load_shared(key))
    }
    /// Not timed: an answer at once did no I/O (see
    /// [`SessionStore::load_now`]).
    pub(crate) fn load_now(
        &self,
        key: &SessionKey,
    ) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        self.0.load_now(key)
    }
    pub(crate) async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        timed!("update", self.0.update(record))
    }
    pub(crate) async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        timed!("touch", self.0.touch(key, idle_expires_at, last_refresh_at))
    }
    pub(crate) async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        timed!("delete", self.0.delete(key))
    }
    pub(crate) async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        timed!("list_user", self.0.list_user(user_id))
    }
    pub(crate) async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        timed!("delete_user", self.0.delete_user(user_id, keep))
    }
    pub(crate) async fn announce(
        &self,
        revocation: &Revocation,
        keep: Duration,
    ) -> Result<(), StoreError> {
        timed!("announce", super::announce(&*self.0, revocation, keep))
    }
}

#[async_trait]
impl SessionStore for InstrumentedStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        InstrumentedStore::create(self, record).await
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        InstrumentedStore::load(self, key).await
    }
    async fn load_shared(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        InstrumentedStore::load_shared(self, key).await
    }
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        InstrumentedStore::load_now(self, key)
    }
    async fn update(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        InstrumentedStore::update(self, record).await
    }
    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: OffsetDateTime,
        last_refresh_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        InstrumentedStore::touch(self, key, idle_expires_at, last_refresh_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        InstrumentedStore::delete(self, key).await
    }
    async fn list_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        InstrumentedStore::list_user(self, user_id).await
    }
    async fn delete_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<Vec<SessionKey>, StoreError> {
        InstrumentedStore::delete_user(self, user_id, keep).await
    }
    fn announcements(&self) -> Option<&dyn Announcements> {
        // Itself, so announcements are timed too.
        self.0.announcements().map(|_| self as &dyn Announcements)
    }
}

#[async_trait]
impl Announcements for InstrumentedStore {
    async fn announce(&self, revocation: &Revocation, keep: Duration) -> Result<(), StoreError> {
        InstrumentedStore::announce(self, revocation, keep).await
    }
    fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError> {
        super::subscribe_through(&*self.0, sink)
    }
}
