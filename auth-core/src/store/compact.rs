//! A compact binary form of a [`SessionRecord`], for stores that pay for
//! every byte they keep and every byte they parse on each request.
//!
//! The form holds the record's *body*: everything but the fields a store
//! usually keeps beside it to find, expire and compare-and-set the record
//! (its id, owner, idle and absolute expiry, last refresh and version,
//! together [`Kept`]), so that no value is stored twice. Digests are raw
//! bytes, times are Unix milliseconds as variable-length integers (the
//! creation time whole, the others as differences from it), strings are
//! length-prefixed, and the application's data is JSON text only when
//! there is any. A typical browser session's body (one role, a user agent
//! and an address) takes about 140 bytes, against about 500 as JSON.
//!
//! Decoding never panics: a short, long or malformed body is a
//! [`CompactError`].
//!
//! ```
//! use auth_core::store::compact::{self, Kept};
//! use auth_core::{SessionKind, SessionRecord, SessionToken};
//! use time::{Duration, OffsetDateTime};
//!
//! let token = SessionToken::generate()?;
//! let now = OffsetDateTime::from_unix_timestamp(1_700_000_000)?;
//! let record = SessionRecord {
//!     roles: vec!["user".into()],
//!     ..SessionRecord::new(token.key().id(), "alice", SessionKind::Browser, token.verifier(), now, now + Duration::hours(12))
//! };
//! let body = compact::encode_body(&record);
//! let back = compact::decode_body(&body, Kept::of(&record))?;
//! assert_eq!(back, record);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use time::OffsetDateTime;

use crate::record::unix_millis::{from_millis, to_millis};
use crate::record::{ClientMeta, SessionData, SessionKind, SessionLifetime, SessionRecord};
use crate::token::{SessionId, Verifier};

/// The version of the form, its first byte.
const VERSION: u8 = 1;

/// The fields a store keeps beside the body, given back to
/// [`decode_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The record's id (the store key).
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: String,
    /// When it ends unless used again.
    pub idle_expires_at: OffsetDateTime,
    /// When it ends whatever happens.
    pub absolute_expires_at: OffsetDateTime,
    /// When the idle expiry was last pushed forward.
    pub last_refresh_at: OffsetDateTime,
    /// Its version.
    pub version: u64,
}

