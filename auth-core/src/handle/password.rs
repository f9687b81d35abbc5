//! The password login every app writes, as one call: check the throttle,
//! check the password (the app's closure), record the outcome, then log
//! in or refuse.

use std::future::Future;

use super::AuthHandle;
use super::session::Login;
use crate::error::Error;
use crate::identity::Identity;
use crate::refusal::Refusal;
use crate::throttle::Throttled;

/// Why a [password login](AuthHandle::login_with_password) did not log
/// anyone in. Each converts into the [`Refusal`] to answer with (so `?`
/// works in handlers): 401, 429 with `Retry-After`, 503, or the check's
/// own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The username or password is wrong (the failure is counted).
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many failures for this account or address, or the throttle's
    /// store failed.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The password check itself could not decide (say, too many checks
    /// at once): answered as the check said; nothing is counted.
    #[error("the password check refused: {}", .0.code())]
    CheckFailed(Refusal),
    /// The login failed in the store.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<LoginError> for Refusal {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::WrongCredentials => Self::Unauthenticated,
            LoginError::Throttled(throttled) => throttled.into(),
            LoginError::CheckFailed(refusal) => refusal,
            LoginError::Failed(error) => error.into(),
        }
    }
}

impl AuthHandle {
    /// Checks a password login and, if it holds, returns the [`Login`] to
    /// perform (with [`login`](Self::login), or
    /// [`issue_tokens`](crate::Authenticator::issue_tokens) for an app):
    /// reserves an attempt with the [login throttle](crate::throttle) for
    /// `username` and this client's address, runs `check` (the app's
    /// password check: the login for a right password, `None` for a wrong
    /// one or an unknown user), counts a failure or clears the account's
    /// count, and logs the outcome with the username escaped.
    pub async fn check_password<F, Fut>(
        &self,
        username: &str,
        check: F,
    ) -> Result<Login, LoginError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Login>, Refusal>>,
    {
        // Reserved before the password is checked: a burst of attempts
        // cannot get more checks than the limit.
        let attempt = self.reserve_login_attempt(username).await?;
        match check().await {
            Ok(Some(login)) => {
                attempt.succeeded().await.map_err(Error::from)?;
                Ok(login)
            }
            Ok(None) => {
                tracing::info!(user = %username.escape_debug(), "login failed: wrong credentials");
                attempt.failed();
                Err(LoginError::WrongCredentials)
            }
            Err(refusal) => Err(LoginError::CheckFailed(refusal)),
        }
    }

    /// The whole password login in one call: [`check_password`](Self::check_password),
    /// then [`login`](Self::login).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use auth_core::adapter::Exchange;
    /// use auth_core::testing::TestRequest;
    /// use auth_core::{Authenticator, Login, LoginError, MemoryStore, Refusal};
    ///
    /// let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build().unwrap());
    /// let handle = exchange.admit(&mut TestRequest::post("/login")).await.unwrap();
    /// let right = |password: &str| password == "wonderland";
    ///
    /// let refused = handle
    ///     .login_with_password("alice", async || Ok(right("guess").then(|| Login::new("alice"))))
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(refused, LoginError::WrongCredentials));
    /// assert_eq!(Refusal::from(refused).status(), 401);
    ///
    /// let alice = handle
    ///     .login_with_password("alice", async || Ok(right("wonderland").then(|| Login::new("alice"))))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(alice.user_id(), "alice");
    /// # });
    /// ```
    pub async fn login_with_password<F, Fut>(
        &self,
        username: &str,
        check: F,
    ) -> Result<Identity, LoginError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Login>, Refusal>>,
    {
        let login = self.check_password(username, check).await?;
        Ok(self.login(login).await?)
    }
}
