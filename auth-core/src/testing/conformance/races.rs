//! The store contract under concurrency: operations released together,
//! many trials, and what must hold whatever the interleaving.

use std::collections::HashSet;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::{TRIALS, Task, futures_join_all, keys, race, rotated, unique_user};
use crate::record::SessionRecord;
use crate::store::{SessionStore, StoreError};
use crate::testing::sample_record;
use crate::token::SessionKey;
use tokio::sync::Barrier;

pub(super) async fn concurrent_updates<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("merge"), now, Duration::minutes(30));
    store.create(&rec).await.unwrap();
    // Eight writers each add their own key with read-modify-write and retry
    // on conflict: if the store reports every lost race, all eight survive.
    let writer = |i: usize| {
        let key = rec.key();
        async move {
            for _ in 0..200 {
                let mut r = store.load(&key).await.unwrap().unwrap();
                r.data
                    .set_value(&format!("w{i}"), Some(serde_json::json!(i)));
                tokio::task::yield_now().await;
                match store.update(&r).await {
                    Ok(_) => return,
                    Err(StoreError::Conflict) => continue,
                    Err(e) => panic!("update failed: {e}"),
                }
            }
            panic!("writer {i} never won a race");
        }
    };
    futures_join_all((0..8).map(writer)).await;
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    for i in 0..8 {
        assert_eq!(
            loaded.data.get::<usize>(&format!("w{i}")).unwrap(),
            Some(i),
            "an update was lost without a Conflict"
        );
    }
    assert_eq!(
        loaded.version,
        rec.version + 8,
        "one version per successful update"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

/// Compare-and-set under a real race: of several updates from one
/// version, released together, exactly one succeeds and the others
/// conflict; the winner's verifier is what the store holds.
pub(super) async fn one_update_wins<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("cas");
    for trial in 0..TRIALS {
        let rec = sample_record(&user, now, Duration::minutes(30));
        store.create(&rec).await.unwrap();
        let attempts: Vec<SessionRecord> = (0..4).map(|_| rotated(&rec)).collect();
        let tasks: Vec<Task<Result<u64, StoreError>>> = attempts
            .iter()
            .cloned()
            .map(|next| {
                let store = store.clone();
                Box::pin(async move { store.update(&next).await }) as Task<_>
            })
            .collect();
        let results = race(tasks).await;
        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "trial {trial}: updates from one version must have exactly one winner: {results:?}"
        );
        for (i, result) in results.iter().enumerate() {
            if i != winners[0] {
                assert!(
                    matches!(result, Err(StoreError::Conflict)),
                    "trial {trial}: a losing update must be Conflict, got {result:?}"
                );
            }
        }
        let stored = store.load(&rec.key()).await.unwrap().unwrap();
        assert_eq!(
            stored.verifier, attempts[winners[0]].verifier,
            "trial {trial}: the store holds the winner's rotation"
        );
        store.delete(&rec.key()).await.unwrap();
    }
}

/// A session rotated in a loop while the user's sessions are deleted:
/// once the deletion has answered, the session is gone and no rotation
/// brings it back.
pub(super) async fn rotation_against_delete_user<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    for trial in 0..TRIALS {
        let user = unique_user("rotate-vs-delete");
        let rec = sample_record(&user, now, Duration::minutes(30));
        store.create(&rec).await.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let rotator = tokio::spawn({
            let (store, barrier, mut current) = (store.clone(), barrier.clone(), rec.clone());
            async move {
                barrier.wait().await;
                for _ in 0..50 {
                    let mut next = rotated(&current);
                    match store.update(&next).await {
                        Ok(version) => {
                            next.version = version;
                            current = next;
                        }
                        Err(StoreError::NotFound) => return,
                        Err(e) => panic!("rotation failed: {e}"),
                    }
                }
            }
        });
        let deleter = tokio::spawn({
            let (store, barrier, user, key) =
                (store.clone(), barrier.clone(), user.clone(), rec.key());
            async move {
                barrier.wait().await;
                let deleted = store.delete_user(&user, None).await.unwrap();
                // Once answered, no rotation may bring it back.
                let after = store.load(&key).await.unwrap();
                (deleted, after)
            }
        });
        let (deleted, after) = deleter.await.expect("the deletion");
        rotator.await.expect("the rotations");
        assert!(
            after.is_none(),
            "trial {trial}: a session rotated while its user's sessions were deleted survived"
        );
        assert_eq!(
            deleted,
            vec![rec.key()],
            "trial {trial}: delete_user reports the session"
        );
        assert!(
            store.load(&rec.key()).await.unwrap().is_none(),
            "trial {trial}: the session came back after the deletion answered"
        );
        assert!(store.list_user(&user).await.unwrap().is_empty());
    }
}

/// Sessions created while the user's sessions are deleted: each one is
/// either deleted (and reported) or live (and not reported), the index
/// agrees, and every session that existed before is gone.
pub(super) async fn creation_against_delete_user<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    for trial in 0..TRIALS / 4 {
        let user = unique_user("create-vs-delete");
        let before = sample_record(&user, now, Duration::minutes(30));
        store.create(&before).await.unwrap();
        let fresh: Vec<SessionRecord> = (0..3)
            .map(|_| sample_record(&user, now, Duration::minutes(30)))
            .collect();
        let mut tasks: Vec<Task<Option<Vec<SessionKey>>>> = fresh
            .iter()
            .cloned()
            .map(|r| {
                let store = store.clone();
                Box::pin(async move {
                    store.create(&r).await.unwrap();
                    None
                }) as Task<_>
            })
            .collect();
        tasks.push({
            let store = store.clone();
            let user = user.clone();
            Box::pin(async move { Some(store.delete_user(&user, None).await.unwrap()) })
        });
        let deleted: HashSet<SessionKey> =
            race(tasks).await.into_iter().flatten().flatten().collect();
        assert!(
            deleted.contains(&before.key()),
            "trial {trial}: a session older than the deletion survived it"
        );
        let live = keys(&store.list_user(&user).await.unwrap());
        for r in &fresh {
            let exists = store.load(&r.key()).await.unwrap().is_some();
            assert_eq!(
                exists,
                !deleted.contains(&r.key()),
                "trial {trial}: delete_user's report disagrees with what it did"
            );
            assert_eq!(
                exists,
                live.contains(&r.key()),
                "trial {trial}: the index disagrees with the sessions"
            );
        }
        store.delete_user(&user, None).await.unwrap();
    }
}

/// A touch racing a delete never brings the session back.
pub(super) async fn touch_against_delete<S: SessionStore>(store: &Arc<S>) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("touch-vs-delete");
    for trial in 0..TRIALS {
        let rec = sample_record(&user, now, Duration::minutes(30));
        store.create(&rec).await.unwrap();
        let key = rec.key();
        let later = now + Duration::minutes(5);
        let toucher = {
            let store = store.clone();
            Box::pin(async move {
                for _ in 0..5 {
                    store
                        .touch(&key, later + Duration::minutes(30), later)
                        .await
                        .unwrap();
                }
            }) as Task<()>
        };
        let deleter = {
            let store = store.clone();
            Box::pin(async move {
                store.delete(&key).await.unwrap();
            }) as Task<()>
        };
        race(vec![toucher, deleter]).await;
        assert!(
            store.load(&key).await.unwrap().is_none(),
            "trial {trial}: a touch brought a deleted session back"
        );
        assert!(store.list_user(&user).await.unwrap().is_empty());
    }
}
