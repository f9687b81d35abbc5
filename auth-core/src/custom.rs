//! The application's own credentials, beside the session cookie and access
//! tokens: API keys, signed service headers, anything that arrives in a
//! request header and resolves to an [`Identity`].
//!
//! Register implementations with
//! [`AuthenticatorBuilder::with_authenticator`](crate::AuthenticatorBuilder::with_authenticator).
//! Each request is answered by the **first credential it presents**, in
//! this order: the custom authenticators in the order they were added,
//! then `Authorization: Bearer`, then the access-token cookie, then the
//! session cookie. A presented credential decides: when it is invalid the
//! request is anonymous (401), it never falls through to the next one.
//! When the authenticator's backing store fails the request gets 503,
//! never 401.
//!
//! [`ApiKeys`] is a ready implementation. A custom one:
//!
//! ```
//! use auth_core::custom::CustomAuthenticator;
//! use auth_core::{AuthMethod, Identity, StoreError};
//!
//! /// Accepts `X-Robot: <name>` from the robots the app knows.
//! #[derive(Debug)]
//! struct Robots;
//!
//! #[async_trait::async_trait]
//! impl CustomAuthenticator for Robots {
//!     fn name(&self) -> &'static str {
//!         "robot"
//!     }
//!
//!     fn header(&self) -> &'static str {
//!         "x-robot"
//!     }
//!
//!     async fn authenticate(&self, credential: &str) -> Result<Option<Identity>, StoreError> {
//!         // Look the credential up (comparing secrets in constant time);
//!         // `Ok(None)` refuses it, `Err` is a 503.
//!         Ok((credential == "r2d2").then(|| Identity::new("r2d2", AuthMethod::Custom("robot"))))
//!     }
//! }
//!
//! let auth = auth_core::Authenticator::builder(auth_core::MemoryStore::new())
//!     .with_authenticator(Robots)
//!     .build()?;
//! // Answers that depend on the caller vary on the robots' header too.
//! let exchange = auth_core::adapter::Exchange::new(auth);
//! assert_eq!(exchange.vary(), "Cookie, Authorization, x-robot");
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::identity::{AuthMethod, Identity};
use crate::store::StoreError;

/// Most bytes of a custom credential header that are accepted.
pub const MAX_CUSTOM_CREDENTIAL_BYTES: usize = 4 * 1024;

/// A way to authenticate requests by a header: see the [module docs](self).
#[async_trait::async_trait]
pub trait CustomAuthenticator: fmt::Debug + Send + Sync + 'static {
    /// A short, stable name for logs, metrics and
    /// [`AuthMethod::Custom`]: `"api_key"`.
    fn name(&self) -> &'static str;

    /// The request header that carries the credential, lowercase:
    /// `"x-api-key"`. A request with this header is decided by this
    /// authenticator alone.
    fn header(&self) -> &'static str;

    /// Checks a presented credential (visible ASCII, at most
    /// [`MAX_CUSTOM_CREDENTIAL_BYTES`]; anything else, or the header sent
    /// twice, is refused before this is called). `Ok(Some(identity))`
    /// authenticates, `Ok(None)` refuses (401), `Err` means the credential
    /// could not be checked (503). Never log the credential.
    async fn authenticate(&self, credential: &str) -> Result<Option<Identity>, StoreError>;
}

/// What the request presented for one custom authenticator.
pub(crate) enum Presented {
    Value(String),
    Malformed,
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Value(_) => "Value(REDACTED)",
            Self::Malformed => "Malformed",
        })
    }
}

impl Presented {
    /// The header's values as one credential: exactly one value of visible
    /// ASCII within the size limit, or malformed. `None` when absent.
    pub(crate) fn from_values<'a, I>(values: I) -> Option<Self>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut values = values.into_iter();
        let first = values.next()?;
        if values.next().is_some() {
            return Some(Self::Malformed);
        }
        let value = first.trim_ascii();
        if value.is_empty()
            || value.len() > MAX_CUSTOM_CREDENTIAL_BYTES
            || !value.iter().all(u8::is_ascii_graphic)
        {
            return Some(Self::Malformed);
        }
        // Visible ASCII, checked above.
        Some(Self::Value(String::from_utf8_lossy(value).into_owned()))
    }
}

