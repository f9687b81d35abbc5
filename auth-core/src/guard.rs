//! What a guard demands of the caller, checked the same way in every adapter.

use std::sync::Arc;

use crate::authenticator::Denial;
use crate::identity::Identity;

/// A demand on the caller: logged in, or logged in with a role.
///
/// ```
/// use auth_core::{Denial, Requirement};
///
/// assert_eq!(Requirement::Login.check(None), Err(Denial::Unauthenticated));
/// assert_eq!(Requirement::role("admin").check(None), Err(Denial::Unauthenticated));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// Any authenticated caller.
    Login,
    /// An authenticated caller with this role.
    Role(Arc<str>),
}

impl Requirement {
    /// Requires `role`.
    pub fn role(role: impl Into<Arc<str>>) -> Self {
        Self::Role(role.into())
    }

    /// Checks the caller: anonymous is [`Denial::Unauthenticated`] (401), a
    /// missing role [`Denial::Forbidden`] (403, logged).
    pub fn check(&self, identity: Option<&Identity>) -> Result<(), Denial> {
        let Some(identity) = identity else {
            return Err(Denial::Unauthenticated);
        };
        match self {
            Self::Login => Ok(()),
            Self::Role(role) if identity.has_role(role) => Ok(()),
            Self::Role(role) => {
                tracing::info!(user = identity.user_id(), role = &**role, "missing role");
                Err(Denial::Forbidden)
            }
        }
    }
}
