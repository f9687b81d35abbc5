//! Failure drills: a scaled-out deployment under concurrent load while its
//! Redis fails, with what users rely on counted.
//!
//! Two instances of the demo (one on axum, one on actix-web) share a store
//! and their keys, as instances behind a load balancer do; a client sends
//! each request to the next instance in turn. Sessions are put in the store
//! before the load starts, as if their users had logged in earlier, so that
//! thousands of them cost no password hashing. The drills run in the
//! behaviour tests (`tests/tests/drills.rs`, bounded) and in `auth-load`
//! (`cargo run --release -p auth-load -- drills`, the figures of
//! `BENCHMARKS.md`).
//!
//! - [`redis_outage`]: Redis killed (`SIGKILL`) in the middle of the load
//!   and started again from its append-only file. While it is down, every
//!   request that needs it must answer 503 with `Retry-After`; none may
//!   answer 500, none may let a revoked or unknown credential through, no
//!   valid credential may be refused as if logged out; afterwards every
//!   session must be valid again without restarting an instance, and the
//!   instances' revocation feeds must catch up with what was announced
//!   while they were reconnecting. Logouts on one instance are timed until
//!   the other refuses the credential.
//! - [`cluster_node_outage`]: one master of a Redis Cluster (no replicas)
//!   killed: only the sessions on its slots may answer 503.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth_core::revocation::Revocations;
use auth_core::{
    Authenticator, ClientMeta, Clock, Login, SessionKind, SessionRecord, SessionStore,
    SessionToken, SystemClock,
};
use auth_redis::RedisStore;
use auth_redis::testing::{RedisCluster, RedisServer, key_slot};
use example_shared::{Config, SharedKeys, StoreConfig, Users};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// How big and how long a drill is.
#[derive(Debug, Clone)]
pub struct Drill {
    /// Live browser sessions put in the store before the load.
    pub sessions: usize,
    /// Token pairs (refresh families) for bearer requests.
    pub token_pairs: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Load before the failure.
    pub steady: Duration,
    /// How long the failed server stays down.
    pub outage: Duration,
    /// Load after it is back.
    pub after: Duration,
    /// Logouts on one instance timed until the other refuses (half by
    /// cookie, half by refresh token).
    pub propagation_trials: usize,
}

impl Drill {
    /// The figures of `BENCHMARKS.md`.
    pub fn benchmark() -> Self {
        Self {
            sessions: 10_000,
            token_pairs: 400,
            clients: 32,
            steady: Duration::from_secs(10),
            outage: Duration::from_secs(5),
            after: Duration::from_secs(10),
            propagation_trials: 200,
        }
    }

    /// As many sessions, briefly: the behaviour tests.
    pub fn test() -> Self {
        Self {
            sessions: 10_000,
            token_pairs: 120,
            clients: 8,
            steady: Duration::from_secs(2),
            outage: Duration::from_secs(2),
            after: Duration::from_secs(2),
            propagation_trials: 40,
        }
    }
}

/// A credential a client presents.
#[derive(Debug, Clone)]
enum Credential {
    /// The session cookie's value.
    Cookie(String),
    /// An access token.
    Bearer(String),
}

/// How a credential is ended.
#[derive(Debug, Clone)]
enum Ending {
    /// `POST /logout` with this session cookie.
    Logout(String),
    /// `POST /token/revoke` with this refresh token.
    Revoke(String),
}

/// What a correct answer to a credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// 200 as this user.
    User(String),
    /// Refused: a session logged out, a family revoked, a token never
    /// issued. Needs the store (or the revocation list) to know.
    Refused,
    /// Refused without the store: a token signed by a key nobody trusts.
    Forged,
}

#[derive(Debug, Clone)]
struct Probe {
    credential: Credential,
    expect: Expect,
    /// On the cluster drill: whether its session lives on the failed node.
    on_failed_node: bool,
}

/// One answer, or none.
#[derive(Debug, Clone, Copy)]
struct Sample {
    probe: usize,
    started: Instant,
    ended: Instant,
    answer: Answer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Status {
        code: u16,
        retry_after: bool,
        /// For a 200: whether it named the expected user.
        right_user: bool,
    },
    /// No HTTP answer (refused connection, reset, timeout).
    Transport,
}

