//! The internal service behind the demo's gateway.
//!
//! ```sh
//! GATEWAY_UPSTREAM=http://127.0.0.1:4000 cargo run -p example-axum &
//! GATEWAY_JWKS_URL=http://127.0.0.1:3000/.well-known/gateway-jwks.json cargo run -p example-backend
//! ```
//!
//! Environment: `ADDR` (default `127.0.0.1:4000`), `GATEWAY_JWKS_URL`
//! (required), `GATEWAY_ISSUER` (default `auth-demo-gateway`),
//! `GATEWAY_AUDIENCE` (default `internal`), `GATEWAY_REDIS_URL` (the
//! gateway's Redis: its logouts refuse gateway tokens here at once),
//! `RUST_LOG`.

use std::process::ExitCode;

use example_backend::{Config, router};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let auth = match config.authenticator() {
        Ok(auth) => auth,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cannot listen on {}: {err}", config.addr);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "backend listening on http://{}/ (gateway tokens of {} from {})",
        config.addr, config.issuer, config.jwks_url
    );
    if let Err(err) = axum::serve(listener, router(auth)).await {
        eprintln!("server failed: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
