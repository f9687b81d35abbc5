//! auth-core's refusals as actix responses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use auth_core::adapter::RefusalResponse;

/// The response for a refusal, byte for byte as auth-core renders it.
pub(crate) fn refusal_response(refusal: RefusalResponse) -> HttpResponse {
    let status =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (name, value) in refusal.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            res.append_header((HeaderName::from_static(name), value));
        }
    }
    match refusal.into_body() {
        std::borrow::Cow::Borrowed(body) => res.body(body),
        std::borrow::Cow::Owned(body) => res.body(body),
    }
}
