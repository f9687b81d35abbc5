//! [`SsoClient`]: this application as an OpenID Connect client of one
//! provider, and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::jwt::oidc::{
    ExternalClaims, ExternalIssuer, ExternalIssuerBuilder, JwksFetcher, OidcError,
};
use crate::throttle::CounterStore;

/// Default lifetime of a login attempt, from its start to the callback:
/// 10 minutes.
pub const DEFAULT_ATTEMPT_TTL: Duration = Duration::from_secs(10 * 60);

/// How the client proves itself at the token endpoint (OAuth 2.0 client
/// authentication). `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// A public client (a single-page app, a native app): no secret, the
    /// PKCE verifier alone binds the code to this client's attempt.
    Public,
    /// `client_secret_basic`: the secret in an HTTP Basic `Authorization`
    /// header (the default of providers).
    SecretBasic(String),
    /// `client_secret_post`: the secret in the form.
    SecretPost(String),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "Public",
            Self::SecretBasic(_) => "SecretBasic(<redacted>)",
            Self::SecretPost(_) => "SecretPost(<redacted>)",
        })
    }
}

pub(super) struct Inner {
    /// The provider's key cache and discovery, with the client id as the
    /// audience ID tokens must name.
    pub(super) issuer: ExternalIssuer,
    pub(super) client_id: String,
    pub(super) client_auth: ClientAuth,
    pub(super) redirect_url: String,
    pub(super) scope: String,
    pub(super) post_logout_redirect: Option<String>,
    pub(super) attempt_ttl: Duration,
    pub(super) replay_counters: Option<Arc<dyn CounterStore>>,
}

/// This application as a client (relying party) of one OpenID provider:
/// what [`AuthHandle::start_sso`](crate::AuthHandle::start_sso),
/// [`AuthHandle::complete_sso`](crate::AuthHandle::complete_sso) and
/// [`Authenticator::backchannel_logout`](crate::Authenticator::backchannel_logout)
/// are given. Cheap to clone. See the [module docs](crate::sso).
#[derive(Clone)]
pub struct SsoClient {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for SsoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoClient")
            .field("issuer", &self.inner.issuer.issuer())
            .field("client_id", &self.inner.client_id)
            .field("client_auth", &self.inner.client_auth)
            .field("redirect_url", &self.inner.redirect_url)
            .finish_non_exhaustive()
    }
}

impl SsoClient {
    /// A client of the provider `issuer` (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`), registered there as
    /// `client_id`, whose callback is `redirect_url` (exactly as
    /// registered).
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_url: impl Into<String>,
    ) -> SsoClientBuilder {
        let client_id = client_id.into();
        SsoClientBuilder {
            issuer: ExternalIssuer::builder(issuer, client_id.clone()),
            client_id,
            client_auth: ClientAuth::Public,
            redirect_url: redirect_url.into(),
            scopes: Vec::new(),
            post_logout_redirect: None,
            attempt_ttl: DEFAULT_ATTEMPT_TTL,
            replay_counters: None,
        }
    }

    /// The provider, as ID tokens name it (`iss`).
    pub fn issuer(&self) -> &str {
        self.inner.issuer.issuer()
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// Waits for the provider's keys; whether they are loaded.
    pub async fn ready(&self) -> bool {
        self.inner.issuer.ready().await
    }

    pub(super) fn provider(&self) -> &ExternalIssuer {
        &self.inner.issuer
    }
}

/// Builds an [`SsoClient`].
#[must_use]
pub struct SsoClientBuilder {
    issuer: ExternalIssuerBuilder,
    client_id: String,
    client_auth: ClientAuth,
    redirect_url: String,
    scopes: Vec<String>,
    post_logout_redirect: Option<String>,
    attempt_ttl: Duration,
    replay_counters: Option<Arc<dyn CounterStore>>,
}

impl fmt::Debug for SsoClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoClientBuilder")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl SsoClientBuilder {
    /// A confidential client: `secret` sent as `client_secret_basic`.
    pub fn with_client_secret(self, secret: impl Into<String>) -> Self {
        self.with_client_auth(ClientAuth::SecretBasic(secret.into()))
    }

    /// How the client authenticates at the token endpoint (default
    /// [`ClientAuth::Public`]).
    pub fn with_client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Asks for `scope` too, beside `openid` (say `profile`, `email`).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Where the provider sends the browser after an RP-initiated logout
    /// ([`AuthHandle::sso_logout_url`](crate::AuthHandle::sso_logout_url)),
    /// as registered there.
    pub fn with_post_logout_redirect(mut self, url: impl Into<String>) -> Self {
        self.post_logout_redirect = Some(url.into());
        self
    }

    /// How long a login attempt may take from its start to the callback
    /// (default 10 minutes).
    pub fn with_attempt_ttl(mut self, ttl: Duration) -> Self {
        self.attempt_ttl = ttl;
        self
    }

    /// Accepts back-channel logouts, remembering each logout token's `jti`
    /// in `counters` (shared by every instance, as the store is) so that a
    /// replayed one is refused everywhere. Without it,
    /// [`Authenticator::backchannel_logout`](crate::Authenticator::backchannel_logout)
    /// refuses every logout token.
    pub fn with_backchannel_logout(mut self, counters: Arc<dyn CounterStore>) -> Self {
        self.replay_counters = Some(counters);
        self
    }

    /// Also takes roles from the ID token's claim at `path`, as
    /// [`ExternalIssuerBuilder::with_roles_claim`] does for access tokens.
    pub fn with_roles_claim(mut self, path: &str) -> Result<Self, OidcError> {
        self.issuer = self.issuer.with_roles_claim(path)?;
        Ok(self)
    }

    /// Signs the provider's users in as users of this application: `map`
    /// returns the local user id for an ID token's claims, or `None` to
    /// sign them in as the provider's subjects.
    pub fn with_local_users(
        mut self,
        map: impl Fn(&ExternalClaims) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.issuer = self.issuer.with_local_users(map);
        self
    }

    /// Fetches documents and posts to the token endpoint with `fetcher`.
    pub fn with_fetcher(mut self, fetcher: impl JwksFetcher) -> Self {
        self.issuer = self.issuer.with_fetcher(fetcher);
        self
    }

    /// Tolerated clock skew for ID and logout tokens (default 30 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.issuer = self.issuer.with_leeway(leeway);
        self
    }

    /// The clock (default the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.issuer = self.issuer.with_clock(clock);
        self
    }

    /// Checks the configuration and starts fetching the provider's keys
    /// (on the current Tokio runtime).
    pub fn build(self) -> Result<SsoClient, OidcError> {
        for url in std::iter::once(&self.redirect_url).chain(&self.post_logout_redirect) {
            if !crate::jwt::oidc::is_allowed_url(url) {
                return Err(OidcError::Url(url.clone()));
            }
        }
        let mut scope = String::from("openid");
        for extra in &self.scopes {
            for word in extra.split_ascii_whitespace() {
                if word != "openid" {
                    scope.push(' ');
                    scope.push_str(word);
                }
            }
        }
        // ID tokens are typed `JWT` or not at all.
        let issuer = self.issuer.accept_untyped().build()?;
        Ok(SsoClient {
            inner: Arc::new(Inner {
                issuer,
                client_id: self.client_id,
                client_auth: self.client_auth,
                redirect_url: self.redirect_url,
                scope,
                post_logout_redirect: self.post_logout_redirect,
                attempt_ttl: self.attempt_ttl,
                replay_counters: self.replay_counters,
            }),
        })
    }
}
