//! The harness for behaviour tests: starts a demo app on `127.0.0.1:0`
//! around a store the test can inspect and a clock it can move, and a
//! client that keeps the session cookie the way a browser would while
//! exposing every `Set-Cookie` it receives.

/// The Rust examples of the repository's README, compiled and run as
/// doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::testing::{CountingStore, FailingStore, Inventory};
use auth_core::throttle::CounterStore;
use auth_core::{Clock, ManualClock, MemoryStore, SessionStore, SessionToken};
use auth_redis::RedisStore;
use auth_redis::testing::RedisServer;
use example_memcached_store::MemcachedStore;
use example_memcached_store::testing::MemcachedServer;
use example_postgres_store::testing::TestDatabase;
use example_shared::{Config, OidcSettings, StoreConfig, Stores, Users};
use reqwest::header::{HeaderMap, HeaderValue};

pub mod drill;
mod sso_provider;
pub use sso_provider::{CLIENT_ID, CLIENT_SECRET, NextLogin, SsoProvider, query_param};
use tokio::sync::{Mutex as AsyncMutex, oneshot};

/// The store behind a test app: counted, switchable off.
pub type TestStore = CountingStore<FailingStore<Arc<dyn SessionStore>>>;

/// Which web framework serves the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// `examples/axum-app`.
    Axum,
    /// `examples/actix-app`.
    Actix,
    /// `examples/hyper-app`: plain hyper, through the adapter the demo
    /// writes itself.
    Hyper,
}

/// Where the demo keeps its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `MemoryStore`, on the test's clock.
    Memory,
    /// `RedisStore` on a throwaway `redis-server` of the test's own.
    Redis,
    /// `example-postgres-store` on a throwaway database of the test's own.
    Postgres,
    /// `example-memcached-store` on one throwaway `memcached` of the
    /// test's own.
    Memcached,
    /// `example-memcached-store` on two throwaway `memcached` servers,
    /// keys spread over both.
    MemcachedPair,
}

/// The framework and store a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// The web framework.
    pub framework: Framework,
    /// The session store.
    pub backend: Backend,
}

/// The memcached servers shared by the app instances of one test.
#[derive(Debug, Clone)]
pub struct SharedMemcached {
    /// The servers; lock one to stop and start it.
    pub servers: Arc<Vec<AsyncMutex<MemcachedServer>>>,
    /// Their addresses.
    pub addresses: Vec<String>,
    /// The key prefix of this test.
    pub prefix: String,
}

impl SharedMemcached {
    /// Starts `n` servers for one test.
    pub async fn start(n: usize) -> Self {
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            servers.push(MemcachedServer::start().await);
        }
        let addresses = servers.iter().map(MemcachedServer::address).collect();
        let tag = SessionToken::generate().expect("random").key().to_hex();
        Self {
            servers: Arc::new(servers.into_iter().map(AsyncMutex::new).collect()),
            addresses,
            prefix: format!("test:{}:", &tag[..12]),
        }
    }
}

/// A Redis server shared by the app instances of one test.
#[derive(Debug, Clone)]
pub struct SharedRedis {
    /// The server; lock it to stop and start it.
    pub server: Arc<AsyncMutex<RedisServer>>,
    /// Its URL.
    pub url: String,
    /// The key prefix of this test.
    pub prefix: String,
}

impl SharedRedis {
    /// Starts a server for one test.
    pub async fn start() -> Self {
        let server = RedisServer::start().await;
        let url = server.url();
        let tag = SessionToken::generate().expect("random").key().to_hex();
        Self {
            server: Arc::new(AsyncMutex::new(server)),
            url,
            prefix: format!("test:{}:", &tag[..12]),
        }
    }

    /// Every key and value in the server, as `redis-cli` prints them
    /// (session keys are binary: their bytes that are no UTF-8 are
    /// replaced).
    pub async fn dump(&self) -> String {
        let dump = self.server.lock().await.dump();
        String::from_utf8_lossy(&dump).into_owned()
    }
}