/// What a drill's answers were, by kind. Every kind but `served`,
/// `refused` and `unavailable` is a broken promise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Valid credentials answered 200 as their user.
    pub served: u64,
    /// Revoked, unknown or forged credentials answered 401.
    pub refused: u64,
    /// 503 with `Retry-After` while the store could not answer.
    pub unavailable: u64,
    /// 503 with `Retry-After` while the store was up (or, on the cluster,
    /// for a session whose node was up).
    pub unavailable_while_up: u64,
    /// 503 without `Retry-After`.
    pub unavailable_without_retry_after: u64,
    /// Any other 5xx.
    pub server_errors: u64,
    /// A revoked, unknown or forged credential answered 200, or a valid one
    /// answered as another user.
    pub let_through: u64,
    /// A valid credential refused (401/403), as if logged out.
    pub refused_valid: u64,
    /// Any other status.
    pub unexpected: u64,
    /// No answer at all.
    pub transport: u64,
}

impl Tally {
    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.served + self.refused + self.unavailable + self.broken()
    }

    /// Answers that broke a promise.
    pub fn broken(&self) -> u64 {
        self.unavailable_while_up
            + self.unavailable_without_retry_after
            + self.server_errors
            + self.let_through
            + self.refused_valid
            + self.unexpected
            + self.transport
    }

    fn rows(&self) -> [(&'static str, u64); 10] {
        [
            ("served (200 as the right user)", self.served),
            ("refused as they must be (401)", self.refused),
            (
                "503 with Retry-After while the store was down",
                self.unavailable,
            ),
            ("503 while the store was up", self.unavailable_while_up),
            (
                "503 without Retry-After",
                self.unavailable_without_retry_after,
            ),
            ("other 5xx", self.server_errors),
            (
                "revoked/unknown let through, or wrong user",
                self.let_through,
            ),
            ("valid credential refused", self.refused_valid),
            ("other status", self.unexpected),
            ("no answer", self.transport),
        ]
    }
}

/// Durations, sorted.
#[derive(Debug, Clone, Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    fn from(mut durations: Vec<Duration>) -> Self {
        durations.sort();
        Self(durations)
    }

    /// The `p`th percentile (0-100), nearest rank.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1])
    }

    fn summary(&self) -> String {
        let show = |q: f64| self.percentile(q).map_or("-".into(), ms);
        format!(
            "p50 {}, p99 {}, max {} ({})",
            show(50.0),
            show(99.0),
            show(100.0),
            self.0.len()
        )
    }
}

/// Logouts on one instance timed until the other refused the credential.
#[derive(Debug, Clone, Default)]
pub struct Propagation {
    /// From each logout's answer to the first request refused.
    pub latencies: Latencies,
    /// Trials whose credential was still accepted after 5 s.
    pub never_refused: usize,
}

/// What [`redis_outage`] measured.
#[derive(Debug, Clone, Default)]
pub struct OutageReport {
    /// The drill's size.
    pub drill: Option<Drill>,
    /// Answers during the load, by kind.
    pub load: Tally,
    /// How long Redis was down (kill to accepting connections again).
    pub down_for: Duration,
    /// From Redis accepting connections to the last 503 answered.
    pub recovered_after: Duration,
    /// From Redis accepting connections to the first valid credential
    /// served.
    pub first_served_after: Option<Duration>,
    /// How long the 503 answers took.
    pub unavailable_answers: Latencies,
    /// From Redis accepting connections until both instances' revocation
    /// feeds were current again; `None` if they never were.
    pub feeds_current_after: Option<Duration>,
    /// A refresh family revoked on one instance as soon as Redis was back,
    /// then presented to the other once its feed was current: whether it
    /// was refused (the feed caught up).
    pub caught_up: bool,
    /// Every session and token checked once after the load, by kind.
    pub afterwards: Tally,
    /// Cookie logouts.
    pub cookie_propagation: Propagation,
    /// Refresh-token revocations (the access token on the other instance).
    pub token_propagation: Propagation,
}

