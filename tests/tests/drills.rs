//! Failure drills (see `auth_behaviour_tests::drill`): two instances of the
//! demo, on axum and actix-web, under concurrent load while Redis fails.
//! The figures of the longer runs are in `BENCHMARKS.md` (`auth-load
//! drills`).

use auth_behaviour_tests::drill::{Drill, cluster_node_outage, redis_outage};

/// One drill at a time: each loads both cores, and a drill measures
/// answers that a starved machine would delay past the store's timeout.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 10,000 live sessions and a few hundred token families across two
/// instances; Redis killed under load and started again from its
/// append-only file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_load_fails_closed_and_recovers() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let report = redis_outage(&Drill::test()).await;
    println!("{report}");
    let load = &report.load;
    assert!(load.served > 0 && load.refused > 0, "{report}");
    assert_eq!(
        load.broken(),
        0,
        "no broken promise during the load:\n{report}"
    );
    assert!(
        load.unavailable > 0,
        "the outage was seen as 503s:\n{report}"
    );
    let afterwards = &report.afterwards;
    assert_eq!(
        afterwards.served as usize,
        // Nine in ten sessions and families were left signed in.
        9 * Drill::test().sessions / 10 + 9 * Drill::test().token_pairs / 10,
        "every session and family valid again, without restarting an instance:\n{report}"
    );
    assert_eq!(afterwards.broken() + afterwards.unavailable, 0, "{report}");
    assert!(report.feeds_current_after.is_some(), "{report}");
    assert!(
        report.caught_up,
        "the revocation feeds caught up:\n{report}"
    );
    assert_eq!(report.cookie_propagation.never_refused, 0, "{report}");
    assert_eq!(report.token_propagation.never_refused, 0, "{report}");
    assert!(!report.token_propagation.latencies.0.is_empty(), "{report}");
    assert!(report.held(), "{report}");
}

/// One master of a three-master cluster killed under load: the sessions
/// on its slots answer 503, the others are served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_master_killed_under_load_fails_only_its_slots() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let drill = Drill {
        sessions: 3_000,
        ..Drill::test()
    };
    let report = cluster_node_outage(&drill).await;
    println!("{report}");
    assert!(
        report.sessions.1 > 0 && report.sessions.1 < report.sessions.0,
        "{report}"
    );
    assert_eq!(report.others.broken(), 0, "{report}");
    assert_eq!(
        report.others.unavailable, 0,
        "sessions on the other masters were served:\n{report}"
    );
    assert!(report.others.served > 0, "{report}");
    assert_eq!(report.on_failed_node.broken(), 0, "{report}");
    assert!(
        report.on_failed_node.unavailable > 0,
        "the killed master's sessions answered 503:\n{report}"
    );
    assert_eq!(
        report.afterwards.served as usize, report.sessions.0,
        "{report}"
    );
    assert!(report.held(), "{report}");
}