/// Settings for one test app.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `COOKIE_SECURE=1`.
    pub cookie_secure: bool,
    /// `COOKIE_PERSISTENT=1`.
    pub cookie_persistent: bool,
    /// `SESSION_IDLE_TIMEOUT`.
    pub idle_timeout: Option<Duration>,
    /// `SESSION_ABSOLUTE_TIMEOUT`.
    pub absolute_timeout: Option<Duration>,
    /// Run on this Redis instead of a new one (for several instances of
    /// the app on one store). Ignored on `Backend::Memory`.
    pub redis: Option<SharedRedis>,
    /// Run on these memcached servers instead of new ones, on the
    /// memcached backends.
    pub memcached: Option<SharedMemcached>,
    /// `MAX_SESSIONS_PER_USER`.
    pub max_sessions_per_user: Option<usize>,
    /// `OIDC_ISSUER` and `OIDC_AUDIENCE`: trust this provider's tokens.
    pub oidc: Option<OidcSettings>,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Option<auth_core::proxy::TrustedProxies>,
    /// `OIDC_ISSUER` and `OIDC_CLIENT_ID`: "Sign in with SSO" through
    /// this provider ([`SsoProvider::settings`]).
    pub sso: Option<example_shared::SsoSettings>,
    /// `ACCESS_TOKEN_KEY_FILE`, `ACCESS_TOKEN_PREVIOUS_KEY_FILE`,
    /// `REFRESH_KEY`: keys shared with other instances.
    pub keys: example_shared::SharedKeys,
    /// `GATEWAY_UPSTREAM` (with the default issuer and audience).
    pub gateway_upstream: Option<String>,
}

/// Everything the apps log during a test binary's run, at `trace` for the
/// project's crates, so [`TestApp`]'s drop can look for secrets in it.
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "info,auth_core=trace,auth_tower=trace,auth_actix=trace,auth_redis=trace,\
             example_axum=trace,example_actix=trace,example_hyper=trace,example_shared=trace,\
             tower_http=debug",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Credentials seen during the run: session tokens, CSRF tokens, access
/// and refresh tokens, passwords. None may ever appear in the log.
fn secrets() -> &'static Mutex<std::collections::BTreeSet<String>> {
    static SECRETS: std::sync::OnceLock<Mutex<std::collections::BTreeSet<String>>> =
        std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        let mut set: std::collections::BTreeSet<String> = example_shared::DEMO_ACCOUNTS
            .iter()
            .map(|(_, password, _)| (*password).to_owned())
            .collect();
        set.insert(TEST_CSRF_KEY.to_owned());
        set.insert(TEST_API_KEY.to_owned());
        Mutex::new(set)
    })
}

/// Remembers a credential to look for in the log.
pub fn remember_secret(secret: &str) {
    if secret.len() >= 8 {
        secrets().lock().unwrap().insert(secret.to_owned());
    }
}

/// The part of a credential that must never be logged, in any form: the
/// secret of a session token (its id is public and logged), the proof of
/// a refresh token, the signature of a JWT; anything else whole.
fn secret_part(credential: &str) -> &str {
    let parts: Vec<&str> = credential.split('.').collect();
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match parts.as_slice() {
        [id, secret] if id.len() == 22 && secret.len() == 43 && b64(id) && b64(secret) => secret,
        [id, generation, proof]
            if id.len() == 22
                && proof.len() == 43
                && generation.bytes().all(|b| b.is_ascii_digit()) =>
        {
            proof
        }
        [header, payload, signature]
            if header.starts_with("eyJ") && b64(payload) && b64(signature) =>
        {
            signature
        }
        _ => credential,
    }
}