impl OutageReport {
    /// Whether every promise held.
    pub fn held(&self) -> bool {
        self.load.broken() == 0
            && self.afterwards.broken() == 0
            && self.afterwards.unavailable == 0
            && self.caught_up
            && self.feeds_current_after.is_some()
            && self.cookie_propagation.never_refused == 0
            && self.token_propagation.never_refused == 0
    }
}

/// What [`cluster_node_outage`] measured.
#[derive(Debug, Clone, Default)]
pub struct ClusterReport {
    /// Sessions in the store, and how many of them live on the failed node.
    pub sessions: (usize, usize),
    /// Answers for sessions on the nodes that stayed up.
    pub others: Tally,
    /// Answers for sessions on the failed node.
    pub on_failed_node: Tally,
    /// How long the node was down.
    pub down_for: Duration,
    /// How long the 503 answers took.
    pub unavailable_answers: Latencies,
    /// How long the answers for sessions on the other masters took while
    /// the node was down.
    pub others_while_down: Latencies,
    /// Every session checked once after the node is back.
    pub afterwards: Tally,
}

impl ClusterReport {
    /// Whether every promise held.
    pub fn held(&self) -> bool {
        self.others.broken() == 0
            && self.others.unavailable == 0
            && self.on_failed_node.broken() == 0
            && self.afterwards.broken() == 0
            && self.afterwards.unavailable == 0
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn write_tally(f: &mut fmt::Formatter<'_>, columns: &[(&str, &Tally)]) -> fmt::Result {
    write!(f, "| answers |")?;
    for (name, _) in columns {
        write!(f, " {name} |")?;
    }
    write!(f, "\n|---|")?;
    for _ in columns {
        write!(f, "---:|")?;
    }
    writeln!(f)?;
    let rows: Vec<_> = columns.iter().map(|(_, t)| t.rows()).collect();
    for (i, (label, _)) in rows[0].iter().enumerate() {
        write!(f, "| {label} |")?;
        for row in &rows {
            write!(f, " {} |", row[i].1)?;
        }
        writeln!(f)?;
    }
    write!(f, "| **requests** |")?;
    for (_, t) in columns {
        write!(f, " **{}** |", t.requests())?;
    }
    writeln!(f)
}

impl fmt::Display for OutageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.drill {
            writeln!(
                f,
                "{} browser sessions and {} token families on one Redis (append-only file, fsync always), two instances (axum, actix-web), {} clients; Redis killed after {} s of load, down {}, then {} s more load.\n",
                d.sessions,
                d.token_pairs,
                d.clients,
                d.steady.as_secs(),
                ms(self.down_for),
                d.after.as_secs()
            )?;
        }
        write_tally(
            f,
            &[
                ("during the load", &self.load),
                ("every credential, afterwards", &self.afterwards),
            ],
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "- Redis accepting connections again to the last 503: {}",
            ms(self.recovered_after)
        )?;
        match self.feeds_current_after {
            Some(d) => writeln!(
                f,
                "- ... to both instances' revocation feeds current again: {}",
                ms(d)
            )?,
            None => writeln!(f, "- the revocation feeds never became current again")?,
        }
        writeln!(
            f,
            "- a family revoked while the feeds reconnected, refused by the other instance once its feed was current: {}",
            if self.caught_up { "yes" } else { "NO" }
        )?;
        writeln!(
            f,
            "- ... to the first valid credential served: {}",
            self.first_served_after.map_or("-".into(), ms)
        )?;
        writeln!(
            f,
            "- time to answer 503: {}",
            self.unavailable_answers.summary()
        )?;
        for (name, p) in [
            ("cookie logout", &self.cookie_propagation),
            ("refresh-token revocation", &self.token_propagation),
        ] {
            writeln!(
                f,
                "- {name} on one instance, refused by the other (under load): {}{}",
                p.latencies.summary(),
                if p.never_refused > 0 {
                    format!(", {} NEVER refused", p.never_refused)
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} browser sessions on a Redis Cluster of three masters without replicas (`cluster-require-full-coverage no`), {} of them on the master killed; down {}.\n",
            self.sessions.0,
            self.sessions.1,
            ms(self.down_for)
        )?;
        write_tally(
            f,
            &[
                ("sessions on the masters that stayed up", &self.others),
                ("sessions on the killed master", &self.on_failed_node),
                ("every session, afterwards", &self.afterwards),
            ],
        )?;
        writeln!(
            f,
            "\n- time to answer 503 (sessions on the killed master): {}",
            self.unavailable_answers.summary()
        )?;
        writeln!(
            f,
            "- time to answer the other sessions while it was down: {}",
            self.others_while_down.summary()
        )
    }
}

/// One running instance of the demo.
struct Instance {
    base: String,
    auth: Authenticator,
    shutdown: Option<oneshot::Sender<()>>,
    actix: Option<actix_web::dev::ServerHandle>,
}

impl Instance {
    async fn start(axum: bool, config: &Config) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let stores = config
            .store
            .build(clock.clone())
            .await
            .expect("the drill's store");
        let auth = config
            .authenticator(stores, clock)
            .expect("the drill's configuration is valid");
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let users = Arc::new(Users::demo());
        let (tx, rx) = oneshot::channel::<()>();
        let mut actix = None;
        if axum {
            crate::spawn_axum(listener, example_axum::router(auth.clone(), users), rx);
        } else {
            let listener = listener.into_std().expect("a std listener");
            let server = example_actix::server(listener, auth.clone(), users, 2)
                .expect("actix server starts");
            actix = Some(server.handle());
            tokio::spawn(server);
        }
        Self {
            base,
            auth,
            shutdown: Some(tx),
            actix,
        }
    }

