//! The keys every instance of the demo must share to accept each other's
//! credentials: the access-token signing key (`ACCESS_TOKEN_KEY_FILE`), a
//! previous one kept for verification after a rotation
//! (`ACCESS_TOKEN_PREVIOUS_KEY_FILE`), and the refresh-token secret
//! (`REFRESH_KEY`). Without them, each instance generates its own at start.

use auth_core::jwt::{Algorithm, Key};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The shortest `REFRESH_KEY` accepted, in bytes.
pub const MIN_REFRESH_KEY_BYTES: usize = 32;

/// Where the shared keys come from. `Debug` never shows the refresh key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SharedKeys {
    /// `ACCESS_TOKEN_KEY_FILE`: a PEM private key (PKCS#8), P-256 (ES256)
    /// or Ed25519 (EdDSA), that signs access tokens.
    pub access_key_file: Option<String>,
    /// `ACCESS_TOKEN_PREVIOUS_KEY_FILE`: the key before the last rotation,
    /// which only verifies: tokens it signed stay valid until they expire.
    pub previous_key_file: Option<String>,
    /// `REFRESH_KEY`: the secret refresh tokens are derived with, at least
    /// [`MIN_REFRESH_KEY_BYTES`].
    pub refresh_key: Option<String>,
}

impl std::fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeys")
            .field("access_key_file", &self.access_key_file)
            .field("previous_key_file", &self.previous_key_file)
            .field(
                "refresh_key",
                &self.refresh_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The key in the PEM file at `path`, ES256 or EdDSA by its curve, named
/// by its RFC 7638 thumbprint so that every instance loading the same key
/// gives it the same `kid`.
pub fn signing_key(path: &str, variable: &str) -> Result<Key, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{variable} {path:?}: {e}"))?;
    let (alg, key) = [Algorithm::ES256, Algorithm::EdDSA]
        .into_iter()
        .find_map(|alg| {
            Key::from_private_pem("pending", alg, &pem)
                .ok()
                .map(|k| (alg, k))
        })
        .ok_or_else(|| {
            format!("{variable} {path:?}: not a PKCS#8 P-256 or Ed25519 private key in PEM")
        })?;
    let kid = thumbprint(&key).ok_or_else(|| format!("{variable} {path:?}: no public key"))?;
    Key::from_private_pem(kid, alg, &pem).map_err(|e| format!("{variable} {path:?}: {e}"))
}

/// The RFC 7638 thumbprint of `key`'s public JWK: base64url of the SHA-256
/// of its required members in lexicographic order.
pub fn thumbprint(key: &Key) -> Option<String> {
    let jwk = serde_json::to_value(key.public_jwk()?).ok()?;
    let mut members = serde_json::Map::new();
    for name in ["crv", "e", "kty", "n", "x", "y"] {
        if let Some(value) = jwk.get(name) {
            members.insert(name.to_owned(), value.clone());
        }
    }
    // Inserted in lexicographic order, which is the canonical one whether
    // the map sorts its keys or keeps their order.
    let canonical = serde_json::to_string(&members).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(canonical)))
}

/// The refresh secret in `REFRESH_KEY`, if long enough.
pub fn refresh_secret(key: &str) -> Result<&[u8], String> {
    if key.len() < MIN_REFRESH_KEY_BYTES {
        return Err(format!(
            "REFRESH_KEY must be at least {MIN_REFRESH_KEY_BYTES} bytes"
        ));
    }
    Ok(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_that_of_rfc_7638() {
        // RFC 7638, section 3.1.
        let jwks = serde_json::json!({ "keys": [{
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }]});
        let key = Key::from_jwks(&jwks.to_string()).unwrap().remove(0);
        assert_eq!(
            thumbprint(&key).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn a_short_refresh_key_is_refused_and_never_shown() {
        assert!(refresh_secret("too short").is_err());
        let keys = SharedKeys {
            refresh_key: Some("x".repeat(40)),
            ..SharedKeys::default()
        };
        assert!(!format!("{keys:?}").contains("xxxx"));
    }
}
