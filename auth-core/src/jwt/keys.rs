//! Signing and verification keys, each bound to one algorithm and one `kid`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{DecodingKey, EncodingKey};

/// The algorithms a key can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The name in a JWT header (`"ES256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::HS256 => A::HS256,
            Self::HS384 => A::HS384,
            Self::HS512 => A::HS512,
            Self::RS256 => A::RS256,
            Self::PS256 => A::PS256,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }

    fn from_key_algorithm(alg: KeyAlgorithm) -> Option<Self> {
        Some(match alg {
            KeyAlgorithm::HS256 => Self::HS256,
            KeyAlgorithm::HS384 => Self::HS384,
            KeyAlgorithm::HS512 => Self::HS512,
            KeyAlgorithm::RS256 => Self::RS256,
            KeyAlgorithm::PS256 => Self::PS256,
            KeyAlgorithm::ES256 => Self::ES256,
            KeyAlgorithm::ES384 => Self::ES384,
            KeyAlgorithm::EdDSA => Self::EdDSA,
            _ => return None,
        })
    }

    fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    fn is_rsa(self) -> bool {
        matches!(self, Self::RS256 | Self::PS256)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret shorter than its hash's output: 32 bytes for HS256,
    /// 48 for HS384, 64 for HS512 (RFC 7518 3.2).
    #[error("HMAC secrets must be at least as long as the hash output (32, 48 or 64 bytes)")]
    WeakSecret,
    /// An RSA key under 2048 bits.
    #[error("RSA keys must be at least 2048 bits")]
    WeakRsa,
    /// The key material does not suit the algorithm.
    #[error("the key does not suit {0}")]
    WrongAlgorithm(Algorithm),
    /// The key id is empty.
    #[error("a key needs a non-empty kid")]
    MissingKid,
    /// A JWK without `alg`, or with one this crate does not verify.
    #[error("the JWK names no supported algorithm")]
    UnsupportedJwk,
    /// The key material could not be parsed.
    #[error("invalid key material: {0}")]
    Invalid(String),
}

/// A key with its `kid` and the one algorithm it is used with. Signing keys
/// hold private material; verification-only keys hold a public key (or an
/// HMAC secret). `Debug` never shows key material.
#[derive(Clone)]
pub struct Key {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) encoding: Option<EncodingKey>,
    pub(crate) decoding: DecodingKey,
    /// The public JWK, for asymmetric keys.
    pub(crate) public_jwk: Option<Jwk>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(e: impl fmt::Display) -> KeyError {
    KeyError::Invalid(e.to_string())
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() {
        Err(KeyError::MissingKid)
    } else {
        Ok(())
    }
}

fn ed25519_jwk(pkcs8: &[u8]) -> Result<Jwk, KeyError> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use jsonwebtoken::jwk::{CommonParameters, OctetKeyPairParameters, OctetKeyPairType};
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(invalid)?;
    Ok(Jwk {
        common: CommonParameters {
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        }),
    })
}

fn rsa_bits(jwk: &Jwk) -> Option<usize> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).ok()?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            Some(significant * 8)
        }
        _ => None,
    }
}

