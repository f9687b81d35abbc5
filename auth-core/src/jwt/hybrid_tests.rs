//! Refresh tokens and the hybrid authenticator.

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::{
    AuthMethod, Authenticator, ClientMeta, CookiePolicy, Login, MemoryStore, Refusal, Rejection,
    SessionStore as _,
};

struct Fixture {
    auth: Authenticator,
    tokens: AccessTokens,
    clock: ManualClock,
    store: MemoryStore,
    key: Key,
    refresh: RefreshPolicy,
}

fn fixture() -> Fixture {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    let key = Key::generate("k", Algorithm::EdDSA).unwrap();
    let tokens = AccessTokens::builder("https://auth.test")
        .with_signing_key(key.clone())
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let refresh = RefreshPolicy::new()
        .unwrap()
        .with_secret(&[42; 32])
        .unwrap();
    let auth = Authenticator::builder(store.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_cookie(CookiePolicy::default().with_secure(false))
        .with_access_tokens(tokens.clone())
        .with_refresh_tokens(refresh.clone())
        .build()
        .unwrap();
    Fixture {
        auth,
        tokens,
        clock,
        store,
        key,
        refresh,
    }
}

impl Fixture {
    async fn pair(&self, user: &str) -> TokenPair {
        self.auth
            .issue_tokens(Login::new(user).with_roles(["user"]), ClientMeta::default())
            .await
            .unwrap()
    }

    async fn request(&self, cookie: Option<&str>, authorization: &[&str]) -> crate::AuthHandle {
        let cookie = cookie.map(|t| format!("session={t}"));
        let creds = self
            .auth
            .credentials(cookie.iter().map(|c| c.as_bytes()), None, None)
            .with_authorization(authorization.iter().map(|a| a.as_bytes()));
        self.auth.authenticate(creds).await.unwrap()
    }

    async fn cookie_login(&self, user: &str) -> String {
        let handle = self.request(None, &[]).await;
        handle.login(Login::new(user)).await.unwrap();
        let c = handle.finish().await.unwrap().set_cookies[0].clone();
        c.split(';')
            .next()
            .unwrap()
            .trim_start_matches("session=")
            .to_owned()
    }

    fn verify(&self, access: &str) -> Result<Claims, JwtError> {
        self.tokens.verify::<NoClaims>(access.as_bytes())
    }
}

#[tokio::test]
async fn refresh_rotates_and_keeps_the_session() {
    let f = fixture();
    let first = f.pair("alice").await;
    assert_eq!(first.token_type, "Bearer");
    let sid = f.verify(&first.access_token).unwrap().sid.unwrap();
    let second = f.auth.refresh_tokens(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        f.verify(&second.access_token).unwrap().sid.unwrap(),
        sid,
        "same session"
    );
    let third = f.auth.refresh_tokens(&second.refresh_token).await.unwrap();
    assert!(f.verify(&third.access_token).is_ok());
}

#[tokio::test]
async fn racing_refreshes_within_grace_get_the_same_successor() {
    let f = fixture();
    let first = f.pair("alice").await;
    let (a, b) = tokio::join!(
        f.auth.refresh_tokens(&first.refresh_token),
        f.auth.refresh_tokens(&first.refresh_token)
    );
    assert_eq!(a.unwrap().refresh_token, b.as_ref().unwrap().refresh_token);
    f.clock.advance(time::Duration::seconds(3));
    let again = f.auth.refresh_tokens(&first.refresh_token).await.unwrap();
    assert_eq!(
        again.refresh_token,
        b.unwrap().refresh_token,
        "inside the grace window"
    );
}

#[tokio::test]
async fn reuse_after_grace_revokes_the_family_and_its_access_tokens() {
    let f = fixture();
    let first = f.pair("alice").await;
    let second = f.auth.refresh_tokens(&first.refresh_token).await.unwrap();
    let other_session = f.pair("alice").await;
    f.clock.advance(time::Duration::seconds(6));
    assert!(matches!(
        f.auth.refresh_tokens(&first.refresh_token).await,
        Err(RefreshError::Reused)
    ));
    assert!(
        matches!(
            f.auth.refresh_tokens(&second.refresh_token).await,
            Err(RefreshError::Invalid)
        ),
        "the newest token of the family dies too"
    );
    assert_eq!(
        f.verify(&second.access_token).unwrap_err(),
        JwtError::Revoked
    );
    assert!(
        f.verify(&other_session.access_token).is_ok(),
        "other sessions live on"
    );
    assert!(
        f.auth
            .refresh_tokens(&other_session.refresh_token)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let f = fixture();
    let pair = f.pair("alice").await;
    assert!(
        f.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    assert!(matches!(
        f.auth.refresh_tokens(&pair.refresh_token).await,
        Err(RefreshError::Invalid)
    ));
    assert_eq!(f.verify(&pair.access_token).unwrap_err(), JwtError::Revoked);
    assert!(!f.auth.revoke_refresh_token("garbage").await.unwrap());
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn cookies_and_refresh_tokens_do_not_mix() {
    let f = fixture();
    let cookie = f.cookie_login("alice").await;
    assert!(matches!(
        f.auth.refresh_tokens(&cookie).await,
        Err(RefreshError::Invalid)
    ));
    let pair = f.pair("alice").await;
    let handle = f.request(Some(&pair.refresh_token), &[]).await;
    assert_eq!(
        handle.rejection(),
        Some(Rejection::MalformedCookie),
        "a refresh token is not shaped like a session token"
    );
    // A session token made up for the family's id does not match it.
    let family = pair.refresh_token.split('.').next().unwrap();
    let forged = format!("{family}.{}", "A".repeat(43));
    let handle = f.request(Some(&forged), &[]).await;
    assert_eq!(handle.rejection(), Some(Rejection::UnknownSession));
    assert!(matches!(
        f.auth.refresh_tokens("short").await,
        Err(RefreshError::Invalid)
    ));
}

#[tokio::test]
async fn bearer_requests_authenticate_and_never_fall_back_to_the_cookie() {
    let f = fixture();
    let pair = f.pair("alice").await;
    let cookie = f.cookie_login("bob").await;
    let bearer = format!("Bearer {}", pair.access_token);
    let handle = f.request(None, &[&bearer]).await;
    let identity = handle.identity().unwrap();
    assert_eq!(
        (identity.user_id(), identity.method()),
        ("alice", AuthMethod::Bearer)
    );
    assert!(identity.session_id().is_some());

    // A bad bearer token with a good cookie: refused, not bob.
    for bad in [
        "Bearer nope".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {} x", pair.access_token),
        format!("Bearer  {}!", pair.access_token),
    ] {
        let handle = f.request(Some(&cookie), &[&bad]).await;
        assert!(handle.identity().is_none(), "{bad}");
        assert!(
            matches!(handle.rejection(), Some(Rejection::InvalidToken { .. })),
            "{bad}"
        );
        let answer = handle.render(&Refusal::Unauthenticated);
        assert_eq!(
            answer.headers().next(),
            Some((
                "www-authenticate",
                r#"Bearer realm="app", error="invalid_token""#
            ))
        );
    }
    let two = f.request(Some(&cookie), &[&bearer, &bearer]).await;
    assert!(two.identity().is_none(), "two Authorization headers");
    // Other schemes are not bearer tokens: the cookie decides.
    let basic = f.request(Some(&cookie), &["Basic YWxpY2U6eA=="]).await;
    assert_eq!(basic.identity().unwrap().user_id(), "bob");
    // Case-insensitive scheme, extra spaces.
    let loose = f
        .request(None, &[&format!("bEaReR   {}", pair.access_token)])
        .await;
    assert_eq!(loose.identity().unwrap().user_id(), "alice");
}

#[tokio::test]
async fn challenges_follow_rfc_6750() {
    let f = fixture();
    let anonymous = f.request(None, &[]).await;
    let answer = anonymous.render(&Refusal::Unauthenticated);
    let challenges: Vec<&str> = answer
        .headers()
        .filter(|(n, _)| *n == "www-authenticate")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        challenges,
        [
            r#"Cookie realm="app", cookie-name="session""#,
            r#"Bearer realm="app""#
        ]
    );
    let pair = f.pair("alice").await;
    let bearer = f
        .request(None, &[&format!("Bearer {}", pair.access_token)])
        .await;
    let forbidden = bearer.render(&Refusal::Forbidden);
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        forbidden.header("www-authenticate"),
        Some(r#"Bearer realm="app", error="insufficient_scope""#)
    );
}

#[tokio::test]
async fn session_ends_reach_access_tokens() {
    let f = fixture();
    // A bearer caller logging out ends its refresh session and token.
    let pair = f.pair("alice").await;
    let handle = f
        .request(None, &[&format!("Bearer {}", pair.access_token)])
        .await;
    assert!(handle.logout().await.unwrap());
    assert_eq!(f.verify(&pair.access_token).unwrap_err(), JwtError::Revoked);
    assert!(matches!(
        f.auth.refresh_tokens(&pair.refresh_token).await,
        Err(RefreshError::Invalid)
    ));

    // Logout everywhere from a browser ends the app's tokens too.
    let app = f.pair("alice").await;
    let cookie = f.cookie_login("alice").await;
    let list = f
        .request(Some(&cookie), &[])
        .await
        .sessions()
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "the device list shows the app session");
    assert!(list.iter().any(|s| s.kind == crate::SessionKind::Refresh));
    f.request(Some(&cookie), &[])
        .await
        .logout_everywhere()
        .await
        .unwrap();
    assert_eq!(f.verify(&app.access_token).unwrap_err(), JwtError::Revoked);
    assert!(matches!(
        f.auth.refresh_tokens(&app.refresh_token).await,
        Err(RefreshError::Invalid)
    ));
    assert!(f.store.is_empty());
}

#[test]
fn secrets_stay_out_of_debug() {
    let pair = TokenPair {
        access_token: "eyJ.secret.sig".into(),
        token_type: "Bearer",
        expires_in: 300,
        refresh_token: "refresh-secret".into(),
    };
    let shown = format!("{pair:?} {:?}", RefreshPolicy::new().unwrap());
    assert!(!shown.contains("secret.sig") && !shown.contains("refresh-secret"));
}

/// A second instance on the same store: its own access-token verifier with
/// the same key, as a second process would have.
fn second_instance(f: &Fixture, store: impl crate::SessionStore) -> (Authenticator, AccessTokens) {
    let tokens = AccessTokens::builder("https://auth.test")
        .with_verification_key(f.key.clone())
        .with_clock(Arc::new(f.clock.clone()))
        .build()
        .unwrap();
    let auth = Authenticator::builder(store)
        .with_clock(Arc::new(f.clock.clone()))
        .with_access_tokens(tokens.clone())
        .with_refresh_tokens(f.refresh.clone())
        .build()
        .unwrap();
    (auth, tokens)
}

#[tokio::test]
async fn revocations_reach_every_authenticator_on_the_store() {
    let f = fixture();
    let (other, other_tokens) = second_instance(&f, f.store.clone());

    // A logout on the first instance stops the token on the second.
    let pair = f.pair("alice").await;
    assert!(
        other_tokens
            .verify::<NoClaims>(pair.access_token.as_bytes())
            .is_ok()
    );
    assert!(
        f.auth
            .revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    assert_eq!(
        other_tokens
            .verify::<NoClaims>(pair.access_token.as_bytes())
            .unwrap_err(),
        JwtError::Revoked
    );

    // A password change on the second cuts the user's older tokens on the
    // first; tokens of other users and newer tokens stay good.
    let alice = f.pair("alice").await;
    let bob = f.pair("bob").await;
    f.clock.advance(time::Duration::seconds(2));
    other.revoke_user_tokens("alice").await.unwrap();
    assert_eq!(
        f.verify(&alice.access_token).unwrap_err(),
        JwtError::Revoked
    );
    assert!(f.verify(&bob.access_token).is_ok());
    f.clock.advance(time::Duration::seconds(1));
    let fresh = f.auth.refresh_tokens(&alice.refresh_token).await.unwrap();
    assert!(f.verify(&fresh.access_token).is_ok());

    // Dropping an authenticator ends its subscription.
    drop(other);
    let pair = f.pair("carol").await;
    f.auth
        .revoke_refresh_token(&pair.refresh_token)
        .await
        .unwrap();
    assert!(
        other_tokens
            .verify::<NoClaims>(pair.access_token.as_bytes())
            .is_ok(),
        "a dropped instance no longer receives announcements"
    );
}

#[tokio::test]
async fn logout_of_other_sessions_revokes_their_tokens() {
    let f = fixture();
    let app = f.pair("alice").await;
    let cookie = f.cookie_login("alice").await;
    let handle = f.request(Some(&cookie), &[]).await;
    assert_eq!(handle.logout_others().await.unwrap(), 1);
    assert_eq!(f.verify(&app.access_token).unwrap_err(), JwtError::Revoked);
    assert!(f.request(Some(&cookie), &[]).await.identity().is_some());
}

#[tokio::test]
async fn a_failed_announcement_leaves_the_session_in_place() {
    let f = fixture();
    let store = crate::testing::FailingStore::new(f.store.clone());
    let (auth, tokens) = second_instance(&f, store.clone());
    let pair = f.pair("alice").await;
    store.set_failing(true);
    let err = auth
        .revoke_refresh_token(&pair.refresh_token)
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Store(ref e) if e.is_retryable()));
    store.set_failing(false);
    assert_eq!(
        f.store.len(),
        1,
        "nothing was deleted: the revoke can be retried"
    );
    assert!(
        auth.revoke_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    assert_eq!(
        tokens
            .verify::<NoClaims>(pair.access_token.as_bytes())
            .unwrap_err(),
        JwtError::Revoked
    );
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn gateway_tokens_are_minted_once_per_session_and_lifetime() {
    let f = fixture();
    let gateway = GatewayTokens::new("X-User-Token", f.tokens.clone()).unwrap();
    assert_eq!(gateway.header_name(), "x-user-token");
    let cookie = f.cookie_login("alice").await;
    let alice = f.request(Some(&cookie), &[]).await.identity().unwrap();

    let first = gateway.header_value(&alice).unwrap();
    let claims = f.verify(&first).unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(
        claims.sid.as_deref(),
        Some(alice.session_id().unwrap().as_str())
    );
    assert!(
        Arc::ptr_eq(&first, &gateway.header_value(&alice).unwrap()),
        "cached"
    );

    // Another session gets its own token; the cache holds both.
    let other = f.cookie_login("alice").await;
    let second = f.request(Some(&other), &[]).await.identity().unwrap();
    assert_ne!(gateway.header_value(&second).unwrap(), first);
    assert_eq!(gateway.cached(), 2);

    // Past three quarters of the lifetime a fresh token replaces it.
    let ttl = i64::try_from(f.tokens.ttl().as_secs()).unwrap();
    f.clock.advance(time::Duration::seconds(ttl * 3 / 4 - 1));
    let alice = f.request(Some(&cookie), &[]).await.identity().unwrap();
    assert!(Arc::ptr_eq(&first, &gateway.header_value(&alice).unwrap()));
    f.clock.advance(time::Duration::seconds(2));
    let renewed = gateway.header_value(&alice).unwrap();
    assert_ne!(renewed, first);
    assert!(f.verify(&renewed).is_ok());

    // New roles, new token.
    let handle = f.request(Some(&cookie), &[]).await;
    let admin = handle.set_roles(["user", "admin"]).await.unwrap();
    let value = gateway.header_value(&admin).unwrap();
    assert_eq!(f.verify(&value).unwrap().roles, ["user", "admin"]);
}

#[tokio::test]
async fn gateway_tokens_in_authorization_are_bearer_and_the_cache_is_bounded() {
    let f = fixture();
    let gateway = GatewayTokens::new("Authorization", f.tokens.clone())
        .unwrap()
        .with_capacity(2);
    let mut values = Vec::new();
    for _ in 0..3 {
        let cookie = f.cookie_login("bob").await;
        let bob = f.request(Some(&cookie), &[]).await.identity().unwrap();
        values.push(gateway.header_value(&bob).unwrap());
        assert!(gateway.cached() <= 2, "{}", gateway.cached());
    }
    for value in values {
        let jwt = value.strip_prefix("Bearer ").expect("a bearer value");
        assert!(f.verify(jwt).is_ok());
    }
}

#[test]
fn gateway_configuration_is_checked() {
    let f = fixture();
    for bad in ["", "x user", "x:y", "naïve"] {
        assert_eq!(
            GatewayTokens::new(bad, f.tokens.clone()).unwrap_err(),
            GatewayConfigError::HeaderName
        );
    }
    let verify_only = AccessTokens::builder("https://auth.test")
        .with_verification_key(f.key.clone())
        .build()
        .unwrap();
    assert!(!verify_only.can_sign());
    assert_eq!(
        GatewayTokens::new("x-user-token", verify_only).unwrap_err(),
        GatewayConfigError::NoSigningKey
    );
    let gateway = GatewayTokens::new("x-user-token", f.tokens.clone()).unwrap();
    assert!(!format!("{gateway:?}").contains("ey"), "no token in Debug");
}

/// A cookie session's access token (what `/token/cookie` hands out).
async fn access_of(f: &Fixture, cookie: &str) -> String {
    f.request(Some(cookie), &[])
        .await
        .issue_access_token()
        .unwrap()
        .unwrap()
        .token
}

#[tokio::test]
async fn every_end_refuses_tokens_issued_in_the_same_second() {
    // No clock moves between issuing and revoking: a token of the very
    // same second must not survive, and one issued right after must.
    let f = fixture();
    let cookie = f.cookie_login("alice").await;
    let before = access_of(&f, &cookie).await;
    f.auth.revoke_user_tokens("alice").await.unwrap();
    assert_eq!(f.verify(&before).unwrap_err(), JwtError::Revoked);
    let after = access_of(&f, &cookie).await;
    assert!(f.verify(&after).is_ok(), "issued after the revocation");

    let before = access_of(&f, &cookie).await;
    let handle = f.request(Some(&cookie), &[]).await;
    handle.password_changed().await.unwrap();
    assert_eq!(f.verify(&before).unwrap_err(), JwtError::Revoked);
    let cookie = handle.finish().await.unwrap().set_cookies[0].clone();
    let cookie = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("session=")
        .to_owned();
    let after = access_of(&f, &cookie).await;
    assert!(f.verify(&after).is_ok(), "the kept session's new token");

    let app = f.pair("alice").await;
    f.request(Some(&cookie), &[])
        .await
        .logout_everywhere()
        .await
        .unwrap();
    assert_eq!(f.verify(&after).unwrap_err(), JwtError::Revoked);
    assert_eq!(f.verify(&app.access_token).unwrap_err(), JwtError::Revoked);
    assert!(matches!(
        f.auth.refresh_tokens(&app.refresh_token).await,
        Err(RefreshError::Invalid)
    ));
}

#[tokio::test]
async fn a_role_change_reaches_tokens() {
    let f = fixture();
    // The session's own role change: its older tokens carry the old roles.
    let cookie = f.cookie_login("alice").await;
    let old = access_of(&f, &cookie).await;
    let handle = f.request(Some(&cookie), &[]).await;
    handle.set_roles(["user", "editor"]).await.unwrap();
    assert_eq!(f.verify(&old).unwrap_err(), JwtError::Revoked);
    let cookie = handle.finish().await.unwrap().set_cookies[0].clone();
    let cookie = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("session=")
        .to_owned();
    let new = access_of(&f, &cookie).await;
    assert_eq!(f.verify(&new).unwrap().roles, ["user", "editor"]);

    // The app changes a user's roles everywhere: sessions and refresh
    // families take them, tokens with the old ones are refused, and the
    // next refresh carries the new ones.
    let app = f
        .auth
        .issue_tokens(
            Login::new("bob").with_roles(["user"]),
            ClientMeta::default(),
        )
        .await
        .unwrap();
    let browser = f.cookie_login("bob").await;
    assert_eq!(f.auth.set_user_roles("bob", ["auditor"]).await.unwrap(), 2);
    assert_eq!(f.verify(&app.access_token).unwrap_err(), JwtError::Revoked);
    let refreshed = f.auth.refresh_tokens(&app.refresh_token).await.unwrap();
    assert_eq!(
        f.verify(&refreshed.access_token).unwrap().roles,
        ["auditor"]
    );
    let identity = f.request(Some(&browser), &[]).await.identity().unwrap();
    assert_eq!(identity.roles(), ["auditor"]);
    assert!(f.verify(&new).is_ok(), "other users' tokens are untouched");
}

#[tokio::test]
async fn an_administrator_ends_another_users_sessions() {
    let f = fixture();
    let cookie = f.cookie_login("mallory").await;
    let app = f.pair("mallory").await;
    let access = access_of(&f, &cookie).await;
    assert_eq!(f.auth.sessions_of("mallory").await.unwrap().len(), 2);
    assert_eq!(f.auth.end_all_sessions_of("mallory").await.unwrap(), 2);
    assert!(f.request(Some(&cookie), &[]).await.identity().is_none());
    assert_eq!(f.verify(&access).unwrap_err(), JwtError::Revoked);
    assert_eq!(f.verify(&app.access_token).unwrap_err(), JwtError::Revoked);
    assert!(f.auth.refresh_tokens(&app.refresh_token).await.is_err());
    assert!(f.auth.sessions_of("mallory").await.unwrap().is_empty());
}

/// A family rotated ten thousand times is one record, and everything
/// about it still works: the device list, reuse detection, revocation.
#[tokio::test]
async fn a_family_stays_one_record_however_often_it_rotates() {
    let f = fixture();
    let first = f.pair("alice").await;
    let mut newest = first.clone();
    let mut old = None;
    for i in 0..10_000 {
        if i == 5_000 {
            old = Some(newest.refresh_token.clone());
        }
        newest = f.auth.refresh_tokens(&newest.refresh_token).await.unwrap();
    }
    assert_eq!(
        f.store.stored_len(),
        1,
        "one record, whatever the rotations"
    );
    assert_eq!(f.auth.sessions_of("alice").await.unwrap().len(), 1);
    // Reuse of an old generation is recognised, and ends the family.
    f.clock.advance(time::Duration::seconds(10));
    assert!(matches!(
        f.auth.refresh_tokens(&old.unwrap()).await,
        Err(RefreshError::Reused)
    ));
    assert!(f.auth.refresh_tokens(&newest.refresh_token).await.is_err());
    assert_eq!(
        f.verify(&newest.access_token).unwrap_err(),
        JwtError::Revoked
    );
    assert_eq!(f.store.stored_len(), 0);
}

#[tokio::test]
async fn a_forged_token_naming_a_family_revokes_nothing() {
    let f = fixture();
    let pair = f.pair("alice").await;
    // Knowing a family's public id and generation is not knowing its
    // proof: invalid, and the family lives on.
    let (id, rest) = pair.refresh_token.split_once('.').unwrap();
    let generation = rest.split('.').next().unwrap();
    let forged = format!("{id}.{generation}.{}", "A".repeat(43));
    let older = format!("{id}.0.{}", "B".repeat(43));
    for token in [forged, older] {
        assert!(matches!(
            f.auth.refresh_tokens(&token).await,
            Err(RefreshError::Invalid)
        ));
        assert!(!f.auth.revoke_refresh_token(&token).await.unwrap());
    }
    assert!(f.auth.refresh_tokens(&pair.refresh_token).await.is_ok());
}

/// The memory store without its delivery of announcements: one that cannot
/// deliver them at all (`subscribe` says `None`), or one that would but
/// never proves its feed current, like a Redis whose pub/sub is down.
#[derive(Debug, Clone)]
struct Undelivered {
    store: MemoryStore,
    subscribes: bool,
}

#[async_trait::async_trait]
impl crate::SessionStore for Undelivered {
    async fn create(&self, record: &crate::SessionRecord) -> Result<(), crate::StoreError> {
        self.store.create(record).await
    }
    async fn load(
        &self,
        key: &crate::SessionKey,
    ) -> Result<Option<crate::SessionRecord>, crate::StoreError> {
        self.store.load(key).await
    }
    async fn update(&self, record: &crate::SessionRecord) -> Result<u64, crate::StoreError> {
        self.store.update(record).await
    }
    async fn touch(
        &self,
        key: &crate::SessionKey,
        idle: time::OffsetDateTime,
        last: time::OffsetDateTime,
    ) -> Result<bool, crate::StoreError> {
        self.store.touch(key, idle, last).await
    }
    async fn delete(&self, key: &crate::SessionKey) -> Result<bool, crate::StoreError> {
        self.store.delete(key).await
    }
    async fn list_user(&self, user: &str) -> Result<Vec<crate::SessionRecord>, crate::StoreError> {
        self.store.list_user(user).await
    }
    async fn delete_user(
        &self,
        user: &str,
        keep: Option<&crate::SessionKey>,
    ) -> Result<Vec<crate::SessionKey>, crate::StoreError> {
        self.store.delete_user(user, keep).await
    }
    fn announcements(&self) -> Option<&dyn crate::Announcements> {
        self.subscribes.then_some(self as &dyn crate::Announcements)
    }
}

/// Subscribes, and never delivers.
#[async_trait::async_trait]
impl crate::Announcements for Undelivered {
    async fn announce(
        &self,
        _: &crate::revocation::Revocation,
        _: std::time::Duration,
    ) -> Result<(), crate::StoreError> {
        Ok(())
    }
    fn subscribe(
        &self,
        sink: &crate::revocation::Revocations,
    ) -> Result<crate::revocation::Subscription, crate::StoreError> {
        sink.feed_connecting();
        Ok(crate::revocation::Subscription::new(()))
    }
}

#[tokio::test]
async fn without_a_current_feed_tokens_are_checked_against_the_store() {
    let f = fixture();
    let store = Undelivered {
        store: f.store.clone(),
        subscribes: true,
    };
    let (other, _) = second_instance(&f, store);
    let bearer = |token: &str| format!("Bearer {token}");
    let ask = async |token: &str| {
        let creds = other
            .credentials([], None, None)
            .with_authorization([bearer(token).as_bytes()]);
        other.authenticate(creds).await
    };
    let pair = f.pair("alice").await;
    let handle = ask(&pair.access_token).await.unwrap();
    assert_eq!(
        handle.identity().unwrap().user_id(),
        "alice",
        "its session is live"
    );
    // The session ends where this instance hears nothing of it.
    f.store
        .delete(
            &pair
                .refresh_token
                .split('.')
                .next()
                .unwrap()
                .parse::<crate::SessionId>()
                .unwrap()
                .key(),
        )
        .await
        .unwrap();
    let handle = ask(&pair.access_token).await.unwrap();
    assert!(handle.identity().is_none(), "the store says it ended");
    assert_eq!(
        handle.rejection(),
        Some(Rejection::InvalidToken { reason: "revoked" })
    );
    // A token of no session of this app cannot be checked: 503.
    let unbound = f
        .tokens
        .issue(&Subject::new("robot"), &NoClaims {})
        .unwrap();
    let err = ask(&unbound.token).await.unwrap_err();
    assert_eq!(err.status(), 503);
}

#[test]
fn a_store_that_cannot_announce_needs_a_single_instance() {
    let f = fixture();
    let quiet = Undelivered {
        store: f.store.clone(),
        subscribes: false,
    };
    let err = Authenticator::builder(quiet.clone())
        .with_access_tokens(f.tokens.clone())
        .build()
        .unwrap_err();
    assert_eq!(err, crate::ConfigError::RevocationsNotShared);
    assert!(
        Authenticator::builder(quiet.clone())
            .with_access_tokens(f.tokens.clone())
            .with_single_instance()
            .build()
            .is_ok()
    );
    // Sessions alone need no announcements.
    assert!(Authenticator::builder(quiet).build().is_ok());
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Tenant {
    tenant: String,
}

#[tokio::test]
async fn custom_claims_travel_from_the_login_into_every_token() {
    let f = fixture();
    let acme = serde_json::json!({"tenant": "acme"});
    let login = || Login::new("alice").with_claims(&acme).unwrap();
    let expect = Tenant {
        tenant: "acme".into(),
    };

    // A cookie session, and the access token minted for it.
    let handle = f.request(None, &[]).await;
    let identity = handle.login(login()).await.unwrap();
    assert_eq!(identity.custom_claims::<Tenant>().unwrap(), expect);
    let access = handle.issue_access_token().unwrap().unwrap();
    let claims = f
        .tokens
        .verify::<serde_json::Value>(access.token.as_bytes())
        .unwrap();
    assert_eq!(claims.custom["tenant"], "acme");
    let bearer = format!("Bearer {}", access.token);
    let caller = f.request(None, &[&bearer]).await.identity().unwrap();
    assert_eq!(caller.custom_claims::<Tenant>().unwrap(), expect);

    // A refresh family keeps them through every rotation.
    let pair = f
        .auth
        .issue_tokens(login(), ClientMeta::default())
        .await
        .unwrap();
    let next = f.auth.refresh_tokens(&pair.refresh_token).await.unwrap();
    let bearer = format!("Bearer {}", next.access_token);
    let caller = f.request(None, &[&bearer]).await.identity().unwrap();
    assert_eq!(caller.custom_claims::<Tenant>().unwrap(), expect);

    // And the gateway's tokens carry them to the services behind.
    let internal = AccessTokens::builder("https://gateway.test")
        .with_signing_key(Key::generate("gw", Algorithm::EdDSA).unwrap())
        .build()
        .unwrap();
    let gateway = GatewayTokens::new("X-User-Token", internal.clone()).unwrap();
    let minted = gateway.header_value(&caller).unwrap();
    let claims = internal
        .verify::<serde_json::Value>(minted.as_bytes())
        .unwrap();
    assert_eq!(claims.custom["tenant"], "acme");

    // A caller without claims reads optional ones as absent, required
    // ones as an error.
    let plain = f.pair("bob").await;
    let bearer = format!("Bearer {}", plain.access_token);
    let bob = f.request(None, &[&bearer]).await.identity().unwrap();
    assert!(bob.claims().is_none());
    assert!(bob.custom_claims::<Tenant>().is_err());
    assert_eq!(
        bob.custom_claims::<serde_json::Map<String, serde_json::Value>>()
            .unwrap(),
        serde_json::Map::new()
    );
}
