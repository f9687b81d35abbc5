//! Throwaway Redis servers for tests (feature `testing`).
//!
//! Each server runs on a free port of `127.0.0.1` in its own temporary
//! directory and is killed (and its directory removed) when dropped; the
//! machine's own Redis is never touched. `redis-server` and `redis-cli`
//! must be installed (Debian: `apt-get install redis-server`).
//!
//! ```no_run
//! # async fn demo() {
//! let server = auth_redis::testing::RedisServer::start().await;
//! let store = auth_redis::RedisStore::from_url(&server.url()).unwrap();
//! # let _ = store;
//! # }
//! ```

use std::net::TcpListener;

use deadpool_redis::redis;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "redis-server and redis-cli are needed for these tests: \
install them (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`)";

/// Every write on disk before it is acknowledged.
const DURABLE: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): {INSTALL_HINT}"));
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A connection of its own to the server at `url`, for commands whose
/// arguments may be binary: not `redis-cli`, whose arguments cannot hold a
/// NUL byte (a random session id has one about once in sixteen). `None`
/// if there is no server.
fn connect(url: &str) -> Option<redis::Connection> {
    redis::Client::open(url).ok()?.get_connection().ok()
}

/// One command's reply, or `None` for an error reply or a lost connection.
fn query(connection: &mut redis::Connection, args: &[&[u8]]) -> Option<redis::Value> {
    let mut command = redis::Cmd::new();
    for arg in args {
        command.arg(*arg);
    }
    command.query(connection).ok()
}

/// A reply as `redis-cli` prints it to a pipe: numbers in decimal, strings
/// raw, the elements of an array one to a line.
fn printed(reply: redis::Value) -> Vec<u8> {
    use redis::Value;
    match reply {
        Value::Nil => Vec::new(),
        Value::Int(n) => n.to_string().into_bytes(),
        Value::BulkString(bytes) => bytes,
        Value::SimpleString(text) => text.into_bytes(),
        Value::Okay => b"OK".to_vec(),
        Value::Array(items) | Value::Set(items) => items
            .into_iter()
            .map(printed)
            .collect::<Vec<_>>()
            .join(&b'\n'),
        other => format!("{other:?}").into_bytes(),
    }
}

async fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "{what} not ready after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `redis-server` process.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
    tls_port: Option<u16>,
}

