//! Letting handlers return auth-core errors.

use auth_core::Refusal;
use auth_core::adapter::HandlerRefusal;

/// A handler's refusal: `?` converts every error of auth-core a handler
/// meets into it ([`auth_core::Error`], a throttled login, a failed
/// refresh), and the [`AuthLayer`](crate::AuthLayer) answers it as the
/// authenticator renders refusals (503 with `Retry-After` for store
/// failures, 401 with a challenge for a missing session, 429 for a
/// throttled login, 400 `invalid_grant` for a bad refresh token).
/// Internal detail goes to the log, never to the client.
///
/// ```
/// use auth_tower::{Auth, AuthError};
///
/// async fn logout(auth: Auth) -> Result<axum::http::StatusCode, AuthError> {
///     auth.logout().await?;
///     Ok(axum::http::StatusCode::NO_CONTENT)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request refused: {}", .0.code())]
pub struct AuthError(pub Refusal);

auth_core::refusal_conversions!(AuthError);

impl axum::response::IntoResponse for AuthError {
    /// A response the layer replaces with the rendered refusal.
    fn into_response(self) -> axum::response::Response {
        let mut res = axum::response::Response::new(axum::body::Body::empty());
        *res.status_mut() = http::StatusCode::from_u16(self.0.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        res.extensions_mut().insert(HandlerRefusal(self.0));
        res
    }
}
