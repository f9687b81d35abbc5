//! The store contract, one operation at a time: create, load, update,
//! touch, delete, the user index, expiry.

use std::collections::HashSet;

use time::{Duration, OffsetDateTime};

use super::{keys, rotated, unique_user};
use crate::clock::{Clock, ManualClock};
use crate::record::{SessionKind, SessionLifetime, SessionRecord};
use crate::store::{SessionStore, StoreError};
use crate::testing::sample_record;

/// Every kind of session (browser, refresh family, visitor, index entry)
/// and every lifetime comes back as it was stored, and so do the reserved
/// owner names, which start with a control character.
pub(super) async fn every_kind_round_trips<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    for (kind, lifetime) in [
        (SessionKind::Browser, SessionLifetime::Standard),
        (SessionKind::Browser, SessionLifetime::BrowserSession),
        (SessionKind::Browser, SessionLifetime::Remembered),
        (SessionKind::Refresh, SessionLifetime::Standard),
        (SessionKind::Visitor, SessionLifetime::Visitor),
        (SessionKind::Link, SessionLifetime::Standard),
    ] {
        let user = match kind {
            SessionKind::Link => format!(
                "\u{1}sso-sub:https://idp.example/{}\u{1}subject",
                unique_user("kinds")
            ),
            _ => unique_user("kinds"),
        };
        let mut rec = sample_record(&user, now, Duration::minutes(30));
        rec.kind = kind;
        rec.lifetime = lifetime;
        store.create(&rec).await.expect("create");
        let loaded = store.load(&rec.key()).await.unwrap().expect("loads");
        assert_eq!(
            (loaded.kind, loaded.lifetime),
            (kind, lifetime),
            "the kind and lifetime of a session must be kept"
        );
        assert_eq!(store.list_user(&rec.user_id).await.unwrap().len(), 1);
    }
}

pub(super) async fn create_load_duplicate<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let mut rec = sample_record(&unique_user("create"), now, Duration::minutes(30));
    rec.kind = SessionKind::Refresh;
    rec.generation = 7;
    rec.tokens_not_before = Some(now);
    assert!(
        store.load(&rec.key()).await.unwrap().is_none(),
        "load of an unknown key must be None"
    );
    store.create(&rec).await.expect("create");
    let loaded = store
        .load(&rec.key())
        .await
        .unwrap()
        .expect("created record loads");
    assert_eq!(loaded.id, rec.id);
    assert_eq!(loaded.user_id, rec.user_id);
    assert_eq!(loaded.kind, rec.kind);
    assert_eq!(
        loaded.verifier, rec.verifier,
        "the verifier is kept exactly"
    );
    assert_eq!(loaded.generation, rec.generation);
    assert_eq!(loaded.roles, rec.roles);
    assert_eq!(loaded.data, rec.data);
    assert_eq!(loaded.client, rec.client);
    assert_eq!(
        loaded.version, rec.version,
        "create stores the version as given"
    );
    // Times survive at millisecond precision at least.
    let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    assert_eq!(ms(loaded.created_at), ms(rec.created_at));
    assert_eq!(ms(loaded.rotated_at), ms(rec.rotated_at));
    assert_eq!(
        loaded.tokens_not_before.map(ms),
        rec.tokens_not_before.map(ms)
    );
    assert_eq!(ms(loaded.idle_expires_at), ms(rec.idle_expires_at));
    assert_eq!(ms(loaded.absolute_expires_at), ms(rec.absolute_expires_at));

    let mut other = rotated(&rec);
    other.roles = vec!["intruder".into()];
    match store.create(&other).await {
        Err(StoreError::DuplicateKey) => {}
        other => panic!("create on a taken key must be DuplicateKey, got {other:?}"),
    }
    let still = store.load(&rec.key()).await.unwrap().unwrap();
    assert_eq!(
        still.roles, rec.roles,
        "a duplicate create must not overwrite"
    );
    assert_eq!(
        still.verifier, rec.verifier,
        "a duplicate create must not overwrite"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

pub(super) async fn versioned_update<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("update"), now, Duration::minutes(30));
    store.create(&rec).await.unwrap();

    let mut a = store.load(&rec.key()).await.unwrap().unwrap();
    let b = a.clone();
    a.data.set_value("n", Some(serde_json::json!(1)));
    let v = store
        .update(&a)
        .await
        .expect("update at the stored version");
    assert_eq!(v, rec.version + 1, "update returns the new version");
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    assert_eq!(loaded.version, v);
    assert_eq!(loaded.data.get::<i64>("n").unwrap(), Some(1));

    match store.update(&b).await {
        Err(StoreError::Conflict) => {}
        other => panic!("a stale update must be Conflict, got {other:?}"),
    }
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    assert_eq!(
        loaded.data.get::<i64>("n").unwrap(),
        Some(1),
        "a stale update must not write"
    );

    let ghost = sample_record(&rec.user_id, now, Duration::minutes(30));
    match store.update(&ghost).await {
        Err(StoreError::NotFound) => {}
        other => panic!("update of a missing session must be NotFound, got {other:?}"),
    }
    assert!(
        store.load(&ghost.key()).await.unwrap().is_none(),
        "update must not create"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

/// `load_shared` answers as `load` does, and what it handed out is a
/// snapshot: later writes do not change it.
pub(super) async fn shared_loads<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("shared"), now, Duration::minutes(30));
    let key = rec.key();
    store.create(&rec).await.unwrap();
    let shared = store
        .load_shared(&key)
        .await
        .unwrap()
        .expect("load_shared finds a live session");
    assert_eq!(
        Some(&*shared),
        store.load(&key).await.unwrap().as_ref(),
        "load_shared answers as load does"
    );
    let read_version = shared.version;
    let read_idle = shared.idle_expires_at;
    let read_n = shared.data.get::<i64>("n").unwrap();
    let mut changed = SessionRecord::clone(&shared);
    changed.data.set_value("n", Some(serde_json::json!(7)));
    let version = store.update(&changed).await.unwrap();
    let later = now + Duration::minutes(10);
    assert!(
        store
            .touch(&key, later + Duration::minutes(30), later)
            .await
            .unwrap()
    );
    assert_eq!(shared.version, read_version, "a shared read is a snapshot");
    assert_eq!(
        shared.idle_expires_at, read_idle,
        "a shared read is a snapshot"
    );
    assert_eq!(
        shared.data.get::<i64>("n").unwrap(),
        read_n,
        "a shared read is a snapshot"
    );
    let again = store.load_shared(&key).await.unwrap().unwrap();
    assert_eq!(again.version, version, "load_shared sees the update");
    answers_now_as_shared(store, &key, Some(&again));
    assert_eq!(again.data.get::<i64>("n").unwrap(), Some(7));
    assert_eq!(
        Some(&*again),
        store.load(&key).await.unwrap().as_ref(),
        "load_shared answers as load does after writes"
    );
    store.delete(&key).await.unwrap();
    assert!(
        store.load_shared(&key).await.unwrap().is_none(),
        "load_shared finds no deleted session"
    );
    answers_now_as_shared(store, &key, None);
    store.delete_user(&rec.user_id, None).await.unwrap();
}

