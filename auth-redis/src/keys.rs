//! The Redis key of a session: the prefix, `s:`, then the id's 16 raw
//! bytes (the crate's docs say why binary).

use std::io::Write;

use auth_core::SessionKey;
use deadpool_redis::redis::{RedisWrite, ToRedisArgs};

/// How many bytes the key of a session takes under `prefix`.
pub(crate) fn len(prefix: &str) -> usize {
    prefix.len() + 2 + auth_core::token::ID_BYTES
}

fn write(prefix: &str, key: &SessionKey, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    out.write_all(b"s:")?;
    out.write_all(key.as_bytes())
}

/// The key of session `key` under `prefix`, as bytes.
pub(crate) fn session_key(prefix: &str, key: &SessionKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(len(prefix));
    // Writing to a `Vec` cannot fail.
    let _ = write(prefix, key, &mut out);
    out
}

/// The key of a session as a command's argument, written straight into
/// the command's buffer: a request's read builds no key of its own.
pub(crate) struct SessionKeyArg<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) key: &'a SessionKey,
}

impl ToRedisArgs for SessionKeyArg<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        // A command's buffer is a `Vec`: writing to it cannot fail.
        let _ = write(self.prefix, self.key, &mut out.writer_for_next_arg());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_redis::redis::Cmd;

    #[test]
    fn the_argument_is_the_key() {
        let key = SessionKey::from_bytes([7; 16]);
        let expected = [&b"app:s:"[..], &[7; 16]].concat();
        assert_eq!(session_key("app:", &key), expected);
        assert_eq!(len("app:"), expected.len());
        let mut cmd = Cmd::with_capacity(2, 3 + len("app:"));
        cmd.arg("GET").arg(SessionKeyArg {
            prefix: "app:",
            key: &key,
        });
        let mut reference = Cmd::new();
        reference.arg("GET").arg(&expected);
        assert_eq!(cmd.get_packed_command(), reference.get_packed_command());
    }
}
