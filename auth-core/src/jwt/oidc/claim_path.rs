//! Roles and permissions where a provider puts them: Keycloak's
//! `realm_access.roles` and `resource_access.<client>.roles`, Auth0's
//! namespaced claims (`https://example.com/roles`), or a plain `roles`.

use serde_json::Value;

use super::ExternalClaims;

/// A path to a claim: names separated by dots, each one a level of nested
/// objects (`realm_access.roles`). A name may itself contain dots (Auth0's
/// `https://example.com/roles`): the longest name present at each level
/// is taken first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(String);

impl ClaimPath {
    /// The path `path`; `None` if it is empty or has an empty name.
    pub fn new(path: &str) -> Option<Self> {
        let valid = !path.is_empty() && !path.starts_with('.') && !path.ends_with('.');
        valid.then(|| Self(path.to_owned()))
    }

    /// The path as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The strings at this path in `claims`: each string of an array, or
    /// the space-separated words of a string. Nothing when the path leads
    /// nowhere or to another kind of value.
    pub fn strings(&self, claims: &ExternalClaims) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(value) = find(&claims.custom, &self.0) {
            match value {
                Value::Array(items) => {
                    out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                Value::String(words) => {
                    out.extend(words.split_ascii_whitespace().map(str::to_owned));
                }
                _ => {}
            }
        }
        out
    }
}

/// The value at `path` under `map`, trying the longest name first.
fn find<'a>(map: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = map.get(path) {
        return Some(value);
    }
    path.char_indices()
        .rev()
        .filter(|&(_, c)| c == '.')
        .find_map(|(at, _)| match map.get(&path[..at]) {
            Some(Value::Object(inner)) => find(inner, &path[at + 1..]),
            _ => None,
        })
}

/// The roles and permissions an issuer's claim paths found in a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappedClaims {
    /// Roles, beside those of the `roles` claim.
    pub roles: Vec<String>,
    /// Permissions, beside those of `scope` and `permissions`.
    pub permissions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(custom: Value) -> ExternalClaims {
        let mut claims: ExternalClaims = serde_json::from_value(serde_json::json!({
            "iss": "https://id.example", "sub": "s", "exp": 1, "iat": 0
        }))
        .unwrap();
        claims.custom = custom.as_object().unwrap().clone();
        claims
    }

    #[test]
    fn paths_reach_keycloak_and_auth0_claims() {
        let token = claims(serde_json::json!({
            "realm_access": {"roles": ["admin", "user"]},
            "resource_access": {"my-api": {"roles": ["reports:write"]}},
            "https://example.com/roles": ["editor"],
            "https://example.com/app": {"tier": "gold silver"},
            "plain": 3,
        }));
        let at = |p: &str| ClaimPath::new(p).unwrap().strings(&token);
        assert_eq!(at("realm_access.roles"), ["admin", "user"]);
        assert_eq!(at("resource_access.my-api.roles"), ["reports:write"]);
        assert_eq!(at("https://example.com/roles"), ["editor"]);
        assert_eq!(at("https://example.com/app.tier"), ["gold", "silver"]);
        assert!(at("realm_access.missing").is_empty());
        assert!(at("plain").is_empty());
        assert!(at("plain.deeper").is_empty());
        assert!(ClaimPath::new("").is_none());
        assert!(ClaimPath::new("a.").is_none());
    }
}