/// The forms in which a leaked `secret` would show: whole, any 16
/// characters of it, base64 (standard and URL-safe, padded or not) and
/// percent-encoded.
fn leaked_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = vec![secret.to_owned()];
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() > 16 {
        forms.extend(chars.windows(16).map(|w| w.iter().collect::<String>()));
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(secret);
        // The first characters of an encoding depend on the secret alone.
        forms.push(encoded.chars().take(16.min(encoded.len())).collect());
    }
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if percent != secret {
        forms.push(percent);
    }
    forms
}

/// Fails if any remembered credential appears in what the apps logged:
/// whole, truncated (16 characters of its secret part) or encoded. Every
/// form of every credential is looked for in one pass over the log.
pub fn assert_no_secret_logged() {
    let log = log_buffer().lock().unwrap().clone();
    let forms: Vec<(String, String)> = secrets()
        .lock()
        .unwrap()
        .iter()
        .flat_map(|credential| {
            let secret = secret_part(credential).to_owned();
            leaked_forms(&secret)
                .into_iter()
                .map(move |form| (form, secret.clone()))
        })
        .collect();
    let finder = aho_corasick::AhoCorasick::new(forms.iter().map(|(form, _)| form))
        .expect("the credentials' forms");
    if let Some(found) = finder.find(&log) {
        let (form, secret) = &forms[found.pattern().as_usize()];
        panic!(
            "a credential ({}…) appears in the log as {}…",
            &secret[..4],
            &form[..4.min(form.len())]
        );
    }
}

/// What the apps have logged so far, as text.
pub fn logged_text() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

/// How many bytes the apps have logged so far (to show the capture works).
pub fn logged_bytes() -> usize {
    log_buffer().lock().unwrap().len()
}

