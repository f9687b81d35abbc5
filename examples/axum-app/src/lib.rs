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
//! | `POST /logout` | 204 (303 for a form) and the cookie removed |
//! | `POST /logout-all` | every session of the user ended; 204 (303 for a form) |
//! | `GET /sessions` | `[{"id","created_at","last_seen_at","expires_at","user_agent","current",…}]` |
//! | `DELETE /sessions/{id}` | 204, or 404 if not one of the caller's; `POST /sessions/{id}/revoke` for forms |
//! | `GET /admin` | 200 for role `admin`, 403 for others, 401 anonymous |
//! | `GET /reports` | 200 with permission `reports:read` (role `user`, or the `X-API-Key` robot), 403 `insufficient_scope` for others, 401 anonymous |
//! | `POST /reports` | 201 with permission `reports:write` (role `admin`), 403 `insufficient_scope` for others |
//! | `POST /token`, `/token/refresh`, `/token/revoke` | token pairs for apps (JSON) |
//! | `POST /token/cookie` | from a cookie session: 204 and an access token in the `HttpOnly` cookie `access` |
//! | `GET /.well-known/jwks.json` | the public key of access tokens |
//!
//! Requests may also authenticate with `X-API-Key` (the `API_KEY` robot),
//! `Authorization: Bearer`, or the `access` cookie, in that order before
//! the session cookie.
//!
//! Unsafe requests with the session cookie need the session's CSRF token
//! (`X-CSRF-Token`, or `csrf_token` in a form) and must not come from
//! another site: 403 `{"error":"csrf_rejected"}` otherwise.

use std::sync::Arc;

use auth_core::jwt::{RefreshError, TokenPair};
use auth_core::{Authenticator, Clock, Denial, SessionId, SystemClock};
use auth_tower::{
    Auth, AuthError, AuthLayer, CurrentUser, Permitted, RequirePermissionLayer, RequireRoleLayer,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use example_shared::{BodyKind, LoginFailure, ReadReports, VerifiedLogin, verify_login};
pub use example_shared::{Config, DEMO_ACCOUNTS, StoreConfig, Users};

/// The demo app on the configured store and the system clock.
pub async fn build_app(config: &Config) -> Result<Router, String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stores = config.store.build(clock.clone()).await?;
    let auth = config.authenticator(stores, clock)?;
    Ok(router(auth, Arc::new(Users::demo())))
}

#[derive(Clone)]
struct AppState {
    users: Arc<Users>,
}

/// The demo's routes, wrapped in [`AuthLayer`].
pub fn router(auth: Authenticator, users: Arc<Users>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", delete(revoke))
        .route("/sessions/{id}/revoke", post(revoke_form))
        .route("/admin", get(admin).layer(RequireRoleLayer::new("admin")))
        .route("/reports", get(reports))
        .route(
            "/reports",
            post(create_report).layer(RequirePermissionLayer::new(example_shared::WRITE_REPORTS)),
        )
        .route("/token/cookie", post(token_cookie))
        .route("/token", post(token))
        .route("/token/refresh", post(token_refresh))
        .route("/token/revoke", post(token_revoke))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(AuthLayer::new(auth))
        .with_state(AppState { users })
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    BodyKind::of(headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes))
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

fn json_error(status: StatusCode, code: &str) -> Response {
    json(status, example_shared::json_error(code))
}

fn see_other() -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response()
}

