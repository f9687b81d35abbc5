//! What the demo apps share, so the axum and actix demos answer byte for
//! byte alike: accounts, settings, request parsing, JSON shapes and pages.
//! Framework-specific routing lives in each demo.

pub mod gateway;
pub mod handlers;
pub mod keys;
pub mod startup;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use auth_core::AuthHandle;
use auth_core::csrf::CsrfPolicy;
use auth_core::custom::ApiKeys;
use auth_core::jwt::oidc::ExternalIssuer;
use auth_core::jwt::{AccessTokens, Algorithm, Key, RefreshPolicy, TokenPair};
use auth_core::navigation::LoginRedirect;
use auth_core::throttle::{CounterStore, LoginThrottle};
use auth_core::{
    Authenticator, Clock, ConfigError, CookiePolicy, Identity, JsonRefusals, MemoryStore,
    Permission, Refusal, RenderRefusal, RenderedBody, RolePermissions, SessionId, SessionInfo,
    SessionLimit, SessionStore,
};
use auth_redis::RedisStore;
use example_memcached_store::MemcachedStore;
use example_postgres_store::PostgresStore;
pub use keys::SharedKeys;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The demo's accounts: user, password, roles.
pub const DEMO_ACCOUNTS: [(&str, &str, &[&str]); 2] = [
    ("alice", "wonderland", &["user"]),
    ("admin", "admin-secret", &["user", "admin"]),
];

/// Longest accepted username, in bytes.
pub const MAX_USERNAME: usize = 128;
/// Longest accepted password, in bytes.
pub const MAX_PASSWORD: usize = 1024;

/// The demo's settings, from the environment. `Debug` never shows a
/// secret (the CSRF key, the API key, the refresh key, the client secret).
#[derive(Clone)]
pub struct Config {
    /// Where to listen (`ADDR`, default `127.0.0.1:3000`).
    pub addr: SocketAddr,
    /// `Secure` cookies with the `__Host-` prefix (`COOKIE_SECURE=1`).
    pub cookie_secure: bool,
    /// `COOKIE_PERSISTENT=1`: session cookies carry `Max-Age` even without
    /// "remember me" (default: a browser-session cookie).
    pub cookie_persistent: bool,
    /// `SESSION_IDLE_TIMEOUT`, seconds.
    pub idle_timeout: Option<Duration>,
    /// `SESSION_ABSOLUTE_TIMEOUT`, seconds.
    pub absolute_timeout: Option<Duration>,
    /// Where sessions live: `REDIS_URL`, `REDIS_CLUSTER_URLS`,
    /// `DATABASE_URL` (PostgreSQL), `MEMCACHED_SERVERS`, or memory.
    pub store: StoreConfig,
    /// `ACCESS_TOKEN_TTL`, seconds (default 5 minutes).
    pub access_token_ttl: Option<Duration>,
    /// `JWT_LEEWAY`, seconds (default 30).
    pub jwt_leeway: Option<Duration>,
    /// `CSRF_KEY`: the key of CSRF tokens, at least 32 bytes, shared by
    /// every instance (default: random at start).
    pub csrf_key: Option<String>,
    /// `TRUSTED_ORIGINS`: comma-separated origins allowed to post to the
    /// app (default: the request's own `Host`).
    pub trusted_origins: Vec<String>,
    /// `TRUSTED_PROXIES`: comma-separated addresses and CIDR blocks of the
    /// load balancers in front of the demo, whose `X-Forwarded-For` (or
    /// `Forwarded`), `X-Forwarded-Host` and `X-Forwarded-Proto` are
    /// believed (default: none; the headers are ignored).
    pub trusted_proxies: Option<auth_core::proxy::TrustedProxies>,
    /// `MAX_SESSIONS_PER_USER`: past it, a login ends the user's oldest
    /// sessions (default: no limit).
    pub max_sessions_per_user: Option<usize>,
    /// `API_KEY`: the key of the demo's robot caller ([`API_KEY_CALLER`]),
    /// sent as `X-API-Key`, at least 16 characters (default: no API key is
    /// accepted).
    pub api_key: Option<String>,
    /// `OIDC_ISSUER` and `OIDC_AUDIENCE` (both or neither), with
    /// `OIDC_JWKS_URL` optional: bearer tokens of that provider are trusted
    /// beside the demo's own.
    pub oidc: Option<OidcSettings>,
    /// `OIDC_ISSUER` with `OIDC_CLIENT_ID`: "Sign in with SSO" through
    /// that provider.
    pub sso: Option<SsoSettings>,
    /// `ACCESS_TOKEN_KEY_FILE`, `ACCESS_TOKEN_PREVIOUS_KEY_FILE` and
    /// `REFRESH_KEY`: the keys instances share to accept each other's
    /// access and refresh tokens (default: this instance's own, generated
    /// at start).
    pub keys: SharedKeys,
    /// `GATEWAY_UPSTREAM` (`http://host:port`): `/api/*` goes there with a
    /// gateway token; `GATEWAY_ISSUER` and `GATEWAY_AUDIENCE` name the
    /// tokens (default `auth-demo-gateway`, `internal`).
    pub gateway: Option<GatewaySettings>,
}

/// Where the demo's gateway forwards, and how its tokens are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `GATEWAY_UPSTREAM`.
    pub upstream: String,
    /// `GATEWAY_ISSUER`.
    pub issuer: String,
    /// `GATEWAY_AUDIENCE`.
    pub audience: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("cookie_secure", &self.cookie_secure)
            .field("cookie_persistent", &self.cookie_persistent)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("store", &self.store.describe())
            .field("access_token_ttl", &self.access_token_ttl)
            .field("jwt_leeway", &self.jwt_leeway)
            .field("csrf_key", &redacted(&self.csrf_key))
            .field("trusted_origins", &self.trusted_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("api_key", &redacted(&self.api_key))
            .field("oidc", &self.oidc)
            .field("sso", &self.sso)
            .field("keys", &self.keys)
            .field("gateway", &self.gateway)
            .finish()
    }
}

/// The OpenID provider the demo's users may sign in through. `Debug`
/// never shows the client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// `OIDC_ISSUER`.
    pub issuer: String,
    /// `OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `OIDC_CLIENT_SECRET`: a confidential client (`client_secret_basic`);
    /// without it, a public client.
    pub client_secret: Option<String>,
    /// `OIDC_REDIRECT_URL` (default `http://<ADDR>/login/sso/callback`).
    pub redirect_url: Option<String>,
    /// `OIDC_ROLES_CLAIM`, as for access tokens.
    pub roles_claims: Vec<String>,
}

impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("roles_claims", &self.roles_claims)
            .finish()
    }
}

impl SsoSettings {
    /// The callback URL registered at the provider, for a demo listening
    /// on `addr`.
    pub fn redirect_url(&self, addr: SocketAddr) -> String {
        self.redirect_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}/login/sso/callback"))
    }
}

