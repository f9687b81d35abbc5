//! The session demo on axum: in memory by default, on Redis when asked.
//!
//! ```sh
//! cargo run -p example-axum
//! # then, in another terminal:
//! curl -i -c jar -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//! curl -i -b jar http://127.0.0.1:3000/me
//! curl -i -b jar http://127.0.0.1:3000/sessions
//! curl -i -b jar -X POST http://127.0.0.1:3000/logout
//! ```
//!
//! Environment: `ADDR` (default `127.0.0.1:3000`), `COOKIE_SECURE=1` for
//! `Secure` cookies with the `__Host-` prefix (needs HTTPS),
//! `SESSION_IDLE_TIMEOUT` and `SESSION_ABSOLUTE_TIMEOUT` in seconds,
//! `REDIS_URL` (one Redis server) or `REDIS_CLUSTER_URLS` (comma-separated
//! node URLs) to keep sessions in Redis or `DATABASE_URL` in PostgreSQL,
//! `API_KEY` to accept `X-API-Key`, `MAX_SESSIONS_PER_USER`,
//! `OIDC_ISSUER` and `OIDC_AUDIENCE` (and optionally `OIDC_JWKS_URL`) to
//! trust an external provider's tokens, `RUST_LOG` for log levels.

use std::net::SocketAddr;
use std::process::ExitCode;

use example_axum::{Config, build_app};
use tracing_subscriber::EnvFilter;

#[tokio::main]
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
    let app = match build_app(&config).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cannot listen on {}: {err}", config.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(config.addr);
    println!(
        "auth demo (axum, {}) listening on http://{addr}/",
        config.store.describe()
    );
    for line in config.banner() {
        println!("{line}");
    }
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("server error: {err}");
            ExitCode::FAILURE
        }
    }
}