/// Makes a CA and a certificate for `127.0.0.1` signed by it in `dir`
/// (`ca.pem`, `server.pem`, `server.key`), with the `openssl` command.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run openssl to make test certificates: {e}"));
        assert!(status.success(), "openssl {args:?} failed");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat()
    .into_iter()
    .chain(["-days", "2", "-subj", "/CN=auth-redis test CA"])
    .collect::<Vec<_>>());
    run(&[
        &["req"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr"],
    ]
    .concat()
    .into_iter()
    .chain(["-subj", "/CN=127.0.0.1"])
    .collect::<Vec<_>>());
    std::fs::write(
        dir.join("san.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write the certificate extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    ]);
}

impl RedisServer {
    /// Starts a standalone server.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a standalone server that writes every command to its
    /// append-only file before answering (`appendfsync always`), so that a
    /// server [killed](Self::kill) without warning and
    /// [started again](Self::start_again) comes back with every write it
    /// acknowledged, as a production server configured for durability does.
    pub async fn start_durable() -> Self {
        Self::start_with(&DURABLE).await
    }

    async fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            tls_port: None,
        };
        server.spawn().await;
        server
    }

    /// Starts a standalone server that also speaks TLS, on a port of its
    /// own ([`tls_url`](Self::tls_url)), with a certificate for
    /// `127.0.0.1` from a CA made for it ([`ca_pem`](Self::ca_pem)). Needs
    /// the `openssl` command.
    pub async fn start_tls() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        make_certificates(dir.path());
        let tls_port = free_port();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let extra = vec![
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            file("server.pem"),
            "--tls-key-file".to_owned(),
            file("server.key"),
            "--tls-ca-cert-file".to_owned(),
            file("ca.pem"),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            extra,
            tls_port: Some(tls_port),
        };
        server.spawn().await;
        server
    }

    /// `rediss://127.0.0.1:PORT` of a [TLS server](Self::start_tls).
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://127.0.0.1:{port}"))
    }

    /// The PEM certificate of the CA a [TLS server](Self::start_tls)'s
    /// certificate is signed by.
    pub fn ca_pem(&self) -> Option<Vec<u8>> {
        self.tls_port?;
        std::fs::read(self.dir.path().join("ca.pem")).ok()
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}): {INSTALL_HINT}"));
        self.child = Some(child);
        let port = self.port;
        wait_until("redis-server", Duration::from_secs(10), || {
            cli(port, &["PING"]).as_deref() == Some("PONG")
        })
        .await;
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `redis-cli` against the server; its output, or `None` on failure.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        cli(self.port, args)
    }

    /// Sends one command whose arguments may be binary, as session keys
    /// are ([`RedisStore::session_key`](crate::RedisStore::session_key)),
    /// over a connection of its own; the reply as `redis-cli` prints it
    /// (numbers in decimal, strings raw, an array's elements one to a
    /// line), or `None` for an error reply or no server.
    pub fn command(&self, args: &[&[u8]]) -> Option<Vec<u8>> {
        query(&mut connect(&self.url())?, args).map(printed)
    }

    /// Every key and its value, as `redis-cli` prints them (a key, then its
    /// value on the next line; a hash's fields and values and a sorted
    /// set's members and scores one to a line), read over a connection of
    /// its own: keys are binary, so a dump is bytes. For asserting what
    /// the server holds, such as that no credential is among it.
    pub fn dump(&self) -> Vec<u8> {
        // One connection for the whole dump.
        let Some(mut connection) = connect(&self.url()) else {
            return Vec::new();
        };
        let Some(redis::Value::Array(keys)) = query(&mut connection, &[b"KEYS", b"*"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for key in keys {
            let redis::Value::BulkString(key) = key else {
                continue;
            };
            let mut run = |args: &[&[u8]]| query(&mut connection, args).map(printed);
            let value = match run(&[b"TYPE", &key]).unwrap_or_default().as_slice() {
                b"string" => run(&[b"GET", &key]),
                b"hash" => run(&[b"HGETALL", &key]),
                b"zset" => run(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"]),
                b"set" => run(&[b"SMEMBERS", &key]),
                b"list" => run(&[b"LRANGE", &key, b"0", b"-1"]),
                _ => None,
            };
            for part in [key, value.unwrap_or_default()] {
                out.extend_from_slice(&part);
                out.push(b'\n');
            }
        }
        out
    }

    /// Stops the server after saving its data to disk (as a clean
    /// shutdown does), so [`restart`](Self::restart) brings it back intact.
    pub async fn stop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "SAVE"]);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server at once (`SIGKILL`): no save, no goodbye to its
    /// clients, as a crash or a lost machine. A [durable](Self::start_durable)
    /// server [started again](Self::start_again) keeps what it acknowledged;
    /// any other comes back empty.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is running (not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server again on the same port and directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Starts a stopped server again on the same port and directory.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.spawn().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Redis Cluster of three masters, no replicas.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them
    /// (`redis-cli --cluster create`), then waits for `cluster_state:ok`.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A cluster whose masters are [durable](RedisServer::start_durable)
    /// and that keeps serving the slots of the masters that are up while
    /// one is down (`cluster-require-full-coverage no`), as a deployment
    /// without replicas that prefers partial service to none. Kill and
    /// start a node through [`node_mut`](Self::node_mut).
    pub async fn start_durable() -> Self {
        let mut extra = DURABLE.to_vec();
        extra.extend(["--cluster-require-full-coverage", "no"]);
        Self::start_with(&extra).await
    }

    async fn start_with(extra: &[&str]) -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ];
            args.extend_from_slice(extra);
            nodes.push(RedisServer::start_with(&args).await);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): {INSTALL_HINT}"));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for node in &nodes {
            wait_until("the cluster", Duration::from_secs(20), || {
                node.cli(&["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            })
            .await;
        }
        Self { nodes }
    }

    /// The `redis://` URLs of the nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, to [kill](RedisServer::kill) and
    /// [start again](RedisServer::start_again).
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The hash slots node `index` serves, as its `CLUSTER NODES` line
    /// says (its `myself` line), in inclusive ranges.
    pub fn slots_of(&self, index: usize) -> Vec<std::ops::RangeInclusive<u16>> {
        let nodes = self.nodes[index]
            .cli(&["CLUSTER", "NODES"])
            .unwrap_or_default();
        let Some(line) = nodes.lines().find(|l| l.contains("myself")) else {
            return Vec::new();
        };
        line.split_whitespace()
            .skip(8)
            .filter_map(|range| match range.split_once('-') {
                Some((start, end)) => Some(start.parse().ok()?..=end.parse().ok()?),
                None => range.parse().ok().map(|slot| slot..=slot),
            })
            .collect()
    }

    /// Waits until every node that is up reports the cluster's state as
    /// `ok` again (after a node was killed or started again).
    pub async fn wait_until_ok(&self) {
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            wait_until("the cluster", Duration::from_secs(30), || {
                node.cli(&["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            })
            .await;
        }
    }
}

/// The hash slot of a key in Redis Cluster: CRC16 (XMODEM) of the key, or
/// of its hash tag (the text between the first `{` and the next `}`, if
/// not empty), modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16_384
}

/// Counts the live sessions under the store's prefix (`SCAN`, then
/// their expiry fields), for tests that check what a logout or an expiry
/// left behind. On a standalone server only: a scan through a cluster
/// connection would see one node.
#[async_trait::async_trait]
impl auth_core::testing::Inventory for crate::RedisStore {
    async fn live_sessions(
        &self,
        now: time::OffsetDateTime,
    ) -> Result<usize, auth_core::StoreError> {
        #[cfg(feature = "cluster")]
        if matches!(self.pool, crate::Pool::Cluster(_)) {
            return Err(auth_core::StoreError::backend(
                "counting sessions needs a standalone server",
            ));
        }
        let pattern = format!("{}s:*", self.prefix);
        let now = auth_core::record::unix_millis::to_millis(now);
        self.run(async |conn| {
            let (mut cursor, mut live) = (0_u64, 0);
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(conn)
                    .await
                    .map_err(crate::map_redis)?;
                for key in keys {
                    let header: Vec<u8> = redis::cmd("GETRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(32)
                        .query_async(conn)
                        .await
                        .map_err(crate::map_redis)?;
                    if crate::record::ends_at(&header).is_some_and(|ends| ends > now) {
                        live += 1;
                    }
                }
                if next == 0 {
                    return Ok(live);
                }
                cursor = next;
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn key_slots_are_redis_cluster_slots() {
        // The values `CLUSTER KEYSLOT` answers.
        assert_eq!(key_slot(b"foo"), 12_182);
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
    }
}
