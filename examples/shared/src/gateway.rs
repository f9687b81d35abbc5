//! The demo as a gateway (`GATEWAY_UPSTREAM`): requests to `/api/*` from a
//! signed-in caller go on to an internal service with a gateway token in
//! `X-User-Token` instead of the caller's own credentials. What both
//! demos share: the settings, the token minting, and which headers cross.

use auth_core::jwt::{AccessTokens, Algorithm, GatewayTokens, Key};

/// The issuer of the demo's gateway tokens unless `GATEWAY_ISSUER` says
/// otherwise (and `example-backend`'s default).
pub const GATEWAY_ISSUER: &str = "auth-demo-gateway";
/// Their audience unless `GATEWAY_AUDIENCE` says otherwise.
pub const GATEWAY_AUDIENCE: &str = "internal";
/// The header the upstream finds them in.
pub const GATEWAY_HEADER: &str = "x-user-token";

/// The gateway: where `/api/*` goes, and the tokens it carries.
#[derive(Debug, Clone)]
pub struct DemoGateway {
    /// The upstream's base URL (`http://host:port`), without a trailing
    /// slash.
    pub upstream: String,
    /// Mints the token for each caller (once per session and lifetime).
    pub tokens: GatewayTokens,
    /// The verification keys, as `/.well-known/gateway-jwks.json` serves
    /// them.
    pub jwks: String,
}

impl DemoGateway {
    /// A gateway to `upstream` whose tokens name `issuer` and `audience`,
    /// signed with `key` (the shared access-token key, so every instance
    /// mints tokens the upstream accepts) or a key of its own.
    pub fn new(
        upstream: &str,
        issuer: &str,
        audience: &str,
        key: Option<Key>,
    ) -> Result<Self, String> {
        let upstream = upstream.trim_end_matches('/');
        let is_http = upstream
            .strip_prefix("http://")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if !is_http {
            return Err(format!(
                "GATEWAY_UPSTREAM must be http://host:port, got {upstream:?}"
            ));
        }
        let key = match key {
            Some(key) => key,
            None => Key::generate("gateway-1", Algorithm::EdDSA).map_err(|e| e.to_string())?,
        };
        let signer = AccessTokens::builder(issuer)
            .with_audience(audience)
            .with_signing_key(key)
            .build()
            .map_err(|e| format!("gateway tokens: {e}"))?;
        let jwks = signer.jwks().to_string();
        let tokens = GatewayTokens::new(GATEWAY_HEADER, signer).map_err(|e| e.to_string())?;
        Ok(Self {
            upstream: upstream.to_owned(),
            tokens,
            jwks,
        })
    }

    /// The upstream URL of a request to `path_and_query` (`/api/…`).
    pub fn target(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.upstream)
    }
}

/// Whether a request header crosses to the upstream: not the caller's
/// credentials (the gateway token stands for them), not the hop-by-hop
/// headers of this connection, not `Host`.
pub fn forwards_request_header(name: &str) -> bool {
    !matches!(
        name,
        "cookie" | "authorization" | "x-api-key" | "x-csrf-token" | "host"
    ) && forwards_response_header(name)
}

/// Whether a response header crosses back: not the hop-by-hop ones.
pub fn forwards_response_header(name: &str) -> bool {
    !matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}
