//! auth-core's refusals as `http` responses.

use auth_core::adapter::RefusalResponse;
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;

/// The response for a refusal, byte for byte as auth-core renders it.
pub(crate) fn refusal_response<B>(refusal: RefusalResponse) -> Response<ResponseBody<B>> {
    let mut res = Response::new(());
    *res.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in refusal.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            res.headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    let body = match refusal.into_body() {
        std::borrow::Cow::Borrowed(body) => bytes::Bytes::from_static(body.as_bytes()),
        std::borrow::Cow::Owned(body) => bytes::Bytes::from(body),
    };
    res.map(|_| ResponseBody::full(body))
}
