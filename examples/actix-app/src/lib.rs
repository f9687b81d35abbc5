//! The actix-web demo as a library, so tests can serve it around any store
//! and clock. It answers exactly what the axum demo answers (see
//! `example-axum`'s docs for the contract): same routes, status codes, JSON
//! fields, cookie attributes, headers and page.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use auth_actix::{Auth, AuthError, AuthMiddleware, CurrentUser, Permitted, Require};
use auth_core::{Authenticator, Clock, SystemClock};
use example_shared::ReadReports;
use example_shared::gateway::{self, DemoGateway};
use example_shared::handlers::{self, Answer};
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
    server_with_gateway(listener, auth, users, None, workers)
}

/// [`server`], and with `gateway` the forwarding of `/api/*`.
pub fn server_with_gateway(
    listener: TcpListener,
    auth: Authenticator,
    users: Arc<Users>,
    gateway: Option<DemoGateway>,
    workers: usize,
) -> std::io::Result<Server> {
    Ok(
        HttpServer::new(move || app_with_gateway(auth.clone(), users.clone(), gateway.clone()))
            .workers(workers)
            .disable_signals()
            .listen(listener)?
            .run(),
    )
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
    app_with_gateway(auth, users, None)
}

/// The demo's routes, and with `gateway` the forwarding of `/api/*` to its
/// upstream and its keys at `/.well-known/gateway-jwks.json`.
pub fn app_with_gateway(
    auth: Authenticator,
    users: Arc<Users>,
    gateway: Option<DemoGateway>,
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
        .route("/login/sso", web::get().to(sso_start))
        .route("/login/sso/callback", web::get().to(sso_callback))
        .route("/logout/backchannel", web::post().to(backchannel_logout))
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
        .service(
            web::resource("/admin/users/{user}/sessions")
                .wrap(Require::role("admin"))
                .route(web::get().to(user_sessions)),
        )
        .service(
            web::resource("/admin/users/{user}/logout")
                .wrap(Require::role("admin"))
                .route(web::post().to(logout_user)),
        )
        .service(
            web::resource("/admin/users/{user}/password-reset")
                .wrap(Require::role("admin"))
                .route(web::post().to(reset_password)),
        )
        .route("/password", web::post().to(change_password))
        .route("/api/{path:.*}", web::route().to(forward))
        .route(
            "/.well-known/gateway-jwks.json",
            web::get().to(gateway_jwks),
        )
        .app_data(web::Data::new(Forwarding {
            client: gateway.as_ref().map(|_| awc::Client::default()),
            gateway: gateway.clone(),
        }))
        .wrap(match gateway {
            Some(gateway) => AuthMiddleware::builder(auth)
                .with_gateway(gateway.tokens)
                .build(),
            None => AuthMiddleware::new(auth),
        })
}

/// A shared handler's answer as an actix response.
fn respond(answer: Answer) -> HttpResponse {
    let mut res = HttpResponse::build(
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::try_from(value) {
            res.append_header((HeaderName::from_static(name), value));
        }
    }
    res.body(answer.body)
}

fn content_type(req: &HttpRequest) -> Option<&[u8]> {
    req.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes)
}

type Answered = Result<HttpResponse, AuthError>;

async fn login(
    req: HttpRequest,
    users: web::Data<Users>,
    auth: Auth,
    body: web::Bytes,
) -> Answered {
    let answer = handlers::login(users.into_inner(), &auth, content_type(&req), &body).await?;
    Ok(respond(answer))
}

async fn token(
    req: HttpRequest,
    users: web::Data<Users>,
    auth: Auth,
    body: web::Bytes,
) -> Answered {
    let answer = handlers::token(users.into_inner(), &auth, content_type(&req), &body).await?;
    Ok(respond(answer))
}

async fn token_refresh(auth: Auth, body: web::Bytes) -> Answered {
    Ok(respond(handlers::token_refresh(&auth, &body).await?))
}

async fn token_revoke(auth: Auth, body: web::Bytes) -> Answered {
    Ok(respond(handlers::token_revoke(&auth, &body).await?))
}

async fn jwks(auth: Auth) -> HttpResponse {
    respond(handlers::jwks(&auth))
}

async fn me(CurrentUser(user): CurrentUser, auth: Auth) -> HttpResponse {
    respond(handlers::me(&user, &auth))
}

async fn logout(req: HttpRequest, auth: Auth) -> Answered {
    Ok(respond(handlers::logout(&auth, content_type(&req)).await?))
}

async fn logout_all(req: HttpRequest, _: CurrentUser, auth: Auth) -> Answered {
    Ok(respond(
        handlers::logout_all(&auth, content_type(&req)).await?,
    ))
}