    fn feed(&self) -> &Revocations {
        self.auth
            .access_tokens()
            .expect("the demo issues access tokens")
            .revocations()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.actix.take() {
            drop(handle.stop(false));
        }
    }
}

/// The two instances, and a client that sends each request to the next.
struct Deployment {
    instances: [Instance; 2],
    http: reqwest::Client,
    cookie_name: String,
    next: AtomicUsize,
}

impl Deployment {
    async fn start(store: StoreConfig, keys: SharedKeys) -> Self {
        let config = Config {
            store,
            keys,
            // Shared, as the keys: a CSRF token issued by one instance is
            // checked by the other.
            csrf_key: Some("drill-csrf-key-of-at-least-thirty-two-bytes".into()),
            ..Config::default()
        };
        let instances = [
            Instance::start(true, &config).await,
            Instance::start(false, &config).await,
        ];
        let cookie_name = instances[0].auth.cookie_policy().cookie_name().to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client");
        Self {
            instances,
            http,
            cookie_name,
            next: AtomicUsize::new(0),
        }
    }

    /// `GET /me` with `credential` on instance `on`.
    async fn me(&self, on: usize, credential: &Credential) -> Option<(u16, bool, String)> {
        let request = self.http.get(format!("{}/me", self.instances[on].base));
        let request = match credential {
            Credential::Cookie(token) => {
                request.header("cookie", format!("{}={token}", self.cookie_name))
            }
            Credential::Bearer(token) => request.bearer_auth(token),
        };
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body = response.text().await.ok()?;
        Some((status, retry_after, body))
    }

    /// `GET /me` on the next instance, as a sample.
    async fn probe(&self, index: usize, probe: &Probe) -> Sample {
        let on = self.next.fetch_add(1, Ordering::Relaxed) % 2;
        let started = Instant::now();
        let answer = match self.me(on, &probe.credential).await {
            Some((code, retry_after, body)) => Answer::Status {
                code,
                retry_after,
                right_user: match &probe.expect {
                    Expect::User(user) => user_of(&body).as_deref() == Some(user.as_str()),
                    _ => false,
                },
            },
            None => Answer::Transport,
        };
        Sample {
            probe: index,
            started,
            ended: Instant::now(),
            answer,
        }
    }

