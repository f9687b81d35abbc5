//! Configuration errors.

/// A configuration that cannot work, refused when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The idle timeout is zero.
    #[error("the idle timeout must be positive")]
    IdleTimeout,
    /// The absolute timeout is zero or shorter than the idle timeout.
    #[error("the absolute timeout must be positive and at least the idle timeout")]
    AbsoluteTimeout,
    /// The refresh threshold is not a share between 0 and 1.
    #[error("the refresh threshold must be between 0.0 and 1.0")]
    RefreshThreshold,
    /// The cookie name is empty or not an HTTP token.
    #[error("the cookie name must be a non-empty HTTP token")]
    CookieName,
    /// The cookie path does not start with `/` or has forbidden characters.
    #[error("the cookie path must start with '/' and hold no ';' or ','")]
    CookiePath,
    /// The cookie domain is empty or has forbidden characters.
    #[error("the cookie domain must be non-empty and hold no ';' or ','")]
    CookieDomain,
    /// `SameSite=None` needs `Secure`; browsers drop such a cookie otherwise.
    #[error("SameSite=None requires Secure")]
    SameSiteNoneWithoutSecure,
    /// The realm for `WWW-Authenticate` has a quote, backslash or control
    /// character.
    #[error("the realm may not contain quotes, backslashes or control characters")]
    Realm,
    /// A custom authenticator's header name is invalid or taken.
    #[error(
        "custom authenticators need distinct lowercase header names other than authorization and cookie, not {0:?}"
    )]
    CustomHeader(String),
    /// An access-token cookie without access tokens.
    #[error("the access-token cookie needs access tokens")]
    AccessCookieWithoutTokens,
    /// The store should deliver revocation announcements between instances
    /// but cannot start (no async runtime, no address to subscribe to).
    #[error("revocation announcements cannot start: {0}")]
    Announcements(String),
    /// Access tokens are accepted but the store cannot deliver revocations
    /// to other instances, which would go on accepting the tokens of a
    /// session ended here. Use a store that announces, or declare the app
    /// the store's only instance
    /// ([`with_single_instance`](crate::AuthenticatorBuilder::with_single_instance)).
    #[error(
        "the store cannot tell other instances about revoked tokens; use a store that announces revocations, or with_single_instance() if this is the only instance"
    )]
    RevocationsNotShared,
    /// The login URL is neither a path of this origin nor an absolute
    /// `http(s)` URL, or the parameter name is not URL-safe.
    #[error(
        "the login URL must be a path (/login) or an http(s) URL, and its parameter URL-safe, not {0:?}"
    )]
    LoginUrl(String),
}
