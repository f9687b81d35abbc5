//! The session demo on plain hyper: in memory by default, on Redis or
//! PostgreSQL when asked; the same environment as `example-axum`.
//!
//! ```sh
//! cargo run -p example-hyper
//! curl -i -c jar -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"wonderland"}' http://127.0.0.1:3000/login
//! curl -i -b jar http://127.0.0.1:3000/me
//! ```

use std::process::ExitCode;

use example_hyper::{App, Config, serve};
use example_shared::startup::{announce, configured, exit_code, init_logging, listen};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let started = async {
        let config = configured(Config::from_env())?;
        let app = configured(App::from_config(&config).await)?;
        let (listener, addr) = listen(&config)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|err| {
            eprintln!("cannot listen on {addr}: {err}");
            ExitCode::FAILURE
        })?;
        announce("hyper", &config, addr);
        Ok((listener, app))
    };
    let (listener, app) = match started.await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    exit_code(serve(listener, app, shutdown).await)
}
