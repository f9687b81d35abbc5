//! What each demo's `main` does before its framework takes over: logging,
//! the configuration from the environment, the listening socket and the
//! banner. A failure ends the process with the exit code to return.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::Config;

/// Logs to stderr at `RUST_LOG`'s levels (`info` by default).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
}

/// `built`, or exit code 2 after saying why: the configuration is wrong.
pub fn configured<T>(built: Result<T, String>) -> Result<T, ExitCode> {
    built.map_err(|err| {
        eprintln!("configuration error: {err}");
        ExitCode::from(2)
    })
}

/// A non-blocking socket listening on `config.addr`, and its address.
pub fn listen(config: &Config) -> Result<(TcpListener, SocketAddr), ExitCode> {
    let listening = TcpListener::bind(config.addr).and_then(|listener| {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    });
    listening.map_err(|err| {
        eprintln!("cannot listen on {}: {err}", config.addr);
        ExitCode::FAILURE
    })
}

/// Prints where the demo on `framework` listens, and its banner.
pub fn announce(framework: &str, config: &Config, addr: SocketAddr) {
    println!(
        "auth demo ({framework}, {}) listening on http://{addr}/",
        config.store.describe()
    );
    for line in config.banner() {
        println!("{line}");
    }
}

/// The process's exit code once the server stopped.
pub fn exit_code<E: std::fmt::Display>(served: Result<(), E>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("server error: {err}");
            ExitCode::FAILURE
        }
    }
}
