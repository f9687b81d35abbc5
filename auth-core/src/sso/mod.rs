//! Signing in through an OpenID provider (Keycloak, Auth0, Google, any
//! OpenID Connect issuer) into a session of this application: the
//! authorization code flow with PKCE, back-channel logout, and
//! RP-initiated logout. Feature `oidc`.
//!
//! # The flow
//! 1. `GET /login/sso`: [`AuthHandle::start_sso`](crate::AuthHandle::start_sso)
//!    keeps a new attempt (`state`, `nonce`, PKCE verifier, the page to
//!    return to) in this browser's session (an anonymous visitor's session
//!    is started for it) and gives the provider's authorization URL:
//!    answer 303 to it.
//! 2. The provider signs the user in and sends the browser back to the
//!    client's redirect URL with `code` and `state`.
//! 3. `GET /login/sso/callback`: [`AuthHandle::complete_sso`](crate::AuthHandle::complete_sso)
//!    takes the attempt with that `state` out of the session (once: of
//!    two callbacks with it, one fails; an attempt from another browser is
//!    not found), exchanges the code at the token endpoint with the
//!    verifier, verifies the ID token with the provider's keys (fetched
//!    and refreshed as for [`ExternalIssuer`](crate::jwt::oidc::ExternalIssuer)),
//!    its `iss`, `aud` (the client id), `azp`, times and `nonce`, and logs
//!    the session in: answer 303 to [`SsoLogin::next`].
//!
//! Every failure ends the attempt and logs no one in, with a
//! [`SsoLoginError`] that says why (and its HTTP status).
//!
//! # Whose session
//! The provider's subject `alice` is not the application's user `alice`:
//! unless the client maps the provider's users to local ones
//! ([`SsoClientBuilder::with_local_users`]), the session belongs to the
//! provider's subject, namespaced by its issuer. Its
//! [`Identity`](crate::Identity) gives the subject as
//! [`user_id`](crate::Identity::user_id), the provider as
//! [`issuer`](crate::Identity::issuer), and is not
//! [local](crate::Identity::is_local). Roles come from the ID token's
//! `roles` claim and the client's [claim paths](SsoClientBuilder::with_roles_claim).
//!
//! # Logging out
//! - The provider's back-channel logout (a `logout_token` posted to the
//!   application) is handled by
//!   [`Authenticator::backchannel_logout`](crate::Authenticator::backchannel_logout):
//!   the sessions signed in during that provider session (`sid`), or as
//!   that subject, end on every instance. Each session is filed under both
//!   when it is signed in ([`SessionKind::Link`](crate::SessionKind::Link)
//!   records, kept by every store).
//! - An application that wants the provider's session to end too sends
//!   the browser to [`AuthHandle::sso_logout_url`](crate::AuthHandle::sso_logout_url)
//!   after its own logout.
//!
//! # Cookies
//! The callback is a top-level navigation from the provider's site: the
//! session cookie must be `SameSite=Lax` (the default) or `None`, never
//! `Strict`, or the attempt is not found.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use auth_core::sso::SsoClient;
//! use auth_core::MemoryStore;
//!
//! let store = Arc::new(MemoryStore::new());
//! let sso = SsoClient::builder(
//!     "https://sso.example/realms/main",
//!     "my-app",
//!     "https://app.example/login/sso/callback",
//! )
//! .with_client_secret("from the provider's console")
//! .with_roles_claim("realm_access.roles")?
//! .with_backchannel_logout(store.clone())
//! .build()?;
//! # let _ = sso; Ok(()) }
//! ```

mod backchannel;
mod client;
mod exchange;
mod id_token;
mod links;
mod login;
mod logout;
mod secrets;
mod sign_in;

pub use backchannel::{BackchannelError, MAX_LOGOUT_TOKEN_AGE};
pub use client::{ClientAuth, DEFAULT_ATTEMPT_TTL, SsoClient, SsoClientBuilder};
pub use id_token::IdTokenError;
pub use login::{SsoLogin, SsoLoginError};