/// An external OpenID provider whose access tokens the demo trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer URL, as tokens name it in `iss`.
    pub issuer: String,
    /// The audience tokens must carry in `aud`.
    pub audience: String,
    /// The JWKS URL, when discovery should be skipped.
    pub jwks_url: Option<String>,
    /// `OIDC_ACCEPT_UNTYPED=1`: also accept access tokens typed `JWT` or
    /// untyped, as Keycloak and Auth0 issue them (ID tokens are refused
    /// either way).
    pub accept_untyped: bool,
    /// `OIDC_ROLES_CLAIM`: comma-separated claim paths roles also come
    /// from (`realm_access.roles` for Keycloak's realm roles).
    pub roles_claims: Vec<String>,
}

/// Where the demo keeps its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// In this process (the default).
    #[default]
    Memory,
    /// One Redis server (`REDIS_URL`; `rediss://` for TLS), and the PEM
    /// file of a private CA its certificate is signed by (`REDIS_CA_FILE`).
    Redis(String, Option<String>),
    /// A Redis Cluster (`REDIS_CLUSTER_URLS`, comma-separated node URLs).
    RedisCluster(Vec<String>),
    /// PostgreSQL (`DATABASE_URL`), through `example-postgres-store`.
    Postgres(String),
    /// memcached (`MEMCACHED_SERVERS`, comma-separated `host:port`),
    /// through `example-memcached-store`.
    Memcached(Vec<String>),
}

