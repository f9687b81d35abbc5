//! The axum demo as a library, so tests can build it around any store and
//! clock. `main.rs` runs it on the store the environment names: Redis
//! (`REDIS_URL`), Redis Cluster (`REDIS_CLUSTER_URLS`) or in memory.
//!
//! The HTTP contract (the actix demo answers the same):
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | HTML: a login form, or the user, roles and sessions with revoke buttons |
//! | `POST /login` | form (`remember=on` for "remember me"): 303 to `/`; JSON (`"remember": true`): 200 `{"user_id","roles","csrf_token"}`; wrong credentials: 401, no cookie; too many failures: 429 |
//! | `GET /me` | 200 `{"user_id","roles","auth","session":{"id","created_at","expires_at"},"csrf_token"}`; 401 anonymous |
//! | `POST /logout` | 204 (303 for a form) and the cookie removed; a form logout of a session signed in through the provider goes on (303) to its end-session endpoint |
//! | `POST /logout-all` | every session of the user ended; 204 (303 for a form) |
//! | `GET /sessions` | `[{"id","created_at","last_seen_at","expires_at","user_agent","current",…}]` |
//! | `DELETE /sessions/{id}` | 204, or 404 if not one of the caller's; `POST /sessions/{id}/revoke` for forms |
//! | `GET /admin` | 200 for role `admin`, 403 for others, 401 anonymous |
//! | `GET /admin/users/{user}/sessions` | role `admin`: that user's sessions, as `GET /sessions` lists them |
//! | `POST /admin/users/{user}/password-reset` | role `admin`: a temporary password for the user, and every session and token of theirs ended; 200 `{"user","temporary_password","ended"}` |
//! | `POST /password` | signed in: `{current_password, new_password}` (JSON or form); the other sessions and older tokens end, this session gets a new token; 200 `{"ended"}` (303 for a form) |
//! | `POST /admin/users/{user}/logout` | role `admin`: every session, access token and refresh token of that user ended, on every instance; 200 `{"user","ended"}` (303 for a form) |
//! | `GET /reports` | 200 with permission `reports:read` (role `user`, or the `X-API-Key` robot), 403 `insufficient_scope` for others, 401 anonymous |
//! | `POST /reports` | 201 with permission `reports:write` (role `admin`), 403 `insufficient_scope` for others |
//! | `POST /token`, `/token/refresh`, `/token/revoke` | token pairs for apps (JSON) |
//! | `POST /token/cookie` | from a cookie session: 204 and an access token in the `HttpOnly` cookie `access` |
//! | `GET /.well-known/jwks.json` | the public key of access tokens |
//! | `/api/*` | with `GATEWAY_UPSTREAM`: a signed-in caller's request forwarded (streamed) to the upstream with a gateway token in `X-User-Token` and without the caller's credentials; 401 anonymous, 502 when the upstream is down |
//! | `GET /.well-known/gateway-jwks.json` | with `GATEWAY_UPSTREAM`: the gateway tokens' keys |
//! | `GET /login/sso?next=…` | with `OIDC_ISSUER` and `OIDC_CLIENT_ID`: 303 to the provider's authorization endpoint (code flow, PKCE S256, `state`, `nonce`) |
//! | `GET /login/sso/callback?code=…&state=…` | the login completed: 303 to `next` or `/` with the session cookie; 400 `{"error":…}` for a bad, replayed or foreign `state`, a refused code or ID token, or a provider `error` |
//! | `POST /logout/backchannel` | form `logout_token` from the provider: 200 and the sessions of that provider session (`sid`) or subject ended; 400 for an invalid or replayed token |
//!
//! Requests may also authenticate with `X-API-Key` (the `API_KEY` robot),
//! `Authorization: Bearer`, or the `access` cookie, in that order before
//! the session cookie.
//!
//! Unsafe requests with the session cookie need the session's CSRF token
//! (`X-CSRF-Token`, or `csrf_token` in a form) and must not come from
//! another site: 403 `{"error":"csrf_rejected"}` otherwise.

use std::sync::Arc;

use auth_core::{Authenticator, Clock, SystemClock};
use auth_tower::{Auth, AuthError, AuthLayer, CurrentUser, Permitted, Require};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::HeaderName;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::{any, delete, get, post};
use example_shared::ReadReports;
use example_shared::gateway::{self, DemoGateway};
use example_shared::handlers::{self, Answer};
pub use example_shared::{Config, DEMO_ACCOUNTS, StoreConfig, Users};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// The demo app on the configured store and the system clock.
pub async fn build_app(config: &Config) -> Result<Router, String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stores = config.store.build(clock.clone()).await?;
    let auth = config.authenticator(stores, clock)?;
    Ok(router_with_gateway(
        auth,
        Arc::new(Users::demo()),
        config.gateway()?,
    ))
}

