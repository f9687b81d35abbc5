//! The demo's handlers, free of any framework: each takes what its route
//! extracted and gives an [`Answer`], or a [`Refusal`] that the demo's
//! `AuthError` carries to the middleware. Each demo routes, extracts and
//! turns an `Answer` into its framework's response; nothing else.

use std::sync::Arc;

use auth_core::jwt::{RefreshError, TokenPair};
use auth_core::{AuthHandle, Identity, Refusal, RenderedBody, SessionId};

use crate::{BodyKind, LoginFailure, Users, verify_login};

/// A response, free of any framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Headers, lowercase names, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// `body` as JSON.
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body,
        }
    }

    /// `{"error": code}`.
    pub fn error(status: u16, code: &str) -> Self {
        Self::json(status, crate::json_error(code))
    }

    /// `body` as an HTML page.
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type", "text/html; charset=utf-8".into())],
            body,
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// 303 to `/`.
    pub fn see_other() -> Self {
        Self::see_other_to("/".into())
    }

    /// 303 to `location`.
    pub fn see_other_to(location: String) -> Self {
        let mut answer = Self::empty(303);
        answer.headers.push(("location", location));
        answer
    }

    /// 303 to `/` for a form post, 204 otherwise.
    pub fn done(content_type: Option<&[u8]>) -> Self {
        if BodyKind::of(content_type) == Some(BodyKind::Form) {
            Self::see_other()
        } else {
            Self::empty(204)
        }
    }

    /// As an `http` response (the axum and hyper demos).
    pub fn into_http<B: From<String>>(self) -> http::Response<B> {
        let mut res = http::Response::new(B::from(self.body));
        *res.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let Ok(value) = http::HeaderValue::try_from(value) {
                res.headers_mut()
                    .append(http::HeaderName::from_static(name), value);
            }
        }
        res
    }

    fn no_store(mut self) -> Self {
        self.headers.push(("cache-control", "no-store".into()));
        self
    }
}

impl From<auth_core::adapter::RefusalResponse> for Answer {
    fn from(refusal: auth_core::adapter::RefusalResponse) -> Self {
        Self {
            status: refusal.status(),
            headers: refusal
                .headers()
                .map(|(name, value)| (name, value.to_owned()))
                .collect(),
            body: refusal.into_body().into_owned(),
        }
    }
}

/// Checks the credentials of a login body: the login to perform, or the
/// answer to send.
async fn check_password(
    users: Arc<Users>,
    auth: &AuthHandle,
    content_type: Option<&[u8]>,
    body: &[u8],
    allow_form: bool,
) -> Result<Result<crate::VerifiedLogin, Answer>, Refusal> {
    Ok(
        match verify_login(auth, users, content_type, body, allow_form).await {
            Ok(verified) => Ok(verified),
            Err(LoginFailure::UnsupportedMediaType) => {
                Err(Answer::error(415, "unsupported_media_type"))
            }
            Err(LoginFailure::InvalidRequest) => Err(Answer::error(400, "invalid_request")),
            Err(LoginFailure::Refused(refusal)) => return Err(refusal),
            Err(LoginFailure::WrongCredentials(kind)) => Err(invalid_credentials(auth, kind, body)),
        },
    )
}

/// 401 with the authenticator's challenges, in the login's own words; a
/// form keeps the page to go back to.
fn invalid_credentials(auth: &AuthHandle, kind: BodyKind, login: &[u8]) -> Answer {
    let body = match kind {
        BodyKind::Form => {
            let form = crate::LoginForm::parse(kind, login);
            let next = form.as_ref().and_then(|f| f.next.as_deref());
            RenderedBody::new("text/html; charset=utf-8", crate::failed_login_page(next))
        }
        BodyKind::Json => {
            RenderedBody::new("application/json", crate::json_error("invalid_credentials"))
        }
    };
    auth.render(&Refusal::Unauthenticated)
        .with_body(body)
        .into()
}

