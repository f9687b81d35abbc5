//! Session tokens, the keys stores hold them under, and public session ids.
//!
//! A [`SessionToken`] is the credential: 256 bits from the operating system's
//! CSPRNG, encoded as 43 characters of unpadded base64url. It lives only in
//! the client's cookie. Stores see its [`SessionKey`], the SHA-256 of the
//! token's bytes, so a dump of the store logs no one in. A [`SessionId`] is a
//! separate random identifier that is safe to show (device lists, logs, the
//! `sid` of access tokens); it reveals nothing about the token.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Length in bytes of a session token's random part.
pub const TOKEN_BYTES: usize = 32;
/// Length in characters of an encoded session token.
pub const TOKEN_LEN: usize = 43;
/// Length in bytes of a public session id's random part.
const ID_BYTES: usize = 16;
/// Length in characters of an encoded public session id.
const ID_LEN: usize = 22;

/// Why a presented token was refused. Cheap to produce: no store is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The value has the wrong length.
    #[error("token has the wrong length")]
    Length,
    /// The value contains characters outside unpadded base64url, or is not
    /// the canonical encoding of its bytes.
    #[error("token is not canonical base64url")]
    Encoding,
}

/// The operating system's random source failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RandomError(getrandom::Error);

fn random<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(RandomError)?;
    Ok(buf)
}

/// The value of each base64url character; `INVALID` for the others.
const B64URL_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xFF;

/// Decodes exactly `N` bytes from canonical unpadded base64url of length
/// `len`, in one pass (this runs on every request). Non-zero trailing bits
/// are refused, so every value has exactly one accepted spelling.
fn decode_exact<const N: usize>(input: &[u8], len: usize) -> Result<[u8; N], TokenError> {
    if input.len() != len || decoded_len(len) != Some(N) {
        return Err(TokenError::Length);
    }
    let mut out = [0u8; N];
    decode_into(input, &mut out)?;
    Ok(out)
}

/// How many bytes `len` characters of unpadded base64 carry; `None` for a
/// length no encoding has.
fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + r.saturating_sub(1)),
    }
}

/// Decodes strict unpadded base64url (as JWT segments are), checking
/// every character; `None` for anything else.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn decode_b64url(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; decoded_len(input.len())?];
    decode_into(input, &mut out).ok()?;
    Some(out)
}

/// Decodes `input` into `out`, which has exactly its decoded length.
/// Non-zero trailing bits are refused, so every value has exactly one
/// accepted spelling.
fn decode_into(input: &[u8], out: &mut [u8]) -> Result<(), TokenError> {
    let value = |c: u8| u32::from(B64URL_VALUES[usize::from(c)]);
    // Four characters make three bytes; an invalid character sets bits
    // above the low six, checked once at the end.
    let mut invalid = 0;
    let chunks = input.chunks_exact(4);
    let tail = chunks.remainder();
    let (body, rest) = out.split_at_mut(input.len() / 4 * 3);
    for (chunk, bytes) in chunks.zip(body.chunks_exact_mut(3)) {
        let (a, b, c, d) = (
            value(chunk[0]),
            value(chunk[1]),
            value(chunk[2]),
            value(chunk[3]),
        );
        invalid |= a | b | c | d;
        let n = (a << 18) | (b << 12) | (c << 6) | d;
        bytes.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let mut acc = 0u32;
    for &c in tail {
        let v = value(c);
        invalid |= v;
        acc = (acc << 6) | v;
    }
    // A tail of 2 or 3 characters carries 1 or 2 bytes; the bits left
    // over are the last character's low bits.
    let trailing = match (tail.len(), rest) {
        (0, []) => 0,
        (2, [x]) => {
            *x = (acc >> 4) as u8;
            acc & 0xF
        }
        (3, [x, y]) => {
            *x = (acc >> 10) as u8;
            *y = (acc >> 2) as u8;
            acc & 0x3
        }
        _ => return Err(TokenError::Length),
    };
    if invalid > 0x3F || trailing != 0 {
        return Err(TokenError::Encoding);
    }
    Ok(())
}

/// A session credential: 256 random bits, shown to the client once, in its
/// cookie. `Debug` prints `REDACTED`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    bytes: [u8; TOKEN_BYTES],
}

