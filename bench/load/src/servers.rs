//! The servers under test, one per scenario, each on one worker thread.
//!
//! Every server answers `GET /login` (a credential for `alice`: a session
//! cookie in `Set-Cookie`, or `Bearer <token>` in the body), `GET /me`
//! (the caller's user id, 401 without a credential) and `GET /quit` (exits,
//! so a profiler writes its report). Every `/me` handler, the bare ones
//! included, answers with the user id in a `String` it allocates, so the
//! difference between two scenarios is their middleware, not their
//! handler's body.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use auth_core::jwt::{AccessTokens, Algorithm, Key, NoClaims, Subject};
use auth_core::{Authenticator, CachedStore, Login, MemoryStore, SessionStore};

/// Every scenario, in report order; bare frameworks first.
pub(crate) const SCENARIOS: &[Scenario] = &[
    Scenario::new("axum bare", Framework::Axum, Kind::Bare),
    Scenario::new("axum ours, memory", Framework::Axum, Kind::OursMemory),
    Scenario::new("axum ours, Redis", Framework::Axum, Kind::OursRedis),
    Scenario::new(
        "axum ours, Redis + local cache",
        Framework::Axum,
        Kind::OursRedisCache,
    ),
    Scenario::new(
        "axum ours, JWT HS256",
        Framework::Axum,
        Kind::OursJwt(Algorithm::HS256),
    ),
    Scenario::new(
        "axum ours, JWT ES256",
        Framework::Axum,
        Kind::OursJwt(Algorithm::ES256),
    ),
    Scenario::new(
        "axum ours, JWT EdDSA",
        Framework::Axum,
        Kind::OursJwt(Algorithm::EdDSA),
    ),
    Scenario::new(
        "axum tower-sessions + axum-login, memory",
        Framework::Axum,
        Kind::TowerSessionsMemory,
    ),
    Scenario::new(
        "axum tower-sessions + axum-login, Redis",
        Framework::Axum,
        Kind::TowerSessionsRedis,
    ),
    Scenario::new(
        "axum jsonwebtoken middleware, HS256",
        Framework::Axum,
        Kind::JsonWebToken,
    ),
    Scenario::new("actix bare", Framework::Actix, Kind::Bare),
    Scenario::new("actix ours, memory", Framework::Actix, Kind::OursMemory),
    Scenario::new("actix ours, Redis", Framework::Actix, Kind::OursRedis),
    Scenario::new(
        "actix-session + actix-identity, Redis",
        Framework::Actix,
        Kind::ActixSessionRedis,
    ),
];

/// One server configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scenario {
    /// How the report names it.
    pub(crate) name: &'static str,
    /// Its framework, whose bare server it is compared with.
    pub(crate) framework: Framework,
    kind: Kind,
}

impl Scenario {
    const fn new(name: &'static str, framework: Framework, kind: Kind) -> Self {
        Self {
            name,
            framework,
            kind,
        }
    }

    /// Whether this is a bare framework.
    pub(crate) fn is_bare(&self) -> bool {
        matches!(self.kind, Kind::Bare)
    }

    /// Its index in [`SCENARIOS`], the name servers are started by.
    pub(crate) fn index(&self) -> usize {
        SCENARIOS
            .iter()
            .position(|s| s.name == self.name)
            .unwrap_or(0)
    }
}

/// The web framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framework {
    /// axum 0.8 on Tokio's current-thread runtime.
    Axum,
    /// actix-web 4 with one worker.
    Actix,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Bare,
    OursMemory,
    OursRedis,
    OursRedisCache,
    OursJwt(Algorithm),
    TowerSessionsMemory,
    TowerSessionsRedis,
    JsonWebToken,
    ActixSessionRedis,
}

const USER: &str = "alice";
const HMAC_SECRET: &[u8] = b"load-benchmark-hmac-secret-32-bytes!";

fn quit() -> &'static str {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        std::process::exit(0);
    });
    "bye"
}

/// Serves `scenario` on `listener` until `/quit`.
pub(crate) fn serve(scenario: Scenario, listener: TcpListener, redis_url: Option<String>) {
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    match scenario.framework {
        Framework::Axum => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let router = axum_app::router(scenario.kind, redis_url).await;
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, router).await.expect("server runs");
            });
        }
        Framework::Actix => {
            actix_web::rt::System::new().block_on(async move {
                actix_app::serve(scenario.kind, listener, redis_url)
                    .await
                    .expect("server runs");
            });
        }
    }
}