/// `POST /login`: a password login, from JSON or a form.
pub async fn login(
    users: Arc<Users>,
    auth: &AuthHandle,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Answer, Refusal> {
    let verified = match check_password(users, auth, content_type, body, true).await? {
        Ok(verified) => verified,
        Err(answer) => return Ok(answer),
    };
    let kind = verified.kind;
    let next = verified.next_page().to_owned();
    let identity = auth.login(verified.login).await?;
    Ok(match kind {
        BodyKind::Form => Answer::see_other_to(next),
        BodyKind::Json => Answer::json(200, crate::login_json(&identity, auth.csrf_token())),
    })
}

/// A token endpoint's answer: never cached.
fn token_answer(result: Result<TokenPair, RefreshError>) -> Result<Answer, Refusal> {
    Ok(Answer::json(200, crate::token_pair_json(&result?)).no_store())
}

/// `POST /token`: a password login for an app, answered with tokens.
pub async fn token(
    users: Arc<Users>,
    auth: &AuthHandle,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Answer, Refusal> {
    let login = match check_password(users, auth, content_type, body, false).await? {
        Ok(verified) => verified.login,
        Err(answer) => return Ok(answer),
    };
    token_answer(
        auth.authenticator()
            .issue_tokens(login, auth.client().clone())
            .await,
    )
}

/// `POST /token/refresh`.
pub async fn token_refresh(auth: &AuthHandle, body: &[u8]) -> Result<Answer, Refusal> {
    match crate::parse_refresh_request(body) {
        Some(token) => token_answer(auth.authenticator().refresh_tokens(&token).await),
        None => Ok(Answer::error(400, "invalid_request")),
    }
}

/// `POST /token/revoke`.
pub async fn token_revoke(auth: &AuthHandle, body: &[u8]) -> Result<Answer, Refusal> {
    let Some(token) = crate::parse_refresh_request(body) else {
        return Ok(Answer::error(400, "invalid_request"));
    };
    auth.authenticator().revoke_refresh_token(&token).await?;
    Ok(Answer::empty(200))
}

/// `GET /.well-known/jwks.json`.
pub fn jwks(auth: &AuthHandle) -> Answer {
    Answer::json(200, crate::jwks_json(auth.authenticator()))
}

/// `GET /me`, for a caller the extractor admitted.
pub fn me(user: &Identity, auth: &AuthHandle) -> Answer {
    Answer::json(200, crate::me_json(user, auth.csrf_token()))
}

/// `POST /logout`: ends every session the request's credentials belong
/// to; the middleware removes every credential cookie it carried. A form
/// logout leaves a notice for the page it lands on.
pub async fn logout(auth: &AuthHandle, content_type: Option<&[u8]>) -> Result<Answer, Refusal> {
    let is_form = BodyKind::of(content_type) == Some(BodyKind::Form);
    // A browser signed in through the provider is sent on to end the
    // provider's session too (RP-initiated logout).
    let provider_logout = match auth.authenticator().sso_client() {
        Some(sso) if is_form => auth.sso_logout_url(sso).await,
        _ => None,
    };
    auth.logout().await?;
    if is_form {
        auth.set_flash(&SIGNED_OUT)?;
    }
    Ok(match provider_logout {
        Some(url) => Answer::see_other_to(url),
        None => Answer::done(content_type),
    })
}

/// `GET /login/sso?next=…`: 303 to the provider's authorization endpoint;
/// 404 when no provider is configured.
pub async fn sso_start(auth: &AuthHandle, query: Option<&str>) -> Result<Answer, Refusal> {
    let Some(sso) = auth.authenticator().sso_client() else {
        return Ok(Answer::error(404, "sso_not_configured"));
    };
    let next = query.and_then(|q| query_value(q, "next"));
    match auth.start_sso(sso, next.as_deref()).await {
        Ok(url) => Ok(Answer::see_other_to(url)),
        Err(err) => sso_refusal(err),
    }
}

/// `GET /login/sso/callback?code=…&state=…`: 303 to the page the login
/// was started for, signed in; a 4xx JSON error (502 when the provider is
/// unreachable) and no session otherwise.
pub async fn sso_callback(auth: &AuthHandle, query: Option<&str>) -> Result<Answer, Refusal> {
    let Some(sso) = auth.authenticator().sso_client() else {
        return Ok(Answer::error(404, "sso_not_configured"));
    };
    match auth.complete_sso(sso, query.unwrap_or_default()).await {
        Ok(login) => Ok(Answer::see_other_to(login.next)),
        Err(err) => sso_refusal(err),
    }
}

/// A failed login through the provider: its status and code, or the
/// refusal of a session error (503 with `Retry-After` for a store outage).
fn sso_refusal(err: auth_core::sso::SsoLoginError) -> Result<Answer, Refusal> {
    match err {
        auth_core::sso::SsoLoginError::Session(err) => Err(err.into()),
        err => Ok(Answer::error(err.status(), err.code())),
    }
}

/// `POST /logout/backchannel` with the form field `logout_token`, from the
/// provider: 200 and the matching sessions ended, 400 for a bad or
/// replayed token.
pub async fn backchannel_logout(auth: &AuthHandle, body: &[u8]) -> Result<Answer, Refusal> {
    let Some(sso) = auth.authenticator().sso_client() else {
        return Ok(Answer::error(404, "sso_not_configured"));
    };
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "logout_token"))
        .map(|(_, v)| v);
    let Some(token) = token else {
        return Ok(Answer::error(400, "invalid_request"));
    };
    match auth.authenticator().backchannel_logout(sso, &token).await {
        Ok(_) => Ok(Answer::empty(200)),
        Err(auth_core::sso::BackchannelError::Store(err)) => Err(err.into()),
        Err(err) => Ok(Answer::error(err.status(), "invalid_logout_token")),
    }
}

