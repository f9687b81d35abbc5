//! Session tokens, the keys stores hold them under, and public session ids.
//!
//! A [`SessionToken`] is the credential: `<id>.<secret>`, the session's
//! public [`SessionId`] (128 random bits) and a secret of 256 bits from the
//! operating system's CSPRNG, each as unpadded base64url. It lives only in
//! the client's cookie. The store finds the session by its id (the
//! [`SessionKey`]) and keeps only the SHA-256 of the secret (the
//! [`Verifier`]), so a dump of the store logs no one in. The id is safe to
//! show (device lists, logs, the `sid` of access tokens): without the
//! secret it authenticates no one.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Length in bytes of a session token's secret.
pub const SECRET_BYTES: usize = 32;
/// Length in characters of an encoded secret.
const SECRET_LEN: usize = 43;
/// Length in bytes of a public session id.
pub const ID_BYTES: usize = 16;
/// Length in characters of an encoded public session id.
pub const ID_LEN: usize = 22;
/// Length in characters of an encoded session token: `<id>.<secret>`.
pub const TOKEN_LEN: usize = ID_LEN + 1 + SECRET_LEN;

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

/// `N` bytes from the operating system's random source.
#[cfg(feature = "oidc")]
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    random()
}

/// The base64url characters, by value.
const B64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of each base64url character; `INVALID` for the others.
const B64URL_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < B64URL_ALPHABET.len() {
        table[B64URL_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The unpadded base64url text of a session id's 16 bytes, without an
/// allocation: every session read from a store gets its id this way.
fn encode_id(bytes: &[u8; ID_BYTES]) -> [u8; ID_LEN] {
    let char_of = |six: u32| B64URL_ALPHABET[(six & 0x3F) as usize];
    let mut out = [0u8; ID_LEN];
    // Five groups of three bytes make twenty characters; the last byte
    // makes two more (its low four bits padded with zeros).
    for (group, chars) in bytes.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        chars.copy_from_slice(&[
            char_of(n >> 18),
            char_of(n >> 12),
            char_of(n >> 6),
            char_of(n),
        ]);
    }
    let last = u32::from(bytes[ID_BYTES - 1]);
    out[ID_LEN - 2] = char_of(last >> 2);
    out[ID_LEN - 1] = char_of(last << 4);
    out
}
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

/// A session credential: the session's public id and 256 secret random
/// bits, as `<id>.<secret>` (22 + 1 + 43 characters of unpadded
/// base64url). The id finds the session in the store (it is the
/// [`SessionKey`]); the secret proves the caller holds the credential,
/// checked against the record's [`Verifier`] in constant time. `Debug`
/// prints `REDACTED`; there is no `Display`.
///
/// Because the id is in the token, rotating a session's token changes only
/// its secret: the session keeps one store record for its whole life, and
/// a rotation is a compare-and-set on it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    key: SessionKey,
    secret: [u8; SECRET_BYTES],
}