impl Kept {
    /// The kept fields of `record`.
    pub fn of(record: &SessionRecord) -> Self {
        Self {
            id: record.id.clone(),
            user_id: record.user_id.clone(),
            idle_expires_at: record.idle_expires_at,
            absolute_expires_at: record.absolute_expires_at,
            last_refresh_at: record.last_refresh_at,
            version: record.version,
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// The body ends before its last field.
    #[error("the record ends early")]
    Truncated,
    /// Bytes follow the last field.
    #[error("bytes follow the record")]
    Trailing,
    /// A version of the form this build does not know.
    #[error("record form {0} is not known to this version")]
    Version(u8),
    /// A field holds a value no record has.
    #[error("the record's {0} is malformed")]
    Malformed(&'static str),
}

fn kind_byte(kind: SessionKind) -> u8 {
    match kind {
        SessionKind::Browser => 0,
        SessionKind::Refresh => 1,
        SessionKind::Visitor => 2,
        SessionKind::Link => 3,
    }
}

fn lifetime_byte(lifetime: SessionLifetime) -> u8 {
    match lifetime {
        SessionLifetime::Standard => 0,
        SessionLifetime::BrowserSession => 1,
        SessionLifetime::Remembered => 2,
        SessionLifetime::Visitor => 3,
    }
}

/// The body of `record`: everything but its [`Kept`] fields.
pub fn encode_body(record: &SessionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + record.client.user_agent.as_ref().map_or(0, String::len));
    out.push(VERSION);
    out.push(kind_byte(record.kind));
    out.push(lifetime_byte(record.lifetime));
    out.extend_from_slice(record.verifier.as_bytes());
    put_varint(&mut out, record.generation);
    let created = to_millis(record.created_at);
    put_signed(&mut out, created);
    put_signed(&mut out, to_millis(record.rotated_at).wrapping_sub(created));
    match record.tokens_not_before {
        None => out.push(0),
        Some(at) => {
            out.push(1);
            put_signed(&mut out, to_millis(at).wrapping_sub(created));
        }
    }
    put_varint(&mut out, record.roles.len() as u64);
    for role in &record.roles {
        put_bytes(&mut out, role.as_bytes());
    }
    for text in [
        &record.client.user_agent,
        &record.client.address,
        &record.client.label,
    ] {
        put_optional(&mut out, text.as_deref());
    }
    if record.data.is_empty() {
        put_varint(&mut out, 0);
    } else {
        // Session data is JSON values of the application's: kept as text.
        let json = serde_json::to_vec(&record.data).unwrap_or_else(|_| b"{}".to_vec());
        put_bytes(&mut out, &json);
    }
    out
}

/// The record whose body is `body` and whose other fields are `kept`.
pub fn decode_body(body: &[u8], kept: Kept) -> Result<SessionRecord, CompactError> {
    let mut r = Reader(body);
    let version = r.byte()?;
    if version != VERSION {
        return Err(CompactError::Version(version));
    }
    let kind = match r.byte()? {
        0 => SessionKind::Browser,
        1 => SessionKind::Refresh,
        2 => SessionKind::Visitor,
        3 => SessionKind::Link,
        _ => return Err(CompactError::Malformed("kind")),
    };
    let lifetime = match r.byte()? {
        0 => SessionLifetime::Standard,
        1 => SessionLifetime::BrowserSession,
        2 => SessionLifetime::Remembered,
        3 => SessionLifetime::Visitor,
        _ => return Err(CompactError::Malformed("lifetime")),
    };
    let verifier = Verifier::from_bytes(
        r.take(32)?
            .try_into()
            .map_err(|_| CompactError::Truncated)?,
    );
    let generation = r.varint()?;
    let created = r.signed()?;
    let time = |millis: i64, what| from_millis(millis).ok_or(CompactError::Malformed(what));
    let created_at = time(created, "creation time")?;
    let rotated_at = time(created.wrapping_add(r.signed()?), "rotation time")?;
    let tokens_not_before = match r.byte()? {
        0 => None,
        1 => Some(time(created.wrapping_add(r.signed()?), "token cut-off")?),
        _ => return Err(CompactError::Malformed("token cut-off")),
    };
    let roles = (0..r.count()?)
        .map(|_| r.text("role"))
        .collect::<Result<Vec<_>, _>>()?;
    let client = ClientMeta {
        user_agent: r.optional("user agent")?,
        address: r.optional("address")?,
        label: r.optional("label")?,
    };
    let data = match r.bytes()? {
        [] => SessionData::new(),
        json => serde_json::from_slice(json).map_err(|_| CompactError::Malformed("data"))?,
    };
    if !r.0.is_empty() {
        return Err(CompactError::Trailing);
    }
    Ok(SessionRecord {
        id: kept.id,
        user_id: kept.user_id,
        kind,
        verifier,
        generation,
        rotated_at,
        tokens_not_before,
        roles,
        created_at,
        idle_expires_at: kept.idle_expires_at,
        absolute_expires_at: kept.absolute_expires_at,
        last_refresh_at: kept.last_refresh_at,
        data,
        client,
        lifetime,
        version: kept.version,
    })
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Zigzag: small negative and positive differences stay short.
fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Length plus one, so that 0 is "none" and 1 the empty string.
fn put_optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => put_varint(out, 0),
        Some(text) => {
            put_varint(out, text.len() as u64 + 1);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CompactError> {
        let (&first, rest) = self.0.split_first().ok_or(CompactError::Truncated)?;
        self.0 = rest;
        Ok(first)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CompactError> {
        if self.0.len() < n {
            return Err(CompactError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, CompactError> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CompactError::Malformed("number"))
    }

    fn signed(&mut self) -> Result<i64, CompactError> {
        let raw = self.varint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A count of items that each take at least one byte: never more than
    /// the bytes left, so a corrupt count cannot reserve memory.
    fn count(&mut self) -> Result<usize, CompactError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.0.len())
            .ok_or(CompactError::Truncated)
    }

    fn bytes(&mut self) -> Result<&'a [u8], CompactError> {
        let n = self.count()?;
        self.take(n)
    }

    fn text(&mut self, what: &'static str) -> Result<String, CompactError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CompactError::Malformed(what))
    }

    fn optional(&mut self, what: &'static str) -> Result<Option<String>, CompactError> {
        match self.varint()? {
            0 => Ok(None),
            n => {
                let len = usize::try_from(n - 1).map_err(|_| CompactError::Truncated)?;
                let bytes = self.take(len)?;
                String::from_utf8(bytes.to_vec())
                    .map(Some)
                    .map_err(|_| CompactError::Malformed(what))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionToken;
    use proptest::prelude::*;
    use time::Duration;

    fn sample(data: bool) -> SessionRecord {
        let token = SessionToken::generate().unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
            + Duration::milliseconds(123);
        let mut record = SessionRecord {
            roles: vec!["user".into(), "admin".into()],
            generation: 7,
            rotated_at: now + Duration::minutes(5),
            tokens_not_before: Some(now + Duration::seconds(1)),
            idle_expires_at: now + Duration::minutes(30),
            last_refresh_at: now + Duration::minutes(1),
            client: ClientMeta {
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
                address: Some("203.0.113.7".into()),
                label: Some(String::new()),
            },
            lifetime: SessionLifetime::Remembered,
            version: 3,
            ..SessionRecord::new(
                token.key().id(),
                "alice",
                SessionKind::Refresh,
                token.verifier(),
                now,
                now + Duration::days(14),
            )
        };
        if data {
            record
                .data
                .set_value("cart", Some(serde_json::json!([1, "two", {"three": 3}])));
        }
        record
    }

    #[test]
    fn a_record_comes_back_whole() {
        for data in [false, true] {
            let record = sample(data);
            let body = encode_body(&record);
            assert_eq!(decode_body(&body, Kept::of(&record)), Ok(record));
        }
    }

    #[test]
    fn a_typical_session_is_small() {
        let token = SessionToken::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let record = SessionRecord {
            roles: vec!["user".into()],
            idle_expires_at: now + Duration::minutes(30),
            client: ClientMeta::new(
                Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
                Some("203.0.113.7".into()),
            ),
            ..SessionRecord::new(
                token.key().id(),
                "user-00000001",
                SessionKind::Browser,
                token.verifier(),
                now,
                now + Duration::hours(12),
            )
        };
        let body = encode_body(&record);
        let json = serde_json::to_vec(&record).unwrap();
        assert!(body.len() < 140, "{} bytes", body.len());
        assert!(
            body.len() * 3 < json.len(),
            "{} against {}",
            body.len(),
            json.len()
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let record = sample(true);
        let body = encode_body(&record);
        for end in 0..body.len() {
            assert!(
                decode_body(&body[..end], Kept::of(&record)).is_err(),
                "cut at {end}"
            );
        }
        let mut long = body.clone();
        long.push(0);
        assert_eq!(
            decode_body(&long, Kept::of(&record)),
            Err(CompactError::Trailing)
        );
        let mut version = body.clone();
        version[0] = 9;
        assert_eq!(
            decode_body(&version, Kept::of(&record)),
            Err(CompactError::Version(9))
        );
        let mut kind = body;
        kind[1] = 200;
        assert_eq!(
            decode_body(&kind, Kept::of(&record)),
            Err(CompactError::Malformed("kind"))
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_body(&bytes, Kept::of(&sample(false)));
        }

        #[test]
        fn any_strings_round_trip(
            user_agent in proptest::option::of(".{0,40}"),
            roles in proptest::collection::vec(".{0,12}", 0..4),
            generation in any::<u64>(),
            offset in -1_000_000_i64..1_000_000,
        ) {
            let mut record = sample(false);
            record.client.user_agent = user_agent;
            record.roles = roles;
            record.generation = generation;
            record.rotated_at = record.created_at + Duration::milliseconds(offset);
            let body = encode_body(&record);
            prop_assert_eq!(decode_body(&body, Kept::of(&record)), Ok(record));
        }
    }
}