/// The value of `name` in a query string, decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The notice the page shows once after a form logout.
pub const SIGNED_OUT: &str = "You have been signed out.";

/// `POST /logout-all`.
pub async fn logout_all(auth: &AuthHandle, content_type: Option<&[u8]>) -> Result<Answer, Refusal> {
    auth.logout_everywhere().await?;
    Ok(Answer::done(content_type))
}

/// `GET /sessions`.
pub async fn sessions(auth: &AuthHandle) -> Result<Answer, Refusal> {
    Ok(Answer::json(
        200,
        crate::sessions_json(&auth.sessions().await?),
    ))
}

/// `DELETE /sessions/{id}` (204) and, for forms, `POST /sessions/{id}/revoke`
/// (303).
pub async fn revoke(auth: &AuthHandle, id: &str, form: bool) -> Result<Answer, Refusal> {
    let revoked = match id.parse::<SessionId>() {
        Ok(id) => auth.revoke(&id).await?,
        Err(_) => false,
    };
    Ok(match (revoked, form) {
        (true, true) => Answer::see_other(),
        (true, false) => Answer::empty(204),
        (false, _) => Answer::error(404, "no_such_session"),
    })
}

/// `GET /reports`, for a caller holding `reports:read`.
pub fn reports(reader: &Identity) -> Answer {
    Answer::json(200, crate::reports_json(reader))
}

/// `POST /reports`, behind the `reports:write` guard.
pub fn create_report(author: &Identity) -> Answer {
    Answer::json(201, crate::report_created_json(author))
}

/// `GET /admin`, behind the `admin` role guard.
pub fn admin(user: &Identity) -> Answer {
    Answer::json(200, crate::admin_json(user))
}

/// `POST /token/cookie`: an access token for the caller's cookie session,
/// in the `HttpOnly` access cookie.
pub fn token_cookie(auth: &AuthHandle) -> Answer {
    match crate::access_cookie(auth) {
        Ok(cookie) => {
            let mut answer = Answer::empty(204).no_store();
            answer.headers.insert(0, ("set-cookie", cookie));
            answer
        }
        Err((status, code)) => Answer::error(status, code),
    }
}

/// `GET /`: the page, with the device list for a caller; the login form
/// keeps the `next` of `query`.
pub async fn page(
    user: Option<&Identity>,
    auth: &AuthHandle,
    query: Option<&str>,
) -> Result<Answer, Refusal> {
    let notice = auth.take_flash::<String>().await?;
    let view = crate::PageView {
        notice: notice.as_deref(),
        sso: auth.authenticator().sso_client().is_some(),
        ..crate::PageView::from_query(query)
    };
    let body = match user {
        None => crate::page(None, None, view),
        Some(user) => {
            let sessions = auth.sessions().await?;
            crate::page(Some((user, &sessions)), auth.csrf_token().as_deref(), view)
        }
    };
    Ok(Answer::html(200, body))
}

