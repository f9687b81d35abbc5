//! memcached servers for tests (feature `testing`): each started on a
//! free port of 127.0.0.1 and stopped with its guard, even after a panic;
//! and the [`Inventory`] of a store, read with `lru_crawler metadump`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::testing::Inventory;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::MemcachedStore;

/// A `memcached` process, killed on drop.
#[derive(Debug)]
pub struct MemcachedServer {
    child: Option<Child>,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn spawn(port: u16) -> Child {
    let child = Command::new("memcached")
        .args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "64",
            "-t",
            "2",
        ])
        // Refused as root without a user to run as; ignored otherwise.
        .args(["-u", "root"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("memcached is needed for these tests (apt-get install memcached): {e}")
        });
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "memcached did not start on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

impl MemcachedServer {
    /// Starts a server on a free port.
    pub async fn start() -> Self {
        let port = free_port();
        Self {
            child: Some(spawn(port).await),
            port,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server: what it held is gone.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, empty, as after a crash.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.child = Some(spawn(self.port).await);
    }
}

/// The keys `address` holds that start with `prefix`, from the LRU
/// crawler's `metadump` (memcached has no other way to list keys): of the
/// hash table, which no item leaves while it lives, or of the LRUs on a
/// memcached before 1.6.
async fn keys_on(address: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut command: &[u8] = b"lru_crawler metadump hash\r\n";
    for _ in 0..50 {
        let stream = TcpStream::connect(address)
            .await
            .map_err(StoreError::unavailable)?;
        let mut stream = BufReader::new(stream);
        stream
            .get_mut()
            .write_all(command)
            .await
            .map_err(StoreError::unavailable)?;
        let mut keys = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if stream
                .read_line(&mut line)
                .await
                .map_err(StoreError::unavailable)?
                == 0
            {
                return Err(StoreError::unavailable("metadump ended early"));
            }
            if line.starts_with("BUSY") {
                break;
            }
            if line.starts_with("ERROR") || line.starts_with("CLIENT_ERROR") {
                command = b"lru_crawler metadump all\r\n";
                break;
            }
            if line.starts_with("END") {
                return Ok(keys);
            }
            if let Some(key) = line.strip_prefix("key=").and_then(|r| r.split(' ').next()) {
                let key = percent_decode(key);
                if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
        // Another crawl is running: try again shortly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(StoreError::unavailable("the LRU crawler stayed busy"))
}

fn percent_decode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = key.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How many dumps a count takes the union of: a crawler may pass over an
/// item another thread holds at that moment.
const DUMPS: usize = 2;

#[async_trait]
impl Inventory for MemcachedStore {
    async fn live_sessions(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        let prefix = format!("{}s:", self.prefix);
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..DUMPS {
            for address in self.servers.addresses() {
                keys.extend(keys_on(address, &prefix).await?);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut live = 0;
        {
            for key in keys {
                let Some(hex) = key.strip_prefix(&prefix) else {
                    continue;
                };
                let Some(session) = auth_core::SessionKey::from_hex(hex) else {
                    continue;
                };
                if let Some(item) = self.get(&self.session_key(&session)).await? {
                    let record = crate::decode(&item)?;
                    if !record.is_expired(now) {
                        live += 1;
                    }
                }
            }
        }
        Ok(live)
    }
}
