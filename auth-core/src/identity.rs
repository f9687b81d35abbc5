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
    /// By an access token in the `HttpOnly` access-token cookie
    /// ([`AuthenticatorBuilder::with_access_token_cookie`](crate::AuthenticatorBuilder::with_access_token_cookie)).
    /// Like the session cookie, it gets CSRF protection.
    AccessCookie,
    /// By an application's own credential
    /// ([`CustomAuthenticator`](crate::custom::CustomAuthenticator)),
    /// with that authenticator's name.
    Custom(&'static str),
}

impl AuthMethod {
    /// The method's name as shown in APIs: `"session"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Bearer => "bearer",
            Self::AccessCookie => "access_cookie",
            Self::Custom(name) => name,
        }
    }

    /// Whether the caller presented an access token (in the header or the
    /// cookie).
    pub fn is_access_token(self) -> bool {
        matches!(self, Self::Bearer | Self::AccessCookie)
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

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    user_id: String,
    roles: Vec<String>,
    permissions: Vec<String>,
    session_id: Option<SessionId>,
    method: AuthMethod,
    /// Who vouches for the identity, when a token does: its `iss`.
    issuer: Option<Arc<str>>,
    /// Whether `user_id` names a user of this application (sessions, its
    /// own tokens, custom credentials, and external identities the app
    /// mapped to one of its users).
    local: bool,
    created_at: OffsetDateTime,
    idle_expires_at: Option<OffsetDateTime>,
    expires_at: OffsetDateTime,
    /// The session's cut-off for its access tokens: tokens made for this
    /// identity are stamped past it.
    tokens_not_before: Option<OffsetDateTime>,
    /// The application's (or the external issuer's) own claims: a JSON
    /// object.
    claims: Option<Arc<serde_json::Value>>,
}

impl Identity {
    /// A caller authenticated by `method`, without roles or permissions
    /// yet; for [`CustomAuthenticator`](crate::custom::CustomAuthenticator)s
    /// and tests. It is valid for an hour unless
    /// [`with_expiry`](Self::with_expiry) says otherwise.
    ///
    /// ```
    /// use auth_core::{AuthMethod, Identity};
    ///
    /// let bot = Identity::new("build-bot", AuthMethod::Custom("api_key"))
    ///     .with_roles(["ci"])
    ///     .with_permissions(["artifacts:write"]);
    /// assert!(bot.has_permission("artifacts:write"));
    /// assert_eq!(bot.method().as_str(), "api_key");
    /// ```
    pub fn new(user_id: impl Into<String>, method: AuthMethod) -> Self {
        let now = OffsetDateTime::now_utc();
        Self(Arc::new(Inner {
            user_id: user_id.into(),
            roles: Vec::new(),
            permissions: Vec::new(),
            session_id: None,
            method,
            issuer: None,
            local: true,
            created_at: now,
            idle_expires_at: None,
            expires_at: now + time::Duration::hours(1),
            tokens_not_before: None,
            claims: None,
        }))
    }

