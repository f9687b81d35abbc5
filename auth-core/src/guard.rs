//! What a guard demands of the caller, checked the same way in every adapter.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::identity::Identity;
use crate::refusal::Refusal;

/// A demand on the caller: logged in, with a role, with a permission, or
/// logged in recently.
///
/// ```
/// use auth_core::{Refusal, Requirement};
///
/// assert_eq!(Requirement::Login.check(None), Err(Refusal::Unauthenticated));
/// assert_eq!(Requirement::role("admin").check(None), Err(Refusal::Unauthenticated));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// Any authenticated caller.
    Login,
    /// An authenticated caller with this role.
    Role(Arc<str>),
    /// An authenticated caller with this permission; otherwise
    /// [`Refusal::InsufficientScope`] (403) naming it.
    Permission(Arc<str>),
    /// A caller whose session began with a login (not a refresh) at most
    /// this long ago: for sensitive operations. Bearer callers never
    /// qualify (a token says when it was issued, not when its user typed a
    /// password). Otherwise [`Refusal::StaleLogin`]: 401, so the app can ask
    /// for the password again.
    FreshLogin(std::time::Duration),
}

impl Requirement {
    /// Requires `role`.
    pub fn role(role: impl Into<Arc<str>>) -> Self {
        Self::Role(role.into())
    }

    /// Requires `permission`.
    pub fn permission(permission: impl Into<Arc<str>>) -> Self {
        Self::Permission(permission.into())
    }

    /// Requires a login within `within`.
    pub fn fresh_login(within: std::time::Duration) -> Self {
        Self::FreshLogin(within)
    }

    /// Checks the caller: anonymous is [`Refusal::Unauthenticated`] (401), a
    /// missing role [`Refusal::Forbidden`] (403, logged). A fresh login is
    /// judged by the system clock; [`AuthHandle::require`](crate::AuthHandle::require)
    /// (what the adapters call) uses the authenticator's clock instead.
    pub fn check(&self, identity: Option<&Identity>) -> Result<(), Refusal> {
        self.check_at(identity, OffsetDateTime::now_utc())
    }

    /// [`check`](Self::check) at time `now`.
    pub fn check_at(
        &self,
        identity: Option<&Identity>,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let Some(identity) = identity else {
            return Err(Refusal::Unauthenticated);
        };
        match self {
            Self::Login => Ok(()),
            Self::FreshLogin(within) => {
                let fresh = identity.method() == crate::identity::AuthMethod::Session
                    && now >= identity.created_at()
                    && now - identity.created_at() <= *within;
                if fresh {
                    Ok(())
                } else {
                    tracing::info!(user = %identity.user_id().escape_debug(), "login not fresh enough");
                    Err(Refusal::StaleLogin)
                }
            }
            Self::Role(role) if identity.has_role(role) => Ok(()),
            Self::Role(role) => {
                tracing::info!(
                    user = %identity.user_id().escape_debug(),
                    role = %role.escape_debug(),
                    "missing role"
                );
                Err(Refusal::Forbidden)
            }
            Self::Permission(permission) if identity.has_permission(permission) => Ok(()),
            Self::Permission(permission) => {
                tracing::info!(
                    user = %identity.user_id().escape_debug(),
                    permission = %permission.escape_debug(),
                    "missing permission"
                );
                Err(Refusal::InsufficientScope {
                    missing: permission.clone(),
                })
            }
        }
    }
}

/// A permission named in a type, for extractors that demand it
/// (`Permitted<P>` in the adapters).
///
/// ```
/// use auth_core::{AuthMethod, Identity, Permission, Requirement};
///
/// struct WriteReports;
/// impl Permission for WriteReports {
///     const NAME: &'static str = "reports:write";
/// }
///
/// let user = Identity::new("alice", AuthMethod::Session).with_permissions(["reports:read"]);
/// let missing = WriteReports::requirement().check(Some(&user)).unwrap_err();
/// assert_eq!(missing, auth_core::Refusal::InsufficientScope { missing: "reports:write".into() });
/// ```
pub trait Permission: Send + Sync + 'static {
    /// The permission's name.
    const NAME: &'static str;

    /// The requirement of this permission.
    fn requirement() -> Requirement {
        Requirement::permission(Self::NAME)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Authenticator, Login, ManualClock, MemoryStore};

    #[tokio::test]
    async fn fresh_login_counts_from_the_login_not_the_refresh() {
        let clock = ManualClock::starting_now();
        let auth = Authenticator::builder(MemoryStore::with_clock(Arc::new(clock.clone())))
            .with_clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let handle = auth
            .authenticate(auth.credentials([], None, None))
            .await
            .unwrap();
        handle.login(Login::new("alice")).await.unwrap();
        let fresh = Requirement::fresh_login(Duration::from_secs(300));
        assert_eq!(handle.require(&fresh), Ok(()));
        // Without a clock, the system's: the login just happened.
        assert_eq!(fresh.check(handle.identity().as_ref()), Ok(()));
        // Sliding refreshes and rotation keep the login time.
        clock.advance(time::Duration::seconds(200));
        handle.rotate().await.unwrap();
        assert_eq!(handle.require(&fresh), Ok(()));
        clock.advance(time::Duration::seconds(101));
        assert_eq!(handle.require(&fresh), Err(Refusal::StaleLogin));
        assert_eq!(handle.require(&Requirement::Login), Ok(()));
        assert_eq!(auth.render(&Refusal::StaleLogin).status(), 401);
    }
}
