//! auth-core's wire-level answers as actix responses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use auth_core::DenialResponse;

/// The response for a denial, byte for byte as auth-core describes it.
pub(crate) fn denial_response(denial: &DenialResponse) -> HttpResponse {
    let status = StatusCode::from_u16(denial.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (name, value) in &denial.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            res.append_header((HeaderName::from_static(name), value));
        }
    }
    match &denial.body {
        std::borrow::Cow::Borrowed(body) => res.body(*body),
        std::borrow::Cow::Owned(body) => res.body(body.clone()),
    }
}

/// The answer when a guard or extractor runs without the middleware.
pub(crate) fn missing_middleware_response(what: &str) -> HttpResponse {
    tracing::error!(
        "{what} found no auth state in the request: add `.wrap(auth_actix::AuthMiddleware::new(..))` around it"
    );
    HttpResponse::InternalServerError()
        .content_type("application/json")
        .body(r#"{"error":"internal"}"#)
}
