//! The session demo on plain hyper, without a web framework: the same HTTP
//! contract as the axum and actix demos (see `example-axum`), through the
//! adapter in [`auth`], which drives auth-core's exchange. `main.rs` runs
//! it on the store the environment names.

pub mod auth;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use auth_core::{Authenticator, Clock, Permission, Refusal, Requirement, SystemClock};
use example_shared::handlers::{self, Answer};
pub use example_shared::{Config, DEMO_ACCOUNTS, StoreConfig, Users};
use http::{Method, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Admitted, Auth};

/// The largest request body a route reads.
const BODY_LIMIT: usize = 16 * 1024;

/// The demo: its authentication and its accounts.
#[derive(Debug, Clone)]
pub struct App {
    auth: Auth,
    users: Arc<Users>,
}

impl App {
    /// The demo's routes behind `auth`.
    pub fn new(auth: Authenticator, users: Arc<Users>) -> Self {
        Self {
            auth: Auth::new(auth),
            users,
        }
    }

    /// The demo on the configured store and the system clock.
    pub async fn from_config(config: &Config) -> Result<Self, String> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let stores = config.store.build(clock.clone()).await?;
        let auth = config.authenticator(stores, clock)?;
        Ok(Self::new(auth, Arc::new(Users::demo())))
    }

    /// Answers one request from `peer`.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> auth::Answer {
        let mut req = match self.auth.admit(req, peer.ip()).await {
            Ok(req) => req,
            Err(refused) => return refused,
        };
        let routed = self.route(&mut req).await.map(Answer::into_http);
        self.auth.respond(&req.handle, routed).await
    }

    /// The route's answer, or its refusal for the exchange to render.
    async fn route(&self, req: &mut Admitted) -> Result<Answer, Refusal> {
        let path = req.head.uri.path().to_owned();
        let method = req.head.method.clone();
        let auth = &req.handle;
        let signed_in =
            |requirement: Option<&Requirement>| req.caller(requirement).map_err(Answer::from);
        Ok(match (method, path.as_str()) {
            (Method::GET, "/") => {
                let query = req.head.uri.query();
                handlers::page(signed_in(None).ok().as_ref(), auth, query).await?
            }
            (Method::GET, "/me") => match signed_in(None) {
                Ok(user) => handlers::me(&user, auth),
                Err(refused) => refused,
            },
            (Method::POST, "/logout") => handlers::logout(auth, req.content_type()).await?,
            (Method::GET, "/login/sso") => handlers::sso_start(auth, req.head.uri.query()).await?,
            (Method::GET, "/login/sso/callback") => {
                handlers::sso_callback(auth, req.head.uri.query()).await?
            }
            (Method::POST, "/logout-all") => match signed_in(None) {
                Ok(_) => handlers::logout_all(auth, req.content_type()).await?,
                Err(refused) => refused,
            },
            (Method::GET, "/sessions") => match signed_in(None) {
                Ok(_) => handlers::sessions(auth).await?,
                Err(refused) => refused,
            },
            (Method::GET, "/admin") => match signed_in(Some(&Requirement::role("admin"))) {
                Ok(user) => handlers::admin(&user),
                Err(refused) => refused,
            },
            (Method::GET, "/reports") => {
                let read = Requirement::permission(example_shared::ReadReports::NAME);
                match signed_in(Some(&read)) {
                    Ok(user) => handlers::reports(&user),
                    Err(refused) => refused,
                }
            }
            (Method::POST, "/reports") => {
                let write = Requirement::permission(example_shared::WRITE_REPORTS);
                match signed_in(Some(&write)) {
                    Ok(user) => handlers::create_report(&user),
                    Err(refused) => refused,
                }
            }
            (Method::POST, "/token/cookie") => match signed_in(None) {
                Ok(_) => handlers::token_cookie(auth),
                Err(refused) => refused,
            },
            (Method::GET, "/.well-known/jwks.json") => handlers::jwks(auth),
            (Method::DELETE, path) if session_id(path, "").is_some() => match signed_in(None) {
                Ok(_) => handlers::revoke(auth, session_id(path, "").unwrap_or(""), false).await?,
                Err(refused) => refused,
            },
            (Method::POST, path) if session_id(path, "/revoke").is_some() => {
                match signed_in(None) {
                    Ok(_) => {
                        let id = session_id(path, "/revoke").unwrap_or("");
                        handlers::revoke(auth, id, true).await?
                    }
                    Err(refused) => refused,
                }
            }
            (Method::GET, path) if admin_target(path, "/sessions").is_some() => {
                match signed_in(Some(&Requirement::role("admin"))) {
                    Ok(_) => {
                        let user = admin_target(path, "/sessions").unwrap_or("");
                        handlers::user_sessions(auth, user).await?
                    }
                    Err(refused) => refused,
                }
            }
            (Method::POST, path) if admin_target(path, "/password-reset").is_some() => {
                match signed_in(Some(&Requirement::role("admin"))) {
                    Ok(_) => {
                        let user = admin_target(path, "/password-reset").unwrap_or("");
                        handlers::reset_password(self.users.clone(), auth, user).await?
                    }
                    Err(refused) => refused,
                }
            }
            (Method::POST, "/password") => match signed_in(None) {
                Ok(_) => return self.with_body(req, &path).await,
                Err(refused) => refused,
            },
            (Method::POST, path) if admin_target(path, "/logout").is_some() => {
                match signed_in(Some(&Requirement::role("admin"))) {
                    Ok(_) => {
                        let user = admin_target(path, "/logout").unwrap_or("");
                        handlers::logout_user(auth, user, req.content_type()).await?
                    }
                    Err(refused) => refused,
                }
            }
            (
                Method::POST,
                "/login" | "/token" | "/token/refresh" | "/token/revoke" | "/logout/backchannel",
            ) => {
                return self.with_body(req, &path).await;
            }
            _ => Answer::error(404, "not_found"),
        })
    }

    /// The routes that read a body.
    async fn with_body(&self, req: &mut Admitted, path: &str) -> Result<Answer, Refusal> {
        let Some(body) = req.body(BODY_LIMIT).await else {
            return Ok(Answer::error(413, "payload_too_large"));
        };
        let (auth, content_type) = (&req.handle, req.content_type());
        let users = self.users.clone();
        match path {
            "/login" => handlers::login(users, auth, content_type, &body).await,
            "/token" => handlers::token(users, auth, content_type, &body).await,
            "/token/refresh" => handlers::token_refresh(auth, &body).await,
            "/password" => handlers::change_password(users, auth, content_type, &body).await,
            "/logout/backchannel" => handlers::backchannel_logout(auth, &body).await,
            _ => handlers::token_revoke(auth, &body).await,
        }
    }
}

/// The `{user}` of `/admin/users/{user}{suffix}`.
fn admin_target<'a>(path: &'a str, suffix: &str) -> Option<&'a str> {
    let user = path.strip_prefix("/admin/users/")?.strip_suffix(suffix)?;
    (!user.is_empty() && !user.contains('/')).then_some(user)
}

/// The `{id}` of `/sessions/{id}{suffix}`.
fn session_id<'a>(path: &'a str, suffix: &str) -> Option<&'a str> {
    let id = path.strip_prefix("/sessions/")?.strip_suffix(suffix)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Serves `app` on `listener` until `shutdown` completes; then each
/// connection finishes the request it is serving and closes.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(req, peer).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = served {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(stop);
    Ok(())
}
