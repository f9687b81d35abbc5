//! A local OpenID provider for the single sign-on tests: discovery, JWKS,
//! an authorization endpoint that sends the browser straight back (or
//! shows a page with a button, for the browser test), a token endpoint
//! that checks the code, the PKCE verifier and the client's secret, and an
//! end-session endpoint. Each login's ID token can be spoiled on purpose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use auth_core::jwt::{AccessTokens, Algorithm, Key};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use example_shared::SsoSettings;

use crate::remember_secret;

/// The ID token's claims for the next login, and how to spoil it.
#[derive(Debug, Clone)]
pub struct NextLogin {
    /// `sub`.
    pub subject: String,
    /// `sid`, the provider's session.
    pub sid: Option<String>,
    /// More claims (Keycloak's `realm_access`, say).
    pub claims: serde_json::Value,
    /// Answer the authorization request with this `error` instead.
    pub error: Option<String>,
    /// Put another nonce in the ID token.
    pub wrong_nonce: bool,
    /// Issue the ID token to another audience.
    pub wrong_audience: bool,
    /// Issue an ID token that expired an hour ago.
    pub expired: bool,
}

impl NextLogin {
    /// An ordinary login of `subject` during provider session `sid`.
    pub fn of(subject: &str, sid: &str) -> Self {
        Self {
            subject: subject.into(),
            sid: Some(sid.into()),
            claims: serde_json::json!({}),
            error: None,
            wrong_nonce: false,
            wrong_audience: false,
            expired: false,
        }
    }
}

/// A code given out and not yet exchanged.
struct Grant {
    login: NextLogin,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Provider {
    issuer: String,
    signing: jsonwebtoken::EncodingKey,
    jwks: serde_json::Value,
    next: Mutex<NextLogin>,
    /// Show a page with a button instead of redirecting at once.
    interactive: Mutex<bool>,
    grants: Mutex<HashMap<String, Grant>>,
    end_sessions: Mutex<Vec<String>>,
}

/// A running local provider (until the test's runtime ends).
#[derive(Clone)]
pub struct SsoProvider {
    inner: Arc<Provider>,
}

impl std::fmt::Debug for SsoProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoProvider")
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

/// The demo's client id at the provider.
pub const CLIENT_ID: &str = "demo-web";
/// Its secret (`client_secret_basic`).
pub const CLIENT_SECRET: &str = "demo-web-secret-0123456789";
const KID: &str = "sso-signing-1";

impl SsoProvider {
    /// Starts it on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let issuer = format!(
            "http://{}/realms/sso",
            listener.local_addr().expect("local address")
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("a P-256 key");
        let key = Key::from_private_der(KID, Algorithm::ES256, pkcs8.as_ref()).expect("a key");
        let jwks = AccessTokens::builder(issuer.clone())
            .with_signing_key(key)
            .build()
            .expect("a key set")
            .jwks();
        let signing = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
        let provider = Self {
            inner: Arc::new(Provider {
                issuer,
                signing,
                jwks,
                next: Mutex::new(NextLogin::of("sso-alice", "provider-session-1")),
                interactive: Mutex::new(false),
                grants: Mutex::new(HashMap::new()),
                end_sessions: Mutex::new(Vec::new()),
            }),
        };
        let app = axum::Router::new()
            .route(
                "/realms/sso/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/sso/certs", get(certs))
            .route("/realms/sso/auth", get(authorize))
            .route("/realms/sso/approve", get(approve))
            .route("/realms/sso/token", post(token))
            .route("/realms/sso/logout", get(end_session))
            .with_state(provider.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        provider
    }

    /// Its issuer URL.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The settings that make the demo offer "Sign in with SSO" through
    /// it (the redirect URL is the demo's default).
    pub fn settings(&self) -> SsoSettings {
        SsoSettings {
            issuer: self.inner.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url: None,
            roles_claims: vec!["realm_access.roles".into()],
        }
    }

    /// What the next login gives.
    pub fn set_next(&self, next: NextLogin) {
        *self.inner.next.lock().unwrap() = next;
    }

    /// Shows a sign-in page with a button (for a browser) instead of
    /// redirecting at once.
    pub fn set_interactive(&self, interactive: bool) {
        *self.inner.interactive.lock().unwrap() = interactive;
    }

    /// The `id_token_hint`s its end-session endpoint was called with.
    pub fn end_sessions(&self) -> Vec<String> {
        self.inner.end_sessions.lock().unwrap().clone()
    }