    /// `POST /logout` with a session cookie on instance `on`, with the
    /// session's CSRF token as a single-page app sends it (read from
    /// `GET /me` on the same instance).
    async fn logout(&self, on: usize, cookie: &str) -> Option<u16> {
        let credential = Credential::Cookie(cookie.to_owned());
        let (_, _, me) = self.me(on, &credential).await?;
        let me: serde_json::Value = serde_json::from_str(&me).ok()?;
        let csrf_token = me.get("csrf_token")?.as_str()?;
        self.http
            .post(format!("{}/logout", self.instances[on].base))
            .header("cookie", format!("{}={cookie}", self.cookie_name))
            .header("x-csrf-token", csrf_token)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// `POST /token/revoke` on instance `on`.
    async fn revoke(&self, on: usize, refresh_token: &str) -> Option<u16> {
        self.http
            .post(format!("{}/token/revoke", self.instances[on].base))
            .json(&serde_json::json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// Ends a credential on instance `on`; whether the instance said so.
    async fn end(&self, on: usize, ending: &Ending) -> bool {
        let status = match ending {
            Ending::Logout(cookie) => self.logout(on, cookie).await,
            Ending::Revoke(refresh_token) => self.revoke(on, refresh_token).await,
        };
        status.is_some_and(|s| (200..300).contains(&s))
    }

    fn feeds_current(&self) -> bool {
        self.instances
            .iter()
            .all(|i| i.feed().is_current(Duration::from_secs(15)))
    }
}

fn user_of(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("user_id")?.as_str().map(str::to_owned)
}

/// Puts `n` live browser sessions in `store`, for `n / 10` users (so no
/// user passes the default limit of sessions), as logins would have; the
/// cookie value of each and its user.
async fn seed_sessions(store: &RedisStore, n: usize) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc();
    let users = (n / 10).max(1);
    let mut made = Vec::with_capacity(n);
    let mut pending = JoinSet::new();
    for i in 0..n {
        let token = SessionToken::generate().expect("random");
        let user = format!("user-{:05}", i % users);
        let record = SessionRecord {
            idle_expires_at: now + Duration::from_secs(30 * 60),
            client: ClientMeta::new(Some("auth-drill/1.0"), Some("127.0.0.1".into())),
            ..SessionRecord::new(
                token.key().id(),
                user.clone(),
                SessionKind::Browser,
                token.verifier(),
                now,
                now + Duration::from_secs(24 * 3600),
            )
        };
        made.push((token.expose(), user));
        let store = store.clone();
        pending.spawn(async move { store.create(&record).await });
        if pending.len() >= 64 {
            pending
                .join_next()
                .await
                .expect("a task")
                .expect("joined")
                .expect("the session is stored");
        }
    }
    while let Some(done) = pending.join_next().await {
        done.expect("joined").expect("the session is stored");
    }
    made
}

/// A small xorshift: the drill's choices need no cryptography.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs `clients` clients sending probes chosen at random (valid ones
/// `valid_share` percent of the time) until `stop`.
async fn load(
    deployment: &Arc<Deployment>,
    probes: &Arc<Vec<Probe>>,
    valid: &Arc<Vec<usize>>,
    invalid: &Arc<Vec<usize>>,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> JoinSet<Vec<Sample>> {
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let (deployment, probes, valid, invalid, stop) = (
            deployment.clone(),
            probes.clone(),
            valid.clone(),
            invalid.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let mut seed =
                0x9E37_79B9_7F4A_7C15_u64 ^ (client as u64 + 1).wrapping_mul(0x2545_F491);
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let roll = next_random(&mut seed);
                let pool = if roll % 100 < 85 || invalid.is_empty() {
                    &valid
                } else {
                    &invalid
                };
                let index = pool[(next_random(&mut seed) % pool.len() as u64) as usize];
                samples.push(deployment.probe(index, &probes[index]).await);
            }
            samples
        });
    }
    tasks
}

async fn gather(mut tasks: JoinSet<Vec<Sample>>) -> Vec<Sample> {
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("a load client"));
    }
    all
}

