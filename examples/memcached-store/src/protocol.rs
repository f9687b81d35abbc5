//! The part of memcached's text protocol a store needs, over one TCP
//! connection: every command waits for its reply (no `noreply`), so when a
//! call returns, the server has done what it says.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// Largest value this store writes or accepts: memcached's default item
/// size limit.
pub(crate) const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// A value and its compare-and-swap token.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) value: Vec<u8>,
    pub(crate) cas: u64,
}

/// What a `cas` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CasOutcome {
    /// Written.
    Stored,
    /// The item changed since it was read.
    Changed,
    /// The item is gone.
    Gone,
}

/// One connection to one server.
pub(crate) struct Connection {
    io: BufStream<TcpStream>,
    line: String,
}

fn unexpected(reply: &str) -> io::Error {
    io::Error::other(format!("unexpected memcached reply: {}", reply.trim_end()))
}

impl Connection {
    pub(crate) async fn connect(address: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            io: BufStream::new(stream),
            line: String::new(),
        })
    }

    async fn reply_line(&mut self) -> io::Result<&str> {
        self.line.clear();
        let read = self.io.read_line(&mut self.line).await?;
        if read == 0 || !self.line.ends_with("\r\n") {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if self.line.starts_with("ERROR")
            || self.line.starts_with("CLIENT_ERROR")
            || self.line.starts_with("SERVER_ERROR")
        {
            return Err(unexpected(&self.line));
        }
        Ok(&self.line)
    }

    async fn send(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        for part in parts {
            self.io.write_all(part).await?;
        }
        self.io.flush().await
    }

    /// `gets` of several keys: each one present, with its value and token,
    /// in the order the server answers.
    pub(crate) async fn gets(&mut self, keys: &[&str]) -> io::Result<Vec<(String, Item)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.io.write_all(b"gets").await?;
        for key in keys {
            self.io.write_all(b" ").await?;
            self.io.write_all(key.as_bytes()).await?;
        }
        self.send(&[b"\r\n"]).await?;
        let mut items = Vec::new();
        loop {
            let line = self.reply_line().await?;
            if line == "END\r\n" {
                return Ok(items);
            }
            // VALUE <key> <flags> <bytes> <cas unique>
            let mut words = line.trim_end().split(' ');
            let (Some("VALUE"), Some(key), Some(_flags), Some(bytes), Some(cas)) = (
                words.next(),
                words.next(),
                words.next(),
                words.next(),
                words.next(),
            ) else {
                return Err(unexpected(line));
            };
            let key = key.to_owned();
            let (Ok(bytes), Ok(cas)) = (bytes.parse::<usize>(), cas.parse::<u64>()) else {
                return Err(unexpected(line));
            };
            if bytes > MAX_VALUE_BYTES {
                return Err(unexpected("a value larger than the item limit"));
            }
            let mut value = vec![0; bytes + 2];
            self.io.read_exact(&mut value).await?;
            if !value.ends_with(b"\r\n") {
                return Err(unexpected("a value without its line end"));
            }
            value.truncate(bytes);
            items.push((key, Item { value, cas }));
        }
    }

    /// `gets` of one key.
    pub(crate) async fn get(&mut self, key: &str) -> io::Result<Option<Item>> {
        Ok(self.gets(&[key]).await?.pop().map(|(_, item)| item))
    }

    async fn store(
        &mut self,
        command: &str,
        key: &str,
        value: &[u8],
        exptime: u32,
        cas: Option<u64>,
    ) -> io::Result<String> {
        let header = match cas {
            Some(cas) => format!("{command} {key} 0 {exptime} {} {cas}\r\n", value.len()),
            None => format!("{command} {key} 0 {exptime} {}\r\n", value.len()),
        };
        self.send(&[header.as_bytes(), value, b"\r\n"]).await?;
        Ok(self.reply_line().await?.to_owned())
    }

    /// `add`: stores `value` only if `key` holds nothing; whether it did.
    pub(crate) async fn add(&mut self, key: &str, value: &[u8], exptime: u32) -> io::Result<bool> {
        match self.store("add", key, value, exptime, None).await?.as_str() {
            "STORED\r\n" => Ok(true),
            "NOT_STORED\r\n" => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// `set`: stores `value` whatever `key` held.
    pub(crate) async fn set(&mut self, key: &str, value: &[u8], exptime: u32) -> io::Result<()> {
        match self.store("set", key, value, exptime, None).await?.as_str() {
            "STORED\r\n" => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// `cas`: stores `value` only if `key` still holds the item read with
    /// token `cas`.
    pub(crate) async fn cas(
        &mut self,
        key: &str,
        value: &[u8],
        exptime: u32,
        cas: u64,
    ) -> io::Result<CasOutcome> {
        match self
            .store("cas", key, value, exptime, Some(cas))
            .await?
            .as_str()
        {
            "STORED\r\n" => Ok(CasOutcome::Stored),
            "EXISTS\r\n" => Ok(CasOutcome::Changed),
            "NOT_FOUND\r\n" => Ok(CasOutcome::Gone),
            other => Err(unexpected(other)),
        }
    }

    /// `delete`: whether `key` held something.
    pub(crate) async fn delete(&mut self, key: &str) -> io::Result<bool> {
        self.send(&[b"delete ", key.as_bytes(), b"\r\n"]).await?;
        match self.reply_line().await? {
            "DELETED\r\n" => Ok(true),
            "NOT_FOUND\r\n" => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// `incr` (or `decr`, which stops at zero): the new value, `None` when
    /// `key` holds nothing.
    pub(crate) async fn add_to(
        &mut self,
        key: &str,
        up: bool,
        amount: u64,
    ) -> io::Result<Option<u64>> {
        let command: &[u8] = if up { b"incr " } else { b"decr " };
        let amount = amount.to_string();
        self.send(&[command, key.as_bytes(), b" ", amount.as_bytes(), b"\r\n"])
            .await?;
        let line = self.reply_line().await?;
        if line == "NOT_FOUND\r\n" {
            return Ok(None);
        }
        line.trim_end()
            .parse()
            .map(Some)
            .map_err(|_| unexpected(line))
    }
}