    /// Sets the roles.
    #[must_use]
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        Arc::make_mut(&mut self.0).roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the permissions.
    #[must_use]
    pub fn with_permissions<I, P>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let inner = Arc::make_mut(&mut self.0);
        inner.permissions = permissions.into_iter().map(Into::into).collect();
        inner.permissions.sort_unstable();
        inner.permissions.dedup();
        self
    }

    /// Sets the custom claims (a JSON object without
    /// [registered names](crate::claims::REGISTERED_CLAIMS)), for a
    /// custom credential that carries some.
    pub fn with_claims<C: serde::Serialize>(mut self, claims: &C) -> Result<Self, crate::Error> {
        let claims = crate::claims::to_custom_claims(claims)?;
        Arc::make_mut(&mut self.0).claims = Some(Arc::new(serde_json::Value::Object(claims)));
        Ok(self)
    }

    /// Sets when the identity stops being valid.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: OffsetDateTime) -> Self {
        Arc::make_mut(&mut self.0).expires_at = expires_at;
        self
    }

    pub(crate) fn from_session(record: &SessionRecord, grants: &RolePermissions) -> Self {
        let (user_id, issuer, local) = owned_by(&record.user_id);
        Self(Arc::new(Inner {
            user_id,
            roles: record.roles.clone(),
            permissions: grants.of_roles(&record.roles, Vec::new()),
            session_id: Some(record.id.clone()),
            method: AuthMethod::Session,
            issuer,
            local,
            created_at: record.created_at,
            idle_expires_at: Some(record.idle_expires_at),
            expires_at: record.expires_at(),
            tokens_not_before: record.tokens_not_before,
            claims: crate::claims::of_session(&record.data)
                .map(|c| Arc::new(serde_json::Value::Object(c.clone()))),
        }))
    }

    /// The caller of one of this application's access tokens.
    #[cfg(feature = "jwt")]
    pub(crate) fn from_claims(
        claims: crate::jwt::Claims<crate::claims::CustomClaims>,
        grants: &RolePermissions,
        method: AuthMethod,
        issuer: &Arc<str>,
    ) -> Self {
        let session_id = claims.sid.as_deref().and_then(|s| s.parse().ok());
        // A token of a session signed in through a provider names that
        // provider's subject, as the session does.
        let (user_id, external_issuer, local) = owned_by(&claims.sub);
        Self::from_token(
            claims,
            Vec::new(),
            grants,
            method,
            external_issuer.or_else(|| Some(issuer.clone())),
            user_id,
            local,
            session_id,
        )
    }

    /// The caller of an external issuer's access token: the local user
    /// `local` (the app's mapping), or else the issuer's subject, which
    /// names no local user.
    /// The roles of `mapped` (from the issuer's configured claim paths)
    /// join those of the `roles` claim.
    #[cfg(feature = "oidc")]
    pub(crate) fn from_external_claims(
        claims: crate::jwt::oidc::ExternalClaims,
        mapped: crate::jwt::oidc::MappedClaims,
        grants: &RolePermissions,
        method: AuthMethod,
        local: Option<String>,
    ) -> Self {
        let issuer = Some(Arc::from(claims.iss.as_str()));
        let (user_id, is_local) = match local {
            Some(user) => (user, true),
            None => (claims.sub.clone(), false),
        };
        let mut claims = claims;
        claims.roles.extend(mapped.roles);
        claims.roles.sort_unstable();
        claims.roles.dedup();
        claims.permissions.extend(mapped.permissions);
        // The provider's session ids are not this app's sessions.
        Self::from_token(
            claims,
            Vec::new(),
            grants,
            method,
            issuer,
            user_id,
            is_local,
            None,
        )
    }

    #[cfg(feature = "jwt")]
    #[allow(clippy::too_many_arguments)]
    fn from_token(
        claims: crate::jwt::Claims<crate::claims::CustomClaims>,
        extra_permissions: Vec<String>,
        grants: &RolePermissions,
        method: AuthMethod,
        issuer: Option<Arc<str>>,
        user_id: String,
        local: bool,
        session_id: Option<SessionId>,
    ) -> Self {
        let at = |secs: i64| {
            OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let mut granted = claims.granted_permissions();
        granted.extend(extra_permissions);
        let permissions = grants.of_roles(&claims.roles, granted);
        let custom =
            (!claims.custom.is_empty()).then(|| Arc::new(serde_json::Value::Object(claims.custom)));
        Self(Arc::new(Inner {
            user_id,
            permissions,
            roles: claims.roles,
            session_id,
            method,
            issuer,
            local,
            created_at: at(claims.iat),
            idle_expires_at: None,
            expires_at: at(claims.exp),
            tokens_not_before: None,
            claims: custom,
        }))
    }

    /// The user's id: a user of this application when
    /// [`is_local`](Self::is_local), otherwise the subject (`sub`) an
    /// external issuer gave, which is only unique together with
    /// [`issuer`](Self::issuer).
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    /// Who vouched for the caller: the issuer (`iss`) of the access token
    /// that authenticated the request (this application's own, or an
    /// external provider's), or the provider a session was signed in
    /// through ([single sign-on](crate::sso)); `None` for other sessions
    /// and custom credentials.
    pub fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }

    /// Whether [`user_id`](Self::user_id) names a user of this application:
    /// `false` only for an external issuer's subject that the app did not
    /// map to a local user
    /// ([`ExternalIssuerBuilder::with_local_users`](crate::jwt::oidc::ExternalIssuerBuilder::with_local_users)).
    /// Such an identity never matches a local user of the same name, and
    /// the calls that manage a user's sessions refuse it
    /// ([`Error::NotLocalUser`](crate::Error::NotLocalUser)).
    pub fn is_local(&self) -> bool {
        self.0.local
    }

    /// The user's roles.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// The user's permissions, sorted: those of its roles (from
    /// [`RolePermissions`]) and, for access tokens, those of the token's
    /// `scope` and `permissions` claims.
    pub fn permissions(&self) -> &[String] {
        &self.0.permissions
    }

    /// Whether the user has `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.0
            .permissions
            .binary_search_by(|p| p.as_str().cmp(permission))
            .is_ok()
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

    /// The custom claims: the application's own, given at login (see
    /// [`claims`](crate::claims)), or those of an external provider's
    /// token beyond the registered ones. `None` when there are none.
    pub fn claims(&self) -> Option<&crate::claims::CustomClaims> {
        self.0
            .claims
            .as_deref()
            .and_then(serde_json::Value::as_object)
    }

    /// The custom claims as `C`: what the adapters' `Claims<C>` extractor
    /// gives handlers. With no claims, `C` is read from an empty object,
    /// so optional fields are `None`.
    ///
    /// ```
    /// use auth_core::{AuthMethod, Identity};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Tenant {
    ///     tenant: String,
    /// }
    ///
    /// let caller = Identity::new("alice", AuthMethod::Custom("api_key"))
    ///     .with_claims(&serde_json::json!({"tenant": "acme"}))?;
    /// assert_eq!(caller.custom_claims::<Tenant>()?.tenant, "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn custom_claims<C: serde::de::DeserializeOwned>(&self) -> Result<C, serde_json::Error> {
        match self.0.claims.as_deref() {
            Some(claims) => C::deserialize(claims),
            None => C::deserialize(serde_json::Value::Object(serde_json::Map::new())),
        }
    }

    /// The session's cut-off for access tokens, which tokens made for it
    /// must be stamped past.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn tokens_not_before(&self) -> Option<OffsetDateTime> {
        self.0.tokens_not_before
    }
}