    /// Follows the demo's redirect `authorization_url` as a browser would:
    /// the path and query of the demo's callback the provider sends the
    /// browser to.
    pub async fn authorize(&self, authorization_url: &str) -> String {
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
            .get(authorization_url)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(res.status().as_u16(), 303, "the provider redirects back");
        let location = res.headers()["location"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let path = location
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
            .expect("an absolute callback URL");
        if let Some(code) = query_param(&path, "code") {
            remember_secret(&code);
        }
        path
    }

    /// A logout token for provider session `sid` and/or subject `sub`.
    pub fn logout_token(&self, sub: Option<&str>, sid: Option<&str>) -> String {
        let now = now();
        let mut claims = serde_json::json!({
            "iss": self.inner.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": format!("logout-{}", random_id()),
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        if let Some(sub) = sub {
            claims["sub"] = sub.into();
        }
        if let Some(sid) = sid {
            claims["sid"] = sid.into();
        }
        self.sign("logout+jwt", &claims)
    }

    /// `claims`, signed with the provider's key with header `typ`.
    pub fn sign(&self, typ: &str, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(KID.into());
        header.typ = Some(typ.into());
        let token = jsonwebtoken::encode(&header, claims, &self.inner.signing).expect("signed");
        remember_secret(&token);
        token
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of `name` in the query of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

async fn discovery(State(p): State<SsoProvider>) -> Response {
    let issuer = &p.inner.issuer;
    axum::Json(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/certs"),
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    }))
    .into_response()
}

async fn certs(State(p): State<SsoProvider>) -> Response {
    axum::Json(p.inner.jwks.clone()).into_response()
}

async fn authorize(
    State(p): State<SsoProvider>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if *p.inner.interactive.lock().unwrap() {
        let hidden: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    html_escape(k),
                    html_escape(v)
                )
            })
            .collect();
        return Html(format!(
            "<!doctype html><title>Provider</title><h1>Provider sign-in</h1>\
             <form method=\"get\" action=\"/realms/sso/approve\">{hidden}\
             <button id=\"approve\" type=\"submit\">Continue</button></form>"
        ))
        .into_response();
    }
    approve(State(p), Query(params)).await
}

async fn approve(
    State(p): State<SsoProvider>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    if param("response_type") != "code"
        || param("client_id") != CLIENT_ID
        || param("code_challenge_method") != "S256"
        || !param("scope").split(' ').any(|s| s == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let redirect_uri = param("redirect_uri");
    let login = p.inner.next.lock().unwrap().clone();
    let state = param("state");
    let mut location = format!("{redirect_uri}?state={}", encode(&state));
    if let Some(error) = &login.error {
        location.push_str(&format!("&error={}", encode(error)));
    } else {
        let code = random_id();
        p.inner.grants.lock().unwrap().insert(
            code.clone(),
            Grant {
                login,
                nonce: param("nonce"),
                challenge: param("code_challenge"),
                redirect_uri,
            },
        );
        location.push_str(&format!("&code={}", encode(&code)));
    }
    location.push_str(&format!("&iss={}", encode(&p.inner.issuer)));
    Redirect::to(&location).into_response()
}

async fn token(
    State(p): State<SsoProvider>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let refuse = |error: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": error })),
        )
            .into_response()
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return refuse("invalid_client");
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return refuse("unsupported_grant_type");
    }
    // A code is used once, whatever the outcome.
    let Some(grant) = p.inner.grants.lock().unwrap().remove(&field("code")) else {
        return refuse("invalid_grant");
    };
    if grant.redirect_uri != field("redirect_uri")
        || s256(&field("code_verifier")) != grant.challenge
    {
        return refuse("invalid_grant");
    }
    let login = &grant.login;
    let now = now();
    let mut claims = serde_json::json!({
        "iss": p.inner.issuer,
        "sub": login.subject,
        "aud": if login.wrong_audience { "another-client" } else { CLIENT_ID },
        "azp": CLIENT_ID,
        "iat": if login.expired { now - 7200 } else { now },
        "exp": if login.expired { now - 3600 } else { now + 300 },
        "auth_time": now,
        "nonce": if login.wrong_nonce { "another-nonce".to_owned() } else { grant.nonce.clone() },
    });
    if let Some(sid) = &login.sid {
        claims["sid"] = sid.clone().into();
    }
    if let serde_json::Value::Object(extra) = &login.claims {
        for (k, v) in extra {
            claims[k] = v.clone();
        }
    }
    let id_token = SsoProvider::sign(&p, "JWT", &claims);
    axum::Json(serde_json::json!({
        "access_token": format!("opaque-{}", random_id()),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn end_session(
    State(p): State<SsoProvider>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(hint) = params.get("id_token_hint") {
        p.inner.end_sessions.lock().unwrap().push(hint.clone());
    }
    Html("<!doctype html><title>Provider</title><p>Signed out of the provider.</p>").into_response()
}

fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .expect("encodable")
        .trim_start_matches("v=")
        .to_owned()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The S256 challenge of `verifier` (RFC 7636).
fn s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}
