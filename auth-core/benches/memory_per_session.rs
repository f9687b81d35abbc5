//! Memory per session in `MemoryStore`: the growth of the process's
//! resident memory while it stores 100 000 and 1 000 000 sessions, per
//! session, and what of it is beyond the session's own contents.
//!
//! `cargo bench -p auth-core --bench memory_per_session` (Linux: it reads
//! `/proc/self/statm`). With `-- --test` it stores 10 000 sessions once.

use std::sync::Arc;

use auth_core::{
    ClientMeta, ManualClock, MemoryStore, SessionData, SessionKind, SessionLifetime, SessionRecord,
    SessionStore, SessionToken,
};
use time::{Duration, OffsetDateTime};

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// A typical browser session: a user id, one role, a user agent and an
/// address, no data.
fn record(i: usize, now: OffsetDateTime) -> SessionRecord {
    let token = SessionToken::generate().unwrap();
    SessionRecord {
        id: token.key().id(),
        user_id: format!("user-{i:08}"),
        kind: SessionKind::Browser,
        verifier: token.verifier(),
        generation: 0,
        rotated_at: now,
        tokens_not_before: None,
        roles: vec!["user".into()],
        created_at: now,
        idle_expires_at: now + Duration::minutes(30),
        absolute_expires_at: now + Duration::hours(12),
        last_refresh_at: now,
        data: SessionData::new(),
        client: ClientMeta::new(
            Some("Mozilla/5.0 (X11; Linux x86_64)"),
            Some("203.0.113.7".into()),
        ),
        lifetime: SessionLifetime::Standard,
        version: 1,
    }
}

/// The heap bytes of a record's own contents (strings, the role list; the
/// session id's text is inline in the record).
fn contents(r: &SessionRecord) -> usize {
    r.user_id.capacity()
        + r.roles.iter().map(|s| s.capacity() + 24).sum::<usize>()
        + r.client.user_agent.as_ref().map_or(0, String::capacity)
        + r.client.address.as_ref().map_or(0, String::capacity)
}

fn measure(n: usize, runtime: &tokio::runtime::Runtime) {
    let now = OffsetDateTime::now_utc();
    let clock = ManualClock::new(now);
    let store = MemoryStore::with_clock(Arc::new(clock));
    let records: Vec<_> = (0..n).map(|i| record(i, now)).collect();
    let content = records.iter().map(contents).sum::<usize>() / n;
    let record_size = std::mem::size_of::<SessionRecord>();
    // The records to insert are built first; inserting clones them, so the
    // growth is what the store holds.
    let before = resident_bytes();
    runtime.block_on(async {
        for r in &records {
            store.create(r).await.unwrap();
        }
    });
    let after = resident_bytes();
    let per_session = (after.saturating_sub(before)) / n;
    println!(
        "memory/{n}: {per_session} B per session resident; contents {content} B \
         (strings), record struct {record_size} B; beyond the contents: {} B",
        per_session.saturating_sub(content)
    );
    drop(records);
    drop(store);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    if quick {
        measure(10_000, &runtime);
        return;
    }
    measure(100_000, &runtime);
    measure(1_000_000, &runtime);
}
