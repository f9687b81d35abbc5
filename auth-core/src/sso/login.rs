//! A login through the provider: its start (the redirect to the
//! authorization endpoint, the attempt kept in the pre-login session) and
//! its end (the callback: the attempt taken once, the code exchanged, the
//! ID token verified, the session logged in).

use serde::{Deserialize, Serialize};

use super::client::SsoClient;
use super::id_token::IdTokenError;
use super::secrets::{code_challenge, fingerprint, random_secret, same_secret};
use super::sign_in::{SIGN_IN_KEY, SignIn};
use crate::error::Error;
use crate::handle::{AuthHandle, Login};
use crate::identity::Identity;
use crate::navigation::{percent_encode, safe_next};
use crate::record::SessionData;

/// The key prefix of login attempts in the session's data.
const ATTEMPT_PREFIX: &str = "auth.sso.attempt.";
/// How many attempts a browser may have under way at once (one per tab
/// that started one); starting another forgets the oldest.
const MAX_ATTEMPTS: usize = 3;

/// A login attempt under way, in the (pre-login) session's data until its
/// callback takes it.
#[derive(Serialize, Deserialize)]
struct Attempt {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    /// Unix seconds.
    expires_at: i64,
}

/// A completed login through the provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SsoLogin {
    /// Who is now signed in.
    pub identity: Identity,
    /// Where to send the browser: the same-origin path the login was
    /// started for, or `/`.
    pub next: String,
}

/// Why a login through the provider failed. Every one ends the attempt
/// (its `state` cannot be used again) and logs no one in; see
/// [`status`](Self::status).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoLoginError {
    /// The callback carries no `state`.
    #[error("the callback carries no state")]
    MissingState,
    /// No attempt of this browser has this `state`: forged, from another
    /// browser, or already used.
    #[error("no login attempt has this state (forged, replayed or from another browser)")]
    UnknownState,
    /// The attempt is older than the client's attempt lifetime.
    #[error("the login attempt expired")]
    Expired,
    /// The provider answered with an `error` (the user declined, say).
    #[error("the provider refused the login: {error}")]
    ProviderRefused {
        /// The `error` parameter, such as `access_denied`.
        error: String,
    },
    /// The callback names another issuer (RFC 9207's `iss`).
    #[error("the callback comes from another issuer")]
    WrongIssuer,
    /// The callback carries no `code`.
    #[error("the callback carries no code")]
    MissingCode,
    /// The token endpoint refused the code (used already, expired, not
    /// this client's).
    #[error("the provider refused the code: {0}")]
    ExchangeRefused(String),
    /// The provider could not be reached, or its documents are unusable.
    #[error("the provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// The ID token failed a check.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// The session store failed, or the session could not be written.
    #[error(transparent)]
    Session(#[from] Error),
}

impl SsoLoginError {
    /// The HTTP status to answer: 400 for what the request or the provider
    /// got wrong, 502 when the provider is unreachable, and the session
    /// error's own (503 for a store outage).
    pub fn status(&self) -> u16 {
        match self {
            Self::ProviderUnavailable(_) => 502,
            Self::Session(err) => err.status(),
            _ => 400,
        }
    }

    /// A stable machine-readable code, for JSON answers and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingState | Self::UnknownState => "invalid_state",
            Self::Expired => "login_expired",
            Self::ProviderRefused { .. } => "provider_refused",
            Self::WrongIssuer => "wrong_issuer",
            Self::MissingCode => "missing_code",
            Self::ExchangeRefused(_) => "exchange_refused",
            Self::ProviderUnavailable(_) => "provider_unavailable",
            Self::IdToken(_) => "invalid_id_token",
            Self::Session(err) => err.code(),
        }
    }
}

impl From<crate::token::RandomError> for SsoLoginError {
    fn from(err: crate::token::RandomError) -> Self {
        Self::Session(Error::from(err))
    }
}

fn attempt_key(state: &str) -> String {
    format!("{ATTEMPT_PREFIX}{}", fingerprint(&[state]))
}

/// The value of `name` in a query string, percent-decoded.
fn parameter(query: &str, name: &str) -> Option<String> {
    let value = crate::csrf::form_field(query.as_bytes(), name)?;
    String::from_utf8(value).ok()
}

impl AuthHandle {
    /// Starts a login through `sso`'s provider: keeps the attempt's
    /// `state`, `nonce` and PKCE verifier, and `next` (followed after the
    /// login only if it is a [same-origin path](crate::navigation::safe_next)),
    /// in this browser's session (a visitor's session is started for it),
    /// and returns the provider's authorization URL to redirect to (303).
    ///
    /// ```no_run
    /// # async fn handler(handle: auth_core::AuthHandle, sso: auth_core::sso::SsoClient) {
    /// // `GET /login/sso?next=/admin`:
    /// match handle.start_sso(&sso, Some("/admin")).await {
    ///     Ok(url) => { /* answer 303 with `Location: url` */ let _ = url; }
    ///     Err(err) => { /* answer err.status() */ let _ = err.status(); }
    /// }
    /// # }
    /// ```
    pub async fn start_sso(
        &self,
        sso: &SsoClient,
        next: Option<&str>,
    ) -> Result<String, SsoLoginError> {
        let metadata = sso
            .provider()
            .metadata()
            .await
            .map_err(SsoLoginError::ProviderUnavailable)?;
        let endpoint = metadata.authorization_endpoint.as_deref().ok_or_else(|| {
            SsoLoginError::ProviderUnavailable(
                "the provider names no authorization endpoint".into(),
            )
        })?;
        let attempt = Attempt {
            state: random_secret()?,
            nonce: random_secret()?,
            verifier: random_secret()?,
            next: next.and_then(safe_next).unwrap_or("/").to_owned(),
            expires_at: (sso.provider().now() + sso.inner.attempt_ttl).unix_timestamp(),
        };
        self.forget_oldest_attempts()?;
        self.insert(&attempt_key(&attempt.state), &attempt)?;

        let inner = &sso.inner;
        let mut url = String::from(endpoint);
        url.push(if endpoint.contains('?') { '&' } else { '?' });
        let mut first = true;
        let mut param = |name: &str, value: &str| {
            if !first {
                url.push('&');
            }
            first = false;
            url.push_str(name);
            url.push('=');
            percent_encode(value, &mut url);
        };
        param("response_type", "code");
        param("client_id", &inner.client_id);
        param("redirect_uri", &inner.redirect_url);
        param("scope", &inner.scope);
        param("state", &attempt.state);
        param("nonce", &attempt.nonce);
        param("code_challenge", &code_challenge(&attempt.verifier));
        param("code_challenge_method", "S256");
        tracing::debug!(issuer = %sso.issuer(), "login through the provider started");
        Ok(url)
    }