/// The client that forwards `/api/*` to the upstream.
type Upstream = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    axum::body::Body,
>;

#[derive(Clone)]
struct AppState {
    users: Arc<Users>,
    gateway: Option<Arc<(DemoGateway, Upstream)>>,
}

/// The demo's routes, wrapped in [`AuthLayer`].
pub fn router(auth: Authenticator, users: Arc<Users>) -> Router {
    router_with_gateway(auth, users, None)
}

/// The demo's routes, and with `gateway` the forwarding of `/api/*` to
/// its upstream and its keys at `/.well-known/gateway-jwks.json`.
pub fn router_with_gateway(
    auth: Authenticator,
    users: Arc<Users>,
    gateway: Option<DemoGateway>,
) -> Router {
    let mut layer = AuthLayer::new(auth);
    if let Some(gateway) = &gateway {
        layer = layer.with_gateway(gateway.tokens.clone());
    }
    let gateway = gateway.map(|gateway| {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Arc::new((gateway, client))
    });
    Router::new()
        .route("/api/{*path}", any(forward))
        .route("/.well-known/gateway-jwks.json", get(gateway_jwks))
        .route("/", get(page))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/login/sso", get(sso_start))
        .route("/login/sso/callback", get(sso_callback))
        .route("/logout/backchannel", post(backchannel_logout))
        .route("/logout-all", post(logout_all))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", delete(revoke))
        .route("/sessions/{id}/revoke", post(revoke_form))
        .route("/admin", get(admin).layer(Require::role("admin")))
        .route(
            "/admin/users/{user}/sessions",
            get(user_sessions).layer(Require::role("admin")),
        )
        .route(
            "/admin/users/{user}/logout",
            post(logout_user).layer(Require::role("admin")),
        )
        .route(
            "/admin/users/{user}/password-reset",
            post(reset_password).layer(Require::role("admin")),
        )
        .route("/password", post(change_password))
        .route("/reports", get(reports))
        .route(
            "/reports",
            post(create_report).layer(Require::permission(example_shared::WRITE_REPORTS)),
        )
        .route("/token/cookie", post(token_cookie))
        .route("/token", post(token))
        .route("/token/refresh", post(token_refresh))
        .route("/token/revoke", post(token_revoke))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(layer)
        // Outermost last. The credentials are marked sensitive before the
        // trace sees the request, and `Set-Cookie` before it sees the
        // response, so its headers never reach the log; so is `Location`,
        // whose redirects to the provider carry a login's `state` or a
        // logout's ID token.
        .layer(SetSensitiveResponseHeadersLayer::new([
            SET_COOKIE, LOCATION,
        ]))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().include_headers(true)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            COOKIE,
            AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-csrf-token"),
        ]))
        .with_state(AppState { users, gateway })
}

/// `/api/*`: a signed-in caller's request, forwarded to the upstream with
/// the gateway token the layer put in `X-User-Token` and without the
/// caller's credentials; the body streams both ways. 404 without a
/// gateway, 502 when the upstream cannot be reached.
async fn forward(
    State(app): State<AppState>,
    _: CurrentUser,
    request: axum::extract::Request,
) -> Response {
    let Some(gateway) = app.gateway else {
        return respond(Answer::error(404, "not_found"));
    };
    let (gateway, client) = &*gateway;
    let (mut parts, body) = request.into_parts();
    let target = gateway.target(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let Ok(uri) = target.parse() else {
        return respond(Answer::error(400, "bad_request"));
    };
    parts.uri = uri;
    keep_headers(&mut parts.headers, gateway::forwards_request_header);
    match client
        .request(axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(answer) => {
            let (mut parts, body) = answer.into_parts();
            keep_headers(&mut parts.headers, gateway::forwards_response_header);
            Response::from_parts(parts, axum::body::Body::new(body))
        }
        Err(error) => {
            tracing::warn!(%error, "the gateway's upstream cannot be reached");
            respond(Answer::error(502, "bad_gateway"))
        }
    }
}

/// Removes the headers whose name `keep` refuses.
fn keep_headers(headers: &mut HeaderMap, keep: fn(&str) -> bool) {
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| !keep(name.as_str()))
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
}