/// Counts one answer. `store_down` says whether the store (or, on the
/// cluster, the probe's node) could not answer while the request ran.
fn count(tally: &mut Tally, probe: &Probe, answer: Answer, store_down: bool) {
    let Answer::Status {
        code,
        retry_after,
        right_user,
    } = answer
    else {
        tally.transport += 1;
        return;
    };
    match (code, &probe.expect) {
        (200, Expect::User(_)) if right_user => tally.served += 1,
        (200, _) => tally.let_through += 1,
        (401, Expect::Refused | Expect::Forged) => tally.refused += 1,
        (401 | 403, Expect::User(_)) => tally.refused_valid += 1,
        (503, _) if !retry_after => tally.unavailable_without_retry_after += 1,
        (503, _) if store_down => tally.unavailable += 1,
        (503, _) => tally.unavailable_while_up += 1,
        (500..=599, _) => tally.server_errors += 1,
        _ => tally.unexpected += 1,
    }
}

/// Sends every probe once, `clients` at a time, and counts the answers
/// with the store up.
async fn check_every(
    deployment: &Arc<Deployment>,
    probes: &Arc<Vec<Probe>>,
    clients: usize,
) -> Tally {
    let cursor = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (deployment, probes, cursor) = (deployment.clone(), probes.clone(), cursor.clone());
        tasks.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let index = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(probe) = probes.get(index) else {
                    return samples;
                };
                samples.push(deployment.probe(index, probe).await);
            }
        });
    }
    let mut tally = Tally::default();
    for sample in gather(tasks).await {
        count(&mut tally, &probes[sample.probe], sample.answer, false);
    }
    tally
}

/// Logs out (or revokes) each trial's credential on one instance under
/// load, and times until the other refuses it.
async fn time_propagation(
    deployment: &Deployment,
    trials: &[(Credential, Ending)],
) -> (Propagation, Propagation) {
    let (mut cookies, mut tokens) = (Propagation::default(), Propagation::default());
    for (i, (credential, ending)) in trials.iter().enumerate() {
        let (from, to) = (i % 2, (i + 1) % 2);
        // The credential works on the other instance first.
        if deployment.me(to, credential).await.map(|a| a.0) != Some(200) {
            continue;
        }
        if !deployment.end(from, ending).await {
            continue;
        }
        // From the logout's answer to the first request the other
        // instance refused, counted from when that request was sent:
        // requests follow each other, so the one before it, sent earlier,
        // was still accepted.
        let answered = Instant::now();
        let mut refused = None;
        while answered.elapsed() < Duration::from_secs(5) {
            let sent = answered.elapsed();
            if deployment.me(to, credential).await.map(|a| a.0) == Some(401) {
                refused = Some(sent);
                break;
            }
        }
        let into = match credential {
            Credential::Cookie(_) => &mut cookies,
            Credential::Bearer(_) => &mut tokens,
        };
        match refused {
            Some(latency) => into.latencies.0.push(latency),
            None => into.never_refused += 1,
        }
    }
    cookies.latencies.0.sort();
    tokens.latencies.0.sort();
    (cookies, tokens)
}

/// Keys both instances share: a signing key and a refresh secret.
struct Keys {
    shared: SharedKeys,
    _file: crate::PemFile,
}

fn shared_keys() -> Keys {
    let file = crate::pem_key_file();
    Keys {
        shared: SharedKeys {
            access_key_file: Some(file.name()),
            previous_key_file: None,
            refresh_key: Some("drill-refresh-key-of-at-least-thirty-two-bytes".into()),
        },
        _file: file,
    }
}

