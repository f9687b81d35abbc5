//! The actix-web demo as a library, so tests can serve it around any store
//! and clock. It answers exactly what the axum demo answers (see
//! `example-axum`'s docs for the contract): same routes, status codes, JSON
//! fields, cookie attributes, headers and page.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION, SET_COOKIE,
};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use auth_actix::{Auth, AuthError, AuthMiddleware, CurrentUser, Permitted, Require};
use auth_core::jwt::{RefreshError, TokenPair};
use auth_core::{Authenticator, Clock, Denial, SessionId, SystemClock};
use example_shared::{BodyKind, LoginFailure, ReadReports, VerifiedLogin, verify_login};
pub use example_shared::{Config, DEMO_ACCOUNTS, StoreConfig, Users};

/// The authenticator for `config`, on the system clock.
pub async fn build_auth(config: &Config) -> Result<Authenticator, String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stores = config.store.build(clock.clone()).await?;
    config.authenticator(stores, clock)
}

/// Serves the demo on `listener` with `workers` worker threads. Await the
/// server (or spawn it); stop it through its handle.
pub fn server(
    listener: TcpListener,
    auth: Authenticator,
    users: Arc<Users>,
    workers: usize,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || app(auth.clone(), users.clone()))
        .workers(workers)
        .disable_signals()
        .listen(listener)?
        .run())
}

/// The demo's routes, wrapped in [`AuthMiddleware`].
pub fn app(
    auth: Authenticator,
    users: Arc<Users>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::from(users))
        .app_data(web::PayloadConfig::new(16 * 1024))
        .route("/", web::get().to(page))
        .route("/login", web::post().to(login))
        .route("/me", web::get().to(me))
        .route("/logout", web::post().to(logout))
        .route("/logout-all", web::post().to(logout_all))
        .route("/sessions", web::get().to(sessions))
        .route("/sessions/{id}", web::delete().to(revoke))
        .route("/sessions/{id}/revoke", web::post().to(revoke_form))
        .route("/token", web::post().to(token))
        .route("/token/refresh", web::post().to(token_refresh))
        .route("/token/revoke", web::post().to(token_revoke))
        .route("/token/cookie", web::post().to(token_cookie))
        .route("/.well-known/jwks.json", web::get().to(jwks))
        .service(
            web::resource("/reports")
                .route(web::get().to(reports))
                .route(
                    web::post()
                        .to(create_report)
                        .wrap(Require::permission(example_shared::WRITE_REPORTS)),
                ),
        )
        .service(
            web::resource("/admin")
                .wrap(Require::role("admin"))
                .route(web::get().to(admin)),
        )
        .wrap(AuthMiddleware::new(auth))
}

fn body_kind(req: &HttpRequest) -> Option<BodyKind> {
    BodyKind::of(req.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes))
}

