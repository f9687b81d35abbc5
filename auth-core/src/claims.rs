//! The application's own claims about a user (a tenant, a plan, an
//! email): given at login ([`Login::with_claims`](crate::Login::with_claims)),
//! kept with the session or refresh family, put into every access token
//! and gateway token minted for it, and read by handlers from the
//! [`Identity`](crate::Identity) ([`custom_claims`](crate::Identity::custom_claims)),
//! whether a session or a token authenticated the request. The custom
//! claims of an external provider's token (Keycloak's `realm_access`,
//! `email`) reach handlers the same way.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::record::SessionData;

/// The application's claims: a JSON object.
pub type CustomClaims = serde_json::Map<String, Value>;

/// The session data key the claims are kept under.
pub(crate) const CLAIMS_KEY: &str = "auth.claims";

/// Claims the library sets itself (or that would make a token look like
/// an ID token); custom claims may not use them.
pub const REGISTERED_CLAIMS: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sid",
    "roles",
    "scope",
    "permissions",
    "typ",
    "nonce",
    "at_hash",
];

/// `claims` as custom claims: a JSON object without registered names.
pub(crate) fn to_custom_claims<C: Serialize>(claims: &C) -> Result<CustomClaims, Error> {
    let refuse = |why: String| Error::Data(<serde_json::Error as serde::ser::Error>::custom(why));
    match serde_json::to_value(claims).map_err(Error::Data)? {
        Value::Object(map) => {
            if let Some(name) = map.keys().find(|k| REGISTERED_CLAIMS.contains(&k.as_str())) {
                return Err(refuse(format!(
                    "the claim {name:?} is the library's; choose another name"
                )));
            }
            Ok(map)
        }
        _ => Err(refuse(
            "custom claims must serialize to a JSON object".into(),
        )),
    }
}

/// The custom claims kept in a session's data, if any.
pub(crate) fn of_session(data: &SessionData) -> Option<&CustomClaims> {
    data.get_value(CLAIMS_KEY).and_then(Value::as_object)
}

/// What a minted token carries beside its registered claims.
#[cfg(feature = "jwt")]
pub(crate) fn for_token(claims: Option<&CustomClaims>) -> &CustomClaims {
    static NONE: std::sync::OnceLock<CustomClaims> = std::sync::OnceLock::new();
    claims.unwrap_or_else(|| NONE.get_or_init(CustomClaims::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_claims_are_objects_without_registered_names() {
        let ok = to_custom_claims(&serde_json::json!({"tenant": "acme"})).unwrap();
        assert_eq!(ok["tenant"], "acme");
        assert!(to_custom_claims(&serde_json::json!({"sub": "admin"})).is_err());
        assert!(to_custom_claims(&serde_json::json!({"roles": ["admin"]})).is_err());
        assert!(to_custom_claims(&"just a string").is_err());
    }
}
