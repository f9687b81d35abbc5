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
//! `REDIS_URL`, `REDIS_CLUSTER_URLS`, `DATABASE_URL` or
//! `MEMCACHED_SERVERS`, `API_KEY`, `MAX_SESSIONS_PER_USER`, `OIDC_ISSUER`
//! with `OIDC_AUDIENCE` and/or `OIDC_CLIENT_ID` (`OIDC_CLIENT_SECRET`,
//! `OIDC_REDIRECT_URL`), `ACCESS_TOKEN_KEY_FILE`,
//! `ACCESS_TOKEN_PREVIOUS_KEY_FILE`, `REFRESH_KEY`, `GATEWAY_UPSTREAM`
//! (`GATEWAY_ISSUER`, `GATEWAY_AUDIENCE`), `RUST_LOG`.

use std::process::ExitCode;
use std::sync::Arc;

use example_actix::{Config, Users, build_auth, server_with_gateway};
use example_shared::startup::{announce, configured, exit_code, init_logging, listen};

#[actix_web::main]
async fn main() -> ExitCode {
    init_logging();
    let started = async {
        let config = configured(Config::from_env())?;
        let auth = configured(build_auth(&config).await)?;
        let (listener, addr) = listen(&config)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let gateway = configured(config.gateway())?;
        let users = Arc::new(Users::demo());
        let server =
            server_with_gateway(listener, auth, users, gateway, workers).map_err(|err| {
                eprintln!("cannot start the server: {err}");
                ExitCode::FAILURE
            })?;
        announce("actix-web", &config, addr);
        Ok(server)
    };
    let server = match started.await {
        Ok(server) => server,
        Err(code) => return code,
    };
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let _ = actix_web::rt::signal::ctrl_c().await;
        handle.stop(true).await;
    });
    exit_code(server.await)
}