impl Key {
    /// An HMAC key (HS256/384/512) from a secret at least as long as the
    /// hash's output: 32, 48 or 64 bytes.
    pub fn hmac(kid: impl Into<String>, alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        let shortest = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => return Err(KeyError::WrongAlgorithm(alg)),
        };
        if secret.len() < shortest {
            return Err(KeyError::WeakSecret);
        }
        Ok(Self {
            kid,
            alg,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        })
    }

    /// A signing key from a private key in PEM (PKCS#8, or PKCS#1 for RSA):
    /// RS256 and PS256 need RSA of 2048 bits or more, ES256/ES384 an EC key
    /// on the matching curve, EdDSA an Ed25519 key.
    pub fn from_private_pem(
        kid: impl Into<String>,
        alg: Algorithm,
        pem: &[u8],
    ) -> Result<Self, KeyError> {
        let encoding = match alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
            _ => return Err(KeyError::WrongAlgorithm(alg)),
        }
        .map_err(invalid)?;
        Self::from_encoding(kid.into(), alg, encoding)
    }

    /// A signing key from PKCS#8 DER.
    pub fn from_private_der(
        kid: impl Into<String>,
        alg: Algorithm,
        der: &[u8],
    ) -> Result<Self, KeyError> {
        let encoding = match alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_der(der),
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_der(der),
            Algorithm::EdDSA => EncodingKey::from_ed_der(der),
            _ => return Err(KeyError::WrongAlgorithm(alg)),
        };
        Self::from_encoding(kid.into(), alg, encoding)
    }

    fn from_encoding(kid: String, alg: Algorithm, encoding: EncodingKey) -> Result<Self, KeyError> {
        check_kid(&kid)?;
        let mut jwk = match alg {
            // jsonwebtoken cannot derive an Ed25519 JWK; aws-lc can.
            Algorithm::EdDSA => ed25519_jwk(encoding.inner())?,
            _ => Jwk::from_encoding_key(&encoding, alg.to_jwt()).map_err(|e| match e.kind() {
                // aws-lc refuses RSA keys under 2048 bits outright.
                jsonwebtoken::errors::ErrorKind::InvalidRsaKey(msg) if msg.contains("TooSmall") => {
                    KeyError::WeakRsa
                }
                _ => invalid(e),
            })?,
        };
        jwk.common.key_id = Some(kid.clone());
        let key = Self::from_public_jwk(kid, alg, jwk)?;
        // Prove the pair works: sign and verify once.
        let probe = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg.to_jwt()),
            &serde_json::json!({ "probe": true }),
            &encoding,
        )
        .map_err(|_| KeyError::WrongAlgorithm(alg))?;
        let mut validation = jsonwebtoken::Validation::new(alg.to_jwt());
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&probe, &key.decoding, &validation)
            .map_err(|_| KeyError::WrongAlgorithm(alg))?;
        Ok(Self {
            encoding: Some(encoding),
            ..key
        })
    }

    fn from_public_jwk(kid: String, alg: Algorithm, jwk: Jwk) -> Result<Self, KeyError> {
        // The key type and its curve must be the algorithm's: a P-384 key
        // announced as ES256 is refused, not tried.
        let family_ok = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::PS256) => true,
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
                ec.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
                ec.curve == EllipticCurve::P384
            }
            (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
                okp.curve == EllipticCurve::Ed25519
            }
            _ => false,
        };
        if !family_ok {
            return Err(KeyError::WrongAlgorithm(alg));
        }
        if alg.is_rsa() && rsa_bits(&jwk).is_none_or(|bits| bits < 2048) {
            return Err(KeyError::WeakRsa);
        }
        let decoding = DecodingKey::from_jwk(&jwk).map_err(invalid)?;
        Ok(Self {
            kid,
            alg,
            encoding: None,
            decoding,
            public_jwk: Some(jwk),
        })
    }

    /// A verification-only key from a public JWK (an external issuer's, or
    /// an old key of yours after rotation). The JWK must carry `kid` and
    /// `alg`; the key is bound to that `alg`. Symmetric (`oct`) JWKs are
    /// refused: secrets do not travel in key sets.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let kid = jwk.common.key_id.clone().ok_or(KeyError::MissingKid)?;
        check_kid(&kid)?;
        let alg = jwk
            .common
            .key_algorithm
            .and_then(Algorithm::from_key_algorithm)
            .filter(|a| !a.is_hmac())
            .ok_or(KeyError::UnsupportedJwk)?;
        Self::from_public_jwk(kid, alg, jwk.clone())
    }

    /// The verification keys of a JWKS document (`{"keys":[…]}`), such as
    /// an external issuer publishes or [`AccessTokens::jwks`](super::AccessTokens::jwks)
    /// serves. Keys marked `"use":"enc"` are skipped; any other key must
    /// pass [`from_jwk`](Self::from_jwk), or the whole document is refused,
    /// so a typo never silently drops a key. Fetching the document is the
    /// application's business: nothing in a token ever names a URL.
    ///
    /// ```
    /// use auth_core::jwt::{AccessTokens, Algorithm, Key};
    ///
    /// let issuer = AccessTokens::builder("https://idp.example")
    ///     .with_signing_key(Key::generate("idp-1", Algorithm::EdDSA)?)
    ///     .build()?;
    /// let document = issuer.jwks().to_string();
    ///
    /// let mut verifier = AccessTokens::builder("https://idp.example");
    /// for key in Key::from_jwks(&document)? {
    ///     verifier = verifier.with_verification_key(key);
    /// }
    /// let verifier = verifier.build()?;
    /// # let _ = verifier;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwks(document: &str) -> Result<Vec<Self>, KeyError> {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(document).map_err(|e| KeyError::Invalid(e.to_string()))?;
        set.keys
            .iter()
            .filter(|jwk| {
                !matches!(
                    jwk.common.public_key_use,
                    Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                )
            })
            .map(Self::from_jwk)
            .collect()
    }

    /// A fresh key pair from the system's CSPRNG, for ES256, ES384, EdDSA,
    /// or (64-byte secret) HS256/384/512. RSA keys are loaded, not generated.
    pub fn generate(kid: impl Into<String>, alg: Algorithm) -> Result<Self, KeyError> {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
            Ed25519KeyPair,
        };
        let kid = kid.into();
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let mut secret = [0u8; 64];
                getrandom::fill(&mut secret).map_err(invalid)?;
                Self::hmac(kid, alg, &secret)
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let signing = if alg == Algorithm::ES256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = EcdsaKeyPair::generate(signing).map_err(invalid)?;
                let der = pair.to_pkcs8v1().map_err(invalid)?;
                Self::from_private_der(kid, alg, der.as_ref())
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::generate().map_err(invalid)?;
                let der = pair.to_pkcs8().map_err(invalid)?;
                Self::from_private_der(kid, alg, der.as_ref())
            }
            Algorithm::RS256 | Algorithm::PS256 => Err(KeyError::WrongAlgorithm(alg)),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm the key is bound to.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether the key can sign.
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// The public key as a JWK (`None` for HMAC keys).
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public_jwk.as_ref()
    }

    /// The same key without its private half, for publishing or for
    /// verifying elsewhere.
    pub fn verification_only(&self) -> Self {
        Self {
            encoding: None,
            ..self.clone()
        }
    }
}