fn json(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

fn json_error(status: StatusCode, code: &str) -> HttpResponse {
    json(status, example_shared::json_error(code))
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn see_other() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish()
}

/// 303 to `/` for a form post, 204 otherwise.
fn done(req: &HttpRequest) -> HttpResponse {
    if body_kind(req) == Some(BodyKind::Form) {
        see_other()
    } else {
        HttpResponse::NoContent().finish()
    }
}

/// Checks the credentials of a login body: the login to perform, or the
/// answer to send.
async fn check_password(
    req: &HttpRequest,
    users: web::Data<Users>,
    auth: &Auth,
    body: &[u8],
    allow_form: bool,
) -> Result<VerifiedLogin, HttpResponse> {
    let content_type = req.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    verify_login(auth, users.into_inner(), content_type, body, allow_form)
        .await
        .map_err(|failure| match failure {
            LoginFailure::UnsupportedMediaType => {
                json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            LoginFailure::InvalidRequest => json_error(StatusCode::BAD_REQUEST, "invalid_request"),
            LoginFailure::Throttled(throttled) => denial(auth, throttled),
            LoginFailure::WrongCredentials(kind) => invalid_credentials(auth, kind),
            LoginFailure::Store(err) => error_response(err),
            LoginFailure::Internal => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        })
}

async fn login(
    req: HttpRequest,
    users: web::Data<Users>,
    auth: Auth,
    body: web::Bytes,
) -> HttpResponse {
    let verified = match check_password(&req, users, &auth, &body, true).await {
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
        Err(err) => actix_web::ResponseError::error_response(&AuthError(err)),
    }
}

/// A token endpoint's answer: never cached.
fn token_response(result: Result<TokenPair, RefreshError>) -> HttpResponse {
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
        Err(RefreshError::Failed(err)) => actix_web::ResponseError::error_response(&AuthError(err)),
        Err(err) => {
            tracing::error!(error = %err, "token endpoint misconfigured");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

async fn token(
    req: HttpRequest,
    users: web::Data<Users>,
    auth: Auth,
    body: web::Bytes,
) -> HttpResponse {
    let login = match check_password(&req, users, &auth, &body, false).await {
        Ok(verified) => verified.login(),
        Err(res) => return res,
    };
    token_response(
        auth.authenticator()
            .issue_tokens(login, auth.client().clone())
            .await,
    )
}

async fn token_refresh(auth: Auth, body: web::Bytes) -> HttpResponse {
    match example_shared::parse_refresh_request(&body) {
        Some(token) => token_response(auth.authenticator().refresh_tokens(&token).await),
        None => json_error(StatusCode::BAD_REQUEST, "invalid_request"),
    }
}

async fn token_revoke(auth: Auth, body: web::Bytes) -> Result<HttpResponse, AuthError> {
    let Some(token) = example_shared::parse_refresh_request(&body) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request"));
    };
    auth.authenticator().revoke_refresh_token(&token).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn jwks(auth: Auth) -> HttpResponse {
    json(
        StatusCode::OK,
        example_shared::jwks_json(auth.authenticator()),
    )
}

fn error_response(err: auth_core::Error) -> HttpResponse {
    actix_web::ResponseError::error_response(&AuthError(err))
}

/// A [`Denial`] as the core describes it.
fn denial(auth: &Auth, denial: Denial) -> HttpResponse {
    let described = auth.denial(denial);
    let status =
        StatusCode::from_u16(described.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (name, value) in &described.headers {
        res.insert_header((*name, value.as_str()));
    }
    res.body(described.body)
}

fn invalid_credentials(auth: &Auth, kind: BodyKind) -> HttpResponse {
    let denial = auth.denial(Denial::Unauthenticated);
    let mut res = match kind {
        BodyKind::Form => html(
            StatusCode::UNAUTHORIZED,
            example_shared::failed_login_page(),
        ),
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

async fn me(CurrentUser(user): CurrentUser, auth: Auth) -> HttpResponse {
    json(
        StatusCode::OK,
        example_shared::me_json(&user, auth.csrf_token()),
    )
}

/// Ends every session the request's credentials belong to; the
/// middleware removes every credential cookie it carried.
async fn logout(req: HttpRequest, auth: Auth) -> Result<HttpResponse, AuthError> {
    auth.logout().await?;
    Ok(done(&req))
}

async fn reports(user: Permitted<ReadReports>) -> HttpResponse {
    json(StatusCode::OK, example_shared::reports_json(&user))
}

async fn create_report(CurrentUser(user): CurrentUser) -> HttpResponse {
    json(
        StatusCode::CREATED,
        example_shared::report_created_json(&user),
    )
}

/// Puts an access token for the caller's cookie session into the
/// `HttpOnly` access cookie.
async fn token_cookie(_: CurrentUser, auth: Auth) -> HttpResponse {
    let cookie = example_shared::access_cookie(&auth)
        .and_then(|c| HeaderValue::from_str(&c).map_err(|_| (500, "internal")));
    match cookie {
        Ok(value) => HttpResponse::NoContent()
            .insert_header((SET_COOKIE, value))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
        Err((status, code)) => json_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
        ),
    }
}

async fn logout_all(
    req: HttpRequest,
    _: CurrentUser,
    auth: Auth,
) -> Result<HttpResponse, AuthError> {
    auth.logout_everywhere().await?;
    Ok(done(&req))
}

async fn sessions(_: CurrentUser, auth: Auth) -> Result<HttpResponse, AuthError> {
    let list = auth.sessions().await?;
    Ok(json(StatusCode::OK, example_shared::sessions_json(&list)))
}

async fn revoke_by_id(auth: &Auth, id: &str) -> Result<bool, AuthError> {
    match id.parse::<SessionId>() {
        Ok(id) => Ok(auth.revoke(&id).await?),
        Err(_) => Ok(false),
    }
}

async fn revoke(
    _: CurrentUser,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    Ok(if revoke_by_id(&auth, &id).await? {
        HttpResponse::NoContent().finish()
    } else {
        json_error(StatusCode::NOT_FOUND, "no_such_session")
    })
}

async fn revoke_form(
    _: CurrentUser,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    Ok(if revoke_by_id(&auth, &id).await? {
        see_other()
    } else {
        json_error(StatusCode::NOT_FOUND, "no_such_session")
    })
}

async fn admin(CurrentUser(user): CurrentUser) -> HttpResponse {
    json(StatusCode::OK, example_shared::admin_json(&user))
}

async fn page(user: Option<CurrentUser>, auth: Auth) -> Result<HttpResponse, AuthError> {
    let body = match user {
        None => example_shared::page(None, None),
        Some(CurrentUser(user)) => {
            let sessions = auth.sessions().await?;
            example_shared::page(Some((&user, &sessions)), auth.csrf_token().as_deref())
        }
    };
    Ok(html(StatusCode::OK, body))
}
