//! Turning auth-core's wire-level answers into `http` responses.

use auth_core::{CacheControl, DenialResponse, ResponseEdits};
use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;

/// Builds the response for a denial, byte for byte as auth-core describes it.
pub(crate) fn denial_response<B>(denial: &DenialResponse) -> Response<ResponseBody<B>> {
    let body = match &denial.body {
        std::borrow::Cow::Borrowed(body) => bytes::Bytes::from_static(body.as_bytes()),
        std::borrow::Cow::Owned(body) => bytes::Bytes::from(body.clone()),
    };
    let mut res = Response::new(ResponseBody::from_bytes(body));
    *res.status_mut() =
        StatusCode::from_u16(denial.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = res.headers_mut();
    for (name, value) in &denial.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    res
}

/// The answer when a guard or extractor runs without the layer it needs:
/// a server misconfiguration, logged with the fix.
pub(crate) fn missing_layer_response<B>(what: &str) -> Response<ResponseBody<B>> {
    tracing::error!(
        "{what} found no auth state in the request: add `auth_tower::AuthLayer` around it"
    );
    let mut res = Response::new(ResponseBody::from_bytes(bytes::Bytes::from_static(
        br#"{"error":"internal"}"#,
    )));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Applies what the core decided after the handler: `Set-Cookie` values,
/// `Vary` (`vary`, the authenticator's, built once), `Cache-Control`.
pub(crate) fn apply_edits(headers: &mut HeaderMap, edits: ResponseEdits, vary: &HeaderValue) {
    for cookie in edits.set_cookies {
        match HeaderValue::try_from(cookie) {
            Ok(value) => {
                headers.append(SET_COOKIE, value);
            }
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
        Some(CacheControl::Private) => {
            // Unless the app set its own.
            headers
                .entry(CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("private"));
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