impl StoreConfig {
    /// A short description for the start-up banner.
    pub fn describe(&self) -> String {
        match self {
            Self::Memory => "in-memory store".into(),
            Self::Redis(url, _) => format!("Redis at {}", redact_url(url)),
            Self::Postgres(url) => format!("PostgreSQL at {}", redact_url(url)),
            Self::Memcached(servers) => format!("memcached at {}", servers.join(", ")),
            Self::RedisCluster(urls) => format!(
                "Redis Cluster at {}",
                urls.iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Builds the store (sessions, and the login throttle's counters), on
    /// `clock` for the in-memory one.
    /// PostgreSQL's tables are created if missing.
    pub async fn build(&self, clock: Arc<dyn Clock>) -> Result<Stores, String> {
        fn both<S: SessionStore + CounterStore + Clone>(store: S) -> Stores {
            Stores {
                sessions: Arc::new(store.clone()),
                counters: Arc::new(store),
            }
        }
        Ok(match self {
            Self::Memory => both(MemoryStore::with_clock(clock)),
            Self::Redis(url, None) => both(RedisStore::from_url(url).map_err(|e| e.to_string())?),
            Self::Redis(url, Some(ca_file)) => {
                let ca = std::fs::read(ca_file)
                    .map_err(|e| format!("REDIS_CA_FILE {ca_file:?}: {e}"))?;
                both(RedisStore::from_tls_url(url, &ca).map_err(|e| e.to_string())?)
            }
            Self::RedisCluster(urls) => both(RedisStore::cluster(urls).map_err(|e| e.to_string())?),
            Self::Postgres(url) => {
                let store = PostgresStore::connect(url)
                    .await
                    .map_err(|e| e.to_string())?
                    .with_clock(clock);
                store
                    .migrate()
                    .await
                    .map_err(|e| format!("cannot prepare PostgreSQL: {e}"))?;
                both(store)
            }
            Self::Memcached(servers) => both(
                MemcachedStore::new(servers)
                    .map_err(|e| format!("MEMCACHED_SERVERS: {e}"))?
                    .with_clock(clock),
            ),
        })
    }
}

/// One backend, seen as a session store and as the throttle's counters.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Failed-login counters.
    pub counters: Arc<dyn CounterStore>,
}

/// Failed logins allowed per account in [`THROTTLE_WINDOW`].
pub const THROTTLE_USER_LIMIT: u64 = 10;
/// Failed logins allowed per client address in [`THROTTLE_WINDOW`].
pub const THROTTLE_ADDRESS_LIMIT: u64 = 100;
/// The throttle's window and lockout: 15 minutes.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Hides a password in a `redis://user:password@host` URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://REDACTED@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            cookie_secure: false,
            cookie_persistent: false,
            idle_timeout: None,
            absolute_timeout: None,
            store: StoreConfig::Memory,
            access_token_ttl: None,
            jwt_leeway: None,
            csrf_key: None,
            trusted_origins: Vec::new(),
            trusted_proxies: None,
            max_sessions_per_user: None,
            api_key: None,
            oidc: None,
            sso: None,
            keys: SharedKeys::default(),
            gateway: None,
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = Self::default();
        if let Some(addr) = lookup("ADDR") {
            config.addr = addr
                .parse()
                .map_err(|_| format!("ADDR must be host:port, got {addr:?}"))?;
        }
        if let Some(secure) = lookup("COOKIE_SECURE") {
            config.cookie_secure = match secure.as_str() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                other => return Err(format!("COOKIE_SECURE must be 1 or 0, got {other:?}")),
            };
        }
        if let Some(persistent) = lookup("COOKIE_PERSISTENT") {
            config.cookie_persistent = match persistent.as_str() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                other => return Err(format!("COOKIE_PERSISTENT must be 1 or 0, got {other:?}")),
            };
        }
        let seconds = |key: &str| -> Result<Option<Duration>, String> {
            lookup(key)
                .map(|v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|s| *s > 0)
                        .map(Duration::from_secs)
                        .ok_or_else(|| {
                            format!("{key} must be a positive number of seconds, got {v:?}")
                        })
                })
                .transpose()
        };
        config.idle_timeout = seconds("SESSION_IDLE_TIMEOUT")?;
        config.absolute_timeout = seconds("SESSION_ABSOLUTE_TIMEOUT")?;
        config.access_token_ttl = seconds("ACCESS_TOKEN_TTL")?;
        config.jwt_leeway = lookup("JWT_LEEWAY")
            .map(|v| {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| format!("JWT_LEEWAY must be a number of seconds, got {v:?}"))
            })
            .transpose()?;
        let nonempty = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        config.csrf_key = nonempty("CSRF_KEY");
        config.api_key = match nonempty("API_KEY") {
            Some(key) if key.trim().len() < 16 => {
                return Err("API_KEY must be at least 16 characters".into());
            }
            Some(key) => Some(key.trim().to_owned()),
            None => None,
        };
        config.max_sessions_per_user = nonempty("MAX_SESSIONS_PER_USER")
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("MAX_SESSIONS_PER_USER must be a positive number, got {v:?}")
                    })
            })
            .transpose()?;
        let roles_claims: Vec<String> = nonempty("OIDC_ROLES_CLAIM")
            .map(|paths| {
                paths
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        config.keys = SharedKeys {
            access_key_file: nonempty("ACCESS_TOKEN_KEY_FILE").map(|f| f.trim().to_owned()),
            previous_key_file: nonempty("ACCESS_TOKEN_PREVIOUS_KEY_FILE")
                .map(|f| f.trim().to_owned()),
            refresh_key: nonempty("REFRESH_KEY"),
        };
        if let Some(key) = &config.keys.refresh_key {
            keys::refresh_secret(key)?;
        }
        if config.keys.previous_key_file.is_some() && config.keys.access_key_file.is_none() {
            return Err("ACCESS_TOKEN_PREVIOUS_KEY_FILE needs ACCESS_TOKEN_KEY_FILE".into());
        }
        config.gateway = nonempty("GATEWAY_UPSTREAM").map(|upstream| GatewaySettings {
            upstream: upstream.trim().to_owned(),
            issuer: nonempty("GATEWAY_ISSUER").map_or_else(
                || gateway::GATEWAY_ISSUER.to_owned(),
                |i| i.trim().to_owned(),
            ),
            audience: nonempty("GATEWAY_AUDIENCE").map_or_else(
                || gateway::GATEWAY_AUDIENCE.to_owned(),
                |a| a.trim().to_owned(),
            ),
        });
        let issuer = nonempty("OIDC_ISSUER").map(|i| i.trim().to_owned());
        let audience = nonempty("OIDC_AUDIENCE").map(|a| a.trim().to_owned());
        let client_id = nonempty("OIDC_CLIENT_ID").map(|c| c.trim().to_owned());
        if issuer.is_some() != (audience.is_some() || client_id.is_some()) {
            return Err(
                "set OIDC_ISSUER with OIDC_AUDIENCE (API tokens), OIDC_CLIENT_ID (SSO) or both, or none of them"
                    .into(),
            );
        }
        config.oidc = match (&issuer, audience) {
            (Some(issuer), Some(audience)) => Some(OidcSettings {
                issuer: issuer.clone(),
                audience,
                jwks_url: nonempty("OIDC_JWKS_URL").map(|u| u.trim().to_owned()),
                accept_untyped: matches!(
                    nonempty("OIDC_ACCEPT_UNTYPED").as_deref().map(str::trim),
                    Some("1" | "true")
                ),
                roles_claims: roles_claims.clone(),
            }),
            _ => None,
        };
        config.sso = match (issuer, client_id) {
            (Some(issuer), Some(client_id)) => Some(SsoSettings {
                issuer,
                client_id,
                client_secret: nonempty("OIDC_CLIENT_SECRET").map(|s| s.trim().to_owned()),
                redirect_url: nonempty("OIDC_REDIRECT_URL").map(|u| u.trim().to_owned()),
                roles_claims,
            }),
            _ => None,
        };
        config.trusted_proxies = nonempty("TRUSTED_PROXIES")
            .map(|list| {
                auth_core::proxy::TrustedProxies::parse(&list)
                    .map_err(|e| format!("TRUSTED_PROXIES: {e}"))
            })
            .transpose()?;
        config.trusted_origins = nonempty("TRUSTED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect()
        };
        config.store = match (
            nonempty("REDIS_URL"),
            nonempty("REDIS_CLUSTER_URLS"),
            nonempty("DATABASE_URL"),
            nonempty("MEMCACHED_SERVERS"),
        ) {
            (Some(url), None, None, None) => StoreConfig::Redis(
                url.trim().to_owned(),
                nonempty("REDIS_CA_FILE").map(|f| f.trim().to_owned()),
            ),
            (None, Some(urls), None, None) => StoreConfig::RedisCluster(list(urls)),
            (None, None, Some(url), None) => StoreConfig::Postgres(url.trim().to_owned()),
            (None, None, None, Some(servers)) => StoreConfig::Memcached(list(servers)),
            (None, None, None, None) => StoreConfig::Memory,
            _ => {
                return Err(
                    "set at most one of REDIS_URL, REDIS_CLUSTER_URLS, DATABASE_URL \
                     and MEMCACHED_SERVERS"
                        .into(),
                );
            }
        };
        Ok(config)
    }

    /// What the start-up banner says beside the address: the demo
    /// accounts and the optional credentials, never a secret.
    pub fn banner(&self) -> Vec<String> {
        let mut lines = vec!["demo accounts:".to_owned()];
        for (user, password, roles) in DEMO_ACCOUNTS {
            lines.push(format!(
                "  {user} / {password}  (roles: {})",
                roles.join(", ")
            ));
        }
        let (bot, _, permissions) = API_KEY_CALLER;
        lines.push(match &self.api_key {
            Some(_) => format!(
                "X-API-Key: the key in API_KEY authenticates {bot} ({})",
                permissions.join(", ")
            ),
            None => "X-API-Key: off (set API_KEY, at least 16 characters)".to_owned(),
        });
        if let Some(oidc) = &self.oidc {
            lines.push(format!(
                "bearer tokens of {} for audience {:?} are trusted",
                oidc.issuer, oidc.audience
            ));
        }
        lines.push(match (&self.keys.access_key_file, &self.keys.refresh_key) {
            (Some(file), Some(_)) => format!(
                "access tokens signed with the key in {file}, refresh tokens with REFRESH_KEY: \
                 instances sharing them accept each other's tokens"
            ),
            (Some(file), None) => format!(
                "access tokens signed with the key in {file}; refresh tokens with a key of this instance's own (set REFRESH_KEY to share it)"
            ),
            (None, _) => "access tokens signed with a key of this instance's own \
                 (set ACCESS_TOKEN_KEY_FILE and REFRESH_KEY to share them between instances)"
                .to_owned(),
        });
        if let Some(gateway) = &self.gateway {
            lines.push(format!(
                "/api/* goes to {} with gateway tokens ({} for {}) in X-User-Token; keys at /.well-known/gateway-jwks.json",
                gateway.upstream, gateway.issuer, gateway.audience
            ));
        }
        if let Some(sso) = &self.sso {
            lines.push(format!(
                "Sign in with SSO through {} as client {:?}; callback {}",
                sso.issuer,
                sso.client_id,
                sso.redirect_url(self.addr)
            ));
        }
        if let Some(proxies) = &self.trusted_proxies {
            lines.push(format!(
                "client addresses forwarded by {proxies:?} are believed"
            ));
        }
        if let Some(limit) = self.max_sessions_per_user {
            lines.push(format!(
                "at most {limit} sessions per user; a new login ends the oldest"
            ));
        }
        lines
    }

    /// The authenticator these settings describe, on `store` and `clock`:
    /// session cookies, plus ES256 access tokens (a key generated at start)
    /// and refresh tokens. With [`oidc`](Self::oidc) set, it must be called
    /// on a Tokio runtime, which fetches the provider's keys.
    pub fn authenticator(
        &self,
        stores: Stores,
        clock: Arc<dyn Clock>,
    ) -> Result<Authenticator, String> {
        let Stores {
            sessions: store,
            counters,
        } = stores;
        let sso = self.sso_client(counters.clone(), clock.clone())?;
        let throttle = LoginThrottle::new_shared(counters)
            .with_user_limit(THROTTLE_USER_LIMIT)
            .with_address_limit(THROTTLE_ADDRESS_LIMIT)
            .with_window(THROTTLE_WINDOW);
        let key = match &self.keys.access_key_file {
            Some(path) => keys::signing_key(path, "ACCESS_TOKEN_KEY_FILE")?,
            None => {
                let kid = format!("demo-{}", OffsetDateTime::now_utc().unix_timestamp());
                Key::generate(kid, Algorithm::ES256).map_err(|e| e.to_string())?
            }
        };
        let mut tokens = AccessTokens::builder(TOKEN_ISSUER)
            .with_audience(TOKEN_AUDIENCE)
            .with_signing_key(key)
            .with_clock(clock.clone());
        if let Some(path) = &self.keys.previous_key_file {
            let previous = keys::signing_key(path, "ACCESS_TOKEN_PREVIOUS_KEY_FILE")?;
            tokens = tokens.with_verification_key(previous.verification_only());
        }
        if let Some(ttl) = self.access_token_ttl {
            tokens = tokens.with_ttl(ttl);
        }
        if let Some(leeway) = self.jwt_leeway {
            tokens = tokens.with_leeway(leeway);
        }
        let tokens = tokens.build().map_err(|e| e.to_string())?;
        let mut refresh = RefreshPolicy::new().map_err(|e| e.to_string())?;
        if let Some(key) = &self.keys.refresh_key {
            refresh = refresh
                .with_secret(keys::refresh_secret(key)?)
                .map_err(|e| format!("REFRESH_KEY: {e}"))?;
        }
        let mut csrf = match &self.csrf_key {
            Some(key) => CsrfPolicy::new(key.as_bytes()),
            None => CsrfPolicy::generate(),
        }
        .map_err(|e| format!("CSRF_KEY: {e}"))?;
        for origin in &self.trusted_origins {
            csrf = csrf
                .with_trusted_origin(origin)
                .map_err(|e| format!("TRUSTED_ORIGINS: {e}"))?;
        }
        // These act on the credentials in their body, not on the cookie
        // (`/token/cookie` acts on the session, so it is not among them).
        for path in ["/login", "/token", "/token/refresh", "/token/revoke"] {
            csrf = csrf.with_token_exempt_path(path);
        }
        let mut builder = Authenticator::builder_shared(store)
            .with_login_redirect(LoginRedirect::new("/").map_err(|e| e.to_string())?)
            .with_refusal_renderer(DemoRefusals)
            .with_role_permissions(role_permissions())
            .with_access_token_cookie(ACCESS_COOKIE)
            .with_login_throttle(throttle)
            .with_csrf(csrf)
            .with_access_tokens(tokens)
            .with_refresh_tokens(refresh)
            .with_clock(clock)
            .with_realm("auth demo")
            .with_cookie(
                CookiePolicy::default()
                    .with_secure(self.cookie_secure)
                    .with_persistent(self.cookie_persistent),
            );
        if let Some(key) = &self.api_key {
            let (user, roles, permissions) = API_KEY_CALLER;
            builder = builder.with_authenticator(ApiKeys::new().with_key(
                key,
                user,
                roles.iter().copied(),
                permissions.iter().copied(),
            ));
        }
        if let Some(oidc) = &self.oidc {
            let mut issuer = ExternalIssuer::builder(&oidc.issuer, &oidc.audience);
            if let Some(url) = &oidc.jwks_url {
                issuer = issuer.with_jwks_url(url);
            }
            if oidc.accept_untyped {
                issuer = issuer.accept_untyped();
            }
            for path in &oidc.roles_claims {
                issuer = issuer
                    .with_roles_claim(path)
                    .map_err(|e| format!("OIDC_ROLES_CLAIM: {e}"))?;
            }
            let issuer = issuer.build().map_err(|e| format!("OIDC_ISSUER: {e}"))?;
            builder = builder.with_external_issuer(issuer);
        }
        if let Some(sso) = sso {
            builder = builder.with_sso_client(sso);
        }
        if let Some(idle) = self.idle_timeout {
            builder = builder.with_idle_timeout(idle);
        }
        if let Some(limit) = self.max_sessions_per_user {
            builder = builder.with_max_sessions_per_user(limit, SessionLimit::EndOldest);
        }
        if let Some(proxies) = &self.trusted_proxies {
            builder = builder.with_trusted_proxies(proxies.clone());
        }
        if let Some(absolute) = self.absolute_timeout {
            builder = builder.with_absolute_timeout(absolute);
        }
        builder.build().map_err(|e: ConfigError| e.to_string())
    }
}

