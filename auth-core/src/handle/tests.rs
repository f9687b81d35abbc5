//! The handle's session lifecycle and data, on a counting store.

use std::sync::Arc;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::error::Error;
use crate::handle::Login;
use crate::record::SessionKind;
use crate::refusal::Rejection;
use crate::testing::{CountingStore, FailingStore};
use crate::{ConfigError, MemoryStore, SessionStore};

struct Fixture {
    auth: Authenticator,
    store: CountingStore<FailingStore<MemoryStore>>,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    let clock = ManualClock::starting_now();
    let store = CountingStore::new(FailingStore::new(MemoryStore::with_clock(Arc::new(
        clock.clone(),
    ))));
    let auth = Authenticator::builder(store.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_cookie(crate::CookiePolicy::default().with_secure(false))
        .with_max_data_bytes(256)
        .build()
        .unwrap();
    Fixture { auth, store, clock }
}

impl Fixture {
    async fn request(&self, cookie: Option<&str>) -> AuthHandle {
        let header = cookie.map(|t| format!("session={t}"));
        let headers: Vec<&[u8]> = header.iter().map(|h| h.as_bytes()).collect();
        self.auth
            .authenticate(self.auth.credentials(headers, Some(b"test"), None))
            .await
            .unwrap()
    }

    /// Logs in and returns the token.
    async fn login(&self, user: &str) -> String {
        let handle = self.request(None).await;
        handle
            .login(Login::new(user).with_roles(["user"]))
            .await
            .unwrap();
        token_of(&handle.finish().await.unwrap().set_cookies[0].clone())
    }
}

fn token_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("session=")
        .to_owned()
}

#[tokio::test]
async fn rotate_issues_a_new_token_and_keeps_the_session() {
    let f = fixture();
    let old = f.login("alice").await;
    let handle = f.request(Some(&old)).await;
    let id = handle.identity().unwrap().session_id().cloned();
    handle.rotate().await.unwrap();
    let new = token_of(&handle.finish().await.unwrap().set_cookies[0].clone());
    assert_ne!(old, new);
    assert!(
        f.request(Some(&old)).await.identity().is_none(),
        "old token dead"
    );
    let after = f.request(Some(&new)).await.identity().unwrap();
    assert_eq!(
        after.session_id().cloned(),
        id,
        "public id survives rotation"
    );
    assert_eq!(f.store.inner().inner().len(), 1);
}

#[tokio::test]
async fn set_roles_rotates_and_changes_roles() {
    let f = fixture();
    let old = f.login("alice").await;
    let handle = f.request(Some(&old)).await;
    let identity = handle.set_roles(["user", "admin"]).await.unwrap();
    assert!(identity.has_role("admin"));
    let new = token_of(&handle.finish().await.unwrap().set_cookies[0].clone());
    assert!(
        f.request(Some(&new))
            .await
            .identity()
            .unwrap()
            .has_role("admin")
    );
    assert!(f.request(Some(&old)).await.identity().is_none());
}

