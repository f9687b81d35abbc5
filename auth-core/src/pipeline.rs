//! Judging a request's credentials: the [`Authenticator::authenticate`]
//! pipeline. Custom credentials first, then an access token (in
//! [`crate::bearer`]), then the session cookie: a store read, the
//! secret's check, the sliding refresh.

use std::sync::Arc;

use crate::authenticator::Authenticator;
#[cfg(feature = "jwt")]
use crate::credentials::BearerCredential;
use crate::credentials::{Credentials, SessionCredential};
use crate::error::Error;
use crate::handle::{AuthHandle, CookieAction, Current, Presented};
use crate::identity::Identity;
use crate::record::{ClientMeta, SessionKind};
use crate::refusal::Rejection;

pin_project_lite::pin_project! {
    /// The future of [`Authenticator::authenticate`]: the authentication,
    /// then its outcome in the span and the metrics.
    struct Authenticating<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
    }
}

impl<F> Future for Authenticating<F>
where
    F: Future<Output = Result<AuthHandle, Error>>,
{
    type Output = Result<AuthHandle, Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let (method, outcome, reason) = match &result {
            Ok(handle) => match handle.outcome() {
                (Some(method), _) => (method.as_str(), "authenticated", None),
                (None, Some(rejection)) => {
                    let method = match rejection {
                        Rejection::InvalidToken { .. } => "bearer",
                        Rejection::InvalidCredential { authenticator } => authenticator,
                        _ => "session",
                    };
                    (method, "rejected", Some(rejection.as_str()))
                }
                (None, None) => ("none", "anonymous", None),
            },
            Err(_) => ("session", "error", Some("store")),
        };
        if !this.span.is_disabled() {
            this.span.record("method", method);
            this.span.record("outcome", outcome);
            if let Some(reason) = reason {
                this.span.record("reason", reason);
            }
        }
        if outcome == "rejected"
            && let Some(reason) = reason
        {
            crate::telemetry::rejection(reason);
        }
        crate::telemetry::authentication(method, outcome);
        std::task::Poll::Ready(result)
    }
}