impl Config {
    /// The gateway, when `GATEWAY_UPSTREAM` is set: its tokens are signed
    /// with `ACCESS_TOKEN_KEY_FILE`'s key when given (so every instance's
    /// tokens verify with one JWKS), else with a key of its own.
    pub fn gateway(&self) -> Result<Option<gateway::DemoGateway>, String> {
        let Some(settings) = &self.gateway else {
            return Ok(None);
        };
        let key = self
            .keys
            .access_key_file
            .as_deref()
            .map(|path| keys::signing_key(path, "ACCESS_TOKEN_KEY_FILE"))
            .transpose()?;
        gateway::DemoGateway::new(
            &settings.upstream,
            &settings.issuer,
            &settings.audience,
            key,
        )
        .map(Some)
    }

    /// The client of "Sign in with SSO", when configured; logout tokens'
    /// ids are remembered in `counters`, shared by every instance.
    fn sso_client(
        &self,
        counters: Arc<dyn CounterStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<auth_core::sso::SsoClient>, String> {
        let Some(sso) = &self.sso else {
            return Ok(None);
        };
        let mut client = auth_core::sso::SsoClient::builder(
            &sso.issuer,
            &sso.client_id,
            sso.redirect_url(self.addr),
        )
        .with_scope("profile email")
        .with_post_logout_redirect(format!("http://{}/", self.addr))
        .with_backchannel_logout(counters)
        .with_clock(clock);
        if let Some(secret) = &sso.client_secret {
            client = client.with_client_secret(secret);
        }
        for path in &sso.roles_claims {
            client = client
                .with_roles_claim(path)
                .map_err(|e| format!("OIDC_ROLES_CLAIM: {e}"))?;
        }
        client
            .build()
            .map(Some)
            .map_err(|e| format!("OIDC_ISSUER / OIDC_REDIRECT_URL: {e}"))
    }
}

/// The demo's refusals: JSON for APIs, and for a browser navigating to a
/// page it may not see, an HTML page.
#[derive(Debug)]
pub struct DemoRefusals;

impl RenderRefusal for DemoRefusals {
    fn render(&self, refusal: &Refusal) -> RenderedBody {
        JsonRefusals.render(refusal)
    }

