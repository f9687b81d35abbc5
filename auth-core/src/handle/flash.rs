//! Flash messages: set on one response, shown once on the next.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AuthHandle;
use crate::error::Error;

/// The data key flash messages are kept under.
pub const FLASH_KEY: &str = "auth.flash";

impl AuthHandle {
    /// Keeps `message` for the next request to [take](Self::take_flash)
    /// once ("You have been signed out."). After a logout, or for an
    /// anonymous visitor, it starts a [visitor's
    /// session](AuthHandle#before-the-login).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use auth_core::adapter::Exchange;
    /// use auth_core::testing::{TestRequest, TestResponse};
    /// use auth_core::{Authenticator, MemoryStore};
    ///
    /// let exchange = Exchange::new(Authenticator::builder(MemoryStore::new()).build().unwrap());
    /// let handle = exchange.admit(&mut TestRequest::post("/logout")).await.unwrap();
    /// handle.set_flash(&"You have been signed out.").unwrap();
    /// let mut response = TestResponse::new();
    /// exchange.respond(&handle, None, &mut response).await.unwrap();
    /// let cookie = response.cookie_pair(0).unwrap().to_owned();
    ///
    /// let next = TestRequest::get("/").with_header("cookie", &cookie);
    /// let handle = exchange.admit(&mut next.clone()).await.unwrap();
    /// let message = handle.take_flash::<String>().await.unwrap();
    /// assert_eq!(message.as_deref(), Some("You have been signed out."));
    /// assert_eq!(handle.take_flash::<String>().await.unwrap(), None, "shown once");
    /// # });
    /// ```
    pub fn set_flash<T: Serialize>(&self, message: &T) -> Result<(), Error> {
        self.insert(FLASH_KEY, message)
    }

    /// The message an earlier response [set](Self::set_flash), removed so
    /// that no later response shows it; `None` when there is none or the
    /// caller has no session (an access token). The removal is saved at
    /// once, by a compare-and-set of the session: of requests that race
    /// for one message, exactly one gets it.
    pub async fn take_flash<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        let message = match self.get::<T>(FLASH_KEY) {
            Ok(Some(message)) => message,
            Ok(None) | Err(Error::NoSession) => return Ok(None),
            Err(error) => return Err(error),
        };
        self.remove(FLASH_KEY)?;
        let taken = self.save_taking(Some(FLASH_KEY)).await?;
        Ok(taken.then_some(message))
    }
}