/// `GET /admin/users/{user}/sessions` (role `admin`): any user's sessions
/// and refresh-token families, as their device list shows them.
pub async fn user_sessions(auth: &AuthHandle, user: &str) -> Result<Answer, Refusal> {
    let sessions = auth.authenticator().sessions_of(user).await?;
    Ok(Answer::json(200, crate::sessions_json(&sessions)))
}

/// `POST /admin/users/{user}/logout` (role `admin`): ends every session,
/// access token and refresh token of the user, on every instance sharing
/// the store. `{"user","ended"}`, or 303 to `/` for a form.
pub async fn logout_user(
    auth: &AuthHandle,
    user: &str,
    content_type: Option<&[u8]>,
) -> Result<Answer, Refusal> {
    let ended = auth.authenticator().end_all_sessions_of(user).await?;
    if BodyKind::of(content_type) == Some(BodyKind::Form) {
        return Ok(Answer::see_other());
    }
    let body = serde_json::json!({ "user": user, "ended": ended });
    Ok(Answer::json(200, body.to_string()))
}

/// `POST /password` (signed in): the caller changes their password, JSON
/// or form `{current_password, new_password}`. The current password is
/// checked like a login (throttled and counted); then every other session
/// and every access token issued until now end, and this session gets a
/// new token. `{"ended"}`, or 303 to `/` with a notice for a form.
pub async fn change_password(
    users: Arc<Users>,
    auth: &AuthHandle,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Answer, Refusal> {
    let Some(user) = auth.identity() else {
        return Err(Refusal::Unauthenticated);
    };
    let Some(kind) = BodyKind::of(content_type) else {
        return Ok(Answer::error(415, "unsupported_media_type"));
    };
    let Some(change) = crate::PasswordChange::parse(kind, body) else {
        return Ok(Answer::error(400, "invalid_request"));
    };
    if !change.is_acceptable() {
        return Ok(Answer::error(400, "weak_password"));
    }
    let user_id = user.user_id().to_owned();
    let crate::PasswordChange {
        current_password,
        new_password,
    } = change;
    let check = async || {
        let roles = users
            .clone()
            .verify_bounded(user_id.clone(), current_password)
            .await
            .map_err(|crate::PasswordCheckBusy| Refusal::Unavailable)?;
        Ok(roles.map(|_| auth_core::Login::new(user_id.clone())))
    };
    match auth.check_password(&user_id, check).await {
        Ok(_) => {}
        Err(auth_core::LoginError::WrongCredentials) => {
            return Ok(invalid_credentials(auth, BodyKind::Json, b""));
        }
        Err(refused) => return Err(refused.into()),
    }
    if !users.set_password(user_id, new_password).await {
        return Ok(Answer::error(404, "no_such_user"));
    }
    let ended = auth.password_changed().await?;
    if kind == BodyKind::Form {
        auth.set_flash(&PASSWORD_CHANGED)?;
        return Ok(Answer::see_other());
    }
    Ok(Answer::json(
        200,
        serde_json::json!({ "ended": ended }).to_string(),
    ))
}

/// The notice the page shows once after a password change from a form.
pub const PASSWORD_CHANGED: &str =
    "Your password has been changed; your other sessions have ended.";

/// `POST /admin/users/{user}/password-reset` (role `admin`): the
/// helpdesk's reset of a forgotten password. The user gets a temporary
/// password (in the answer, for the administrator to pass on), and every
/// session, access token and refresh token of theirs ends, on every
/// instance. `{"user","temporary_password","ended"}`, never stored; 404
/// for an unknown user.
pub async fn reset_password(
    users: Arc<Users>,
    auth: &AuthHandle,
    user: &str,
) -> Result<Answer, Refusal> {
    let temporary = crate::temporary_password();
    if !users.set_password(user.to_owned(), temporary.clone()).await {
        return Ok(Answer::error(404, "no_such_user"));
    }
    let ended = auth.authenticator().end_all_sessions_of(user).await?;
    tracing::info!(user = %user.escape_debug(), sessions = ended, "password reset by an administrator");
    let body = serde_json::json!({ "user": user, "temporary_password": temporary, "ended": ended });
    Ok(Answer::json(200, body.to_string()).no_store())
}