impl SessionToken {
    /// A fresh token from the operating system's CSPRNG.
    ///
    /// ```
    /// let token = auth_core::SessionToken::generate()?;
    /// assert_eq!(token.expose().len(), 43);
    /// # Ok::<(), auth_core::token::RandomError>(())
    /// ```
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self { bytes: random()? })
    }

    /// Parses a presented token. Anything but exactly 43 characters of
    /// canonical unpadded base64url is refused, before any store is asked.
    ///
    /// ```
    /// use auth_core::{SessionToken, token::TokenError};
    /// assert_eq!(SessionToken::parse(b"short").unwrap_err(), TokenError::Length);
    /// let token = SessionToken::generate()?;
    /// assert_eq!(SessionToken::parse(token.expose().as_bytes()).unwrap(), token);
    /// # Ok::<(), auth_core::token::RandomError>(())
    /// ```
    pub fn parse(input: &[u8]) -> Result<Self, TokenError> {
        decode_exact::<TOKEN_BYTES>(input, TOKEN_LEN).map(|bytes| Self { bytes })
    }

    /// A token from its 32 bytes (for deterministic derivations).
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn from_bytes(bytes: [u8; TOKEN_BYTES]) -> Self {
        Self { bytes }
    }

    /// The token's bytes.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn as_bytes(&self) -> &[u8; TOKEN_BYTES] {
        &self.bytes
    }

    /// The encoded token, for the `Set-Cookie` value. Never log it.
    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes)
    }

    /// The store key of this token: SHA-256 of its bytes.
    pub fn key(&self) -> SessionKey {
        SessionKey(Sha256::digest(self.bytes).into())
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(REDACTED)")
    }
}

/// The key a store holds a session under: SHA-256 of the session token.
///
/// Knowing a key does not let anyone authenticate. It prints as lowercase
/// hex (64 characters), which is also its serialized form; `Debug` shows
/// only a prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Builds a key from its 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        // Invalid digits are 0xFF in the table: checked once at the end.
        let mut invalid = 0;
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUES[usize::from(pair[0])],
                HEX_VALUES[usize::from(pair[1])],
            );
            invalid |= hi | lo;
            *byte = (hi << 4) | (lo & 0xf);
        }
        (invalid <= 0xf).then_some(Self(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The value of each hex digit (either case); 0xFF for other bytes.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX[i] as usize] = i as u8;
        table[HEX[i].to_ascii_uppercase() as usize] = i as u8;
        i += 1;
    }
    table
};

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for SessionKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SessionKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid session key"))
    }
}

/// The public identifier of a session: 128 random bits as 22 characters of
/// base64url. Safe to show to its owner (device lists) and to put in logs.
/// It stays the same when the session's token is rotated. Clones share
/// the text (every request copies its session's id).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(std::sync::Arc<str>);

impl SessionId {
    /// A fresh random id.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(URL_SAFE_NO_PAD.encode(random::<ID_BYTES>()?).into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = TokenError;

    /// Parses an id as it appears in URLs; anything else is refused.
    fn from_str(s: &str) -> Result<Self, TokenError> {
        decode_exact::<ID_BYTES>(s.as_bytes(), ID_LEN)?;
        Ok(Self(s.into()))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_chars_unique_and_round_trip() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_ne!(a, b);
        let text = a.expose();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(!text.contains('='));
        assert_eq!(SessionToken::parse(text.as_bytes()).unwrap(), a);
        assert_eq!(a.key(), SessionToken::parse(text.as_bytes()).unwrap().key());
        assert_ne!(a.key(), b.key());
    }

