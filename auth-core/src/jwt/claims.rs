//! The claims of an access token, and what it is issued for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::token::SessionId;

/// No application claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoClaims {}

/// `aud`: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` includes `wanted`.
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(a) => a == wanted,
            Self::Many(all) => all.iter().any(|a| a == wanted),
        }
    }
}

/// The claims of an access token, with the application's own claims `C`
/// flattened beside the registered ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims<C = NoClaims> {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The public id of the session the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// OAuth 2.0 scopes, space-separated (RFC 8693 `scope`); each one is a
    /// permission of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Permissions, as some providers (Auth0) list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// The application's claims.
    #[serde(flatten)]
    pub custom: C,
}

impl<C> Claims<C> {
    /// The permissions this token grants: its `scope` and `permissions`.
    pub fn granted_permissions(&self) -> Vec<String> {
        let mut granted = self.permissions.clone();
        if let Some(scope) = &self.scope {
            granted.extend(scope.split_ascii_whitespace().map(str::to_owned));
        }
        granted
    }
}

/// Whom a token is for.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Subject {
    pub(super) user_id: String,
    pub(super) roles: Vec<String>,
    pub(super) session_id: Option<SessionId>,
    pub(super) scope: Option<String>,
    /// Tokens must be stamped after this Unix millisecond (the session's
    /// `tokens_not_before`).
    pub(super) issued_after: Option<i64>,
}

impl Subject {
    /// A token for `user_id`.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            ..Self::default()
        }
    }

    /// With roles.
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// With OAuth 2.0 scopes (the `scope` claim, space-separated): each
    /// one becomes a permission of the caller. Scopes containing
    /// whitespace are split there.
    pub fn with_scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = scopes
            .into_iter()
            .flat_map(|s| {
                s.as_ref()
                    .split_ascii_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .join(" ");
        self.scope = (!joined.is_empty()).then_some(joined);
        self
    }

    /// Bound to a session: revoking the session revokes the token.
    pub fn with_session(mut self, session_id: SessionId) -> Self {
        self.session_id = Some(session_id);
        self
    }

    /// Made from a session whose tokens issued up to `at` are refused (its
    /// `tokens_not_before`): this one's `iat` must be later.
    pub(crate) fn issued_after(mut self, at: Option<time::OffsetDateTime>) -> Self {
        self.issued_after = at.map(crate::record::unix_millis::to_millis);
        self
    }
}

/// A freshly issued token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT. Never log it.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Its `exp`, Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"REDACTED")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}
