//! An internal service behind the demo's gateway, as a library so tests
//! can serve it. It keeps no sessions and knows no passwords: it accepts
//! only the token the gateway puts in `X-User-Token`, verified with the
//! keys the gateway publishes, and answers who the caller is.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/whoami` | 200 `{"user_id","roles"}` from the gateway's token; 401 without one, or with a forged, expired or (with `GATEWAY_REDIS_URL`) revoked one; 503 while the gateway's revocations are not arriving |
//!
//! With `GATEWAY_REDIS_URL` (the gateway's Redis), the service hears the
//! gateway's revocation announcements: a logout at the gateway refuses
//! that session's gateway tokens here at once, not when they expire.

use auth_redis::RedisStore;
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
#[derive(Clone, PartialEq, Eq)]
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
    /// `GATEWAY_REDIS_URL`: the gateway's Redis, whose revocation
    /// announcements this service then hears.
    pub redis_url: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A Redis URL may carry a password.
        let redis = self
            .redis_url
            .as_deref()
            .map(|url| match url.rsplit_once('@') {
                Some((_, host)) => format!("redis://<redacted>@{host}"),
                None => url.to_owned(),
            });
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("redis_url", &redis)
            .finish()
    }
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
            redis_url: get("GATEWAY_REDIS_URL"),
        })
    }

    /// The authenticator: the gateway's tokens only. Needs a Tokio
    /// runtime, which fetches the keys.
    pub fn authenticator(&self) -> Result<Authenticator, String> {
        let gateway = ExternalIssuer::builder(&self.issuer, &self.audience)
            .with_jwks_url(&self.jwks_url)
            .build()
            .map_err(|e| format!("GATEWAY_JWKS_URL / GATEWAY_ISSUER: {e}"))?;
        let mut upstream =
            UpstreamTokens::new(GATEWAY_HEADER, gateway).map_err(|e| e.to_string())?;
        if let Some(url) = &self.redis_url {
            let store = RedisStore::from_url(url).map_err(|e| format!("GATEWAY_REDIS_URL: {e}"))?;
            upstream = upstream
                .with_revocations(&store)
                .map_err(|e| format!("GATEWAY_REDIS_URL: {e}"))?;
        }
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

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn the_gateways_redis_is_optional_and_its_password_never_shown() {
        let config = Config::from_lookup(|k| match k {
            "GATEWAY_JWKS_URL" => {
                Some("http://127.0.0.1:3000/.well-known/gateway-jwks.json".into())
            }
            "GATEWAY_REDIS_URL" => Some("redis://:hunter2-secret@10.0.0.5:6379".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            config.redis_url.as_deref(),
            Some("redis://:hunter2-secret@10.0.0.5:6379")
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("10.0.0.5:6379"), "{shown}");
        let without = Config::from_lookup(|k| {
            (k == "GATEWAY_JWKS_URL").then(|| "http://127.0.0.1:3000/jwks".into())
        })
        .unwrap();
        assert_eq!(without.redis_url, None);
    }
}