/// A running demo app.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The app's clock.
    pub clock: ManualClock,
    /// The app's store.
    pub store: TestStore,
    /// The session cookie's name.
    pub cookie_name: String,
    /// The Redis behind the app, on `Backend::Redis`.
    pub redis: Option<SharedRedis>,
    /// The database behind the app, on `Backend::Postgres`.
    pub postgres: Option<Arc<TestDatabase>>,
    /// The servers behind the app, on the memcached backends.
    pub memcached: Option<SharedMemcached>,
    /// What the store holds, counted through the store.
    inventory: Arc<dyn Inventory>,
    shutdown: Option<oneshot::Sender<()>>,
    actix: Option<actix_web::dev::ServerHandle>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TestApp {
    /// Starts the demo with default settings.
    pub async fn start(env: Env) -> Self {
        Self::start_with(env, Options::default()).await
    }

    /// Starts the demo.
    pub async fn start_with(env: Env, options: Options) -> Self {
        log_buffer();
        let clock = ManualClock::starting_now();
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let mut postgres = None;
        let mut memcached = None;
        type Backing = (
            Arc<dyn SessionStore>,
            Arc<dyn CounterStore>,
            Arc<dyn Inventory>,
            Option<SharedRedis>,
        );
        let (inner, counters, inventory, redis): Backing = match env.backend {
            Backend::Memory => {
                let memory = MemoryStore::with_clock(dyn_clock.clone());
                (
                    Arc::new(memory.clone()),
                    Arc::new(memory.clone()),
                    Arc::new(memory),
                    None,
                )
            }
            Backend::Redis => {
                let redis = match options.redis.clone() {
                    Some(shared) => shared,
                    None => SharedRedis::start().await,
                };
                let store = RedisStore::from_url(&redis.url)
                    .expect("Redis URL")
                    .with_prefix(redis.prefix.clone())
                    .with_timeout(Duration::from_millis(300));
                (
                    Arc::new(store.clone()),
                    Arc::new(store.clone()),
                    Arc::new(store),
                    Some(redis),
                )
            }
            Backend::Memcached | Backend::MemcachedPair => {
                let servers = match options.memcached.clone() {
                    Some(shared) => shared,
                    None if env.backend == Backend::Memcached => SharedMemcached::start(1).await,
                    None => SharedMemcached::start(2).await,
                };
                let store = MemcachedStore::new(servers.addresses.clone())
                    .expect("memcached addresses")
                    .with_prefix(&servers.prefix)
                    .expect("a key prefix")
                    .with_clock(dyn_clock.clone())
                    .with_timeout(Duration::from_millis(300));
                memcached = Some(servers);
                (
                    Arc::new(store.clone()),
                    Arc::new(store.clone()),
                    Arc::new(store),
                    None,
                )
            }
            Backend::Postgres => {
                let db = TestDatabase::create().await;
                let store = db.store().await.with_clock(dyn_clock.clone());
                postgres = Some(Arc::new(db));
                (
                    Arc::new(store.clone()),
                    Arc::new(store.clone()),
                    Arc::new(store),
                    None,
                )
            }
        };
        let store = CountingStore::new(FailingStore::new(inner));
        // Bound first: the app's callback URL for the provider names its
        // port.
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let config = Config {
            addr,
            cookie_secure: options.cookie_secure,
            cookie_persistent: options.cookie_persistent,
            idle_timeout: options.idle_timeout,
            absolute_timeout: options.absolute_timeout,
            store: StoreConfig::Memory,
            access_token_ttl: None,
            jwt_leeway: None,
            csrf_key: Some(TEST_CSRF_KEY.to_owned()),
            trusted_origins: Vec::new(),
            trusted_proxies: options.trusted_proxies.clone(),
            max_sessions_per_user: options.max_sessions_per_user,
            api_key: Some(TEST_API_KEY.to_owned()),
            oidc: options.oidc.clone(),
            sso: options.sso.clone(),
            keys: options.keys.clone(),
            gateway: options.gateway_upstream.clone().map(|upstream| {
                example_shared::GatewaySettings {
                    upstream,
                    issuer: example_shared::gateway::GATEWAY_ISSUER.into(),
                    audience: example_shared::gateway::GATEWAY_AUDIENCE.into(),
                }
            }),
        };
        let stores = Stores {
            sessions: Arc::new(store.clone()),
            counters,
        };
        let auth = config
            .authenticator(stores, dyn_clock)
            .expect("test configuration is valid");
        let cookie_name = auth.cookie_policy().cookie_name().to_owned();
        let (tx, rx) = oneshot::channel::<()>();
        let mut actix = None;
        match env.framework {
            Framework::Axum => {
                let gateway = config.gateway().expect("test gateway settings are valid");
                let app = example_axum::router_with_gateway(auth, Arc::new(Users::demo()), gateway);
                spawn_axum(listener, app, rx);
            }
            Framework::Actix => {
                let listener = listener.into_std().expect("a std listener");
                let gateway = config.gateway().expect("test gateway settings are valid");
                let server = example_actix::server_with_gateway(
                    listener,
                    auth,
                    Arc::new(Users::demo()),
                    gateway,
                    1,
                )
                .expect("actix server starts");
                actix = Some(server.handle());
                tokio::spawn(server);
            }
            Framework::Hyper => {
                let app = example_hyper::App::new(auth, Arc::new(Users::demo()));
                tokio::spawn(async move {
                    example_hyper::serve(listener, app, async {
                        let _ = rx.await;
                    })
                    .await
                    .expect("server runs");
                });
            }
        }
        Self {
            base: format!("http://{addr}"),
            clock,
            store,
            cookie_name,
            redis,
            postgres,
            memcached,
            inventory,
            shutdown: Some(tx),
            actix,
        }
    }

    /// Another instance of the app on the same store (Redis), as a second
    /// server behind a load balancer, or the same app after a restart.
    pub async fn another_instance(&self, env: Env) -> Self {
        Self::start_with(
            env,
            Options {
                redis: self.redis.clone(),
                memcached: self.memcached.clone(),
                ..Options::default()
            },
        )
        .await
    }

    /// A new client (a new "browser") for this app.
    pub fn client(&self) -> Client {
        Client::new(&self.base, &self.cookie_name, "behaviour-test/1.0")
    }

    /// A client logged in as `user` (one of the demo accounts).
    pub async fn logged_in(&self, user: &str) -> Client {
        let client = self.client();
        let res = client.login_json(user).await;
        assert_eq!(res.status, 200, "login as {user}: {}", res.body);
        client
    }

    /// Sessions in the store that are live by the app's clock, counted
    /// through the store's [`Inventory`], the same way on every store.
    pub async fn sessions_in_store(&self) -> usize {
        self.inventory
            .live_sessions(self.clock.now())
            .await
            .expect("count the store's sessions")
    }
}

