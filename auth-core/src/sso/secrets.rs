//! The one-time secrets of a login attempt: `state`, `nonce` and the PKCE
//! verifier (RFC 7636), made from the system's random source and compared
//! in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::token::{RandomError, Verifier};

/// 32 random bytes as base64url: 43 characters, which is also a valid
/// PKCE verifier (43 to 128 unreserved characters).
pub(super) fn random_secret() -> Result<String, RandomError> {
    let bytes = crate::token::random_bytes::<32>()?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 code challenge of `verifier`: base64url(SHA-256(verifier)).
pub(super) fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether two secrets are equal, in time that depends on neither: their
/// digests are compared word by word without an early exit.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    let digest = |s: &str| Verifier::from_bytes(Sha256::digest(s.as_bytes()).into());
    digest(a).ct_eq(&digest(b))
}

/// A name for `secret` that does not reveal it: the key of an attempt in
/// the session's data, the key of a logout token's `jti` among counters.
pub(super) fn fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_that_of_rfc_7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_long_random_and_compared_whole() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, &a[..42]));
        assert_ne!(fingerprint(&["x", "y"]), fingerprint(&["xy"]));
    }
}