#[tokio::test]
async fn data_is_saved_with_the_response_and_merges_concurrent_changes() {
    let f = fixture();
    let token = f.login("alice").await;
    // Two requests on one session change different keys concurrently.
    let a = f.request(Some(&token)).await;
    let b = f.request(Some(&token)).await;
    a.insert("cart", &vec![1, 2, 3]).unwrap();
    b.insert("theme", &"dark").unwrap();
    assert_eq!(a.get::<Vec<i32>>("cart").unwrap(), Some(vec![1, 2, 3]));
    f.store.take_calls();
    assert!(
        a.finish().await.unwrap().set_cookies.is_empty(),
        "data changes need no cookie"
    );
    assert_eq!(f.store.take_calls().update, 1);
    b.finish().await.unwrap();
    let calls = f.store.take_calls();
    assert_eq!(
        (calls.update, calls.load),
        (2, 1),
        "conflict, re-read, retry: {calls:?}"
    );
    let c = f.request(Some(&token)).await;
    assert_eq!(c.get::<Vec<i32>>("cart").unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(c.get::<String>("theme").unwrap().as_deref(), Some("dark"));
    c.remove("cart").unwrap();
    c.finish().await.unwrap();
    let d = f.request(Some(&token)).await;
    assert_eq!(d.get::<Vec<i32>>("cart").unwrap(), None);
    assert!(
        matches!(d.get::<i32>("theme"), Err(Error::Data(_))),
        "wrong type is an error"
    );
}

#[tokio::test]
async fn oversized_data_is_refused() {
    let f = fixture();
    let token = f.login("alice").await;
    let handle = f.request(Some(&token)).await;
    handle.insert("blob", &"x".repeat(300)).unwrap();
    let err = handle.finish().await.unwrap_err();
    assert!(matches!(err, Error::DataTooLarge { limit: 256 }));
    assert_eq!(err.status(), 413);
}

#[tokio::test]
async fn session_operations_need_a_session() {
    let f = fixture();
    let handle = f.request(None).await;
    assert!(matches!(
        handle.logout_everywhere().await,
        Err(Error::NoSession)
    ));
    assert!(matches!(handle.rotate().await, Err(Error::NoSession)));
    assert!(!handle.logout().await.unwrap());
}

#[tokio::test]
async fn data_of_a_session_ended_meanwhile_is_dropped_quietly() {
    let f = fixture();
    let token = f.login("alice").await;
    let a = f.request(Some(&token)).await;
    a.insert("k", &1).unwrap();
    f.request(Some(&token)).await.logout().await.unwrap();
    assert!(a.finish().await.unwrap().set_cookies.is_empty());
    assert!(
        f.store.inner().inner().is_empty(),
        "the save did not resurrect it"
    );
}

#[tokio::test]
async fn store_errors_are_errors_not_anonymous() {
    let f = fixture();
    let token = f.login("alice").await;
    f.store.inner().set_failing(true);
    let creds = f
        .auth
        .credentials([format!("session={token}").as_bytes()], None, None);
    let err = f.auth.authenticate(creds).await.unwrap_err();
    assert_eq!(err.status(), 503);
    // Without a credential no store is needed.
    let creds = f.auth.credentials([], None, None);
    assert!(f.auth.authenticate(creds).await.is_ok());
    f.store.inner().set_failing(false);
    assert!(f.request(Some(&token)).await.identity().is_some());
}

#[tokio::test]
async fn rejections_carry_reasons_and_clear_dead_cookies() {
    let f = fixture();
    let cases = [
        ("session=nope", Some(Rejection::MalformedCookie), true),
        (
            &*format!("session={}.{}", "A".repeat(22), "A".repeat(43)),
            Some(Rejection::UnknownSession),
            true,
        ),
        (
            "session=a; session=b",
            Some(Rejection::ConflictingCookies),
            false,
        ),
        ("other=1", None, false),
    ];
    for (header, reason, clears) in cases {
        f.store.take_calls();
        let handle = f
            .auth
            .authenticate(f.auth.credentials([header.as_bytes()], None, None))
            .await
            .unwrap();
        assert_eq!(handle.rejection(), reason, "{header}");
        assert!(handle.identity().is_none());
        let cookies = handle.finish().await.unwrap().set_cookies;
        assert_eq!(!cookies.is_empty(), clears, "{header}");
        let loads = f.store.take_calls().load;
        let expect_load = usize::from(reason == Some(Rejection::UnknownSession));
        assert_eq!(
            loads, expect_load,
            "malformed input never reaches the store: {header}"
        );
    }
}

#[tokio::test]
async fn a_refresh_session_token_is_not_a_browser_session() {
    let f = fixture();
    let token = SessionToken::generate().unwrap();
    let mut record =
        crate::testing::sample_record("alice", f.clock.now(), time::Duration::minutes(5));
    record.id = token.key().id();
    record.verifier = token.verifier();
    record.kind = SessionKind::Refresh;
    f.store.create(&record).await.unwrap();
    let handle = f.request(Some(&token.expose())).await;
    assert_eq!(handle.rejection(), Some(Rejection::WrongKind));
    assert!(handle.identity().is_none());
}

#[tokio::test]
async fn the_session_list_is_newest_first_and_marks_the_current_one() {
    let f = fixture();
    let first = f.login("alice").await;
    f.clock.advance(time::Duration::seconds(5));
    let second = f.login("alice").await;
    let handle = f.request(Some(&first)).await;
    let list = handle.sessions().await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0].created_at > list[1].created_at);
    assert!(list[1].current && !list[0].current);
    assert_eq!(list[0].user_agent.as_deref(), Some("test"));
    let other = f.request(Some(&second)).await.identity().unwrap();
    assert_eq!(&list[0].id, other.session_id().unwrap());
    assert_eq!(handle.logout_others().await.unwrap(), 1);
    assert!(f.request(Some(&second)).await.identity().is_none());
    assert!(f.request(Some(&first)).await.identity().is_some());
}

