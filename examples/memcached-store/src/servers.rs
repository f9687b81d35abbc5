//! The servers a store spreads its keys over, by consistent hashing (as
//! memcached clients do, so adding a server moves only its share of the
//! keys), each with a few idle connections kept for reuse.

use std::time::Duration;

use auth_core::StoreError;
use parking_lot::Mutex;

use crate::protocol::Connection;

/// Points per server on the ring: enough for an even spread.
const POINTS_PER_SERVER: u32 = 160;
/// Idle connections kept per server.
const MAX_IDLE: usize = 32;

/// FNV-1a, 64 bits, with MurmurHash3's finalizer to spread keys that
/// differ only in their last characters: stable across processes and
/// versions, so every instance puts a key on the same server.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// Whether `error` says the server closed the connection (before
/// answering), as a kept connection to a restarted server does.
fn closed_by_server(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        error.kind(),
        UnexpectedEof | BrokenPipe | ConnectionReset | ConnectionAborted
    )
}

struct Server {
    address: String,
    idle: Mutex<Vec<Connection>>,
}

pub(crate) struct Servers {
    servers: Vec<Server>,
    /// Sorted points, each naming its server.
    ring: Vec<(u64, usize)>,
}

impl std::fmt::Debug for Servers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.servers.iter().map(|s| &s.address))
            .finish()
    }
}

impl Servers {
    pub(crate) fn new(addresses: &[String]) -> Self {
        let servers: Vec<Server> = addresses
            .iter()
            .map(|address| Server {
                address: address.clone(),
                idle: Mutex::new(Vec::new()),
            })
            .collect();
        let mut ring: Vec<(u64, usize)> = servers
            .iter()
            .enumerate()
            .flat_map(|(i, server)| {
                (0..POINTS_PER_SERVER)
                    .map(move |point| (fnv1a(format!("{}#{point}", server.address).as_bytes()), i))
            })
            .collect();
        ring.sort_unstable();
        Self { servers, ring }
    }

    /// The server that holds keys routed by `routing`.
    pub(crate) fn server_of(&self, routing: &str) -> usize {
        let hash = fnv1a(routing.as_bytes());
        let at = self.ring.partition_point(|(point, _)| *point < hash);
        self.ring[at % self.ring.len()].1
    }

    /// Runs `op` on a connection to the server of `routing`, within the
    /// timeout (connecting included). A server that cannot be reached, does
    /// not answer in time or answers nonsense makes the call
    /// [`StoreError::Unavailable`], and its connection is dropped. A kept
    /// connection the server has closed (it restarted) is not an outage:
    /// the kept ones are dropped and `op` runs once more on a new one.
    pub(crate) async fn run<T>(
        &self,
        routing: &str,
        timeout: Duration,
        op: impl AsyncFnOnce(&mut Connection) -> std::io::Result<T> + Clone,
    ) -> Result<T, StoreError> {
        let server = &self.servers[self.server_of(routing)];
        let work = async {
            let kept = server.idle.lock().pop();
            if let Some(mut kept) = kept {
                match op.clone()(&mut kept).await {
                    Ok(result) => return Ok((result, kept)),
                    Err(error) if !closed_by_server(&error) => return Err(error),
                    Err(_) => server.idle.lock().clear(),
                }
            }
            let mut connection = Connection::connect(&server.address).await?;
            let result = op(&mut connection).await?;
            Ok::<_, std::io::Error>((result, connection))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok((result, connection))) => {
                let mut idle = server.idle.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(connection);
                }
                Ok(result)
            }
            Ok(Err(error)) => Err(StoreError::unavailable(format!(
                "memcached at {}: {error}",
                server.address
            ))),
            Err(_) => Err(StoreError::unavailable(format!(
                "memcached at {} did not answer in time",
                server.address
            ))),
        }
    }

    /// The servers' addresses.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn addresses(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.address.as_str())
    }

    /// How many servers there are.
    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_every_server_and_stay_put() {
        let two = Servers::new(&["10.0.0.1:11211".into(), "10.0.0.2:11211".into()]);
        let mut counts = [0usize; 2];
        for i in 0..10_000 {
            counts[two.server_of(&format!("s:{i}"))] += 1;
        }
        assert!(counts.iter().all(|c| *c > 3_500), "{counts:?}");
        // A third server takes keys only for itself.
        let three = Servers::new(&[
            "10.0.0.1:11211".into(),
            "10.0.0.2:11211".into(),
            "10.0.0.3:11211".into(),
        ]);
        for i in 0..10_000 {
            let key = format!("s:{i}");
            let now = three.server_of(&key);
            assert!(
                now == 2 || now == two.server_of(&key),
                "{key} moved between old servers"
            );
        }
    }
}