/// The gateway's verification keys, for the upstream.
async fn gateway_jwks(State(app): State<AppState>) -> Response {
    match app.gateway {
        Some(gateway) => respond(Answer::json(200, gateway.0.jwks.clone())),
        None => respond(Answer::error(404, "not_found")),
    }
}

/// The span of a request: its method, path and headers, never its query,
/// where a careless client may have put a token.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = req.uri().path(),
        headers = ?req.headers(),
    )
}

/// A shared handler's answer as an axum response.
fn respond(answer: Answer) -> Response {
    answer.into_http()
}

fn content_type(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes)
}

type Answered = Result<Response, AuthError>;

async fn login(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Answered {
    let answer = handlers::login(app.users, &auth, content_type(&headers), &body).await?;
    Ok(respond(answer))
}

async fn token(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Answered {
    let answer = handlers::token(app.users, &auth, content_type(&headers), &body).await?;
    Ok(respond(answer))
}

async fn token_refresh(auth: Auth, body: Bytes) -> Answered {
    Ok(respond(handlers::token_refresh(&auth, &body).await?))
}

async fn token_revoke(auth: Auth, body: Bytes) -> Answered {
    Ok(respond(handlers::token_revoke(&auth, &body).await?))
}

async fn jwks(auth: Auth) -> Response {
    respond(handlers::jwks(&auth))
}

async fn me(CurrentUser(user): CurrentUser, auth: Auth) -> Response {
    respond(handlers::me(&user, &auth))
}

async fn logout(auth: Auth, headers: HeaderMap) -> Answered {
    Ok(respond(
        handlers::logout(&auth, content_type(&headers)).await?,
    ))
}

async fn logout_all(_: CurrentUser, auth: Auth, headers: HeaderMap) -> Answered {
    Ok(respond(
        handlers::logout_all(&auth, content_type(&headers)).await?,
    ))
}

async fn reports(user: Permitted<ReadReports>) -> Response {
    respond(handlers::reports(&user))
}

async fn create_report(CurrentUser(user): CurrentUser) -> Response {
    respond(handlers::create_report(&user))
}

async fn token_cookie(_: CurrentUser, auth: Auth) -> Response {
    respond(handlers::token_cookie(&auth))
}

async fn sessions(_: CurrentUser, auth: Auth) -> Answered {
    Ok(respond(handlers::sessions(&auth).await?))
}

async fn revoke(_: CurrentUser, auth: Auth, Path(id): Path<String>) -> Answered {
    Ok(respond(handlers::revoke(&auth, &id, false).await?))
}

async fn revoke_form(_: CurrentUser, auth: Auth, Path(id): Path<String>) -> Answered {
    Ok(respond(handlers::revoke(&auth, &id, true).await?))
}

async fn user_sessions(auth: Auth, Path(user): Path<String>) -> Answered {
    Ok(respond(handlers::user_sessions(&auth, &user).await?))
}

async fn logout_user(auth: Auth, Path(user): Path<String>, headers: HeaderMap) -> Answered {
    let answer = handlers::logout_user(&auth, &user, content_type(&headers)).await?;
    Ok(respond(answer))
}

async fn change_password(
    State(app): State<AppState>,
    auth: Auth,
    _: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Answered {
    let answer = handlers::change_password(app.users, &auth, content_type(&headers), &body).await?;
    Ok(respond(answer))
}

async fn reset_password(
    State(app): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
) -> Answered {
    Ok(respond(
        handlers::reset_password(app.users, &auth, &user).await?,
    ))
}

async fn admin(CurrentUser(user): CurrentUser) -> Response {
    respond(handlers::admin(&user))
}

async fn sso_start(auth: Auth, RawQuery(query): RawQuery) -> Answered {
    Ok(respond(handlers::sso_start(&auth, query.as_deref()).await?))
}

async fn sso_callback(auth: Auth, RawQuery(query): RawQuery) -> Answered {
    Ok(respond(
        handlers::sso_callback(&auth, query.as_deref()).await?,
    ))
}

async fn backchannel_logout(auth: Auth, body: Bytes) -> Answered {
    Ok(respond(handlers::backchannel_logout(&auth, &body).await?))
}

async fn page(user: Option<CurrentUser>, auth: Auth, RawQuery(query): RawQuery) -> Answered {
    let user = user.map(|CurrentUser(user)| user);
    Ok(respond(
        handlers::page(user.as_ref(), &auth, query.as_deref()).await?,
    ))
}