/// Serves `app` on `listener` (with the peer's address) until `stop`
/// fires or its sender is dropped.
pub(crate) fn spawn_axum(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: oneshot::Receiver<()>,
) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await
        .expect("server runs");
    });
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_secret_logged();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.actix.take() {
            drop(handle.stop(false));
        }
    }
}

/// An OpenID provider on 127.0.0.1: its discovery document and JWKS, and
/// a signer of its access tokens (ES256, audience [`TestProvider::AUDIENCE`]).
#[derive(Debug, Clone)]
pub struct TestProvider {
    /// Its issuer URL.
    pub issuer: String,
    signer: auth_core::jwt::AccessTokens,
    jwks_hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl TestProvider {
    /// The audience its tokens are for.
    pub const AUDIENCE: &'static str = "demo-api";

    /// Starts serving it (until the test's runtime ends).
    pub async fn start() -> Self {
        use auth_core::jwt::{AccessTokens, Algorithm, Key};
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let issuer = format!(
            "http://{}/realms/test",
            listener.local_addr().expect("local address")
        );
        let signer = AccessTokens::builder(issuer.clone())
            .with_audience(Self::AUDIENCE)
            .with_signing_key(Key::generate("sso-1", Algorithm::ES256).expect("a key"))
            .build()
            .expect("a signer");
        let jwks_hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let discovery = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/certs"),
        })
        .to_string();
        let jwks = signer.jwks().to_string();
        let hits = jwks_hits.clone();
        let app = axum::Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                get(move || async move { discovery }),
            )
            .route(
                "/realms/test/certs",
                get(move || {
                    hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async move { jwks }
                }),
            );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer,
            signer,
            jwks_hits,
        }
    }

    /// The settings that make the demo trust it.
    pub fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            audience: Self::AUDIENCE.to_owned(),
            jwks_url: None,
            accept_untyped: false,
            roles_claims: Vec::new(),
        }
    }

    /// An access token for `user` with `roles` and `scopes`.
    pub fn token(&self, user: &str, roles: &[&str], scopes: &[&str]) -> String {
        self.token_with(user, roles, scopes, &serde_json::json!({}))
    }

    /// An access token for `user` with `roles`, `scopes` and the provider's
    /// own `claims` (a JSON object: Keycloak's `realm_access`, say).
    pub fn token_with(
        &self,
        user: &str,
        roles: &[&str],
        scopes: &[&str],
        claims: &serde_json::Value,
    ) -> String {
        use auth_core::jwt::Subject;
        let subject = Subject::new(user)
            .with_roles(roles.iter().copied())
            .with_scope(scopes);
        let token = self.signer.issue(&subject, claims).expect("signed").token;
        remember_secret(&token);
        token
    }

    /// A token shaped like an ID token for `user`: what a client got at
    /// sign-in, with a `nonce`, for the client's audience.
    pub fn id_token(&self, user: &str) -> String {
        use auth_core::jwt::Subject;
        let token = self
            .signer
            .issue(
                &Subject::new(user),
                &serde_json::json!({ "nonce": "n-0S6_WzA2Mj", "auth_time": 1 }),
            )
            .expect("signed")
            .token;
        remember_secret(&token);
        token
    }

    /// How many times its JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.jwks_hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The demo's `API_KEY` in tests.