/// A key's signature check with its key material parsed once, not per
/// token (jsonwebtoken re-parses a public key on every verification).
pub(crate) enum Verifier {
    /// An asymmetric key, parsed.
    Public(aws_lc_rs::signature::ParsedPublicKey),
    /// An HMAC secret, keyed (boxed: its state is large).
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl Verifier {
    /// The verifier of `key`, or `None` when its material has a form this
    /// fast path does not parse (the caller then uses jsonwebtoken's).
    pub(crate) fn new(key: &Key) -> Option<Self> {
        use aws_lc_rs::signature;
        use jsonwebtoken::DecodingKeyKind;
        let params: &'static dyn signature::VerificationAlgorithm = match key.alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let DecodingKeyKind::SecretOrDer(secret) = key.decoding.kind() else {
                    return None;
                };
                let alg = match key.alg {
                    Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
                    Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
                    _ => aws_lc_rs::hmac::HMAC_SHA512,
                };
                return Some(Self::Hmac(Box::new(aws_lc_rs::hmac::Key::new(alg, secret))));
            }
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
        };
        let der;
        let bytes: &[u8] = match key.decoding.kind() {
            DecodingKeyKind::SecretOrDer(bytes) => bytes,
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                der = rsa_public_key_der(n, e);
                &der
            }
        };
        signature::ParsedPublicKey::new(params, bytes)
            .ok()
            .map(Self::Public)
    }

    /// Whether `signature` is the key's signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// in DER, from big-endian unsigned `n` and `e`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, value: &[u8]) {
        let value = &value[value
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(value.len().saturating_sub(1))..];
        let pad = value.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        length(out, value.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}