#[test]
fn invalid_configurations_are_refused_at_build_time() {
    use std::time::Duration as D;
    let build = |b: crate::AuthenticatorBuilder| b.build().map(|_| ()).unwrap_err();
    let base = || Authenticator::builder(MemoryStore::new());
    assert_eq!(
        build(base().with_idle_timeout(D::ZERO)),
        ConfigError::IdleTimeout
    );
    assert_eq!(
        build(
            base()
                .with_idle_timeout(D::from_secs(60))
                .with_absolute_timeout(D::from_secs(30))
        ),
        ConfigError::AbsoluteTimeout
    );
    assert_eq!(
        build(base().with_refresh_threshold(1.5)),
        ConfigError::RefreshThreshold
    );
    assert_eq!(
        build(base().with_refresh_threshold(f64::NAN)),
        ConfigError::RefreshThreshold
    );
    assert_eq!(build(base().with_realm("a\"b")), ConfigError::Realm);
    assert_eq!(
        build(base().with_cookie(crate::CookiePolicy::default().with_name("a b"))),
        ConfigError::CookieName
    );
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let f = fixture();
    let token = f.login("alice").await;
    let handle = f.request(Some(&token)).await;
    let shown = format!("{handle:?} {:?} {:?}", f.auth, handle.identity());
    assert!(!shown.contains(&token), "{shown}");
}

