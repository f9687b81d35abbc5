//! The store contract as async functions a store crate calls from one
//! test each: [`conformance`] for a [`SessionStore`], [`counter_conformance`]
//! for a [`CounterStore`](crate::throttle::CounterStore).

mod announcements;
mod counters;
mod races;
mod sessions;

pub use counters::counter_conformance;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;

use crate::clock::ManualClock;
use crate::record::SessionRecord;
use crate::store::SessionStore;
use crate::token::{SessionId, SessionKey, SessionToken};
use announcements::announcements;
use races::{
    concurrent_updates, creation_against_delete_user, one_update_wins,
    rotation_against_delete_user, touch_against_delete,
};
use sessions::{
    create_load_duplicate, delete, every_kind_round_trips, expiry, many_users,
    rotation_keeps_one_record, shared_loads, touch_changes_expiry_only, user_index,
    versioned_update,
};

/// `record` with a new token: what a rotation writes (with
/// [`SessionStore::update`]).
pub(super) fn rotated(record: &SessionRecord) -> SessionRecord {
    let token = SessionToken::rotate(record.key()).expect("system random source");
    let mut next = record.clone();
    next.verifier = token.verifier();
    next.generation += 1;
    next
}

pub(crate) fn unique_user(tag: &str) -> String {
    let id = SessionId::generate().expect("system random source");
    format!("conformance-{tag}-{id}")
}

pub(super) fn keys(records: &[SessionRecord]) -> HashSet<SessionKey> {
    records.iter().map(SessionRecord::key).collect()
}

/// How many times each race is run: enough for a store without the
/// atomicity it needs to be caught.
pub(super) const TRIALS: usize = 40;

/// Panics unless the current Tokio runtime runs tasks in parallel: the
/// races below prove nothing on one thread.
pub(super) fn require_parallel_runtime(suite: &str) {
    let flavor = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor())
        .unwrap_or_else(|_| panic!("{suite} needs a Tokio runtime"));
    assert!(
        flavor == tokio::runtime::RuntimeFlavor::MultiThread,
        "run {suite} on a multi-thread runtime, as \
         #[tokio::test(flavor = \"multi_thread\", worker_threads = 2)]: \
         its races need tasks that really run at the same time"
    );
}

/// A task of a race.
pub(super) type Task<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs `tasks` together: each waits at one barrier before its work.
pub(super) async fn race<T: Send + 'static>(tasks: Vec<Task<T>>) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(tasks.len()));
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("a racing task panicked"));
    }
    out
}

/// Runs the whole store contract against stores built by `make`, on a
/// multi-thread Tokio runtime.
///
/// `make` receives a [`ManualClock`] and returns a fresh store; clones of a
/// store stand for other instances of the app on the same backend (the
/// suite checks that announcements travel between them). Stores that judge
/// expiry by the clock they are given (like [`MemoryStore`](crate::MemoryStore))
/// are tested by moving it; stores that rely on their backend's own clock
/// (Redis TTLs) should ignore it: the suite also waits out short real
/// expiries, so both kinds pass. Users are unique per run, so a shared
/// backend can be used. Panics with a description of the first broken rule.
///
/// Beyond each operation on its own, it races them: updates from one
/// version (exactly one wins), rotations against the deletion of the
/// user's sessions (nothing survives), creation against that deletion
/// (what it reports is what it did), touches against deletes (no
/// resurrection), and checks that a session rotated many times stays one
/// record.
pub async fn conformance<F, Fut, S>(make: F)
where
    F: Fn(ManualClock) -> Fut,
    Fut: Future<Output = S>,
    S: SessionStore + Clone,
{
    require_parallel_runtime("the store conformance suite");
    create_load_duplicate(&make(ManualClock::starting_now()).await).await;
    every_kind_round_trips(&make(ManualClock::starting_now()).await).await;
    versioned_update(&make(ManualClock::starting_now()).await).await;
    shared_loads(&make(ManualClock::starting_now()).await).await;
    touch_changes_expiry_only(&make(ManualClock::starting_now()).await).await;
    delete(&make(ManualClock::starting_now()).await).await;
    rotation_keeps_one_record(&make(ManualClock::starting_now()).await).await;
    user_index(&make(ManualClock::starting_now()).await).await;
    concurrent_updates(&make(ManualClock::starting_now()).await).await;
    let store = Arc::new(make(ManualClock::starting_now()).await);
    one_update_wins(&store).await;
    rotation_against_delete_user(&store).await;
    creation_against_delete_user(&store).await;
    touch_against_delete(&store).await;
    announcements(&make(ManualClock::starting_now()).await).await;
    many_users(&make(ManualClock::starting_now()).await).await;
    let clock = ManualClock::starting_now();
    expiry(&make(clock.clone()).await, &clock).await;
}

/// Polls `check` for up to ten seconds.
pub(super) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("waited 10 s for {what}");
}

pub(super) async fn futures_join_all<F: Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in futs.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}