    fn render_page(&self, refusal: &Refusal) -> Option<RenderedBody> {
        (refusal.status() == 403)
            .then(|| RenderedBody::new("text/html; charset=utf-8", forbidden_page()))
    }
}

/// What each role may do: `GET /reports` needs `reports:read`,
/// `POST /reports` needs `reports:write`.
pub const ROLE_PERMISSIONS: [(&str, &[&str]); 2] = [
    ("user", &["reports:read"]),
    ("admin", &["reports:read", "reports:write"]),
];

/// The caller behind `API_KEY`: user, roles, permissions.
pub const API_KEY_CALLER: (&str, &[&str], &[&str]) = ("report-bot", &["bot"], &["reports:read"]);

/// The base name of the cookie that carries access tokens
/// (`POST /token/cookie` sets it).
pub const ACCESS_COOKIE: &str = "access";

/// [`ROLE_PERMISSIONS`] as the authenticator takes them.
pub fn role_permissions() -> RolePermissions {
    ROLE_PERMISSIONS
        .iter()
        .fold(RolePermissions::new(), |grants, (role, permissions)| {
            grants.grant(*role, permissions.iter().copied())
        })
}

/// The permission `GET /reports` requires.
#[derive(Debug)]
pub struct ReadReports;

impl Permission for ReadReports {
    const NAME: &'static str = "reports:read";
}

/// The permission `POST /reports` requires.
pub const WRITE_REPORTS: &str = "reports:write";

/// The answer to `GET /reports`.
pub fn reports_json(reader: &Identity) -> String {
    serde_json::json!({
        "reader": reader.user_id(),
        "reports": [{"id": 1, "title": "Quarterly sign-ins"}],
    })
    .to_string()
}

/// The answer to `POST /reports`.
pub fn report_created_json(author: &Identity) -> String {
    serde_json::json!({ "id": 2, "created_by": author.user_id() }).to_string()
}

/// The `iss` of the demo's access tokens.
pub const TOKEN_ISSUER: &str = "auth-demo";
/// The `aud` of the demo's access tokens.
pub const TOKEN_AUDIENCE: &str = "auth-demo-api";

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

/// The refresh token of a `/token/refresh` or `/token/revoke` JSON body.
pub fn parse_refresh_request(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<RefreshRequest>(body)
        .ok()
        .map(|r| r.refresh_token)
        .filter(|t| t.len() <= 256)
}

/// A token endpoint's answer.
pub fn token_pair_json(pair: &TokenPair) -> String {
    serde_json::to_string(pair).unwrap_or_else(|_| json_error("internal"))
}

/// The JWKS document of the demo's authenticator.
pub fn jwks_json(auth: &Authenticator) -> String {
    auth.access_tokens()
        .map_or_else(|| r#"{"keys":[]}"#.to_owned(), |t| t.jwks().to_string())
}

/// Password-checked accounts, held as argon2 hashes.
#[derive(Debug)]
pub struct Users {
    /// User, argon2 hash, roles.
    accounts: std::sync::RwLock<Vec<(String, String, Vec<String>)>>,
    dummy_hash: String,
    /// Password checks running at once: each takes about 19 MiB for
    /// Argon2, so a flood of logins must not start them all.
    hashing: tokio::sync::Semaphore,
    /// Login requests waiting for a check.
    waiting: std::sync::atomic::AtomicUsize,
}

/// Password checks that run at once.
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// Logins that may wait for a check; past it a login answers 503 at once.
pub const MAX_WAITING_HASHES: usize = 64;
/// The longest a login waits for a check before answering 503.
pub const MAX_HASH_WAIT: Duration = Duration::from_secs(5);

fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("system random source");
    let salt = SaltString::encode_b64(&salt).expect("16-byte salt encodes");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes")
        .to_string()
}

impl Users {
    /// The [`DEMO_ACCOUNTS`].
    pub fn demo() -> Self {
        Self {
            accounts: std::sync::RwLock::new(
                DEMO_ACCOUNTS
                    .iter()
                    .map(|(u, p, r)| {
                        (
                            (*u).to_owned(),
                            hash(p),
                            r.iter().map(|s| (*s).to_owned()).collect(),
                        )
                    })
                    .collect(),
            ),
            dummy_hash: hash("no account has this password"),
            hashing: tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// [`verify`](Self::verify) on a blocking thread, at most
    /// [`MAX_CONCURRENT_HASHES`] at once; `Err` when too many logins
    /// already wait (answer 503).
    pub async fn verify_bounded(
        self: Arc<Self>,
        username: String,
        password: String,
    ) -> Result<Option<Vec<String>>, PasswordCheckBusy> {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_HASHES {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordCheckBusy);
        }
        let permit = tokio::time::timeout(MAX_HASH_WAIT, self.hashing.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(Ok(permit)) = permit else {
            return Err(PasswordCheckBusy);
        };
        let users = self.clone();
        let verified =
            tokio::task::spawn_blocking(move || users.verify(&username, &password)).await;
        drop(permit);
        verified.map_err(|err| {
            tracing::error!(error = %err, "password verification task failed");
            PasswordCheckBusy
        })
    }

    /// The user's roles if the password is right. An unknown user costs a
    /// verification against a dummy hash, so both failures take as long.
    pub fn verify(&self, username: &str, password: &str) -> Option<Vec<String>> {
        let account = self
            .accounts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|(u, _, _)| u == username)
            .map(|(_, hash, roles)| (hash.clone(), roles.clone()));
        let phc = account
            .as_ref()
            .map_or(self.dummy_hash.as_str(), |(h, _)| h.as_str());
        let parsed = PasswordHash::new(phc).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        account.filter(|_| ok).map(|(_, roles)| roles)
    }

    /// Sets `username`'s password (hashed on a blocking thread); `false`
    /// for an unknown user.
    pub async fn set_password(self: Arc<Self>, username: String, password: String) -> bool {
        let hashed = tokio::task::spawn_blocking(move || hash(&password)).await;
        let Ok(hashed) = hashed else {
            return false;
        };
        let mut accounts = self
            .accounts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match accounts.iter_mut().find(|(u, _, _)| *u == username) {
            Some(account) => {
                account.1 = hashed;
                true
            }
            None => false,
        }
    }
}

/// The shortest password the demo accepts.
pub const MIN_PASSWORD: usize = 8;

/// A temporary password for a reset: 16 random bytes, in hex.
pub fn temporary_password() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("system random source");
    bytes.iter().fold(String::with_capacity(32), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A password change: the current password and the new one. `Debug`
/// shows neither.
#[derive(Deserialize)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The password to set.
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { .. }")
    }
}

impl PasswordChange {
    /// Parses a JSON or form body; `None` for anything malformed or
    /// oversized.
    pub fn parse(kind: BodyKind, body: &[u8]) -> Option<Self> {
        let parsed: Option<Self> = match kind {
            BodyKind::Form => serde_urlencoded::from_bytes(body).ok(),
            BodyKind::Json => serde_json::from_slice(body).ok(),
        };
        parsed.filter(|c| c.current_password.len() <= MAX_PASSWORD)
    }