impl Authenticator {
    /// Resolves the credentials into an [`AuthHandle`]: the heart of
    /// [`Exchange::admit`](crate::adapter::Exchange::admit).
    ///
    /// A missing or rejected credential gives an anonymous handle (with
    /// [`AuthHandle::rejection`] saying why, and a scheduled removal of a
    /// dead cookie). A store failure is an `Err`: never anonymous.
    ///
    /// Below the refresh threshold this costs exactly one store read; above
    /// it, one read and one `touch`, and the cookie is sent again.
    pub(crate) fn authenticate(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<AuthHandle, Error>> + Send + '_ {
        use tracing::Instrument as _;
        // Without a subscriber that wants debug spans, none is made: the
        // span machinery would cost more than the rest of a request.
        let span = if tracing::level_enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!(
                "authenticate",
                method = tracing::field::Empty,
                outcome = tracing::field::Empty,
                reason = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        // A named future rather than an `async` block, which would keep a
        // second copy of the credentials beside the inner future's.
        Authenticating {
            inner: self
                .authenticate_inner(credentials)
                .instrument(span.clone()),
            span,
        }
    }

    // An `async` block rather than an `async fn`: the block uses the
    // credentials where they were captured, where an `async fn` would move
    // them into a second slot of its future (so would binding their fields
    // to locals).
    #[allow(clippy::manual_async_fn)]
    fn authenticate_inner(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<AuthHandle, Error>> + Send + '_ {
        async move {
            if !credentials.custom.is_empty() {
                for authenticator in &self.inner.custom {
                    let header = authenticator.header();
                    let Some((_, presented)) =
                        credentials.custom.iter().find(|(name, _)| *name == header)
                    else {
                        continue;
                    };
                    // Boxed: this path is rare, and its future would otherwise
                    // enlarge every request's.
                    return Box::pin(self.custom(&**authenticator, presented, credentials.client))
                        .await;
                }
            }
            #[cfg(feature = "jwt")]
            if self.accepts_bearer() {
                match (credentials.bearer, credentials.access_cookie) {
                    (BearerCredential::None, BearerCredential::None) => {}
                    // A browser: the access cookie, with the session
                    // cookie beside it.
                    (BearerCredential::None, access) => {
                        return Box::pin(self.token_request(
                            access,
                            crate::identity::AuthMethod::AccessCookie,
                            credentials.session,
                            credentials.client,
                        ))
                        .await;
                    }
                    // The `Authorization` header alone decides: a request
                    // with a bearer token never falls back to a cookie.
                    (bearer, _) => {
                        return Box::pin(self.token_request(
                            bearer,
                            crate::identity::AuthMethod::Bearer,
                            SessionCredential::None,
                            credentials.client,
                        ))
                        .await;
                    }
                }
            }
            #[cfg(not(feature = "jwt"))]
            let _ = (credentials.bearer, credentials.access_cookie);
            let token = match credentials.session {
                SessionCredential::None => {
                    return Ok(AuthHandle::anonymous(
                        self,
                        credentials.client,
                        Presented::default(),
                        None,
                    ));
                }
                SessionCredential::Conflicting => {
                    // Not removed: the other copy may be a cookie tossed in
                    // from a sibling domain, which a removal cannot reach.
                    tracing::info!(reason = "conflicting_cookies", "session cookie rejected");
                    return Ok(AuthHandle::anonymous(
                        self,
                        credentials.client,
                        Presented::cookie(None),
                        Some(Rejection::ConflictingCookies),
                    ));
                }
                SessionCredential::Malformed(err) => {
                    tracing::debug!(reason = "malformed_cookie", error = %err, "session cookie rejected");
                    return Ok(self.rejected(
                        credentials.client,
                        Presented::cookie(None),
                        Rejection::MalformedCookie,
                    ));
                }
                SessionCredential::Token(token) => token,
            };
            let key = token.key();
            let now = self.now();
            // An in-process store answers at once; any other is awaited.
            let loaded = match self.inner.store.load_now(&key) {
                Some(answer) => answer,
                None => self.inner.store.load_shared(&key).await,
            };
            let mut record = match loaded {
                // The secret is checked only once a record was found: an
                // unknown id costs no hashing.
                Ok(Some(record)) if !record.is_expired(now) && token.matches(&record.verifier) => {
                    record
                }
                Ok(_) => {
                    return Ok(self.rejected(
                        credentials.client,
                        Presented::cookie(Some(token)),
                        Rejection::UnknownSession,
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "session store failed during authentication");
                    return Err(err.into());
                }
            };
            if !matches!(record.kind, SessionKind::Browser | SessionKind::Visitor) {
                return Ok(self.rejected(
                    credentials.client,
                    Presented::cookie(Some(token)),
                    Rejection::WrongKind,
                ));
            }
            let mut cookie = CookieAction::None;
            let (idle, refresh_after) = self.inner.idle_of(record.lifetime);
            if now - record.last_refresh_at >= refresh_after {
                let idle_expires_at = (now + idle).min(record.absolute_expires_at);
                if idle_expires_at > record.idle_expires_at {
                    // Boxed: one request in many refreshes, and the future
                    // would otherwise enlarge every request's.
                    match Box::pin(self.inner.store.touch(&key, idle_expires_at, now)).await {
                        Ok(true) => {
                            crate::telemetry::refresh();
                            let record = Arc::make_mut(&mut record);
                            record.idle_expires_at = idle_expires_at;
                            record.last_refresh_at = now;
                            if self.inner.cookie_is_persistent(record.lifetime) {
                                cookie = CookieAction::Set;
                            }
                        }
                        Ok(false) => {
                            return Ok(self.rejected(
                                credentials.client,
                                Presented::cookie(Some(token)),
                                Rejection::UnknownSession,
                            ));
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "session store failed during refresh");
                            return Err(err.into());
                        }
                    }
                }
            }
            if record.kind == SessionKind::Visitor {
                return Ok(AuthHandle::visitor(
                    self,
                    credentials.client,
                    Current { token, record },
                    cookie,
                ));
            }
            let identity = Identity::from_session(&record, &self.inner.grants);
            Ok(AuthHandle::authenticated(
                self,
                credentials.client,
                Current { token, record },
                identity,
                cookie,
            ))
        }
    }

    /// Decides a request by the credential it presented to `authenticator`.
    async fn custom(
        &self,
        authenticator: &dyn crate::custom::CustomAuthenticator,
        presented: &crate::custom::Presented,
        client: ClientMeta,
    ) -> Result<AuthHandle, Error> {
        let name = authenticator.name();
        let refused = Rejection::InvalidCredential {
            authenticator: name,
        };
        let crate::custom::Presented::Value(value) = presented else {
            tracing::debug!(
                authenticator = name,
                reason = "malformed",
                "credential rejected"
            );
            return Ok(AuthHandle::anonymous(
                self,
                client,
                Presented::default(),
                Some(refused),
            ));
        };
        match authenticator.authenticate(value).await {
            Ok(Some(identity)) => {
                let identity = if self.inner.grants.is_empty() {
                    identity
                } else {
                    let granted = self
                        .inner
                        .grants
                        .of_roles(identity.roles(), identity.permissions().to_vec());
                    identity.with_permissions(granted)
                };
                Ok(AuthHandle::bearer(
                    self,
                    client,
                    Presented::default(),
                    identity,
                ))
            }
            Ok(None) => {
                tracing::info!(authenticator = name, "credential rejected");
                Ok(AuthHandle::anonymous(
                    self,
                    client,
                    Presented::default(),
                    Some(refused),
                ))
            }
            Err(err) => {
                tracing::warn!(authenticator = name, error = %err, "credential check failed");
                Err(err.into())
            }
        }
    }

    /// Anonymous, with the session cookie (dead or garbage) removed.
    pub(crate) fn rejected(
        &self,
        client: ClientMeta,
        presented: Presented,
        reason: Rejection,
    ) -> AuthHandle {
        tracing::debug!(reason = reason.as_str(), "session cookie rejected");
        let handle = AuthHandle::anonymous(self, client, presented, Some(reason));
        handle.set_cookie_action(CookieAction::Remove);
        handle
    }
}
