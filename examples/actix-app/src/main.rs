//! The session demo on actix-web: in memory by default, on Redis when asked.
//! Same routes, answers and settings as `cargo run -p example-axum`.
//!
//! ```sh
//! cargo run -p example-actix
//! # then, in another terminal:
//! curl -i -c jar -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//! curl -i -b jar http://127.0.0.1:3000/me
//! ```
//!
//! Environment: `ADDR` (default `127.0.0.1:3000`), `COOKIE_SECURE=1`,
//! `SESSION_IDLE_TIMEOUT` and `SESSION_ABSOLUTE_TIMEOUT` in seconds,
//! `REDIS_URL`, `REDIS_CLUSTER_URLS` or `DATABASE_URL`, `API_KEY`,
//! `MAX_SESSIONS_PER_USER`, `OIDC_ISSUER` and `OIDC_AUDIENCE`, `RUST_LOG`.

use std::process::ExitCode;
use std::sync::Arc;

use example_actix::{Config, Users, build_auth, server};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let auth = match build_auth(&config).await {
        Ok(auth) => auth,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(config.addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cannot listen on {}: {err}", config.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(config.addr);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let server = match server(listener, auth, Arc::new(Users::demo()), workers) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("cannot start the server: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "auth demo (actix-web, {}) listening on http://{addr}/",
        config.store.describe()
    );
    for line in config.banner() {
        println!("{line}");
    }
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let _ = actix_web::rt::signal::ctrl_c().await;
        handle.stop(true).await;
    });
    match server.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("server error: {err}");
            ExitCode::FAILURE
        }
    }
}
