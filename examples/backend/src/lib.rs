//! An internal service behind the demo's gateway, as a library so tests
//! can serve it. It keeps no sessions and knows no passwords: it accepts
//! only the token the gateway puts in `X-User-Token`, verified with the
//! keys the gateway publishes, and answers who the caller is.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/whoami` | 200 `{"user_id","roles"}` from the gateway's token; 401 without one, or with a forged or expired one |

use auth_tower::auth_core::jwt::oidc::{ExternalIssuer, UpstreamTokens};
use auth_tower::auth_core::{Authenticator, MemoryStore};
use auth_tower::{AuthLayer, CurrentUser};
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The header the gateway puts its token in.
pub const GATEWAY_HEADER: &str = "x-user-token";
/// The gateway's issuer unless `GATEWAY_ISSUER` says otherwise: the
/// demo's.
pub const DEFAULT_GATEWAY_ISSUER: &str = "auth-demo-gateway";
/// The audience of internal services unless `GATEWAY_AUDIENCE` says
/// otherwise: the demo's.
pub const DEFAULT_GATEWAY_AUDIENCE: &str = "internal";

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ADDR` (default `127.0.0.1:4000`).
    pub addr: std::net::SocketAddr,
    /// `GATEWAY_JWKS_URL`: where the gateway publishes its keys (the
    /// demo: `http://<its ADDR>/.well-known/gateway-jwks.json`).
    pub jwks_url: String,
    /// `GATEWAY_ISSUER`.
    pub issuer: String,
    /// `GATEWAY_AUDIENCE`.
    pub audience: String,
}

impl Config {
    /// From the environment, through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let addr = match get("ADDR") {
            Some(addr) => addr
                .parse()
                .map_err(|_| format!("ADDR {addr:?} is not host:port"))?,
            None => std::net::SocketAddr::from(([127, 0, 0, 1], 4000)),
        };
        Ok(Self {
            addr,
            jwks_url: get("GATEWAY_JWKS_URL")
                .ok_or("set GATEWAY_JWKS_URL to the gateway's JWKS")?,
            issuer: get("GATEWAY_ISSUER").unwrap_or_else(|| DEFAULT_GATEWAY_ISSUER.into()),
            audience: get("GATEWAY_AUDIENCE").unwrap_or_else(|| DEFAULT_GATEWAY_AUDIENCE.into()),
        })
    }

    /// The authenticator: the gateway's tokens only. Needs a Tokio
    /// runtime, which fetches the keys.
    pub fn authenticator(&self) -> Result<Authenticator, String> {
        let gateway = ExternalIssuer::builder(&self.issuer, &self.audience)
            .with_jwks_url(&self.jwks_url)
            .build()
            .map_err(|e| format!("GATEWAY_JWKS_URL / GATEWAY_ISSUER: {e}"))?;
        let upstream = UpstreamTokens::new(GATEWAY_HEADER, gateway).map_err(|e| e.to_string())?;
        // The store is never written: no credential here makes a session.
        Authenticator::builder(MemoryStore::new())
            .with_authenticator(upstream)
            .without_csrf()
            .build()
            .map_err(|e| e.to_string())
    }
}

/// The service's routes behind [`AuthLayer`].
pub fn router(auth: Authenticator) -> Router {
    Router::new()
        .route("/api/whoami", get(whoami))
        .layer(AuthLayer::new(auth))
}

async fn whoami(CurrentUser(user): CurrentUser) -> Response {
    axum::Json(serde_json::json!({
        "user_id": user.user_id(),
        "roles": user.roles(),
    }))
    .into_response()
}
