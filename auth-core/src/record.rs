//! The session record: what a store holds for each session.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::token::{SessionId, SessionKey, Verifier};

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionKind {
    /// A browser session, carried by a cookie.
    #[default]
    Browser,
    /// The session behind a refresh token (a refresh family): one record
    /// however often its token is rotated.
    Refresh,
    /// An anonymous visitor's session: data kept before a login (a cart,
    /// the page to return to, a flash message), carried by the session
    /// cookie but authenticating no one. Created when the app first writes
    /// to it, replaced by the login's session at login.
    Visitor,
    /// An index entry, carried by no cookie and authenticating no one: it
    /// names (in its data) a session to find again by what it is filed
    /// under, as single sign-on files its sessions under the provider's
    /// subject and session for a back-channel logout.
    Link,
}

/// How long a browser session lives and how its cookie is kept, chosen at
/// login ([`Login::remember`](crate::Login::remember)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionLifetime {
    /// The authenticator's idle and absolute timeouts; the cookie as the
    /// [`CookiePolicy`](crate::CookiePolicy) says.
    #[default]
    Standard,
    /// "Remember me" not ticked: the standard timeouts, and a cookie
    /// without `Max-Age` that the browser forgets when it closes.
    BrowserSession,
    /// "Remember me" ticked: the remembered timeouts
    /// ([`AuthenticatorBuilder::with_remember_me`](crate::AuthenticatorBuilder::with_remember_me))
    /// and a persistent cookie.
    Remembered,
    /// A [visitor's](SessionKind::Visitor) session: the visitor timeouts
    /// ([`AuthenticatorBuilder::with_visitor_timeouts`](crate::AuthenticatorBuilder::with_visitor_timeouts))
    /// and a cookie the browser forgets when it closes.
    Visitor,
}

/// What the client told us about itself when the session began, for the
/// user's list of devices. Sizes are capped when it is captured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMeta {
    /// The `User-Agent` header, truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client's address as the server saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A label the application chose ("Work laptop").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Longest user agent kept, in bytes.
pub const MAX_USER_AGENT: usize = 256;

impl ClientMeta {
    /// Builds client metadata, truncating the user agent at a character
    /// boundary to [`MAX_USER_AGENT`] bytes and dropping control characters.
    pub fn new(user_agent: Option<&str>, address: Option<String>) -> Self {
        let user_agent = user_agent.map(|ua| {
            let mut out = String::with_capacity(ua.len().min(MAX_USER_AGENT));
            for c in ua.chars().filter(|c| !c.is_control()) {
                if out.len() + c.len_utf8() > MAX_USER_AGENT {
                    break;
                }
                out.push(c);
            }
            out
        });
        Self {
            user_agent,
            address,
            label: None,
        }
    }
}

/// Free-form data the application keeps in a session, as JSON values under
/// string keys. Handlers read and write it typed through
/// [`AuthHandle`](crate::AuthHandle).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionData(Map<String, Value>);

impl SessionData {
    /// Empty data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one value, deserialized into `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, serde_json::Error> {
        self.0.get(key).map(|v| T::deserialize(v)).transpose()
    }

    /// The raw JSON value under `key`.
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Sets the raw JSON value under `key`; `None` removes it.
    pub fn set_value(&mut self, key: &str, value: Option<Value>) {
        match value {
            Some(v) => {
                self.0.insert(key.to_owned(), v);
            }
            None => {
                self.0.remove(key);
            }
        }
    }

    /// Whether there is no data.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys present.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl fmt::Debug for SessionData {
    /// Session data may hold anything, so `Debug` names only the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One session as a store holds it: one record, under one key, for the
/// session's whole life.
///
/// The record never contains a token, only what checks one (the
/// [`Verifier`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The public id, stable across rotation; as bytes, the store key
    /// ([`key`](Self::key)).
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: String,
    /// What the session is for.
    #[serde(default)]
    pub kind: SessionKind,
    /// What checks a presented token: SHA-256 of a browser session token's
    /// secret, or the seed a refresh family's tokens are derived from.
    pub verifier: Verifier,
    /// How many times the token was replaced (a refresh token carries it).
    #[serde(default)]
    pub generation: u64,
    /// When the current token was issued.
    #[serde(with = "unix_millis")]
    pub rotated_at: OffsetDateTime,
    /// Access tokens of this session issued before this instant are
    /// refused (a role change, a password change).
    #[serde(
        default,
        with = "unix_millis::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub tokens_not_before: Option<OffsetDateTime>,
    /// The user's roles, as granted at login or at the last privilege change.
    #[serde(default)]
    pub roles: Vec<String>,
    /// When the session began (the login).
    #[serde(with = "unix_millis")]
    pub created_at: OffsetDateTime,
    /// When the session ends unless it is used again.
    #[serde(with = "unix_millis")]
    pub idle_expires_at: OffsetDateTime,
    /// When the session ends whatever happens.
    #[serde(with = "unix_millis")]
    pub absolute_expires_at: OffsetDateTime,
    /// When the idle expiry was last pushed forward. Doubles as "last seen",
    /// to the precision of the refresh threshold.
    #[serde(with = "unix_millis")]
    pub last_refresh_at: OffsetDateTime,
    /// The application's data.
    #[serde(default)]
    pub data: SessionData,
    /// Device-list metadata.
    #[serde(default)]
    pub client: ClientMeta,
    /// Its lifetimes and cookie, as chosen at login.
    #[serde(default)]
    pub lifetime: SessionLifetime,
    /// Incremented by every successful [`update`](crate::SessionStore::update).
    pub version: u64,
}