impl SessionToken {
    /// A fresh token for a new session: a new id and secret from the
    /// operating system's CSPRNG.
    ///
    /// ```
    /// let token = auth_core::SessionToken::generate()?;
    /// assert_eq!(token.expose().len(), 66);
    /// # Ok::<(), auth_core::token::RandomError>(())
    /// ```
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self {
            key: SessionKey(random()?),
            secret: random()?,
        })
    }

    /// A fresh secret for the existing session `key`: its next token.
    pub fn rotate(key: SessionKey) -> Result<Self, RandomError> {
        Ok(Self {
            key,
            secret: random()?,
        })
    }

    /// Parses a presented token. Anything but `<22 characters>.<43
    /// characters>` of canonical unpadded base64url is refused, before any
    /// store is asked.
    ///
    /// ```
    /// use auth_core::{SessionToken, token::TokenError};
    /// assert_eq!(SessionToken::parse(b"short").unwrap_err(), TokenError::Length);
    /// let token = SessionToken::generate()?;
    /// assert_eq!(SessionToken::parse(token.expose().as_bytes()).unwrap(), token);
    /// # Ok::<(), auth_core::token::RandomError>(())
    /// ```
    pub fn parse(input: &[u8]) -> Result<Self, TokenError> {
        if input.len() != TOKEN_LEN {
            return Err(TokenError::Length);
        }
        if input[ID_LEN] != b'.' {
            return Err(TokenError::Encoding);
        }
        let key = decode_exact::<ID_BYTES>(&input[..ID_LEN], ID_LEN)?;
        let secret = decode_exact::<SECRET_BYTES>(&input[ID_LEN + 1..], SECRET_LEN)?;
        Ok(Self {
            key: SessionKey(key),
            secret,
        })
    }

    /// The encoded token, for the `Set-Cookie` value. Never log it.
    pub fn expose(&self) -> String {
        let mut out = String::with_capacity(TOKEN_LEN);
        URL_SAFE_NO_PAD.encode_string(self.key.0, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(self.secret, &mut out);
        out
    }

    /// The store key of the token's session: its id's bytes.
    pub fn key(&self) -> SessionKey {
        self.key
    }

    /// What the store keeps to recognise this token: SHA-256 of its
    /// secret.
    pub fn verifier(&self) -> Verifier {
        Verifier(Sha256::digest(self.secret).into())
    }

    /// Whether this token is the one `verifier` was made from, compared
    /// in constant time.
    pub fn matches(&self, verifier: &Verifier) -> bool {
        self.verifier().ct_eq(verifier)
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(REDACTED)")
    }
}

/// What a store keeps to check a presented token without holding it: the
/// SHA-256 of a session token's secret, or the random seed from which a
/// refresh family's tokens are derived under the server's refresh secret.
/// Knowing it does not let anyone authenticate. `Debug` prints
/// `REDACTED`; it serializes as 64 hex characters.
#[derive(Clone, Copy)]
pub struct Verifier([u8; 32]);

impl Verifier {
    /// A verifier from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Its 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 32 random bytes: the seed of a refresh family.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn random() -> Result<Self, RandomError> {
        Ok(Self(random()?))
    }

    /// Equality in constant time: the words' differences are folded
    /// together without a branch, and only the fold is compared.
    pub fn ct_eq(&self, other: &Self) -> bool {
        let mut difference = 0u64;
        for (a, b) in self.0.chunks_exact(8).zip(other.0.chunks_exact(8)) {
            let word = |w: &[u8]| u64::from_ne_bytes(w.try_into().expect("8 bytes"));
            difference |= word(a) ^ word(b);
        }
        // The optimiser may not turn the fold into an early exit.
        std::hint::black_box(difference) == 0
    }
}

impl PartialEq for Verifier {
    /// In constant time.
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Verifier {}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(REDACTED)")
    }
}

impl Serialize for Verifier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for Verifier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        from_hex::<32>(&s)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("invalid verifier"))
    }
}

/// The key a store holds a session under: the 16 bytes of its public
/// [`SessionId`].
///
/// Knowing a key does not let anyone authenticate: a token also carries a
/// secret that must match the record's [`Verifier`]. It prints as
/// lowercase hex (32 characters), which is also its serialized form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey([u8; ID_BYTES]);

impl SessionKey {
    /// Builds a key from its 16 raw bytes.
    pub const fn from_bytes(bytes: [u8; ID_BYTES]) -> Self {
        Self(bytes)
    }

    /// The key's 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; ID_BYTES] {
        &self.0
    }

    /// The key as 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 32 hex characters (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        from_hex::<ID_BYTES>(s).map(Self)
    }

    /// The public id of the session stored under this key.
    pub fn id(&self) -> SessionId {
        SessionId {
            key: *self,
            text: encode_id(&self.0),
        }
    }
}

