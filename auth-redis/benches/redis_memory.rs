//! Memory per session in Redis: Redis's `used_memory` before and after
//! `RedisStore::create` stores 100,000 sessions, per session, with the
//! per-user index included; then where one session's bytes go (`MEMORY
//! USAGE` of its value and of its user's index, the value's length).
//!
//! The session is a typical browser session: a user id, one role, a user
//! agent and an address, no data. Two spreads: 10 sessions per user
//! (small indexes) and every session of one user (one large index).
//!
//! `cargo bench -p auth-redis --bench redis_memory` (needs
//! `redis-server`). With `-- --test` it stores 2,000 sessions.

use auth_core::{ClientMeta, SessionKind, SessionRecord, SessionStore, SessionToken};
use auth_redis::RedisStore;
use auth_redis::testing::RedisServer;
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;

fn record(user: String, now: OffsetDateTime) -> SessionRecord {
    let token = SessionToken::generate().unwrap();
    SessionRecord {
        roles: vec!["user".into()],
        idle_expires_at: now + Duration::minutes(30),
        client: ClientMeta::new(
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            Some("203.0.113.7".into()),
        ),
        ..SessionRecord::new(
            token.key().id(),
            user,
            SessionKind::Browser,
            token.verifier(),
            now,
            now + Duration::hours(12),
        )
    }
}

fn used_memory(server: &RedisServer) -> i64 {
    let info = server.cli(&["INFO", "memory"]).expect("INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO")
}

fn main() {
    let sessions = if std::env::args().any(|a| a == "--test") {
        2_000
    } else {
        100_000
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = RedisServer::start().await;
        let store = RedisStore::from_url(&server.url()).unwrap();
        println!("| spread | sessions | bytes per session (used_memory) |");
        println!("|---|---:|---:|");
        let mut last = None;
        for (spread, per_user) in [("10 sessions per user", 10), ("one user", sessions)] {
            server.cli(&["FLUSHALL"]).expect("FLUSHALL");
            let before = used_memory(&server);
            let now = OffsetDateTime::now_utc();
            let mut pending = JoinSet::new();
            for i in 0..sessions {
                let record = record(format!("user-{:08}", i / per_user), now);
                let store = store.clone();
                pending.spawn(async move { store.create(&record).await.map(|()| record) });
                if pending.len() >= 128 {
                    last = Some(pending.join_next().await.unwrap().unwrap().unwrap());
                }
            }
            while let Some(done) = pending.join_next().await {
                last = Some(done.unwrap().unwrap());
            }
            let after = used_memory(&server);
            println!(
                "| {spread} | {sessions} | {:.0} |",
                (after - before) as f64 / sessions as f64
            );
        }
        let record = last.expect("a session");
        let key = store.session_key(&record.key());
        let number = |args: &[&[u8]]| {
            server
                .command(args)
                .and_then(|n| String::from_utf8(n).ok()?.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let usage = |key: &[u8]| number(&[b"MEMORY", b"USAGE", key, b"SAMPLES", b"0"]);
        let length = number(&[b"STRLEN", &key]);
        println!(
            "\nOne session (`MEMORY USAGE`): {} bytes, its value {length} bytes, its key {} bytes; its user's index of {sessions} sessions: {} bytes a session.",
            usage(&key),
            key.len(),
            usage(store.index_key(&record.user_id).as_bytes()) / sessions,
        );
    });
}
