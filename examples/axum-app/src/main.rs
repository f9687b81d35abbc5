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
//! node URLs) to keep sessions in Redis, `DATABASE_URL` in PostgreSQL or
//! `MEMCACHED_SERVERS` (comma-separated `host:port`) in memcached,
//! `API_KEY` to accept `X-API-Key`, `MAX_SESSIONS_PER_USER`,
//! `OIDC_ISSUER` and `OIDC_AUDIENCE` (and optionally `OIDC_JWKS_URL`) to
//! trust an external provider's tokens, `OIDC_ISSUER` and `OIDC_CLIENT_ID`
//! (and optionally `OIDC_CLIENT_SECRET`, `OIDC_REDIRECT_URL`) to offer
//! "Sign in with SSO", `ACCESS_TOKEN_KEY_FILE` (with
//! `ACCESS_TOKEN_PREVIOUS_KEY_FILE` during a rotation) and `REFRESH_KEY`
//! for instances that accept each other's tokens, `GATEWAY_UPSTREAM`
//! (with `GATEWAY_ISSUER`, `GATEWAY_AUDIENCE`) to forward `/api/*` to an
//! internal service, `RUST_LOG` for log levels.

use std::net::SocketAddr;
use std::process::ExitCode;

use example_axum::{Config, build_app};
use example_shared::startup::{announce, configured, exit_code, init_logging, listen};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let started = async {
        let config = configured(Config::from_env())?;
        let app = configured(build_app(&config).await)?;
        let (listener, addr) = listen(&config)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|err| {
            eprintln!("cannot listen on {addr}: {err}");
            ExitCode::FAILURE
        })?;
        announce("axum", &config, addr);
        Ok((listener, app))
    };
    let (listener, app) = match started.await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    exit_code(served)
}
