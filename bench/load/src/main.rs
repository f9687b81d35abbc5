//! The side-by-side load benchmark.
//!
//! ```sh
//! cargo run --release -p auth-load            # everything, about 8 minutes
//! cargo run --release -p auth-load -- --quick # each scenario once, briefly
//! ```
//!
//! Each server runs in its own process on core 0 (`taskset`), with one
//! worker thread; the load comes from this process on core 1: 16
//! keep-alive HTTP/1.1 connections sending `GET /me` with a valid
//! credential. Per scenario and round it records requests per second,
//! p50/p99 latency and the server's CPU time per request; rounds are
//! interleaved and the report gives medians, with each figure's ratio to
//! the bare framework measured in the same round.
//!
//! Throughput moves 10-20 % between runs on a shared machine, so it also
//! counts instructions per request under valgrind's callgrind: each
//! server runs twice, serving a few and many more requests, and the
//! difference of the two totals divided by the difference of the request
//! counts is the cost of one request, start-up and shutdown cancelled out.
//!
//! Redis scenarios use a throwaway `redis-server` on a free port.
//!
//! ```sh
//! cargo run --release -p auth-load -- drills  # the failure drills, about 2 minutes
//! ```
//!
//! The failure drills (`auth_behaviour_tests::drill`) put 10,000 sessions
//! on two instances of the demo (axum and actix-web) under load, kill
//! Redis (then one master of a Redis Cluster) in the middle and start it
//! again, and report every answer by kind, the recovery and how fast a
//! logout on one instance reaches the other. The behaviour tests run the
//! same drills briefly.

mod drive;
mod servers;

use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let index: usize = args
            .get(1)
            .and_then(|i| i.parse().ok())
            .expect("serve <scenario index> <port>");
        let port: u16 = args
            .get(2)
            .and_then(|p| p.parse().ok())
            .expect("serve <scenario index> <port>");
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        servers::serve(
            servers::SCENARIOS[index],
            listener,
            std::env::var("LOAD_REDIS_URL").ok(),
        );
        return ExitCode::SUCCESS;
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    if args.first().map(String::as_str) == Some("drills") {
        return drills(quick);
    }
    let callgrind = !args.iter().any(|a| a == "--no-callgrind");
    match drive::run(quick, callgrind) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("load benchmark failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `auth-load drills`: both failure drills, each report in Markdown.
fn drills(quick: bool) -> ExitCode {
    use auth_behaviour_tests::drill::{Drill, cluster_node_outage, redis_outage};
    let drill = if quick {
        Drill::test()
    } else {
        Drill::benchmark()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (outage, cluster) = runtime.block_on(async {
        let outage = redis_outage(&drill).await;
        let cluster = cluster_node_outage(&drill).await;
        (outage, cluster)
    });
    println!(
        "## Redis killed under load\n\n{outage}\n## One Redis Cluster master killed under load\n\n{cluster}"
    );
    if outage.held() && cluster.held() {
        ExitCode::SUCCESS
    } else {
        eprintln!("a promise was broken: see the tables");
        ExitCode::FAILURE
    }
}