/// Whether `name` is a valid lowercase header name.
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| crate::cookie::is_token_char(b) && !b.is_ascii_uppercase())
}

/// API keys in a header (default `x-api-key`), each standing for a fixed
/// caller. Keys are kept only as SHA-256 digests, so the table holds no
/// usable secret and lookups take the same time whatever the key's
/// prefix; a key should be long and random ([`ApiKeys::generate_key`]).
///
/// ```
/// use auth_core::custom::ApiKeys;
///
/// let key = ApiKeys::generate_key()?;
/// let keys = ApiKeys::new().with_key(&key, "build-bot", ["ci"], ["artifacts:write"]);
/// assert!(format!("{keys:?}").contains("build-bot"));
/// assert!(!format!("{keys:?}").contains(&key));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct ApiKeys {
    header: &'static str,
    keys: HashMap<[u8; 32], Arc<Caller>>,
}

#[derive(Debug)]
struct Caller {
    user_id: String,
    roles: Vec<String>,
    permissions: Vec<String>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut callers: Vec<_> = self.keys.values().map(|c| c.user_id.as_str()).collect();
        callers.sort_unstable();
        f.debug_struct("ApiKeys")
            .field("header", &self.header)
            .field("callers", &callers)
            .finish()
    }
}

impl Default for ApiKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiKeys {
    /// No keys yet, read from `X-API-Key`.
    pub fn new() -> Self {
        Self {
            header: "x-api-key",
            keys: HashMap::new(),
        }
    }

    /// Reads keys from another header (lowercase).
    pub fn with_header(mut self, header: &'static str) -> Self {
        self.header = header;
        self
    }

    /// Accepts `key` for `user_id` with `roles` and `permissions`.
    pub fn with_key<R, P>(
        mut self,
        key: &str,
        user_id: impl Into<String>,
        roles: impl IntoIterator<Item = R>,
        permissions: impl IntoIterator<Item = P>,
    ) -> Self
    where
        R: Into<String>,
        P: Into<String>,
    {
        let caller = Caller {
            user_id: user_id.into(),
            roles: roles.into_iter().map(Into::into).collect(),
            permissions: permissions.into_iter().map(Into::into).collect(),
        };
        self.keys.insert(digest(key), Arc::new(caller));
        self
    }

    /// A new random key: 32 bytes from the OS, base64url (43 characters).
    /// Fails only when the OS has no randomness to give.
    pub fn generate_key() -> std::io::Result<String> {
        use base64::Engine as _;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[async_trait::async_trait]
impl CustomAuthenticator for ApiKeys {
    fn name(&self) -> &'static str {
        "api_key"
    }

    fn header(&self) -> &'static str {
        self.header
    }