fn policies_fixture(limit: Option<(usize, crate::SessionLimit)>) -> Fixture {
    let clock = ManualClock::starting_now();
    let store = CountingStore::new(FailingStore::new(MemoryStore::with_clock(Arc::new(
        clock.clone(),
    ))));
    let mut builder = Authenticator::builder(store.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_cookie(crate::CookiePolicy::default().with_secure(false))
        .with_remember_me(
            std::time::Duration::from_secs(7 * 86_400),
            std::time::Duration::from_secs(30 * 86_400),
        );
    if let Some((n, on_exceed)) = limit {
        builder = builder.with_max_sessions_per_user(n, on_exceed);
    }
    Fixture {
        auth: builder.build().unwrap(),
        store,
        clock,
    }
}

#[tokio::test]
async fn remember_me_chooses_cookie_and_lifetimes() {
    let f = policies_fixture(None);
    let login = async |login: Login| {
        let handle = f.request(None).await;
        handle.login(login).await.unwrap();
        handle.finish().await.unwrap().set_cookies[0].clone()
    };
    let remembered = login(Login::new("alice").remember(true)).await;
    assert!(remembered.contains("Max-Age=604800"), "{remembered}");
    let forgotten = login(Login::new("alice").remember(false)).await;
    assert!(!forgotten.contains("Max-Age"), "{forgotten}");
    let standard = login(Login::new("alice")).await;
    assert!(
        !standard.contains("Max-Age"),
        "the policy's default is a browser-session cookie: {standard}"
    );

    // Two days later (past a quarter of its 7-day idle timeout) only
    // the remembered session lives, and its refresh sends the
    // persistent cookie again.
    f.clock.advance(time::Duration::days(2));
    let handle = f.request(Some(&token_of(&remembered))).await;
    assert!(handle.identity().is_some());
    let again = handle.finish().await.unwrap().set_cookies[0].clone();
    assert!(again.contains("Max-Age=604800"), "{again}");
    assert!(
        f.request(Some(&token_of(&forgotten)))
            .await
            .identity()
            .is_none()
    );
    assert!(
        f.request(Some(&token_of(&standard)))
            .await
            .identity()
            .is_none()
    );

    // A refreshed browser-session cookie stays without Max-Age.
    let forgotten = login(Login::new("bob").remember(false)).await;
    f.clock.advance(time::Duration::minutes(10));
    let refreshed = f
        .request(Some(&token_of(&forgotten)))
        .await
        .finish()
        .await
        .unwrap()
        .set_cookies;
    assert!(refreshed.iter().all(|c| !c.contains("Max-Age")));
}

#[tokio::test]
async fn the_session_limit_refuses_or_ends_the_oldest() {
    let f = policies_fixture(Some((2, crate::SessionLimit::Refuse)));
    let first = f.login("alice").await;
    f.clock.advance(time::Duration::seconds(1));
    f.login("alice").await;
    let handle = f.request(None).await;
    assert!(matches!(
        handle.login(Login::new("alice")).await,
        Err(Error::TooManySessions)
    ));
    assert_eq!(Error::TooManySessions.status(), 409);
    f.login("bob").await;
    // Logging in again from a session of the user replaces it: allowed.
    let handle = f.request(Some(&first)).await;
    handle.login(Login::new("alice")).await.unwrap();

    let f = policies_fixture(Some((2, crate::SessionLimit::EndOldest)));
    let oldest = f.login("alice").await;
    f.clock.advance(time::Duration::seconds(1));
    let middle = f.login("alice").await;
    f.clock.advance(time::Duration::seconds(1));
    let newest = f.login("alice").await;
    assert!(f.request(Some(&oldest)).await.identity().is_none(), "ended");
    assert!(f.request(Some(&middle)).await.identity().is_some());
    assert!(f.request(Some(&newest)).await.identity().is_some());
    assert_eq!(f.store.inner().inner().len(), 2);
}

#[tokio::test]
async fn a_password_change_keeps_this_session_rotated_and_ends_the_rest() {
    let f = policies_fixture(None);
    let here = f.login("alice").await;
    let elsewhere = f.login("alice").await;
    let handle = f.request(Some(&here)).await;
    let id = handle.identity().unwrap().session_id().cloned();
    assert_eq!(handle.password_changed().await.unwrap(), 1);
    let rotated = token_of(&handle.finish().await.unwrap().set_cookies[0].clone());
    assert_ne!(rotated, here, "a new token");
    assert!(f.request(Some(&here)).await.identity().is_none());
    assert!(f.request(Some(&elsewhere)).await.identity().is_none());
    let still = f.request(Some(&rotated)).await.identity().unwrap();
    assert_eq!(still.session_id().cloned(), id, "the same session");
}

/// The `Set-Cookie` values of a finished request.
async fn cookies_of(handle: &AuthHandle) -> Vec<String> {
    handle.finish().await.unwrap().set_cookies
}

#[tokio::test]
async fn a_visitor_session_starts_on_the_first_write_never_on_a_read() {
    let f = fixture();
    let handle = f.request(None).await;
    assert_eq!(handle.get::<i32>("cart").unwrap(), None);
    assert!(cookies_of(&handle).await.is_empty());
    assert_eq!(f.store.take_calls().writes(), 0, "a read stores nothing");

    let handle = f.request(None).await;
    handle.insert("cart", &vec!["book"]).unwrap();
    let cookies = cookies_of(&handle).await;
    assert_eq!(cookies.len(), 1);
    assert!(
        !cookies[0].contains("Max-Age"),
        "a browser-session cookie: {}",
        cookies[0]
    );
    let token = token_of(&cookies[0]);

    let handle = f.request(Some(&token)).await;
    assert!(handle.identity().is_none(), "a visitor is nobody");
    assert!(handle.csrf_token().is_none(), "the token protects logins");
    assert_eq!(
        handle.get::<Vec<String>>("cart").unwrap(),
        Some(vec!["book".to_owned()])
    );
    let key = SessionToken::parse(token.as_bytes()).unwrap().key();
    let record = f.store.load(&key).await.unwrap().unwrap();
    assert_eq!(record.kind, SessionKind::Visitor);
    assert_eq!(record.lifetime, crate::SessionLifetime::Visitor);
    assert_eq!(
        record.absolute_expires_at - record.created_at,
        time::Duration::try_from(crate::DEFAULT_VISITOR_ABSOLUTE).unwrap()
    );
    assert_eq!(
        record.client,
        crate::ClientMeta::default(),
        "nothing about the client kept"
    );
    assert!(f.store.list_user("").await.unwrap().is_empty());

    // It lives for the visitor timeouts, not a user's.
    f.clock.advance(time::Duration::minutes(31));
    let handle = f.request(Some(&token)).await;
    assert_eq!(handle.rejection(), Some(Rejection::UnknownSession));
}

#[tokio::test]
async fn a_login_replaces_the_visitor_session_and_carries_the_chosen_keys() {
    let f = fixture();
    let handle = f.request(None).await;
    handle.insert("cart", &3).unwrap();
    handle.insert("tracking", &"x").unwrap();
    let visitor = token_of(&cookies_of(&handle).await[0]);

    let handle = f.request(Some(&visitor)).await;
    handle
        .login(Login::new("alice").carrying(["cart", "absent"]))
        .await
        .unwrap();
    assert_eq!(handle.get::<i32>("cart").unwrap(), Some(3));
    assert_eq!(handle.get::<String>("tracking").unwrap(), None);
    let user = token_of(&cookies_of(&handle).await[0]);
    assert_ne!(user, visitor, "a new token: no fixation");

    let key = SessionToken::parse(visitor.as_bytes()).unwrap().key();
    assert!(
        f.store.load(&key).await.unwrap().is_none(),
        "the visitor session ended"
    );
    let handle = f.request(Some(&visitor)).await;
    assert_eq!(handle.rejection(), Some(Rejection::UnknownSession));
    let handle = f.request(Some(&user)).await;
    assert_eq!(handle.identity().unwrap().user_id(), "alice");
    assert_eq!(handle.get::<i32>("cart").unwrap(), Some(3));
    assert_eq!(f.store.list_user("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_visitor_session_without_data_ends() {
    let f = fixture();
    let handle = f.request(None).await;
    handle.insert("k", &1).unwrap();
    let token = token_of(&cookies_of(&handle).await[0]);
    let handle = f.request(Some(&token)).await;
    handle.remove("k").unwrap();
    let cookies = cookies_of(&handle).await;
    assert!(cookies[0].contains("Max-Age=0"), "{cookies:?}");
    let key = SessionToken::parse(token.as_bytes()).unwrap().key();
    assert!(f.store.load(&key).await.unwrap().is_none());
    // Removing what was never there stores nothing.
    let handle = f.request(None).await;
    handle.remove("k").unwrap();
    assert!(cookies_of(&handle).await.is_empty());
}

#[tokio::test]
async fn a_flash_message_after_logout_is_shown_once() {
    let f = fixture();
    let token = f.login("alice").await;
    let handle = f.request(Some(&token)).await;
    handle.logout().await.unwrap();
    handle.set_flash(&"You have been signed out.").unwrap();
    let cookies = cookies_of(&handle).await;
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        !cookies[0].contains("Max-Age=0"),
        "a visitor's cookie, not a removal"
    );
    let visitor = token_of(&cookies[0]);
    assert_ne!(visitor, token);
    assert!(
        f.store.list_user("alice").await.unwrap().is_empty(),
        "logged out"
    );

    let handle = f.request(Some(&visitor)).await;
    assert!(handle.identity().is_none());
    assert_eq!(
        handle.take_flash::<String>().await.unwrap().as_deref(),
        Some("You have been signed out.")
    );
    let cookies = cookies_of(&handle).await;
    assert!(cookies[0].contains("Max-Age=0"), "nothing left to keep");
    let handle = f.request(Some(&visitor)).await;
    assert_eq!(handle.take_flash::<String>().await.unwrap(), None);
}

#[tokio::test]
async fn a_visitor_counts_toward_no_session_limit() {
    let f = policies_fixture(Some((1, crate::SessionLimit::Refuse)));
    for _ in 0..3 {
        let handle = f.request(None).await;
        handle.insert("k", &1).unwrap();
        handle.finish().await.unwrap();
    }
    f.login("alice").await;
}

#[tokio::test]
async fn the_password_login_counts_failures_and_locks_out() {
    let store = MemoryStore::new();
    let auth = Authenticator::builder(store.clone())
        .with_login_throttle(
            crate::throttle::LoginThrottle::new(store)
                .with_user_limit(2)
                .with_address_limit(100),
        )
        .build()
        .unwrap();
    let client = crate::ClientMeta::new(None, Some("192.0.2.1".into()));
    let request = || async {
        auth.authenticate(auth.credentials(Vec::<&[u8]>::new(), None, client.address.clone()))
            .await
            .unwrap()
    };
    let attempt = async |password: &str| {
        let right = password == "wonderland";
        request()
            .await
            .login_with_password("alice", async || Ok(right.then(|| Login::new("alice"))))
            .await
    };
    for _ in 0..2 {
        let refused = attempt("guess").await.unwrap_err();
        assert!(matches!(refused, crate::LoginError::WrongCredentials));
        assert_eq!(Refusal::from(refused).status(), 401);
    }
    let locked = attempt("wonderland").await.unwrap_err();
    assert!(
        matches!(locked, crate::LoginError::Throttled(_)),
        "{locked:?}"
    );
    assert_eq!(Refusal::from(locked).status(), 429);

    // A check that cannot decide is answered as it says, and not counted.
    let busy = request()
        .await
        .check_password("bob", async || Err(Refusal::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(Refusal::from(busy).status(), 503);
    let bob = request()
        .await
        .login_with_password("bob", async || Ok(Some(Login::new("bob"))))
        .await
        .unwrap();
    assert_eq!(bob.user_id(), "bob");
}
