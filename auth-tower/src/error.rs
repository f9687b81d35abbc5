//! Letting handlers return auth-core errors.

/// Put into a response's extensions by [`AuthError`]'s `IntoResponse`:
/// the error's status and code. [`AuthService`](crate::AuthService) swaps
/// the response for the authenticator's own answer to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorMarker(pub(crate) u16, pub(crate) &'static str);

/// An [`auth_core::Error`] as a handler's error: `?` converts into it, and
/// it answers as the [`AuthLayer`](crate::AuthLayer) is configured to (503
/// with `Retry-After` for store failures, 401 with a challenge for a
/// missing session). Internal detail goes to the log, never to the client.
///
/// ```
/// use auth_tower::{Auth, AuthError};
///
/// async fn logout(auth: Auth) -> Result<axum::http::StatusCode, AuthError> {
///     auth.logout().await?;
///     Ok(axum::http::StatusCode::NO_CONTENT)
/// }
/// ```
#[cfg(feature = "axum")]
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AuthError(#[from] pub auth_core::Error);

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for AuthError {
    fn into_response(self) -> axum::response::Response {
        let status = self.0.status();
        tracing::warn!(
            error = %self.0,
            source = ?std::error::Error::source(&self.0),
            status,
            "request failed on a session operation"
        );
        let mut res = axum::response::Response::new(axum::body::Body::empty());
        *res.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        res.extensions_mut()
            .insert(ErrorMarker(status, self.0.code()));
        res
    }
}