    /// Keeps at most `MAX_ATTEMPTS - 1` attempts, the newest.
    fn forget_oldest_attempts(&self) -> Result<(), Error> {
        let mut attempts: Vec<(i64, String)> = self
            .data_keys(ATTEMPT_PREFIX)
            .into_iter()
            .map(|key| {
                let expires = self
                    .get::<Attempt>(&key)
                    .ok()
                    .flatten()
                    .map_or(i64::MIN, |a| a.expires_at);
                (expires, key)
            })
            .collect();
        attempts.sort();
        let excess = (attempts.len() + 1).saturating_sub(MAX_ATTEMPTS);
        for (_, key) in attempts.into_iter().take(excess) {
            self.remove(&key)?;
        }
        Ok(())
    }

    /// Completes a login through `sso`'s provider on its callback, given
    /// the callback's query string: takes this browser's attempt with the
    /// callback's `state` (once: a second callback with it fails),
    /// exchanges the `code` with the attempt's PKCE verifier, verifies the
    /// ID token (signature, `iss`, `aud`, `azp`, times, `nonce`), and logs
    /// in the provider's subject, as a [`Login`] would, with the roles of
    /// the client's claim paths. Unless the client maps them to local
    /// users, the provider's subjects are not this application's users:
    /// their [`Identity`] names the issuer and is not
    /// [local](Identity::is_local).
    pub async fn complete_sso(
        &self,
        sso: &SsoClient,
        query: &str,
    ) -> Result<SsoLogin, SsoLoginError> {
        let result = self.complete_sso_inner(sso, query).await;
        match &result {
            Ok(login) => tracing::info!(
                issuer = %sso.issuer(),
                user = %login.identity.user_id().escape_debug(),
                "login through the provider"
            ),
            Err(err) => tracing::warn!(
                issuer = %sso.issuer(),
                reason = %err.to_string().escape_debug(),
                "login through the provider refused"
            ),
        }
        result
    }

    async fn complete_sso_inner(
        &self,
        sso: &SsoClient,
        query: &str,
    ) -> Result<SsoLogin, SsoLoginError> {
        let state = parameter(query, "state").ok_or(SsoLoginError::MissingState)?;
        let attempt = self.take_attempt(&state).await?;
        if let Some(error) = parameter(query, "error") {
            return Err(SsoLoginError::ProviderRefused { error });
        }
        if attempt.expires_at <= sso.provider().now().unix_timestamp() {
            return Err(SsoLoginError::Expired);
        }
        if let Some(iss) = parameter(query, "iss")
            && iss != sso.issuer()
        {
            return Err(SsoLoginError::WrongIssuer);
        }
        let code = parameter(query, "code").ok_or(SsoLoginError::MissingCode)?;
        let id_token = sso.exchange(&code, &attempt.verifier).await?;
        let claims = sso.verify_id_token(&id_token, &attempt.nonce).await?;

        let issuer = sso.issuer();
        let mapped = sso.provider().mapped_claims(&claims);
        let mut roles = claims.roles.clone();
        roles.extend(mapped.roles);
        roles.sort_unstable();
        roles.dedup();
        let owner = sso
            .provider()
            .local_user(&claims)
            .unwrap_or_else(|| crate::owner::external(issuer, &claims.sub));
        let mut data = SessionData::new();
        let sign_in = SignIn {
            issuer: issuer.to_owned(),
            subject: claims.sub.clone(),
            sid: claims.sid.clone(),
            id_token,
        };
        data.set_value(
            SIGN_IN_KEY,
            Some(serde_json::to_value(&sign_in).map_err(Error::Data)?),
        );
        let mut login = Login::new(owner).with_roles(roles).with_data(data);
        login.reserved_owner = true;
        let identity = self.login(login).await?;
        super::links::file(self.authenticator(), &sign_in, &identity).await?;
        Ok(SsoLogin {
            identity,
            next: attempt.next,
        })
    }

    /// Takes this browser's attempt with `state` out of its session, once:
    /// of callbacks racing with the same `state`, one gets it.
    async fn take_attempt(&self, state: &str) -> Result<Attempt, SsoLoginError> {
        let key = attempt_key(state);
        let attempt = match self.get::<Attempt>(&key) {
            Ok(Some(attempt)) if same_secret(&attempt.state, state) => attempt,
            // No session, no such attempt, or an unreadable one.
            Ok(_) | Err(Error::NoSession | Error::Data(_)) => {
                return Err(SsoLoginError::UnknownState);
            }
            Err(err) => return Err(err.into()),
        };
        self.remove(&key)?;
        if !self.save_taking(Some(&key)).await? {
            return Err(SsoLoginError::UnknownState);
        }
        Ok(attempt)
    }
}