/// Our authenticator for a session scenario.
async fn ours(kind: Kind, redis_url: Option<String>) -> Authenticator {
    let store: Arc<dyn SessionStore> = match kind {
        Kind::OursRedis => Arc::new(
            auth_redis::RedisStore::from_url(&redis_url.expect("LOAD_REDIS_URL")).expect("Redis"),
        ),
        Kind::OursRedisCache => Arc::new(
            CachedStore::new(
                auth_redis::RedisStore::from_url(&redis_url.expect("LOAD_REDIS_URL"))
                    .expect("Redis"),
            )
            .expect("subscribed"),
        ),
        _ => Arc::new(MemoryStore::new()),
    };
    let mut builder = Authenticator::builder_shared(store);
    if let Kind::OursJwt(alg) = kind {
        builder = builder.with_access_tokens(tokens(alg));
    }
    builder.build().expect("authenticator")
}

fn tokens(alg: Algorithm) -> AccessTokens {
    let key = match alg {
        Algorithm::HS256 => Key::hmac("k1", alg, HMAC_SECRET),
        _ => Key::generate("k1", alg),
    }
    .expect("a key");
    AccessTokens::builder("https://auth.load")
        .with_signing_key(key)
        .with_ttl(Duration::from_secs(3600))
        .build()
        .expect("tokens")
}

