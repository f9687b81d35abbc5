//! auth-core's wire-level answers as actix responses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, HeaderMap, HeaderName, HeaderValue, SET_COOKIE, VARY,
};
use auth_core::{CacheControl, DenialResponse, ResponseEdits};

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

/// Applies what the core decided after the handler: `Set-Cookie` values,
/// `Vary` (`vary`, the authenticator's, built once), `Cache-Control`.
pub(crate) fn apply_edits(headers: &mut HeaderMap, edits: ResponseEdits, vary: &HeaderValue) {
    for cookie in edits.set_cookies {
        match HeaderValue::try_from(cookie) {
            Ok(value) => headers.append(SET_COOKIE, value),
            Err(_) => tracing::error!("a cookie is not a valid header value"),
        }
    }
    if edits.vary {
        headers.append(VARY, vary.clone());
    }
    match edits.cache_control {
        Some(CacheControl::NoStore) => {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Some(CacheControl::Private) if !headers.contains_key(CACHE_CONTROL) => {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
        }
        _ => {}
    }
}

/// The authenticator's `Vary` value as a header value, built once per
/// service rather than per request.
pub(crate) fn vary_value(auth: &auth_core::Authenticator) -> HeaderValue {
    HeaderValue::from_str(auth.vary_header())
        .expect("the authenticator checks its credential header names")
}
