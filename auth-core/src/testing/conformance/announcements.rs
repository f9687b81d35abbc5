//! Revocation announcements: what one instance announces, every other
//! instance hears.

use time::OffsetDateTime;

use super::{eventually, unique_user};
use crate::revocation::{Revocation, Revocations};
use crate::store::SessionStore;
use crate::token::SessionId;

/// What a store announces reaches the subscribers of every handle on the
/// same backend, and a store that delivers says when its feed is current.
pub(super) async fn announcements<S: SessionStore + Clone>(store: &S) {
    let other = store.clone();
    let (Some(announcer), Some(receiver)) = (store.announcements(), other.announcements()) else {
        // It cannot deliver: the authenticator then refuses it unless the
        // app is its only instance. Both handles must say so alike.
        assert!(
            store.announcements().is_none() && other.announcements().is_none(),
            "two handles on one backend disagree on whether it announces"
        );
        return;
    };
    let sink = Revocations::new(std::time::Duration::from_secs(60));
    let subscription = receiver.subscribe(&sink).expect("subscribe");
    let staleness = crate::revocation::DEFAULT_MAX_STALENESS;
    eventually("the feed to report itself current", || async {
        sink.is_current(staleness)
    })
    .await;
    let sid = SessionId::generate().unwrap();
    let user = unique_user("announced");
    let now_ms = crate::record::unix_millis::to_millis(OffsetDateTime::now_utc());
    let keep = std::time::Duration::from_secs(30);
    announcer
        .announce(
            &Revocation::Session {
                sid: sid.as_str().into(),
            },
            keep,
        )
        .await
        .expect("announce");
    announcer
        .announce(
            &Revocation::UserBefore {
                user: user.clone(),
                issuer: Some("https://idp.example".into()),
                not_before: now_ms,
            },
            keep,
        )
        .await
        .expect("announce");
    let iat = now_ms / 1000;
    eventually(
        "an announcement to reach another handle's subscriber",
        || async {
            sink.is_revoked(Some(sid.as_str()), "anyone", None, iat)
                && sink.is_revoked(None, &user, Some("https://idp.example"), iat)
        },
    )
    .await;
    assert!(
        !sink.is_revoked(None, &user, None, iat),
        "an external identity's revocation must not reach the local user of that name"
    );
    assert!(
        !sink.is_revoked(None, &user, Some("https://idp.example"), iat + 1),
        "tokens issued after the revocation stay valid"
    );
    drop(subscription);
}