/// The bearer credential of a JWT scenario.
fn bearer(auth: &Authenticator) -> String {
    let tokens = auth.access_tokens().expect("access tokens");
    let issued = tokens
        .issue(&Subject::new(USER), &NoClaims {})
        .expect("a token");
    format!("Bearer {}", issued.token)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct JwtClaims {
    sub: String,
    exp: i64,
}

mod axum_app {
    use super::*;
    use auth_tower::{Auth, AuthLayer, CurrentUser};
    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
    use tower_sessions::{MemoryStore as TsMemory, SessionManagerLayer};

    pub(super) async fn router(kind: Kind, redis_url: Option<String>) -> Router {
        let base = Router::new().route("/quit", get(|| async { quit() }));
        match kind {
            Kind::Bare => base
                .route("/me", get(|| async { USER.to_owned() }))
                .route("/login", get(|| async { "" })),
            Kind::OursMemory | Kind::OursRedis | Kind::OursRedisCache => {
                let auth = ours(kind, redis_url).await;
                base.route("/me", get(me))
                    .route("/login", get(login))
                    .layer(AuthLayer::new(auth))
            }
            Kind::OursJwt(_) => {
                let auth = ours(kind, None).await;
                let credential = bearer(&auth);
                base.route("/me", get(me))
                    .route("/login", get(move || async move { credential }))
                    .layer(AuthLayer::new(auth))
            }
            Kind::TowerSessionsMemory => {
                let sessions = SessionManagerLayer::new(TsMemory::default());
                base.route("/me", get(login_me))
                    .route("/login", get(login_login))
                    .layer(AuthManagerLayerBuilder::new(Backend, sessions).build())
            }
            Kind::TowerSessionsRedis => {
                use tower_sessions_redis_store::fred::prelude::*;
                let config = Config::from_url(&redis_url.expect("LOAD_REDIS_URL")).expect("URL");
                let pool = Pool::new(config, None, None, None, 1).expect("a pool");
                pool.init().await.expect("Redis");
                let store = tower_sessions_redis_store::RedisStore::new(pool);
                let sessions = SessionManagerLayer::new(store);
                base.route("/me", get(login_me))
                    .route("/login", get(login_login))
                    .layer(AuthManagerLayerBuilder::new(Backend, sessions).build())
            }
            Kind::JsonWebToken => {
                let claims = JwtClaims {
                    sub: USER.into(),
                    exp: time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
                };
                let token = jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                    &claims,
                    &jsonwebtoken::EncodingKey::from_secret(HMAC_SECRET),
                )
                .expect("a token");
                let credential = format!("Bearer {token}");
                let key = Arc::new(jsonwebtoken::DecodingKey::from_secret(HMAC_SECRET));
                base.route("/me", get(jwt_me))
                    .route("/login", get(move || async move { credential }))
                    .layer(axum::middleware::from_fn(move |req, next| {
                        jwt_middleware(key.clone(), req, next)
                    }))
            }
            Kind::ActixSessionRedis => unreachable!("an actix scenario"),
        }
    }

    async fn me(CurrentUser(user): CurrentUser) -> String {
        user.user_id().to_owned()
    }

    async fn login(auth: Auth) -> Result<&'static str, auth_tower::AuthError> {
        auth.login(Login::new(USER)).await?;
        Ok("")
    }

    #[derive(Clone, Debug)]
    pub(super) struct User;

    impl AuthUser for User {
        type Id = String;
        fn id(&self) -> String {
            USER.to_owned()
        }
        fn session_auth_hash(&self) -> &[u8] {
            b"password-hash"
        }
    }

    #[derive(Clone, Debug)]
    pub(super) struct Backend;

    impl AuthnBackend for Backend {
        type User = User;
        type Credentials = ();
        type Error = std::convert::Infallible;

        async fn authenticate(&self, (): ()) -> Result<Option<User>, Self::Error> {
            Ok(Some(User))
        }

        async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Self::Error> {
            Ok((id == USER).then_some(User))
        }
    }

    async fn login_me(session: AuthSession<Backend>) -> axum::response::Response {
        match session.user {
            Some(user) => user.id().into_response(),
            None => StatusCode::UNAUTHORIZED.into_response(),
        }
    }

    async fn login_login(mut session: AuthSession<Backend>) -> StatusCode {
        match session.login(&User).await {
            Ok(()) => StatusCode::OK,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    #[derive(Clone)]
    struct Subject(String);

    async fn jwt_middleware(
        key: Arc<jsonwebtoken::DecodingKey>,
        mut req: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let token = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(token) = token {
            let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
            if let Ok(data) = jsonwebtoken::decode::<JwtClaims>(token, &key, &validation) {
                req.extensions_mut().insert(Subject(data.claims.sub));
            }
        }
        next.run(req).await
    }

    async fn jwt_me(subject: Option<axum::Extension<Subject>>) -> axum::response::Response {
        match subject {
            Some(axum::Extension(Subject(sub))) => sub.into_response(),
            None => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
}

mod actix_app {
    use super::*;
    use actix_identity::{Identity, IdentityMiddleware};
    use actix_session::SessionMiddleware;
    use actix_session::storage::RedisSessionStore;
    use actix_web::cookie::Key as CookieKey;
    use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
    use auth_actix::{Auth, AuthMiddleware, CurrentUser};

    pub(super) async fn serve(
        kind: Kind,
        listener: TcpListener,
        redis_url: Option<String>,
    ) -> std::io::Result<()> {
        match kind {
            Kind::Bare => {
                HttpServer::new(|| {
                    App::new()
                        .route("/quit", web::get().to(|| async { quit() }))
                        .route("/me", web::get().to(|| async { USER.to_owned() }))
                        .route("/login", web::get().to(|| async { "" }))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run()
                .await
            }
            Kind::OursMemory | Kind::OursRedis => {
                let auth = ours(kind, redis_url).await;
                HttpServer::new(move || {
                    App::new()
                        .route("/quit", web::get().to(|| async { quit() }))
                        .route("/me", web::get().to(me))
                        .route("/login", web::get().to(login))
                        .wrap(AuthMiddleware::new(auth.clone()))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run()
                .await
            }
            Kind::ActixSessionRedis => {
                let store = RedisSessionStore::new(redis_url.expect("LOAD_REDIS_URL"))
                    .await
                    .expect("Redis");
                let key = CookieKey::generate();
                HttpServer::new(move || {
                    App::new()
                        .route("/quit", web::get().to(|| async { quit() }))
                        .route("/me", web::get().to(identity_me))
                        .route("/login", web::get().to(identity_login))
                        .wrap(IdentityMiddleware::default())
                        .wrap(SessionMiddleware::new(store.clone(), key.clone()))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run()
                .await
            }
            _ => unreachable!("an axum scenario"),
        }
    }

    async fn me(CurrentUser(user): CurrentUser) -> String {
        user.user_id().to_owned()
    }

    async fn login(auth: Auth) -> Result<&'static str, auth_actix::AuthError> {
        auth.login(Login::new(USER)).await?;
        Ok("")
    }

    async fn identity_me(identity: Option<Identity>) -> HttpResponse {
        match identity.and_then(|i| i.id().ok()) {
            Some(id) => HttpResponse::Ok().body(id),
            None => HttpResponse::Unauthorized().finish(),
        }
    }

    async fn identity_login(req: HttpRequest) -> HttpResponse {
        match Identity::login(&req.extensions(), USER.into()) {
            Ok(_) => HttpResponse::Ok().finish(),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }
}