impl SessionRecord {
    /// A record for a session that starts at `now` and ends at
    /// `expires_at` (idle and absolute expiry alike), with no roles, data
    /// or client details, at version 1, ready for
    /// [`SessionStore::create`](crate::SessionStore::create). Set the rest
    /// with struct update syntax. A store's tests, an import of sessions
    /// from another system and the library's own logins start here.
    ///
    /// ```
    /// use auth_core::{SessionKind, SessionRecord, SessionToken};
    /// use time::{Duration, OffsetDateTime};
    ///
    /// let token = SessionToken::generate()?;
    /// let now = OffsetDateTime::now_utc();
    /// let record = SessionRecord {
    ///     roles: vec!["admin".into()],
    ///     idle_expires_at: now + Duration::minutes(30),
    ///     ..SessionRecord::new(token.key().id(), "alice", SessionKind::Browser, token.verifier(), now, now + Duration::days(1))
    /// };
    /// assert!(token.matches(&record.verifier));
    /// assert_eq!(record.expires_at(), now + Duration::minutes(30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        id: SessionId,
        user_id: impl Into<String>,
        kind: SessionKind,
        verifier: Verifier,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            user_id: user_id.into(),
            kind,
            verifier,
            generation: 0,
            rotated_at: now,
            tokens_not_before: None,
            roles: Vec::new(),
            created_at: now,
            idle_expires_at: expires_at,
            absolute_expires_at: expires_at,
            last_refresh_at: now,
            data: SessionData::new(),
            client: ClientMeta::default(),
            lifetime: SessionLifetime::Standard,
            version: 1,
        }
    }

    /// The store key: the bytes of [`id`](Self::id).
    pub fn key(&self) -> SessionKey {
        self.id.key()
    }

    /// When the session ends: the earlier of its idle and absolute expiries.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the session has ended at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at()
    }
}

/// Serializes an `OffsetDateTime` as Unix milliseconds (an `i64`).
///
/// Store crates can use it with `#[serde(with = "auth_core::record::unix_millis")]`.
pub mod unix_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Serializes as milliseconds since the Unix epoch.
    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_millis(*t))
    }

    /// Deserializes from milliseconds since the Unix epoch.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        from_millis(i64::deserialize(d)?)
            .ok_or_else(|| serde::de::Error::custom("time out of range"))
    }

    /// Milliseconds since the Unix epoch.
    pub fn to_millis(t: OffsetDateTime) -> i64 {
        // Seconds and milliseconds apart: no 128-bit division.
        t.unix_timestamp()
            .saturating_mul(1000)
            .saturating_add(i64::from(t.millisecond()))
    }

    /// The time `ms` milliseconds after the Unix epoch.
    pub fn from_millis(ms: i64) -> Option<OffsetDateTime> {
        let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()?;
        // `rem_euclid(1000)` is in 0..1000, so the conversion cannot fail.
        let millis = u16::try_from(ms.rem_euclid(1000)).ok()?;
        at.replace_millisecond(millis).ok()
    }

    /// The same, for an optional time (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        /// Serializes as milliseconds since the Unix epoch, or `null`.
        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&super::to_millis(*t)),
                None => s.serialize_none(),
            }
        }

        /// Deserializes from milliseconds since the Unix epoch, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<i64>::deserialize(d)?
                .map(|ms| {
                    super::from_millis(ms)
                        .ok_or_else(|| serde::de::Error::custom("time out of range"))
                })
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_truncated_on_a_char_boundary_and_cleaned() {
        let long = "é".repeat(300);
        let meta = ClientMeta::new(Some(&long), None);
        let ua = meta.user_agent.unwrap();
        assert!(ua.len() <= MAX_USER_AGENT);
        assert_eq!(ua.chars().count(), MAX_USER_AGENT / 2);
        let meta = ClientMeta::new(Some("curl/8\r\nX-Evil: 1"), None);
        assert_eq!(meta.user_agent.as_deref(), Some("curl/8X-Evil: 1"));
    }

    #[test]
    fn data_debug_shows_keys_only() {
        let mut data = SessionData::new();
        data.set_value("cart", Some(serde_json::json!({"secret": "hunter2"})));
        let shown = format!("{data:?}");
        assert!(shown.contains("cart"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn millis_round_trip() {
        let t = time::macros::datetime!(2031-05-06 07:08:09.123 UTC);
        assert_eq!(unix_millis::from_millis(unix_millis::to_millis(t)), Some(t));
        // Before the epoch, and sub-millisecond parts dropped.
        let t = time::macros::datetime!(1969-12-31 23:59:59.999 UTC);
        assert_eq!(unix_millis::to_millis(t), -1);
        assert_eq!(unix_millis::from_millis(-1), Some(t));
        let t = time::macros::datetime!(2031-05-06 07:08:09.123_456 UTC);
        assert_eq!(unix_millis::to_millis(t), 1_935_817_689_123);
        assert_eq!(unix_millis::from_millis(i64::MAX), None);
    }
}