    /// Whether the new password is long enough and not too long.
    pub fn is_acceptable(&self) -> bool {
        (MIN_PASSWORD..=MAX_PASSWORD).contains(&self.new_password.len())
    }
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`: a browser form; answers redirect.
    Form,
    /// `application/json`: a script; answers JSON.
    Json,
}

impl BodyKind {
    /// The kind named by a `Content-Type` value (parameters ignored).
    pub fn of(content_type: Option<&[u8]>) -> Option<Self> {
        let value = std::str::from_utf8(content_type?).ok()?;
        let media = value.split(';').next()?.trim().to_ascii_lowercase();
        match media.as_str() {
            "application/x-www-form-urlencoded" => Some(Self::Form),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Too many password checks are running or waiting: answer 503.
#[derive(Debug, Clone, Copy)]
pub struct PasswordCheckBusy;

/// Login credentials from a form or JSON body. `Debug` never shows the
/// password.
#[derive(Deserialize)]
pub struct LoginForm {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
    /// The "remember me" box: `on` in a form, a boolean in JSON.
    #[serde(default)]
    remember: Option<Flag>,
    /// Where a form login goes next: the page that sent the browser to
    /// sign in, followed only if it is a path of this site.
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn is_set(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Text(t) => matches!(t.as_str(), "on" | "1" | "true" | "yes"),
        }
    }
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("password", &"REDACTED")
            .field("remember", &self.remember)
            .field("next", &self.next)
            .finish()
    }
}

impl LoginForm {
    /// The login's "remember me" choice: a form without the ticked box
    /// chooses a browser-session cookie; JSON without the field leaves the
    /// default.
    pub fn remember(&self, kind: BodyKind) -> Option<bool> {
        match (kind, &self.remember) {
            (_, Some(flag)) => Some(flag.is_set()),
            (BodyKind::Form, None) => Some(false),
            (BodyKind::Json, None) => None,
        }
    }

    /// Parses a login body; `None` for anything malformed or oversized.
    pub fn parse(kind: BodyKind, body: &[u8]) -> Option<Self> {
        let parsed: Result<Self, String> = match kind {
            BodyKind::Form => serde_urlencoded::from_bytes(body).map_err(|e| e.to_string()),
            BodyKind::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
        };
        match parsed {
            Ok(c) if c.username.len() <= MAX_USERNAME && c.password.len() <= MAX_PASSWORD => {
                Some(c)
            }
            Ok(_) => None,
            Err(err) => {
                tracing::debug!(error = %err, "unreadable login request");
                None
            }
        }
    }
}

/// A login that checked out: what to log in as, and where a form goes
/// next.
#[derive(Debug)]
pub struct VerifiedLogin {
    /// The body's kind (a form answers with a redirect).
    pub kind: BodyKind,
    /// The login to perform: the user, their roles, the "remember me"
    /// choice.
    pub login: auth_core::Login,
    /// The page the login form asked to go back to, unchecked.
    pub next: Option<String>,
}

/// Why a login body did not check out; each demo turns it into its
/// framework's response.
#[derive(Debug)]
pub enum LoginFailure {
    /// Not JSON (or a form where only JSON is accepted): 415.
    UnsupportedMediaType,
    /// Unreadable or oversized: 400.
    InvalidRequest,
    /// Too many failures (429 with `Retry-After`), too many password
    /// checks at once or a store failure (503).
    Refused(auth_core::Refusal),
    /// Wrong username or password: 401.
    WrongCredentials(BodyKind),
}

/// The whole password login, free of any framework: the body's kind and
/// fields, then the library's login sequence (the throttle and its
/// bookkeeping) around the demo's own part, the password hash check (on a
/// blocking thread: Argon2 is slow on purpose).
pub async fn verify_login(
    auth: &AuthHandle,
    users: Arc<Users>,
    content_type: Option<&[u8]>,
    body: &[u8],
    allow_form: bool,
) -> Result<VerifiedLogin, LoginFailure> {
    let kind = match BodyKind::of(content_type) {
        Some(BodyKind::Form) if !allow_form => None,
        kind => kind,
    }
    .ok_or(LoginFailure::UnsupportedMediaType)?;
    let creds = LoginForm::parse(kind, body).ok_or(LoginFailure::InvalidRequest)?;
    let remember = creds.remember(kind);
    let LoginForm {
        username,
        password,
        next,
        ..
    } = creds;
    let check = async || {
        let roles = users
            .verify_bounded(username.clone(), password)
            .await
            .map_err(|PasswordCheckBusy| {
                tracing::warn!("login refused: too many password checks at once");
                auth_core::Refusal::Unavailable
            })?;
        Ok(roles.map(|roles| {
            let login = auth_core::Login::new(username.clone()).with_roles(roles);
            match remember {
                Some(remember) => login.remember(remember),
                None => login,
            }
        }))
    };
    match auth.check_password(&username, check).await {
        Ok(login) => Ok(VerifiedLogin { kind, login, next }),
        Err(auth_core::LoginError::WrongCredentials) => Err(LoginFailure::WrongCredentials(kind)),
        Err(refused) => Err(LoginFailure::Refused(refused.into())),
    }
}

impl VerifiedLogin {
    /// Where a form login goes next: the page it came from when that is a
    /// path of this site, else the home page (no open redirect).
    pub fn next_page(&self) -> &str {
        self.next
            .as_deref()
            .and_then(auth_core::navigation::safe_next)
            .unwrap_or("/")
    }
}

/// `{"error": code}`.
pub fn json_error(code: &str) -> String {
    serde_json::json!({ "error": code }).to_string()
}

/// The answer to a JSON login: `{"user_id","roles","csrf_token"}`.
pub fn login_json(identity: &Identity, csrf_token: Option<String>) -> String {
    serde_json::json!({
        "user_id": identity.user_id(),
        "roles": identity.roles(),
        "csrf_token": csrf_token,
    })
    .to_string()
}

/// The answer to `GET /admin`.
pub fn admin_json(identity: &Identity) -> String {
    serde_json::json!({ "message": format!("welcome, {}", identity.user_id()) }).to_string()
}

#[derive(Serialize)]
struct SessionSummary {
    id: SessionId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Serialize)]
struct Me {
    user_id: String,
    /// Who vouches for a token caller: the demo, or a trusted provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// `false` for a provider's subject that names no demo account.
    local: bool,
    roles: Vec<String>,
    permissions: Vec<String>,
    auth: &'static str,
    session: Option<SessionSummary>,
    /// For scripts: the `X-CSRF-Token` of cookie sessions.
    csrf_token: Option<String>,
    /// The caller's custom claims (a provider's token's own, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<auth_core::claims::CustomClaims>,
}

/// The answer to `GET /me`.
pub fn me_json(user: &Identity, csrf_token: Option<String>) -> String {
    let me = Me {
        user_id: user.user_id().to_owned(),
        issuer: user.issuer().map(str::to_owned),
        local: user.is_local(),
        roles: user.roles().to_vec(),
        permissions: user.permissions().to_vec(),
        auth: user.method().as_str(),
        session: user.session_id().map(|id| SessionSummary {
            id: id.clone(),
            created_at: user.created_at(),
            expires_at: user.expires_at(),
        }),
        csrf_token,
        claims: user.claims().cloned(),
    };
    serde_json::to_string(&me).unwrap_or_else(|_| json_error("internal"))
}

/// What `POST /token/cookie` answers: the `Set-Cookie` value of the
/// `HttpOnly` access cookie for the caller's session, or the status and
/// error code to answer with.
pub fn access_cookie(auth: &AuthHandle) -> Result<String, (u16, &'static str)> {
    let issued = match auth.issue_access_token() {
        Ok(Some(issued)) => issued,
        Ok(None) => return Err((400, "session_required")),
        Err(err) => {
            tracing::error!(error = %err, "issuing an access token failed");
            return Err((500, "internal"));
        }
    };
    auth.authenticator()
        .access_token_cookie(&issued)
        .ok_or((500, "internal"))
}

/// The answer to `GET /sessions`.
pub fn sessions_json(sessions: &[SessionInfo]) -> String {
    serde_json::to_string(sessions).unwrap_or_else(|_| json_error("internal"))
}

/// What the page at `/` shows besides the user: a one-time notice (a
/// flash message) and, on the login form, the page to go back to.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageView<'a> {
    /// A notice shown once ("You have been signed out.").
    pub notice: Option<&'a str>,
    /// The page that sent the browser to sign in (the `next` parameter),
    /// kept in the login form if it is a path of this site.
    pub next: Option<&'a str>,
    /// Whether "Sign in with SSO" is offered.
    pub sso: bool,
}

impl<'a> PageView<'a> {
    /// The view of a request with `query`: its `next` parameter.
    pub fn from_query(query: Option<&'a str>) -> Self {
        let next = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| {
                let value = pair.strip_prefix("next=")?;
                Some(value)
            });
        Self {
            notice: None,
            next,
            sso: false,
        }
    }
}

/// The `next` parameter of `view`, decoded, if it may be followed.
fn next_of(view: &PageView<'_>) -> Option<String> {
    let raw = view.next?;
    let decoded: Vec<(String, String)> = serde_urlencoded::from_str(&format!("next={raw}")).ok()?;
    let next = decoded.into_iter().next()?.1;
    auth_core::navigation::safe_next(&next).map(str::to_owned)
}

/// The page at `/`: the login form, or the user and their sessions, with
/// the session's CSRF token in every form.
pub fn page(
    user: Option<(&Identity, &[SessionInfo])>,
    csrf_token: Option<&str>,
    view: PageView<'_>,
) -> String {
    match user {
        None => login_page(None, view.notice, next_of(&view).as_deref(), view.sso),
        Some((user, sessions)) => {
            home_page(user, sessions, csrf_token.unwrap_or_default(), view.notice)
        }
    }
}

/// The login page after failed credentials, keeping the page to go back
/// to.
pub fn failed_login_page(next: Option<&str>) -> String {
    let next = next.and_then(auth_core::navigation::safe_next);
    login_page(Some("Wrong username or password."), None, next, false)
}

/// The page a browser gets for a page it may not see (403).
pub fn forbidden_page() -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Access denied</title><style>{STYLE}</style></head><body>\
<h1>Access denied</h1><p>Your account may not see this page.</p><p><a href=\"/\">Back to the start</a></p></body></html>"
    )
}

/// Escapes text for HTML element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}\
form.inline{display:inline}";

fn notice_html(html: &mut String, notice: Option<&str>) {
    if let Some(notice) = notice {
        let _ = write!(html, "<p role=\"status\" id=\"notice\">{}</p>", esc(notice));
    }
}

fn login_page(error: Option<&str>, notice: Option<&str>, next: Option<&str>, sso: bool) -> String {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in</title><style>{STYLE}</style></head><body>\
<h1>Sign in</h1>"
    );
    notice_html(&mut html, notice);
    if let Some(error) = error {
        let _ = write!(html, "<p role=\"alert\" id=\"error\">{}</p>", esc(error));
    }
    html.push_str("<form method=\"post\" action=\"/login\" id=\"login\">");
    if let Some(next) = next {
        let _ = write!(
            html,
            "<input type=\"hidden\" name=\"next\" id=\"next\" value=\"{}\">",
            esc(next)
        );
    }
    html.push_str(
        "\
<p><label>Username <input name=\"username\" id=\"username\" autocomplete=\"username\" required></label></p>\
<p><label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
<p><label><input type=\"checkbox\" name=\"remember\" id=\"remember\"> Remember me</label></p>\
<p><button type=\"submit\">Sign in</button></p></form>",
    );
    if sso {
        let mut href = String::from("/login/sso");
        if let Some(next) = next {
            href.push_str("?next=");
            href.push_str(
                serde_urlencoded::to_string([("", next)])
                    .unwrap_or_default()
                    .trim_start_matches('='),
            );
        }
        let _ = write!(
            html,
            "<p><a href=\"{}\" id=\"sso\">Sign in with SSO</a></p>",
            esc(&href)
        );
    }
    html.push_str(
        "<p>Demo accounts: <code>alice</code> / <code>wonderland</code>, <code>admin</code> / <code>admin-secret</code>.</p>\
</body></html>",
    );
    html
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn home_page(
    user: &Identity,
    sessions: &[SessionInfo],
    csrf_token: &str,
    notice: Option<&str>,
) -> String {
    let csrf = format!(
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
        esc(csrf_token)
    );
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed in</title><style>{STYLE}</style></head><body>\
<h1>Signed in as <span id=\"user\">{}</span></h1><p>Roles: <span id=\"roles\">{}</span></p>",
        esc(user.user_id()),
        esc(&user.roles().join(", ")),
    );
    notice_html(&mut html, notice);
    html.push_str(
        "<h2>Your sessions</h2><table id=\"sessions\"><tr><th>Device</th><th>Address</th><th>Signed in</th><th>Last seen</th><th></th></tr>",
    );
    for s in sessions {
        let _ = write!(
            html,
            "<tr data-session=\"{id}\"><td>{ua}{cur}</td><td>{addr}</td><td>{created}</td><td>{seen}</td>\
<td><form class=\"inline\" method=\"post\" action=\"/sessions/{id}/revoke\">{csrf}<button type=\"submit\">Revoke</button></form></td></tr>",
            id = esc(s.id.as_str()),
            ua = esc(s.user_agent.as_deref().unwrap_or("unknown device")),
            cur = if s.current {
                " <strong>(this one)</strong>"
            } else {
                ""
            },
            addr = esc(s.address.as_deref().unwrap_or("")),
            created = fmt_time(s.created_at),
            seen = fmt_time(s.last_seen_at),
        );
    }
    let _ = write!(
        html,
        "</table><p><form class=\"inline\" method=\"post\" action=\"/logout\">{csrf}<button type=\"submit\" id=\"logout\">Log out</button></form> \
<form class=\"inline\" method=\"post\" action=\"/logout-all\">{csrf}<button type=\"submit\" id=\"logout-all\">Log out everywhere</button></form></p>\
</body></html>",
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug() {
        let form = LoginForm::parse(
            BodyKind::Json,
            br#"{"username":"alice","password":"hunter2-secret"}"#,
        )
        .unwrap();
        let shown = format!("{form:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    /// Password checks run a few at a time; past a bounded queue a login
    /// is refused at once rather than holding memory.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_checks_are_bounded() {
        use std::sync::atomic::Ordering;
        let users = Arc::new(Users::demo());
        let busy = users
            .hashing
            .acquire_many(u32::try_from(MAX_CONCURRENT_HASHES).unwrap())
            .await
            .unwrap();
        let waiting: Vec<_> = (0..MAX_WAITING_HASHES)
            .map(|_| {
                let users = users.clone();
                tokio::spawn(users.verify_bounded("alice".into(), "wonderland".into()))
            })
            .collect();
        while users.waiting.load(Ordering::Acquire) < MAX_WAITING_HASHES {
            tokio::task::yield_now().await;
        }
        assert!(
            users
                .clone()
                .verify_bounded("alice".into(), "wonderland".into())
                .await
                .is_err(),
            "one login too many is refused at once"
        );
        drop(busy);
        for login in waiting {
            assert_eq!(login.await.unwrap().unwrap(), Some(vec!["user".to_owned()]));
        }
    }

    #[test]
    fn config_reads_the_environment_and_refuses_nonsense() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Config::from_lookup(env(&[
            ("ADDR", "127.0.0.1:8080"),
            ("COOKIE_SECURE", "1"),
            ("SESSION_IDLE_TIMEOUT", "60"),
            ("SESSION_ABSOLUTE_TIMEOUT", "3600"),
        ]))
        .unwrap();
        assert_eq!(c.addr.port(), 8080);
        assert!(c.cookie_secure);
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.absolute_timeout, Some(Duration::from_secs(3600)));
        assert!(Config::from_lookup(env(&[("ADDR", "nowhere")])).is_err());
        assert!(Config::from_lookup(env(&[("COOKIE_SECURE", "yes please")])).is_err());
        assert!(Config::from_lookup(env(&[("SESSION_IDLE_TIMEOUT", "-5")])).is_err());
        assert!(Config::from_lookup(env(&[("SESSION_IDLE_TIMEOUT", "0")])).is_err());
        let defaults = Config::from_lookup(env(&[])).unwrap();
        assert_eq!(defaults.store, StoreConfig::Memory);
        assert!(!defaults.cookie_secure);
        let redis = Config::from_lookup(env(&[("REDIS_URL", "redis://127.0.0.1:6390")])).unwrap();
        assert_eq!(
            redis.store,
            StoreConfig::Redis("redis://127.0.0.1:6390".into(), None)
        );
        let cluster = Config::from_lookup(env(&[(
            "REDIS_CLUSTER_URLS",
            "redis://127.0.0.1:7000, redis://127.0.0.1:7001,",
        )]))
        .unwrap();
        assert_eq!(
            cluster.store,
            StoreConfig::RedisCluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ])
        );
        assert!(
            Config::from_lookup(env(&[
                ("REDIS_URL", "redis://a"),
                ("REDIS_CLUSTER_URLS", "redis://b")
            ]))
            .is_err()
        );
        let memcached = Config::from_lookup(env(&[(
            "MEMCACHED_SERVERS",
            "10.0.0.1:11211, 10.0.0.2:11211",
        )]))
        .unwrap();
        assert_eq!(
            memcached.store,
            StoreConfig::Memcached(vec!["10.0.0.1:11211".into(), "10.0.0.2:11211".into()])
        );
        let pg = Config::from_lookup(env(&[("DATABASE_URL", "postgres://app@db/app")])).unwrap();
        assert_eq!(
            pg.store,
            StoreConfig::Postgres("postgres://app@db/app".into())
        );
        assert!(
            Config::from_lookup(env(&[
                ("REDIS_URL", "redis://a"),
                ("DATABASE_URL", "postgres://b")
            ]))
            .is_err()
        );
        let csrf = Config::from_lookup(env(&[
            ("CSRF_KEY", "k"),
            (
                "TRUSTED_ORIGINS",
                "https://a.example, https://b.example:8443,",
            ),
        ]))
        .unwrap();
        assert_eq!(csrf.csrf_key.as_deref(), Some("k"));
        assert_eq!(
            csrf.trusted_origins,
            ["https://a.example", "https://b.example:8443"]
        );
        assert_eq!(
            redact_url("redis://user:hunter2@host:6379"),
            "redis://REDACTED@host:6379"
        );
        assert_eq!(defaults.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(defaults.api_key, None);
        assert_eq!(defaults.oidc, None);
        assert!(Config::from_lookup(env(&[("API_KEY", "short")])).is_err());
        let keyed = Config::from_lookup(env(&[("API_KEY", " 0123456789abcdef ")])).unwrap();
        assert_eq!(keyed.api_key.as_deref(), Some("0123456789abcdef"));
        assert!(Config::from_lookup(env(&[("MAX_SESSIONS_PER_USER", "0")])).is_err());
        let limited = Config::from_lookup(env(&[("MAX_SESSIONS_PER_USER", "3")])).unwrap();
        assert_eq!(limited.max_sessions_per_user, Some(3));
        let sso = Config::from_lookup(env(&[
            ("OIDC_ISSUER", "https://sso.example/realms/main"),
            ("OIDC_AUDIENCE", "demo"),
            (
                "OIDC_ROLES_CLAIM",
                "realm_access.roles, resource_access.demo.roles",
            ),
        ]))
        .unwrap();
        assert_eq!(
            sso.oidc,
            Some(OidcSettings {
                issuer: "https://sso.example/realms/main".into(),
                audience: "demo".into(),
                jwks_url: None,
                accept_untyped: false,
                roles_claims: vec![
                    "realm_access.roles".into(),
                    "resource_access.demo.roles".into()
                ],
            })
        );
        assert!(Config::from_lookup(env(&[("OIDC_ISSUER", "https://sso.example")])).is_err());
        assert!(Config::from_lookup(env(&[("OIDC_AUDIENCE", "demo")])).is_err());
        assert!(Config::from_lookup(env(&[("OIDC_CLIENT_ID", "demo-web")])).is_err());
    }

    #[test]
    fn the_gateway_is_read_from_the_environment() {
        let config = Config::from_lookup(|k: &str| {
            (k == "GATEWAY_UPSTREAM").then(|| "http://127.0.0.1:4000/".to_owned())
        })
        .unwrap();
        let gateway = config.gateway().unwrap().expect("a gateway");
        assert_eq!(
            gateway.target("/api/whoami?x=1"),
            "http://127.0.0.1:4000/api/whoami?x=1"
        );
        assert!(gateway.jwks.contains("\"keys\""));
        let settings = config.gateway.clone().unwrap();
        assert_eq!(
            (settings.issuer.as_str(), settings.audience.as_str()),
            ("auth-demo-gateway", "internal")
        );
        let bad = Config::from_lookup(|k: &str| {
            (k == "GATEWAY_UPSTREAM").then(|| "https://elsewhere.example/x".to_owned())
        })
        .unwrap();
        assert!(bad.gateway().is_err(), "only http://host:port");
        assert!(gateway::forwards_request_header("x-user-token"));
        for credential in [
            "cookie",
            "authorization",
            "x-api-key",
            "x-csrf-token",
            "connection",
        ] {
            assert!(
                !gateway::forwards_request_header(credential),
                "{credential}"
            );
        }
    }

    #[test]
    fn sso_is_read_from_the_environment_and_keeps_its_secret() {
        const VARS: [(&str, &str); 3] = [
            ("OIDC_ISSUER", "https://sso.example/realms/main"),
            ("OIDC_CLIENT_ID", "demo-web"),
            ("OIDC_CLIENT_SECRET", "s3cret-of-the-client"),
        ];
        let config = Config::from_lookup(|k: &str| {
            VARS.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!(config.oidc, None, "no API tokens without OIDC_AUDIENCE");
        let sso = config.sso.clone().expect("SSO configured");
        assert_eq!(sso.client_id, "demo-web");
        assert_eq!(
            sso.redirect_url(config.addr),
            "http://127.0.0.1:3000/login/sso/callback"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        let keyed = Config::from_lookup(|k: &str| match k {
            "CSRF_KEY" => Some("csrf-key-of-at-least-32-bytes-0123456789".to_owned()),
            "API_KEY" => Some("api-key-0123456789abcdef".to_owned()),
            "REDIS_URL" => Some("redis://user:hunter2@host:6379".to_owned()),
            _ => None,
        })
        .unwrap();
        let shown = format!("{keyed:?}");
        for secret in ["csrf-key-of", "api-key-0123", "hunter2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(!config.banner().join("\n").contains("s3cret"));
    }

    #[test]
    fn passwords_verify_and_unknown_users_fail() {
        let users = Users::demo();
        assert_eq!(
            users.verify("alice", "wonderland"),
            Some(vec!["user".to_owned()])
        );
        assert_eq!(users.verify("alice", "Wonderland"), None);
        assert_eq!(users.verify("mallory", "wonderland"), None);
        assert_eq!(users.verify("", ""), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