/// `bytes` as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Exactly `N` bytes from `2 * N` hex digits of either case.
fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
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
    (invalid <= 0xf).then_some(out)
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
        write!(f, "SessionKey({})", self.to_hex())
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
/// base64url. Safe to show to its owner (device lists) and to put in logs;
/// it is the first part of the session's token and, as bytes, its
/// [`SessionKey`]. It stays the same when the token is rotated. The text
/// is kept inline (every session read from a store makes one, and every
/// request copies its session's), so making or copying an id allocates
/// nothing.
#[derive(Clone)]
pub struct SessionId {
    key: SessionKey,
    /// Base64url: ASCII.
    text: [u8; ID_LEN],
}

impl SessionId {
    /// A fresh random id.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(SessionKey(random()?).id())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Base64url is ASCII (every constructor writes it), so this never
        // takes the empty fallback.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The store key of this session.
    pub fn key(&self) -> SessionKey {
        self.key
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for SessionId {}

impl std::hash::Hash for SessionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl FromStr for SessionId {
    type Err = TokenError;

    /// Parses an id as it appears in URLs; anything else is refused.
    fn from_str(s: &str) -> Result<Self, TokenError> {
        let key = decode_exact::<ID_BYTES>(s.as_bytes(), ID_LEN)?;
        // The decoding is strict (one spelling a key), so the text is the
        // key's encoding.
        Ok(SessionKey(key).id())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.as_str())
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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
    fn generated_tokens_are_66_chars_unique_and_round_trip() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_ne!(a, b);
        let text = a.expose();
        assert_eq!(text.len(), TOKEN_LEN);
        assert_eq!(&text[ID_LEN..=ID_LEN], ".");
        assert!(!text.contains('='));
        assert_eq!(SessionToken::parse(text.as_bytes()).unwrap(), a);
        assert_eq!(a.key(), SessionToken::parse(text.as_bytes()).unwrap().key());
        assert_ne!(a.key(), b.key());
        // The id is the token's first part, and the key its bytes.
        assert_eq!(text[..ID_LEN], *a.key().id().as_str());
        assert_eq!(a.key().id().key(), a.key());
    }

    proptest::proptest! {
        #[test]
        fn ids_are_the_base64url_of_their_keys(bytes in proptest::array::uniform16(proptest::num::u8::ANY)) {
            let id = SessionKey::from_bytes(bytes).id();
            proptest::prop_assert_eq!(id.as_str(), URL_SAFE_NO_PAD.encode(bytes));
            proptest::prop_assert_eq!(id.as_str().parse::<SessionId>().unwrap().key(), id.key());
        }
    }

    #[test]
    fn ids_of_extreme_keys_encode_every_bit() {
        for bytes in [[0_u8; 16], [0xFF; 16], [0x80; 16], [0x01; 16]] {
            let id = SessionKey::from_bytes(bytes).id();
            assert_eq!(id.as_str(), URL_SAFE_NO_PAD.encode(bytes));
            assert_eq!(id.to_string(), id.as_str());
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        }
    }

    #[test]
    fn a_rotated_token_keeps_the_session_and_changes_the_secret() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::rotate(a.key()).unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a.expose(), b.expose());
        assert!(a.matches(&a.verifier()));
        assert!(
            !b.matches(&a.verifier()),
            "the old verifier refuses the new token"
        );
        assert!(
            !a.matches(&b.verifier()),
            "the new verifier refuses the old token"
        );
    }

    #[test]
    fn the_verifier_is_sha256_of_the_secret() {
        let token =
            SessionToken::parse(format!("{}.{}", "A".repeat(22), "A".repeat(43)).as_bytes())
                .unwrap();
        assert_eq!(token.secret, [0u8; 32]);
        assert_eq!(token.key().as_bytes(), &[0u8; 16]);
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            hex(token.verifier().as_bytes()),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let good = SessionToken::generate().unwrap().expose();
        let (id, secret) = good.split_at(ID_LEN);
        let secret = &secret[1..];
        let cases: Vec<(Vec<u8>, TokenError)> = vec![
            (vec![], TokenError::Length),
            (good.as_bytes()[..65].to_vec(), TokenError::Length),
            ([good.as_bytes(), b"A"].concat(), TokenError::Length),
            // The separator must be a dot, where it belongs.
            (format!("{id}:{secret}").into_bytes(), TokenError::Encoding),
            (format!("{id}{secret}.").into_bytes(), TokenError::Encoding),
            // A 43-character token of the old format.
            (secret.as_bytes().to_vec(), TokenError::Length),
            (
                format!("{id}.{}=", &secret[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                format!("{id}.{}+", &secret[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                format!("{}/.{secret}", &id[..21]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                format!("{id}.{} ", &secret[..42]).into_bytes(),
                TokenError::Encoding,
            ),
            (
                [&good.as_bytes()[..64], &[0xc3, 0xa9]].concat(),
                TokenError::Encoding,
            ),
            (vec![0u8; TOKEN_LEN], TokenError::Encoding),
            (vec![b'A'; 1 << 20], TokenError::Length),
        ];
        for (input, want) in cases {
            assert_eq!(
                SessionToken::parse(&input).unwrap_err(),
                want,
                "{}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn decoding_agrees_with_the_base64_crate() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for _ in 0..2000 {
            let bytes = random::<SECRET_BYTES>().unwrap();
            let encoded = URL_SAFE_NO_PAD.encode(bytes);
            assert_eq!(
                decode_exact::<SECRET_BYTES>(encoded.as_bytes(), SECRET_LEN).unwrap(),
                bytes
            );
            // Any 43 characters of the alphabet: accepted exactly when the
            // strict engine accepts them, with the same bytes.
            let noise = random::<SECRET_LEN>().unwrap();
            let text: Vec<u8> = noise
                .iter()
                .map(|b| alphabet[usize::from(b % 64)])
                .collect();
            let mut expected = [0u8; SECRET_BYTES];
            let strict = URL_SAFE_NO_PAD
                .decode_slice(&text, &mut expected)
                .map(|_| expected);
            assert_eq!(
                decode_exact::<SECRET_BYTES>(&text, SECRET_LEN).ok(),
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
        let mut s = format!("{}.{}", "A".repeat(22), "A".repeat(43)).into_bytes();
        s[TOKEN_LEN - 1] = b'B';
        assert_eq!(SessionToken::parse(&s).unwrap_err(), TokenError::Encoding);
        // 22 chars carry 132 bits; the last char's low 4 bits must be zero.
        let mut s = format!("{}.{}", "A".repeat(22), "A".repeat(43)).into_bytes();
        s[ID_LEN - 1] = b'B';
        assert_eq!(SessionToken::parse(&s).unwrap_err(), TokenError::Encoding);
    }

    #[test]
    fn debug_never_shows_the_token_or_the_verifier() {
        let token = SessionToken::generate().unwrap();
        let shown = format!("{token:?} {:?}", token.verifier());
        assert!(!shown.contains(&token.expose()));
        assert!(!shown.contains(&hex(token.verifier().as_bytes())));
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn keys_and_verifiers_round_trip_as_hex() {
        let token = SessionToken::generate().unwrap();
        let key = token.key();
        assert_eq!(SessionKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(SessionKey::from_hex("zz"), None);
        let hex = key.to_hex();
        assert_eq!(hex.len(), 32);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(SessionKey::from_hex(&hex.to_ascii_uppercase()), Some(key));
        // One wrong character anywhere, in either digit of a pair.
        for at in [0, 1, 15, 30, 31] {
            for bad in [b'g', b'G', b' ', b'/', b':', b'@', 0xC3] {
                let mut bytes = hex.clone().into_bytes();
                bytes[at] = bad;
                let text = String::from_utf8_lossy(&bytes);
                assert_eq!(SessionKey::from_hex(&text), None, "{text}");
            }
        }
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<SessionKey>(&json).unwrap(), key);
        let verifier = token.verifier();
        let json = serde_json::to_string(&verifier).unwrap();
        assert_eq!(json.len(), 66);
        assert_eq!(serde_json::from_str::<Verifier>(&json).unwrap(), verifier);
        assert!(serde_json::from_str::<Verifier>("\"00\"").is_err());
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
