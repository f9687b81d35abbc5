//! Who is calling.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::record::SessionRecord;
use crate::token::SessionId;

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// By the session cookie.
    Session,
    /// By an access token in `Authorization: Bearer`.
    Bearer,
}

impl AuthMethod {
    /// The method's name as shown in APIs: `"session"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Bearer => "bearer",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller, as handlers see it. Cheap to clone (one
/// reference count), `Send + Sync`, and free of secrets.
///
/// ```
/// fn greet(identity: &auth_core::Identity) -> String {
///     let admin = if identity.has_role("admin") { " (admin)" } else { "" };
///     format!("hello {}{admin}", identity.user_id())
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Identity(Arc<Inner>);

#[derive(PartialEq, Eq)]
struct Inner {
    user_id: String,
    roles: Vec<String>,
    session_id: Option<SessionId>,
    method: AuthMethod,
    created_at: OffsetDateTime,
    idle_expires_at: Option<OffsetDateTime>,
    expires_at: OffsetDateTime,
}

impl Identity {
    pub(crate) fn from_session(record: &SessionRecord) -> Self {
        Self(Arc::new(Inner {
            user_id: record.user_id.clone(),
            roles: record.roles.clone(),
            session_id: Some(record.id.clone()),
            method: AuthMethod::Session,
            created_at: record.created_at,
            idle_expires_at: Some(record.idle_expires_at),
            expires_at: record.expires_at(),
        }))
    }

    #[cfg(feature = "jwt")]
    pub(crate) fn from_claims<C>(claims: &crate::jwt::Claims<C>) -> Self {
        let at = |secs: i64| {
            OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        Self(Arc::new(Inner {
            user_id: claims.sub.clone(),
            roles: claims.roles.clone(),
            session_id: claims.sid.as_deref().and_then(|s| s.parse().ok()),
            method: AuthMethod::Bearer,
            created_at: at(claims.iat),
            idle_expires_at: None,
            expires_at: at(claims.exp),
        }))
    }

    /// The user's id.
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    /// The user's roles.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// The public id of the session behind this request, if any.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.0.session_id.as_ref()
    }

    /// How the request was authenticated.
    pub fn method(&self) -> AuthMethod {
        self.0.method
    }

    /// When the login behind this identity happened (for a bearer token:
    /// when the token was issued).
    pub fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    /// When the session ends unless used again, for sessions.
    pub fn idle_expires_at(&self) -> Option<OffsetDateTime> {
        self.0.idle_expires_at
    }

    /// When this identity stops being valid at the latest, as things stand.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.0.expires_at
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("user_id", &self.0.user_id)
            .field("roles", &self.0.roles)
            .field("session_id", &self.0.session_id)
            .field("method", &self.0.method)
            .field("expires_at", &self.0.expires_at)
            .finish()
    }
}