    async fn authenticate(&self, credential: &str) -> Result<Option<Identity>, StoreError> {
        Ok(self.keys.get(&digest(credential)).map(|caller| {
            Identity::new(caller.user_id.clone(), AuthMethod::Custom("api_key"))
                .with_roles(caller.roles.iter().cloned())
                .with_permissions(caller.permissions.iter().cloned())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_values_are_checked() {
        let one: [&[u8]; 1] = [b" abc "];
        assert!(matches!(Presented::from_values(one), Some(Presented::Value(v)) if v == "abc"));
        let none: [&[u8]; 0] = [];
        assert!(Presented::from_values(none).is_none());
        for bad in [
            &b""[..],
            b"a b",
            b"\xff",
            &[b'a'; MAX_CUSTOM_CREDENTIAL_BYTES + 1],
        ] {
            assert!(matches!(
                Presented::from_values([bad]),
                Some(Presented::Malformed)
            ));
        }
        let two: [&[u8]; 2] = [b"a", b"a"];
        assert!(matches!(
            Presented::from_values(two),
            Some(Presented::Malformed)
        ));
    }

    #[derive(Debug)]
    struct Broken;

    #[async_trait::async_trait]
    impl CustomAuthenticator for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn header(&self) -> &'static str {
            "x-broken"
        }
        async fn authenticate(&self, _: &str) -> Result<Option<Identity>, StoreError> {
            Err(StoreError::Unavailable("key service down".into()))
        }
    }

    #[tokio::test]
    async fn authenticators_run_in_order_and_failures_are_errors() {
        use crate::{Authenticator, Error, MemoryStore, Rejection, RolePermissions};
        let key = ApiKeys::generate_key().unwrap();
        let auth = Authenticator::builder(MemoryStore::new())
            .with_authenticator(ApiKeys::new().with_key(&key, "bot", ["ci"], ["a"]))
            .with_authenticator(Broken)
            .with_role_permissions(RolePermissions::new().grant("ci", ["b"]))
            .build()
            .unwrap();
        // Answers vary on every header a credential is read from.
        let exchange = crate::adapter::Exchange::new(auth.clone());
        assert_eq!(
            exchange.vary(),
            "Cookie, Authorization, x-api-key, x-broken"
        );
        let request = |api: Option<&str>, broken: Option<&str>| {
            auth.credentials([], None, None)
                .with_header("x-api-key", api.map(str::as_bytes))
                .with_header("x-broken", broken.map(str::as_bytes))
        };
        // The first presented credential decides, even when the next fails.
        let handle = auth
            .authenticate(request(Some(&key), Some("x")))
            .await
            .unwrap();
        let identity = handle.identity().unwrap();
        assert_eq!(identity.permissions(), ["a", "b"], "role grants are added");
        let handle = auth
            .authenticate(request(Some("bad"), Some("x")))
            .await
            .unwrap();
        assert!(handle.identity().is_none());
        assert_eq!(
            handle.rejection(),
            Some(Rejection::InvalidCredential {
                authenticator: "api_key"
            })
        );
        // A failing check is an error (503), never anonymous.
        let err = auth
            .authenticate(request(None, Some("x")))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Store(_)), "{err:?}");
        assert_eq!(err.status(), 503);
        // Nothing presented: anonymous, without a rejection.
        let handle = auth.authenticate(request(None, None)).await.unwrap();
        assert_eq!((handle.identity(), handle.rejection()), (None, None));
    }

    #[test]
    fn header_names_are_checked() {
        use crate::{Authenticator, ConfigError, MemoryStore};
        for header in ["X-Api-Key", "authorization", "cookie", "", "a b"] {
            let result = Authenticator::builder(MemoryStore::new())
                .with_authenticator(ApiKeys::new().with_header(header))
                .build();
            assert!(
                matches!(result, Err(ConfigError::CustomHeader(_))),
                "{header}"
            );
        }
        let twice = Authenticator::builder(MemoryStore::new())
            .with_authenticator(ApiKeys::new())
            .with_authenticator(ApiKeys::new())
            .build();
        assert!(matches!(twice, Err(ConfigError::CustomHeader(_))));
    }

    #[tokio::test]
    async fn api_keys_resolve_to_their_caller() {
        let key = ApiKeys::generate_key().unwrap();
        assert_eq!(key.len(), 43);
        let keys = ApiKeys::new().with_key(&key, "bot", ["ci"], ["deploy"]);
        let identity = keys.authenticate(&key).await.unwrap().unwrap();
        assert_eq!(identity.user_id(), "bot");
        assert!(identity.has_role("ci"));
        assert!(identity.has_permission("deploy"));
        assert_eq!(identity.method(), AuthMethod::Custom("api_key"));
        assert!(keys.authenticate("wrong").await.unwrap().is_none());
        assert!(keys.authenticate(&key[1..]).await.unwrap().is_none());
    }
}