    #[test]
    fn key_is_sha256_of_token_bytes() {
        let token = SessionToken::parse(&[b'A'; 43]).unwrap();
        assert_eq!(token.bytes, [0u8; 32]);
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            token.key().to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let good = SessionToken::generate().unwrap().expose();
        let cases: Vec<(Vec<u8>, TokenError)> = vec![
            (vec![], TokenError::Length),
            (good.as_bytes()[..42].to_vec(), TokenError::Length),
            ([good.as_bytes(), b"A"].concat(), TokenError::Length),
            (
                format!("{}=", &good[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                format!("{}+", &good[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                format!("{}/", &good[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                format!("{} ", &good[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                [&good.as_bytes()[..41], &[0xc3, 0xa9]].concat(),
                TokenError::Encoding,
            ),
            (vec![0u8; 43], TokenError::Encoding),
            (vec![b'A'; 1 << 20], TokenError::Length),
        ];
        for (input, want) in cases {
            assert_eq!(SessionToken::parse(&input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn decoding_agrees_with_the_base64_crate() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for _ in 0..2000 {
            let bytes = random::<TOKEN_BYTES>().unwrap();
            let encoded = URL_SAFE_NO_PAD.encode(bytes);
            assert_eq!(
                SessionToken::parse(encoded.as_bytes()).unwrap().bytes,
                bytes
            );
            // Any 43 characters of the alphabet: accepted exactly when the
            // strict engine accepts them, with the same bytes.
            let noise = random::<TOKEN_LEN>().unwrap();
            let text: Vec<u8> = noise
                .iter()
                .map(|b| alphabet[usize::from(b % 64)])
                .collect();
            let mut expected = [0u8; TOKEN_BYTES];
            let strict = URL_SAFE_NO_PAD
                .decode_slice(&text, &mut expected)
                .map(|_| expected);
            assert_eq!(
                SessionToken::parse(&text).map(|t| t.bytes).ok(),
                strict.ok(),
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
        let id = SessionId::generate().unwrap();
        assert_eq!(id.as_str().parse::<SessionId>().unwrap(), id);
        // Any length, any bytes of a wider alphabet (padding and the
        // standard alphabet's characters included).
        let wide = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.";
        for len in 0..70 {
            for _ in 0..40 {
                let noise = random::<70>().unwrap();
                let text: Vec<u8> = noise[..len]
                    .iter()
                    .map(|b| {
                        if b % 8 == 0 {
                            wide[usize::from(*b) % wide.len()]
                        } else {
                            alphabet[usize::from(b % 64)]
                        }
                    })
                    .collect();
                assert_eq!(
                    decode_b64url(&text),
                    URL_SAFE_NO_PAD.decode(&text).ok(),
                    "{}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        // 43 chars carry 258 bits; the last char's low 2 bits must be zero.
        let mut s = [b'A'; 43];
        s[42] = b'B';
        assert_eq!(SessionToken::parse(&s).unwrap_err(), TokenError::Encoding);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = SessionToken::generate().unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.expose()));
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn key_hex_round_trips_and_serializes() {
        let key = SessionToken::generate().unwrap().key();
        assert_eq!(SessionKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(SessionKey::from_hex("zz"), None);
        let hex = key.to_hex();
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(SessionKey::from_hex(&hex.to_ascii_uppercase()), Some(key));
        // One wrong character anywhere, in either digit of a pair.
        for at in [0, 1, 31, 62, 63] {
            for bad in [b'g', b'G', b' ', b'/', b':', b'@', 0xC3] {
                let mut bytes = hex.clone().into_bytes();
                bytes[at] = bad;
                let text = String::from_utf8_lossy(&bytes);
                assert_eq!(SessionKey::from_hex(&text), None, "{text}");
            }
        }
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<SessionKey>(&json).unwrap(), key);
    }

    #[test]
    fn session_ids_parse_strictly() {
        let id = SessionId::generate().unwrap();
        assert_eq!(id.as_str().len(), 22);
        assert_eq!(id.as_str().parse::<SessionId>().unwrap(), id);
        assert!("not-an-id".parse::<SessionId>().is_err());
        assert!("../../../../etc/passwd!".parse::<SessionId>().is_err());
    }
}