/// `load_now`, where a store answers at once, answers as `load_shared`
/// just did: the same record, or none.
fn answers_now_as_shared<S: SessionStore>(
    store: &S,
    key: &crate::SessionKey,
    shared: Option<&SessionRecord>,
) {
    if let Some(now) = store.load_now(key) {
        assert_eq!(
            now.expect("load_now answers as load_shared, which succeeded")
                .as_deref(),
            shared,
            "load_now answers as load_shared does"
        );
    }
}

pub(super) async fn touch_changes_expiry_only<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let rec = sample_record(&unique_user("touch"), now, Duration::minutes(30));
    store.create(&rec).await.unwrap();
    let later = now + Duration::minutes(10);
    let new_idle = later + Duration::minutes(30);
    assert!(
        store.touch(&rec.key(), new_idle, later).await.unwrap(),
        "touch of a live session"
    );
    let loaded = store.load(&rec.key()).await.unwrap().unwrap();
    let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    assert_eq!(ms(loaded.idle_expires_at), ms(new_idle));
    assert_eq!(ms(loaded.last_refresh_at), ms(later));
    assert_eq!(
        loaded.version, rec.version,
        "touch must not change the version"
    );
    assert_eq!(loaded.data, rec.data);
    assert_eq!(loaded.verifier, rec.verifier);
    let missing = sample_record(&rec.user_id, now, Duration::minutes(30));
    assert!(
        !store.touch(&missing.key(), new_idle, later).await.unwrap(),
        "touch of a missing session"
    );
    assert!(
        store.load(&missing.key()).await.unwrap().is_none(),
        "touch must not create"
    );
    store.delete_user(&rec.user_id, None).await.unwrap();
}

pub(super) async fn delete<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("delete");
    let rec = sample_record(&user, now, Duration::minutes(30));
    let other = sample_record(&user, now, Duration::minutes(30));
    store.create(&rec).await.unwrap();
    store.create(&other).await.unwrap();
    assert!(
        store.delete(&rec.key()).await.unwrap(),
        "delete of a live session returns true"
    );
    assert!(
        store.load(&rec.key()).await.unwrap().is_none(),
        "deleted session must not load"
    );
    assert!(
        !store.delete(&rec.key()).await.unwrap(),
        "second delete returns false"
    );
    let listed = store.list_user(&user).await.unwrap();
    assert_eq!(
        keys(&listed),
        HashSet::from([other.key()]),
        "index after delete"
    );
    store.delete_user(&user, None).await.unwrap();
}

/// A rotation is an update of the one record: however many there are, the
/// user has one session, and only the newest verifier is kept.
pub(super) async fn rotation_keeps_one_record<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("rotate");
    let mut record = sample_record(&user, now, Duration::minutes(30));
    store.create(&record).await.unwrap();
    for _ in 0..300 {
        let mut next = rotated(&record);
        next.version = store.update(&next).await.expect("a rotation");
        record = next;
    }
    let listed = store.list_user(&user).await.unwrap();
    assert_eq!(listed.len(), 1, "300 rotations leave one record");
    assert_eq!(listed[0].verifier, record.verifier);
    assert_eq!(listed[0].generation, 300);
    store.delete_user(&user, None).await.unwrap();
}

