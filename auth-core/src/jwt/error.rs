//! Why a token is refused, and why access tokens cannot be built.

/// Why a token was refused, or could not be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than the configured limit.
    #[error("token too large")]
    TooLarge,
    /// Not three base64url segments of JSON, or claims of the wrong type.
    #[error("malformed token")]
    Malformed,
    /// `typ` is not `at+jwt`.
    #[error("not an access token")]
    WrongType,
    /// A `crit` header this verifier does not understand.
    #[error("unsupported critical header")]
    Critical,
    /// No configured key has the token's `kid`.
    #[error("unknown key")]
    UnknownKey,
    /// The header's `alg` is not the key's algorithm.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` lacks the configured audience.
    #[error("wrong audience")]
    Audience,
    /// The token's session was revoked, or its user logged out everywhere
    /// after it was issued.
    #[error("token revoked")]
    Revoked,
    /// No signing key is configured (issuing only).
    #[error("no signing key")]
    NoSigningKey,
    /// Signing failed (issuing only).
    #[error("signing failed")]
    Signing,
}

impl JwtError {
    /// A short, stable reason for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::WrongType => "wrong_type",
            Self::Critical => "critical_header",
            Self::UnknownKey => "unknown_key",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Revoked => "revoked",
            Self::NoSigningKey => "no_signing_key",
            Self::Signing => "signing",
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The issuer is empty.
    #[error("the issuer must not be empty")]
    EmptyIssuer,
    /// The audience is empty.
    #[error("the audience must not be empty")]
    EmptyAudience,
    /// No key at all.
    #[error("at least one key is needed")]
    NoKeys,
    /// Two keys share a `kid`.
    #[error("two keys share the kid {0:?}")]
    DuplicateKid(String),
    /// The signing key cannot sign (it has no private half).
    #[error("the signing key has no private half")]
    NotASigningKey,
    /// The lifetime is zero or the leeway is not shorter than it.
    #[error("the lifetime must be positive and longer than the leeway")]
    Lifetime,
}