/// 303 to `/` for a form post, 204 otherwise.
fn done(headers: &HeaderMap) -> Response {
    if body_kind(headers) == Some(BodyKind::Form) {
        see_other()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// Checks the credentials of a login body: the login to perform, or the
/// answer to send.
async fn check_password(
    app: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    body: &[u8],
    allow_form: bool,
) -> Result<VerifiedLogin, Response> {
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    verify_login(auth, app.users.clone(), content_type, body, allow_form)
        .await
        .map_err(|failure| match failure {
            LoginFailure::UnsupportedMediaType => {
                json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            LoginFailure::InvalidRequest => json_error(StatusCode::BAD_REQUEST, "invalid_request"),
            LoginFailure::Throttled(throttled) => denial(auth, throttled),
            LoginFailure::WrongCredentials(kind) => invalid_credentials(auth, kind),
            LoginFailure::Store(err) => AuthError(err).into_response(),
            LoginFailure::Internal => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        })
}

async fn login(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verified = match check_password(&app, &auth, &headers, &body, true).await {
        Ok(verified) => verified,
        Err(res) => return res,
    };
    let kind = verified.kind;
    match auth.login(verified.login()).await {
        Ok(_) if kind == BodyKind::Form => see_other(),
        Ok(identity) => json(
            StatusCode::OK,
            example_shared::login_json(&identity, auth.csrf_token()),
        ),
        Err(err) => AuthError(err).into_response(),
    }
}

/// A token endpoint's answer: never cached.
fn token_response(result: Result<TokenPair, RefreshError>) -> Response {
    match result {
        Ok(pair) => {
            let mut res = json(StatusCode::OK, example_shared::token_pair_json(&pair));
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(RefreshError::Invalid | RefreshError::Reused) => {
            json_error(StatusCode::BAD_REQUEST, "invalid_grant")
        }
        Err(RefreshError::Failed(err)) => AuthError(err).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "token endpoint misconfigured");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

async fn token(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let login = match check_password(&app, &auth, &headers, &body, false).await {
        Ok(verified) => verified.login(),
        Err(res) => return res,
    };
    token_response(
        auth.authenticator()
            .issue_tokens(login, auth.client().clone())
            .await,
    )
}

async fn token_refresh(auth: Auth, body: Bytes) -> Response {
    match example_shared::parse_refresh_request(&body) {
        Some(token) => token_response(auth.authenticator().refresh_tokens(&token).await),
        None => json_error(StatusCode::BAD_REQUEST, "invalid_request"),
    }
}

async fn token_revoke(auth: Auth, body: Bytes) -> Result<Response, AuthError> {
    let Some(token) = example_shared::parse_refresh_request(&body) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request"));
    };
    auth.authenticator().revoke_refresh_token(&token).await?;
    Ok(StatusCode::OK.into_response())
}

async fn jwks(auth: Auth) -> Response {
    json(
        StatusCode::OK,
        example_shared::jwks_json(auth.authenticator()),
    )
}

/// A [`Denial`] as the core describes it.
fn denial(auth: &Auth, denial: Denial) -> Response {
    let described = auth.denial(denial);
    let mut res = (
        StatusCode::from_u16(described.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        described.body,
    )
        .into_response();
    for (name, value) in &described.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            res.headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    res
}

fn invalid_credentials(auth: &Auth, kind: BodyKind) -> Response {
    let denial = auth.denial(Denial::Unauthenticated);
    let mut res = match kind {
        BodyKind::Form => (
            StatusCode::UNAUTHORIZED,
            Html(example_shared::failed_login_page()),
        )
            .into_response(),
        BodyKind::Json => json_error(StatusCode::UNAUTHORIZED, "invalid_credentials"),
    };
    for (name, value) in denial.headers.iter().filter(|(n, _)| *n != "content-type") {
        if let Ok(value) = HeaderValue::from_str(value) {
            res.headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    res
}

async fn me(CurrentUser(user): CurrentUser, auth: Auth) -> Response {
    json(
        StatusCode::OK,
        example_shared::me_json(&user, auth.csrf_token()),
    )
}

/// Ends every session the request's credentials belong to; the layer
/// removes every credential cookie it carried.
async fn logout(auth: Auth, headers: HeaderMap) -> Result<Response, AuthError> {
    auth.logout().await?;
    Ok(done(&headers))
}

async fn reports(user: Permitted<ReadReports>) -> Response {
    json(StatusCode::OK, example_shared::reports_json(&user))
}

async fn create_report(CurrentUser(user): CurrentUser) -> Response {
    json(
        StatusCode::CREATED,
        example_shared::report_created_json(&user),
    )
}

/// Puts an access token for the caller's cookie session into the
/// `HttpOnly` access cookie.
async fn token_cookie(_: CurrentUser, auth: Auth) -> Response {
    let cookie = example_shared::access_cookie(&auth)
        .and_then(|c| HeaderValue::from_str(&c).map_err(|_| (500, "internal")));
    match cookie {
        Ok(value) => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            res.headers_mut().insert(SET_COOKIE, value);
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err((status, code)) => json_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
        ),
    }
}

async fn logout_all(_: CurrentUser, auth: Auth, headers: HeaderMap) -> Result<Response, AuthError> {
    auth.logout_everywhere().await?;
    Ok(done(&headers))
}

async fn sessions(_: CurrentUser, auth: Auth) -> Result<Response, AuthError> {
    let list = auth.sessions().await?;
    Ok(json(StatusCode::OK, example_shared::sessions_json(&list)))
}

async fn revoke_by_id(auth: &Auth, id: &str) -> Result<bool, AuthError> {
    match id.parse::<SessionId>() {
        Ok(id) => Ok(auth.revoke(&id).await?),
        Err(_) => Ok(false),
    }
}

async fn revoke(_: CurrentUser, auth: Auth, Path(id): Path<String>) -> Result<Response, AuthError> {
    Ok(if revoke_by_id(&auth, &id).await? {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json_error(StatusCode::NOT_FOUND, "no_such_session")
    })
}

async fn revoke_form(
    _: CurrentUser,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, AuthError> {
    Ok(if revoke_by_id(&auth, &id).await? {
        see_other()
    } else {
        json_error(StatusCode::NOT_FOUND, "no_such_session")
    })
}

async fn admin(CurrentUser(user): CurrentUser) -> Response {
    json(StatusCode::OK, example_shared::admin_json(&user))
}

async fn page(user: Option<CurrentUser>, auth: Auth) -> Result<Html<String>, AuthError> {
    Ok(Html(match user {
        None => example_shared::page(None, None),
        Some(CurrentUser(user)) => {
            let sessions = auth.sessions().await?;
            example_shared::page(Some((&user, &sessions)), auth.csrf_token().as_deref())
        }
    }))
}
