//! What a session signed in through the provider remembers of it, in its
//! data: written by the login's callback, read by the account links, the
//! RP-initiated logout and the back-channel logout.

use serde::{Deserialize, Serialize};

/// The key of a session's [`SignIn`] in its data.
pub(super) const SIGN_IN_KEY: &str = "auth.sso";

/// The issuer, subject, provider session and ID token of a session signed
/// in through the provider.
#[derive(Serialize, Deserialize)]
pub(super) struct SignIn {
    pub(super) issuer: String,
    pub(super) subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sid: Option<String>,
    /// For `id_token_hint` at an RP-initiated logout.
    pub(super) id_token: String,
}