pub const TEST_API_KEY: &str = "behaviour-tests-api-key-0123456789";

/// A new P-256 private key in a PEM file of its own (PKCS#8), removed
/// when the returned guard is dropped: what `ACCESS_TOKEN_KEY_FILE` names.
pub fn pem_key_file() -> PemFile {
    use base64::Engine as _;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("a P-256 key");
    let encoded = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let tag = SessionToken::generate().expect("random").key().to_hex();
    let path = std::env::temp_dir().join(format!("auth-test-key-{}.pem", &tag[..16]));
    std::fs::write(&path, pem).expect("the key file is written");
    PemFile { path }
}

/// A key file, removed on drop.
#[derive(Debug)]
pub struct PemFile {
    /// Where it is.
    pub path: std::path::PathBuf,
}

impl PemFile {
    /// Its path as the environment gives it.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for PemFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The CSRF key every test app shares (so instances accept each other's
/// tokens, as instances behind a load balancer must).
pub const TEST_CSRF_KEY: &str = "behaviour-tests-csrf-key-of-at-least-32-bytes";

/// The password of a demo account.
pub fn password_of(user: &str) -> &'static str {
    example_shared::DEMO_ACCOUNTS
        .iter()
        .find(|(u, _, _)| *u == user)
        .map(|(_, p, _)| *p)
        .expect("a demo account")
}

/// A response, read whole.
#[derive(Debug)]
pub struct Res {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Res {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ASCII cookie").to_owned())
            .collect()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client that keeps the session cookie like a browser would (without
/// judging `Secure`: it runs over plain HTTP) and never follows redirects.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    cookie_name: String,
    cookie: Mutex<Option<String>>,
    csrf: Mutex<Option<String>>,
}

impl Client {
    fn new(base: &str, cookie_name: &str, user_agent: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // Well within the servers' keep-alive (5 s for actix-web):
                // a pooled connection is never reused just as the server
                // closes it, however slow a loaded machine runs the test.
                .pool_idle_timeout(Duration::from_secs(1))
                .user_agent(user_agent)
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookie_name: cookie_name.to_owned(),
            cookie: Mutex::new(None),
            csrf: Mutex::new(None),
        }
    }

    /// The session token the client holds.
    pub fn token(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    /// Replaces the held token (to replay an old one).
    pub fn set_token(&self, token: Option<String>) {
        *self.cookie.lock().unwrap() = token;
    }

    /// The CSRF token the client holds (from the last JSON answer that
    /// carried one, as a page's script would keep it).
    pub fn csrf_token(&self) -> Option<String> {
        self.csrf.lock().unwrap().clone()
    }

    /// Replaces the held CSRF token.
    pub fn set_csrf_token(&self, token: Option<String>) {
        *self.csrf.lock().unwrap() = token;
    }

    /// Sends a request with the held cookie (if any) plus `headers`; an
    /// unsafe request with the cookie also carries the held CSRF token in
    /// `X-CSRF-Token`, unless `headers` has its own.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Option<(&str, Vec<u8>)>,
    ) -> Res {
        let is_unsafe = !matches!(method, "GET" | "HEAD" | "OPTIONS");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = self.token() {
            req = req.header("cookie", format!("{}={token}", self.cookie_name));
        }
        let own_token = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-csrf-token"));
        if is_unsafe
            && !own_token
            && self.token().is_some()
            && let Some(csrf) = self.csrf_token()
        {
            req = req.header("x-csrf-token", csrf);
        }
        for (name, value) in headers {
            req = req.header(*name, HeaderValue::from_bytes(value).expect("header value"));
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let res = req.send().await.expect("request reaches the app");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.expect("body");
        let res = Res {
            status,
            headers,
            body,
        };
        self.keep_cookies(&res);
        for cookie in res.set_cookies() {
            let value = cookie.split(';').next().and_then(|p| p.split_once('='));
            if let Some((_, value)) = value.filter(|(_, v)| v.len() >= 16) {
                remember_secret(value);
            }
        }
        if let Some(token) = self.token() {
            remember_secret(&token);
        }
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&res.body) {
            for field in ["access_token", "refresh_token", "csrf_token"] {
                if let Some(serde_json::Value::String(secret)) = map.get(field) {
                    remember_secret(secret);
                }
            }
            if let Some(serde_json::Value::String(csrf)) = map.get("csrf_token") {
                self.set_csrf_token(Some(csrf.clone()));
            }
        }
        res
    }

