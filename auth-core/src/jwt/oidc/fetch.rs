//! Fetching discovery and JWKS documents: the [`JwksFetcher`] seam, and
//! [`HttpFetcher`], its HTTPS client.

use std::fmt;

use std::sync::Arc;

use super::{MAX_DOCUMENT_BYTES, OidcError};

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The provider could not be reached, or answered with an error.
    #[error("fetching {url} failed: {reason}")]
    Failed {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("the document at {0} is too large")]
    TooLarge(String),
}

/// Fetches a provider's documents. The default, [`HttpFetcher`], uses
/// HTTPS (or plain HTTP to a loopback address); tests and unusual setups
/// can supply their own.
#[async_trait::async_trait]
pub trait JwksFetcher: fmt::Debug + Send + Sync + 'static {
    /// The body of `url`, which is the discovery URL or the JWKS URL the
    /// configuration or the discovery document named, never one from a
    /// token.
    async fn get(&self, url: &str) -> Result<String, FetchError>;

    /// Posts `form` (`application/x-www-form-urlencoded`) to `url`, the
    /// provider's token endpoint, with `authorization` as the
    /// `Authorization` header when given; the answer's status and body,
    /// whatever the status. A fetcher that only reads documents keeps this
    /// default, which refuses, and a login through the provider fails.
    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        form: &str,
    ) -> Result<(u16, String), FetchError> {
        let _ = (authorization, form);
        Err(FetchError::Failed {
            url: url.to_owned(),
            reason: "this fetcher does not post".to_owned(),
        })
    }
}

/// Fetches with a plain HTTP/1.1 `GET` over rustls (aws-lc-rs, the
/// Mozilla roots): one connection per fetch, no redirects, no proxy, at
/// most [`MAX_DOCUMENT_BYTES`].
#[derive(Clone)]
pub struct HttpFetcher {
    tls: tokio_rustls::TlsConnector,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher").finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// A fetcher with rustls on aws-lc-rs and the Mozilla roots.
    pub fn new() -> Result<Self, OidcError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| OidcError::Client(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        })
    }

    /// Sends `request` to `url` (its path and `Host` filled in here): the
    /// answer's status and body.
    async fn send(
        &self,
        url: &str,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<(u16, String), String> {
        let uri: http::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("neither http nor https".into()),
        };
        let authority = uri.authority().ok_or("no host")?.clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let request = request
            .uri(path)
            .header(http::header::HOST, authority.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "auth-core")
            .body(http_body_util::Full::new(body))
            .map_err(|e| e.to_string())?;
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        if tls {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| e.to_string())?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            exchange(stream, request).await
        } else {
            exchange(tcp, request).await
        }
    }
}

type Bytes = hyper::body::Bytes;

/// Sends `request` on `stream`: the answer's status and body.
async fn exchange<S>(
    stream: S,
    request: http::Request<http_body_util::Full<Bytes>>,
) -> Result<(u16, String), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt as _;

    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    // The connection is driven beside the exchange and ends with it.
    let exchange = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut document = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Some(chunk) = frame.data_ref() {
                if document.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                    return Err(TOO_LARGE.to_owned());
                }
                document.extend_from_slice(chunk);
            }
        }
        let document =
            String::from_utf8(document).map_err(|_| "the body is not UTF-8".to_owned())?;
        Ok((status, document))
    };
    let connection = async move {
        // Its end (or error) shows in the exchange's result.
        let _ = connection.await;
        std::future::pending().await
    };
    tokio::select! {
        result = exchange => result,
        result = connection => result,
    }
}

const TOO_LARGE: &str = "too large";

fn fetch_error(url: &str, reason: String) -> FetchError {
    if reason == TOO_LARGE {
        FetchError::TooLarge(url.to_owned())
    } else {
        FetchError::Failed {
            url: url.to_owned(),
            reason,
        }
    }
}

#[async_trait::async_trait]
impl JwksFetcher for HttpFetcher {
    async fn get(&self, url: &str) -> Result<String, FetchError> {
        let (status, body) = self
            .send(url, http::Request::get("/"), Bytes::new())
            .await
            .map_err(|reason| fetch_error(url, reason))?;
        if !(200..300).contains(&status) {
            return Err(fetch_error(url, format!("status {status}")));
        }
        Ok(body)
    }

    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        form: &str,
    ) -> Result<(u16, String), FetchError> {
        let mut request = http::Request::post("/").header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
        if let Some(authorization) = authorization {
            request = request.header(http::header::AUTHORIZATION, authorization);
        }
        self.send(url, request, Bytes::copy_from_slice(form.as_bytes()))
            .await
            .map_err(|reason| fetch_error(url, reason))
    }
}