pub(super) async fn user_index<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let user = unique_user("index");
    let bystander = unique_user("bystander");
    let recs: Vec<_> = (0..4)
        .map(|_| sample_record(&user, now, Duration::minutes(30)))
        .collect();
    let theirs = sample_record(&bystander, now, Duration::minutes(30));
    for r in &recs {
        store.create(r).await.unwrap();
    }
    store.create(&theirs).await.unwrap();
    assert_eq!(keys(&store.list_user(&user).await.unwrap()), keys(&recs));
    assert!(
        store
            .list_user(&unique_user("nobody"))
            .await
            .unwrap()
            .is_empty()
    );

    let deleted = store
        .delete_user(&user, Some(&recs[0].key()))
        .await
        .unwrap();
    assert_eq!(
        deleted.into_iter().collect::<HashSet<_>>(),
        keys(&recs[1..]),
        "delete_user with keep deletes all others and says which"
    );
    assert_eq!(
        keys(&store.list_user(&user).await.unwrap()),
        HashSet::from([recs[0].key()])
    );
    for r in &recs[1..] {
        assert!(store.load(&r.key()).await.unwrap().is_none());
    }
    assert!(store.load(&recs[0].key()).await.unwrap().is_some());

    assert_eq!(
        store.delete_user(&user, None).await.unwrap(),
        vec![recs[0].key()]
    );
    assert!(store.list_user(&user).await.unwrap().is_empty());
    assert!(store.load(&recs[0].key()).await.unwrap().is_none());
    assert!(store.delete_user(&user, None).await.unwrap().is_empty());
    assert!(
        store.load(&theirs.key()).await.unwrap().is_some(),
        "other users untouched"
    );
    store.delete_user(&bystander, None).await.unwrap();
}

pub(super) async fn many_users<S: SessionStore>(store: &S) {
    let now = OffsetDateTime::now_utc();
    let users: Vec<String> = (0..50).map(|i| unique_user(&format!("many{i}"))).collect();
    let mut all = Vec::new();
    for (i, u) in users.iter().enumerate() {
        for _ in 0..(i % 4 + 1) {
            let r = sample_record(u, now, Duration::minutes(30));
            store.create(&r).await.unwrap();
            all.push(r);
        }
    }
    for (i, u) in users.iter().enumerate() {
        let listed = store.list_user(u).await.unwrap();
        assert_eq!(listed.len(), i % 4 + 1, "sessions of {u}");
        assert!(listed.iter().all(|r| &r.user_id == u));
    }
    for r in &all {
        assert_eq!(
            store.load(&r.key()).await.unwrap().unwrap().user_id,
            r.user_id
        );
    }
    for u in &users {
        store.delete_user(u, None).await.unwrap();
    }
}

pub(super) async fn expiry<S: SessionStore>(store: &S, clock: &ManualClock) {
    let start = clock.now();
    let user = unique_user("expiry");
    // Idle expiry one second away, absolute expiry far away.
    let idle = sample_record(&user, start, Duration::seconds(1));
    // Absolute expiry one second away, idle expiry far away (a record
    // whose idle expiry was pushed past its absolute one by a bad writer).
    let mut absolute = sample_record(&user, start, Duration::minutes(30));
    absolute.absolute_expires_at = start + Duration::seconds(1);
    let live = sample_record(&user, start, Duration::minutes(30));
    for r in [&idle, &absolute, &live] {
        store.create(r).await.unwrap();
    }
    assert_eq!(store.list_user(&user).await.unwrap().len(), 3);

    // Move the store's clock, and let real time pass for stores that use
    // their backend's clock.
    clock.advance(Duration::milliseconds(1500));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    for (r, what) in [(&idle, "idle"), (&absolute, "absolute")] {
        assert!(
            store.load(&r.key()).await.unwrap().is_none(),
            "{what}-expired record must not load"
        );
        answers_now_as_shared(store, &r.key(), None);
        assert!(
            !store
                .touch(&r.key(), start + Duration::hours(1), clock.now())
                .await
                .unwrap(),
            "{what}-expired record must not be touched back to life"
        );
        let mut stale = r.clone();
        stale.data.set_value("n", Some(serde_json::json!(9)));
        assert!(
            matches!(store.update(&stale).await, Err(StoreError::NotFound)),
            "{what}-expired record must not be updated"
        );
    }
    assert_eq!(
        keys(&store.list_user(&user).await.unwrap()),
        HashSet::from([live.key()]),
        "expired records must not be listed"
    );
    // An expired key is free again.
    let mut reborn = idle.clone();
    reborn.idle_expires_at = clock.now() + Duration::minutes(30);
    reborn.absolute_expires_at = clock.now() + Duration::hours(1);
    store
        .create(&reborn)
        .await
        .expect("an expired key is free again");
    assert_eq!(store.delete_user(&user, None).await.unwrap().len(), 2);
    assert!(store.list_user(&user).await.unwrap().is_empty());
}