async fn reports(user: Permitted<ReadReports>) -> HttpResponse {
    respond(handlers::reports(&user))
}

async fn create_report(CurrentUser(user): CurrentUser) -> HttpResponse {
    respond(handlers::create_report(&user))
}

async fn token_cookie(_: CurrentUser, auth: Auth) -> HttpResponse {
    respond(handlers::token_cookie(&auth))
}

async fn sessions(_: CurrentUser, auth: Auth) -> Answered {
    Ok(respond(handlers::sessions(&auth).await?))
}

async fn revoke(_: CurrentUser, auth: Auth, id: web::Path<String>) -> Answered {
    Ok(respond(handlers::revoke(&auth, &id, false).await?))
}

async fn revoke_form(_: CurrentUser, auth: Auth, id: web::Path<String>) -> Answered {
    Ok(respond(handlers::revoke(&auth, &id, true).await?))
}

async fn user_sessions(auth: Auth, user: web::Path<String>) -> Answered {
    Ok(respond(handlers::user_sessions(&auth, &user).await?))
}

async fn logout_user(req: HttpRequest, auth: Auth, user: web::Path<String>) -> Answered {
    let answer = handlers::logout_user(&auth, &user, content_type(&req)).await?;
    Ok(respond(answer))
}

async fn change_password(
    req: HttpRequest,
    users: web::Data<Users>,
    auth: Auth,
    _: CurrentUser,
    body: web::Bytes,
) -> Answered {
    let answer =
        handlers::change_password(users.into_inner(), &auth, content_type(&req), &body).await?;
    Ok(respond(answer))
}

async fn reset_password(users: web::Data<Users>, auth: Auth, user: web::Path<String>) -> Answered {
    Ok(respond(
        handlers::reset_password(users.into_inner(), &auth, &user).await?,
    ))
}

async fn admin(CurrentUser(user): CurrentUser) -> HttpResponse {
    respond(handlers::admin(&user))
}

/// The gateway of a worker: awc's client is of one thread.
struct Forwarding {
    gateway: Option<DemoGateway>,
    client: Option<awc::Client>,
}

/// `/api/*`: a signed-in caller's request, forwarded to the upstream with
/// the gateway token the middleware put in `X-User-Token` and without the
/// caller's credentials; the body streams both ways. 404 without a
/// gateway, 502 when the upstream cannot be reached.
async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    _: CurrentUser,
    forwarding: web::Data<Forwarding>,
) -> HttpResponse {
    let (Some(gateway), Some(client)) = (&forwarding.gateway, &forwarding.client) else {
        return respond(Answer::error(404, "not_found"));
    };
    let target = gateway.target(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let mut upstream = client.request(req.method().clone(), target);
    for (name, value) in req.headers() {
        if gateway::forwards_request_header(name.as_str()) {
            upstream = upstream.append_header((name.clone(), value.clone()));
        }
    }
    match upstream.send_stream(payload).await {
        Ok(answer) => {
            let mut response = HttpResponse::build(answer.status());
            for (name, value) in answer.headers() {
                if gateway::forwards_response_header(name.as_str()) {
                    response.append_header((name.clone(), value.clone()));
                }
            }
            response.streaming(answer)
        }
        Err(error) => {
            tracing::warn!(%error, "the gateway's upstream cannot be reached");
            respond(Answer::error(502, "bad_gateway"))
        }
    }
}

/// The gateway's verification keys, for the upstream.
async fn gateway_jwks(forwarding: web::Data<Forwarding>) -> HttpResponse {
    match &forwarding.gateway {
        Some(gateway) => respond(Answer::json(200, gateway.jwks.clone())),
        None => respond(Answer::error(404, "not_found")),
    }
}

fn query_of(req: &HttpRequest) -> Option<&str> {
    Some(req.query_string()).filter(|q| !q.is_empty())
}

async fn sso_start(auth: Auth, req: HttpRequest) -> Answered {
    Ok(respond(handlers::sso_start(&auth, query_of(&req)).await?))
}

async fn sso_callback(auth: Auth, req: HttpRequest) -> Answered {
    Ok(respond(
        handlers::sso_callback(&auth, query_of(&req)).await?,
    ))
}

async fn backchannel_logout(auth: Auth, body: web::Bytes) -> Answered {
    Ok(respond(handlers::backchannel_logout(&auth, &body).await?))
}

async fn page(user: Option<CurrentUser>, auth: Auth, req: HttpRequest) -> Answered {
    let user = user.map(|CurrentUser(user)| user);
    let query = Some(req.query_string()).filter(|q| !q.is_empty());
    Ok(respond(handlers::page(user.as_ref(), &auth, query).await?))
}
