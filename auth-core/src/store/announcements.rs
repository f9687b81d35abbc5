//! Revocations told to every instance that shares a store.

use std::time::Duration;

use async_trait::async_trait;

use super::{SessionStore, StoreError};
use crate::revocation::{Revocation, Revocations, Subscription};

/// How a store tells every instance that shares it about a revocation, so
/// each drops revoked access tokens and cached sessions at once rather
/// than when they expire.
///
/// A store whose backend can reach the other instances (Redis pub/sub,
/// PostgreSQL `LISTEN`/`NOTIFY`, a log every instance polls) implements it
/// and returns itself from [`SessionStore::announcements`]. A store that
/// cannot implements nothing: then the authenticator builds with access
/// tokens only when told it is the only instance
/// ([`AuthenticatorBuilder::with_single_instance`](crate::AuthenticatorBuilder::with_single_instance)).
/// The conformance suite checks that an announcement made through one
/// handle reaches a subscriber on another.
#[async_trait]
pub trait Announcements: Send + Sync + std::fmt::Debug + 'static {
    /// Tells every instance sharing this store about `revocation`, which
    /// its receivers keep for `keep`.
    ///
    /// Called before the session's records are deleted, so an error leaves
    /// the logout undone and retryable rather than half done. A store that
    /// shares state across processes should also keep recent announcements
    /// for `keep`, so a subscriber that was disconnected can catch up.
    async fn announce(&self, revocation: &Revocation, keep: Duration) -> Result<(), StoreError>;

    /// Delivers the announcements of every instance (this one included) to
    /// `sink` until the returned [`Subscription`] is dropped, and reports
    /// the delivery's health to it ([`Revocations::feed_live`] once caught
    /// up and whenever the connection proves alive, [`Revocations::feed_lost`]
    /// when it fails), so that an instance that may be missing
    /// announcements checks tokens against the store instead.
    ///
    /// An error means the store should deliver but cannot start (no async
    /// runtime, no address to subscribe to); the authenticator refuses to
    /// build then.
    fn subscribe(&self, sink: &Revocations) -> Result<Subscription, StoreError>;
}

/// Announces `revocation` through `store`'s announcements; nothing to do
/// for a store without them.
pub(crate) async fn announce<S: SessionStore + ?Sized>(
    store: &S,
    revocation: &Revocation,
    keep: Duration,
) -> Result<(), StoreError> {
    match store.announcements() {
        Some(announcements) => announcements.announce(revocation, keep).await,
        None => Ok(()),
    }
}

/// A wrapper's subscription: its inner store's. A wrapper returns itself
/// from [`SessionStore::announcements`] only when `inner` has
/// announcements, so the error is never seen through it.
pub(crate) fn subscribe_through<S: SessionStore + ?Sized>(
    inner: &S,
    sink: &Revocations,
) -> Result<Subscription, StoreError> {
    subscribe(inner, sink)?.ok_or_else(|| StoreError::backend("the store has no announcements"))
}

/// Subscribes `sink` to `store`'s announcements; `None` for a store
/// without them.
pub(crate) fn subscribe<S: SessionStore + ?Sized>(
    store: &S,
    sink: &Revocations,
) -> Result<Option<Subscription>, StoreError> {
    store
        .announcements()
        .map(|announcements| announcements.subscribe(sink))
        .transpose()
}