/// Who the owner name of a session (or the subject of a token made from
/// one) is: the user id shown, the provider that vouched for it, and
/// whether it is a user of this application.
fn owned_by(owner: &str) -> (String, Option<Arc<str>>, bool) {
    match crate::owner::parse_external(owner) {
        Some((issuer, subject)) => (subject.to_owned(), Some(Arc::from(issuer)), false),
        None => (owner.to_owned(), None, true),
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("user_id", &self.0.user_id)
            .field("roles", &self.0.roles)
            .field("permissions", &self.0.permissions)
            .field("session_id", &self.0.session_id)
            .field("method", &self.0.method)
            .field("issuer", &self.0.issuer)
            .field("local", &self.0.local)
            .field("expires_at", &self.0.expires_at)
            // Claims may hold personal data: their names only.
            .field(
                "claims",
                &self.claims().map(|c| c.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// Which permissions each role grants: the app's mapping, applied to every
/// identity ([`AuthenticatorBuilder::with_role_permissions`](crate::AuthenticatorBuilder::with_role_permissions)).
///
/// ```
/// use auth_core::RolePermissions;
///
/// let grants = RolePermissions::new()
///     .grant("editor", ["posts:read", "posts:write"])
///     .grant("viewer", ["posts:read"]);
/// assert_eq!(grants.permissions_of(["viewer"]), ["posts:read"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct RolePermissions {
    grants: std::collections::HashMap<String, Vec<String>>,
}

impl RolePermissions {
    /// No role grants anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// `role` grants `permissions` (added to what it granted before).
    pub fn grant<I, P>(mut self, role: impl Into<String>, permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.grants
            .entry(role.into())
            .or_default()
            .extend(permissions.into_iter().map(Into::into));
        self
    }

    /// Whether no role grants anything.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The permissions `roles` grant, sorted and without repeats.
    pub fn permissions_of<I, R>(&self, roles: I) -> Vec<String>
    where
        I: IntoIterator<Item = R>,
        R: AsRef<str>,
    {
        let roles: Vec<String> = roles.into_iter().map(|r| r.as_ref().to_owned()).collect();
        self.of_roles(&roles, Vec::new())
    }

    /// `extra` plus what `roles` grant, sorted and without repeats. No
    /// allocation when there is nothing to grant.
    pub(crate) fn of_roles(&self, roles: &[String], mut extra: Vec<String>) -> Vec<String> {
        if !self.grants.is_empty() {
            for role in roles {
                if let Some(granted) = self.grants.get(role) {
                    extra.extend(granted.iter().cloned());
                }
            }
        }
        if extra.len() > 1 {
            extra.sort_unstable();
            extra.dedup();
        }
        extra
    }
}
