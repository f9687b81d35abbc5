//! A session as Redis keeps it: one string value per session.
//!
//! ```text
//! offset  size  field
//!      0     1  format (3)
//!      1     8  version (unsigned, big-endian)
//!      9     8  idle expiry      (Unix ms, signed, big-endian)
//!     17     8  last refresh     (Unix ms)
//!     25     8  absolute expiry  (Unix ms)
//!     33     2  length of the user id
//!     35     n  the user id
//!   35+n        the rest: auth-core's compact body (store::compact)
//! ```
//!
//! The fixed header is what the Lua scripts read and write in place (a
//! touch rewrites bytes 9 to 24 with `SETRANGE`); each value is kept once.
//! A string keeps the whole session in one allocation: a hash whose
//! values pass 64 bytes (a user agent does) would be a hash table of its
//! own, costing twice the memory.

use auth_core::record::unix_millis::{from_millis, to_millis};
use auth_core::store::compact::{self, Kept};
use auth_core::{SessionKey, SessionRecord, StoreError};

/// The format byte of this layout.
pub(crate) const FORMAT: u8 = 3;
/// Where the user id starts.
const USER: usize = 35;

/// A record Redis holds that is not one this version wrote.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("corrupt session record in Redis: {what}"))
}

/// The value stored for `record` at `version` (an update writes the next
/// one, which its script checks against the stored).
pub(crate) fn encode(record: &SessionRecord, version: u64) -> Result<Vec<u8>, StoreError> {
    let user = record.user_id.as_bytes();
    let user_len = u16::try_from(user.len())
        .map_err(|_| StoreError::backend("a user id longer than 65,535 bytes"))?;
    let body = compact::encode_body(record);
    let mut out = Vec::with_capacity(USER + user.len() + body.len());
    out.push(FORMAT);
    out.extend_from_slice(&version.to_be_bytes());
    for at in [
        record.idle_expires_at,
        record.last_refresh_at,
        record.absolute_expires_at,
    ] {
        out.extend_from_slice(&to_millis(at).to_be_bytes());
    }
    out.extend_from_slice(&user_len.to_be_bytes());
    out.extend_from_slice(user);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The record stored under `key`.
pub(crate) fn decode(value: &[u8], key: &SessionKey) -> Result<SessionRecord, StoreError> {
    let header = value.get(..USER).ok_or_else(|| corrupt("short record"))?;
    if header[0] != FORMAT {
        return Err(StoreError::backend(format!(
            "session record format {} is not known to this version",
            header[0]
        )));
    }
    let word = |at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&header[at..at + 8]);
        bytes
    };
    let time =
        |at: usize, what| from_millis(i64::from_be_bytes(word(at))).ok_or_else(|| corrupt(what));
    let user_len = usize::from(u16::from_be_bytes([header[33], header[34]]));
    let user = value
        .get(USER..USER + user_len)
        .ok_or_else(|| corrupt("short user id"))?;
    let kept = Kept {
        id: key.id(),
        user_id: String::from_utf8(user.to_vec()).map_err(|_| corrupt("user id"))?,
        idle_expires_at: time(9, "idle expiry")?,
        last_refresh_at: time(17, "last refresh")?,
        absolute_expires_at: time(25, "absolute expiry")?,
        version: u64::from_be_bytes(word(1)),
    };
    compact::decode_body(&value[USER + user_len..], kept).map_err(|e| corrupt(&e.to_string()))
}

/// When the session of this header ends (the earlier of its idle and
/// absolute expiry), in Unix ms; `None` if it is not a session's header.
#[cfg(feature = "testing")]
pub(crate) fn ends_at(header: &[u8]) -> Option<i64> {
    let word = |at: usize| -> Option<i64> {
        Some(i64::from_be_bytes(header.get(at..at + 8)?.try_into().ok()?))
    };
    (header.first() == Some(&FORMAT)).then_some(())?;
    Some(word(9)?.min(word(25)?))
}

#[cfg(test)]
mod tests {
    use auth_core::{ClientMeta, SessionKind, SessionRecord, SessionToken};
    use time::{Duration, OffsetDateTime};

    use super::*;

    fn record() -> SessionRecord {
        let token = SessionToken::generate().unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        SessionRecord {
            roles: vec!["user".into()],
            idle_expires_at: now + Duration::minutes(30),
            last_refresh_at: now + Duration::minutes(2),
            client: ClientMeta::new(Some("Mozilla/5.0"), Some("203.0.113.7".into())),
            version: 4,
            ..SessionRecord::new(
                token.key().id(),
                "alice",
                SessionKind::Browser,
                token.verifier(),
                now,
                now + Duration::hours(12),
            )
        }
    }

    #[test]
    fn a_record_comes_back_whole_and_its_header_is_where_the_scripts_read_it() {
        let record = record();
        let value = encode(&record, record.version).unwrap();
        assert_eq!(decode(&value, &record.key()).unwrap(), record);
        assert_eq!(value[0], 3);
        assert_eq!(u64::from_be_bytes(value[1..9].try_into().unwrap()), 4);
        assert_eq!(
            i64::from_be_bytes(value[25..33].try_into().unwrap()),
            to_millis(record.absolute_expires_at)
        );
        assert_eq!(&value[33..35], &[0, 5]);
        assert_eq!(&value[35..40], b"alice");
    }

    #[test]
    fn short_and_foreign_values_are_errors() {
        let record = record();
        let value = encode(&record, record.version).unwrap();
        for end in 0..value.len() {
            assert!(
                decode(&value[..end], &record.key()).is_err(),
                "cut at {end}"
            );
        }
        let mut other = value.clone();
        other[0] = 2;
        assert!(decode(&other, &record.key()).is_err());
    }
}