    fn keep_cookies(&self, res: &Res) {
        let prefix = format!("{}=", self.cookie_name);
        for c in res.set_cookies() {
            let Some(rest) = c.strip_prefix(&prefix) else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("");
            let expired = c.contains("Max-Age=0") || value.is_empty();
            *self.cookie.lock().unwrap() = (!expired).then(|| value.to_owned());
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Res {
        self.send("GET", path, &[], None).await
    }

    /// `GET path` with extra raw headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &[u8])]) -> Res {
        self.send("GET", path, headers, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> Res {
        self.send(
            "POST",
            path,
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// `POST path` with a form body.
    pub async fn post_form(&self, path: &str, body: &str) -> Res {
        self.send(
            "POST",
            path,
            &[],
            Some((
                "application/x-www-form-urlencoded",
                body.as_bytes().to_vec(),
            )),
        )
        .await
    }

    /// `POST path` without a body.
    pub async fn post(&self, path: &str) -> Res {
        self.send("POST", path, &[], None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Res {
        self.send("DELETE", path, &[], None).await
    }

    /// `POST /token` as a demo account: the token pair's JSON.
    pub async fn token_pair(&self, user: &str) -> serde_json::Value {
        let res = self
            .post_json(
                "/token",
                serde_json::json!({ "username": user, "password": password_of(user) }),
            )
            .await;
        assert_eq!(res.status, 200, "token login as {user}: {}", res.body);
        res.json()
    }

    /// `POST /token/refresh` with `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Res {
        self.post_json(
            "/token/refresh",
            serde_json::json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// `GET path` with `Authorization: Bearer access_token`.
    pub async fn get_bearer(&self, path: &str, access_token: &str) -> Res {
        let header = format!("Bearer {access_token}");
        self.get_with(path, &[("authorization", header.as_bytes())])
            .await
    }

    /// Logs in with JSON as a demo account.
    pub async fn login_json(&self, user: &str) -> Res {
        self.post_json(
            "/login",
            serde_json::json!({ "username": user, "password": password_of(user) }),
        )
        .await
    }
}

/// Declares each scenario once and runs it against every framework and
/// store (memory, Redis, PostgreSQL; the hyper demo, whose adapter only
/// translates, on memory): `scenarios!(a, b)` makes `axum_memory::a`,
/// `axum_redis::a`, …, each calling `a(env)`.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $crate::scenarios!(@on axum_memory, Axum, Memory; $($name),*);
        $crate::scenarios!(@on axum_redis, Axum, Redis; $($name),*);
        $crate::scenarios!(@on actix_memory, Actix, Memory; $($name),*);
        $crate::scenarios!(@on actix_redis, Actix, Redis; $($name),*);
        $crate::scenarios!(@on hyper_memory, Hyper, Memory; $($name),*);
        $crate::scenarios!(@on axum_postgres, Axum, Postgres; $($name),*);
        $crate::scenarios!(@on actix_postgres, Actix, Postgres; $($name),*);
        $crate::scenarios!(@on axum_memcached_pair, Axum, MemcachedPair; $($name),*);
        $crate::scenarios!(@on actix_memcached, Actix, Memcached; $($name),*);
    };
    (@on $module:ident, $framework:ident, $backend:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Env {
                        framework: $crate::Framework::$framework,
                        backend: $crate::Backend::$backend,
                    })
                    .await;
                }
            )*
        }
    };
}