/// Kills Redis in the middle of the load and starts it again; see the
/// [module docs](self).
pub async fn redis_outage(drill: &Drill) -> OutageReport {
    let mut server = RedisServer::start_durable().await;
    let keys = shared_keys();
    let deployment = Arc::new(
        Deployment::start(StoreConfig::Redis(server.url(), None), keys.shared.clone()).await,
    );
    let store = RedisStore::from_url(&server.url()).expect("the drill's Redis URL");
    let sessions = seed_sessions(&store, drill.sessions + drill.propagation_trials).await;
    let (trial_sessions, sessions) = sessions.split_at(drill.propagation_trials);

    // Token families, issued as `POST /token` would, without a password.
    let issuer = &deployment.instances[0].auth;
    let mut pairs = Vec::new();
    for i in 0..drill.token_pairs + drill.propagation_trials + 1 {
        let pair = issuer
            .issue_tokens(
                Login::new(format!("user-{:05}", i % 1000)),
                ClientMeta::default(),
            )
            .await
            .expect("a token pair");
        pairs.push((
            pair.access_token,
            pair.refresh_token,
            format!("user-{:05}", i % 1000),
        ));
    }
    let catch_up_pair = pairs.pop().expect("one pair kept for the catch-up check");
    let trial_pairs = pairs.split_off(drill.token_pairs);

    // What the clients present: every session and family, a tenth of each
    // revoked before the load, tokens nobody issued and a forged one.
    let signed_in = sessions
        .iter()
        .map(|(cookie, user)| {
            let ending = Ending::Logout(cookie.clone());
            (Credential::Cookie(cookie.clone()), user, ending)
        })
        .chain(pairs.iter().map(|(access, refresh, user)| {
            let ending = Ending::Revoke(refresh.clone());
            (Credential::Bearer(access.clone()), user, ending)
        }));
    let mut probes = Vec::new();
    for (i, (credential, user, ending)) in signed_in.enumerate() {
        let expect = if i % 10 == 9 {
            let ended = deployment.end(i % 2, &ending).await;
            assert!(ended, "{ending:?} before the load");
            Expect::Refused
        } else {
            Expect::User(user.clone())
        };
        probes.push(Probe {
            credential,
            expect,
            on_failed_node: true,
        });
    }
    for _ in 0..100 {
        probes.push(Probe {
            credential: Credential::Cookie(SessionToken::generate().expect("random").expose()),
            expect: Expect::Refused,
            on_failed_node: true,
        });
    }
    // A token with another token's signature: well formed, signed by the
    // right key, for another payload.
    let (a, b) = (&pairs[0].0, &pairs[1].0);
    let forged = format!(
        "{}.{}",
        &a[..a.rfind('.').expect("a JWT")],
        &b[b.rfind('.').expect("a JWT") + 1..]
    );
    probes.push(Probe {
        credential: Credential::Bearer(forged),
        expect: Expect::Forged,
        on_failed_node: false,
    });
    let probes = Arc::new(probes);
    let (valid, invalid): (Vec<usize>, Vec<usize>) =
        (0..probes.len()).partition(|&i| matches!(probes[i].expect, Expect::User(_)));
    let (valid, invalid) = (Arc::new(valid), Arc::new(invalid));

    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&deployment, &probes, &valid, &invalid, drill.clients, &stop).await;

    // Propagation under load, during the steady phase.
    let trials: Vec<(Credential, Ending)> = (0..drill.propagation_trials)
        .map(|i| {
            if i % 2 == 0 {
                let cookie = &trial_sessions[i].0;
                (
                    Credential::Cookie(cookie.clone()),
                    Ending::Logout(cookie.clone()),
                )
            } else {
                let (access, refresh, _) = &trial_pairs[i];
                (
                    Credential::Bearer(access.clone()),
                    Ending::Revoke(refresh.clone()),
                )
            }
        })
        .collect();
    let steady_until = Instant::now() + drill.steady;
    let (cookie_propagation, token_propagation) = time_propagation(&deployment, &trials).await;
    tokio::time::sleep_until(steady_until.into()).await;

    let killed_at = Instant::now();
    server.kill();
    tokio::time::sleep(drill.outage).await;
    server.start_again().await;
    let back_at = Instant::now();

    // As soon as Redis is back, a family is revoked on the first instance,
    // while the feeds may still be reconnecting.
    let revoked_at_return = loop {
        if deployment
            .end(0, &Ending::Revoke(catch_up_pair.1.clone()))
            .await
        {
            break true;
        }
        if back_at.elapsed() > Duration::from_secs(20) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut feeds_current_after = None;
    while back_at.elapsed() < Duration::from_secs(30) {
        if deployment.feeds_current() {
            feeds_current_after = Some(back_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let caught_up = revoked_at_return
        && feeds_current_after.is_some()
        && deployment
            .me(1, &Credential::Bearer(catch_up_pair.0.clone()))
            .await
            .map(|a| a.0)
            == Some(401);
    let after_until = Instant::now() + drill.after;
    tokio::time::sleep_until(after_until.into()).await;
    stop.store(true, Ordering::Relaxed);
    let samples = gather(clients).await;

    let mut report = OutageReport {
        drill: Some(drill.clone()),
        down_for: back_at - killed_at,
        feeds_current_after,
        caught_up,
        cookie_propagation,
        token_propagation,
        ..OutageReport::default()
    };
    let mut unavailable = Vec::new();
    for sample in &samples {
        // 503s after Redis came back are part of the recovery; a 503
        // before it failed is not.
        let store_down = sample.ended >= killed_at;
        match sample.answer {
            Answer::Status { code: 503, .. } => {
                unavailable.push(sample.ended - sample.started);
                if sample.started >= back_at {
                    report.recovered_after = report.recovered_after.max(sample.ended - back_at);
                }
            }
            Answer::Status {
                code: 200,
                right_user: true,
                ..
            } if sample.started >= back_at => {
                let after = sample.ended - back_at;
                report.first_served_after =
                    Some(report.first_served_after.map_or(after, |d| d.min(after)));
            }
            _ => {}
        }
        count(
            &mut report.load,
            &probes[sample.probe],
            sample.answer,
            store_down,
        );
    }
    report.unavailable_answers = Latencies::from(unavailable);
    report.afterwards = check_every(&deployment, &probes, drill.clients).await;
    report
}

/// Kills one master of a Redis Cluster under load; see the
/// [module docs](self).
pub async fn cluster_node_outage(drill: &Drill) -> ClusterReport {
    let mut cluster = RedisCluster::start_durable().await;
    let deployment = Arc::new(
        Deployment::start(
            StoreConfig::RedisCluster(cluster.urls()),
            shared_keys().shared,
        )
        .await,
    );
    let store = RedisStore::cluster(&cluster.urls()).expect("the drill's cluster URLs");
    let sessions = seed_sessions(&store, drill.sessions).await;
    let victim = 0;
    let slots = cluster.slots_of(victim);
    let probes: Vec<Probe> = sessions
        .iter()
        .map(|(cookie, user)| {
            let token = SessionToken::parse(cookie.as_bytes()).expect("a token");
            let slot = key_slot(&store.session_key(&token.key()));
            Probe {
                credential: Credential::Cookie(cookie.clone()),
                expect: Expect::User(user.clone()),
                on_failed_node: slots.iter().any(|range| range.contains(&slot)),
            }
        })
        .collect();
    let on_failed = probes.iter().filter(|p| p.on_failed_node).count();
    let probes = Arc::new(probes);
    let valid = Arc::new((0..probes.len()).collect::<Vec<_>>());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(
        &deployment,
        &probes,
        &valid,
        &Arc::new(Vec::new()),
        drill.clients,
        &stop,
    )
    .await;
    tokio::time::sleep(drill.steady).await;
    let killed_at = Instant::now();
    cluster.node_mut(victim).kill();
    tokio::time::sleep(drill.outage).await;
    cluster.node_mut(victim).start_again().await;
    cluster.wait_until_ok().await;
    let back_at = Instant::now();
    tokio::time::sleep(drill.after).await;
    stop.store(true, Ordering::Relaxed);
    let samples = gather(clients).await;

    let mut report = ClusterReport {
        sessions: (probes.len(), on_failed),
        down_for: back_at - killed_at,
        ..ClusterReport::default()
    };
    let (mut unavailable, mut others_while_down) = (Vec::new(), Vec::new());
    for sample in &samples {
        let probe = &probes[sample.probe];
        let node_down = sample.ended >= killed_at && sample.started <= back_at;
        if matches!(sample.answer, Answer::Status { code: 503, .. }) {
            unavailable.push(sample.ended - sample.started);
        } else if node_down && !probe.on_failed_node {
            others_while_down.push(sample.ended - sample.started);
        }
        let tally = if probe.on_failed_node {
            &mut report.on_failed_node
        } else {
            &mut report.others
        };
        count(
            tally,
            probe,
            sample.answer,
            probe.on_failed_node && node_down,
        );
    }
    report.unavailable_answers = Latencies::from(unavailable);
    report.others_while_down = Latencies::from(others_while_down);
    report.afterwards = check_every(&deployment, &probes, drill.clients).await;
    report
}
