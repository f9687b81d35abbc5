//! The load generator, the rounds, callgrind and the report.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::servers::{Framework, SCENARIOS, Scenario};

/// Connections the load generator keeps busy.
const CONNECTIONS: usize = 16;

struct Settings {
    rounds: usize,
    warmup: Duration,
    duration: Duration,
    /// Requests of the short and the long callgrind run.
    callgrind_requests: (u64, u64),
    /// Scenarios counted under callgrind.
    callgrind_scenarios: Vec<usize>,
}

impl Settings {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                rounds: 1,
                warmup: Duration::from_millis(100),
                duration: Duration::from_millis(300),
                callgrind_requests: (20, 60),
                callgrind_scenarios: vec![0, 1],
            }
        } else {
            Self {
                rounds: 3,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(5),
                callgrind_requests: (500, 2_500),
                callgrind_scenarios: (0..SCENARIOS.len()).collect(),
            }
        }
    }
}

/// One round of one scenario.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_request: Duration,
}

/// Runs every scenario and returns the report (Markdown).
pub(crate) fn run(quick: bool, callgrind: bool) -> Result<String, String> {
    // The load runs on core 1 and every server on core 0: re-run this
    // program pinned unless it already is.
    if std::env::var_os("AUTH_LOAD_PINNED").is_none() && has("taskset") {
        let status = Command::new("taskset")
            .args(["-c", "1"])
            .arg(std::env::current_exe().map_err(|e| e.to_string())?)
            .args(std::env::args().skip(1))
            .env("AUTH_LOAD_PINNED", "1")
            .status()
            .map_err(|e| e.to_string())?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut settings = Settings::new(quick);
    // `AUTH_LOAD_ONLY=<text>`: only the scenarios whose name contains it
    // (and the bare ones), for a closer look.
    let only = std::env::var("AUTH_LOAD_ONLY").ok();
    let selected = |s: &Scenario| s.is_bare() || only.as_deref().is_none_or(|o| s.name.contains(o));
    if only.is_some() {
        settings.callgrind_scenarios = (0..SCENARIOS.len()).collect();
    }
    settings
        .callgrind_scenarios
        .retain(|&i| selected(&SCENARIOS[i]));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let redis = auth_redis::testing::RedisServer::start().await;
        let redis_url = redis.url();
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); SCENARIOS.len()];
        for round in 0..settings.rounds {
            for (i, scenario) in SCENARIOS.iter().enumerate() {
                if !selected(scenario) {
                    continue;
                }
                eprintln!("round {}: {}", round + 1, scenario.name);
                let sample = measure(scenario, &redis_url, &settings).await?;
                samples[i].push(sample);
            }
        }
        let mut instructions = vec![None; SCENARIOS.len()];
        if callgrind && has("valgrind") {
            for &i in &settings.callgrind_scenarios {
                eprintln!("callgrind: {}", SCENARIOS[i].name);
                instructions[i] =
                    Some(count_instructions(&SCENARIOS[i], &redis_url, &settings).await?);
            }
        } else if callgrind {
            eprintln!("valgrind is not installed: no instruction counts");
        }
        Ok(report(&samples, &instructions, &settings))
    })
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(
        scenario: &Scenario,
        redis_url: &str,
        under_valgrind: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let port = free_port()?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = if has("taskset") {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]);
            c
        } else {
            Command::new("env")
        };
        if let Some(out) = under_valgrind {
            command
                .args(["valgrind", "--tool=callgrind", "--quiet"])
                .arg(format!("--callgrind-out-file={}", out.display()));
        }
        let child = command
            .arg(exe)
            .args(["serve", &scenario.index().to_string(), &port.to_string()])
            .env("LOAD_REDIS_URL", redis_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", scenario.name))?;
        let server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while tokio::net::TcpStream::connect(server.addr).await.is_err() {
            if Instant::now() > deadline {
                return Err(format!("{} never listened", scenario.name));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// CPU time the server process used so far (user + system).
    fn cpu_time(&self) -> Duration {
        // taskset execs the server, so the child's pid is the server's.
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name.
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        Duration::from_millis(ticks * 10)
    }

    /// Asks the server to exit and waits for it.
    async fn quit(mut self) {
        let _ = get(self.addr, "/quit", None).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection to `addr`.
async fn connect(
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

fn request(path: &str, credential: Option<&(String, String)>) -> hyper::Request<Empty<Bytes>> {
    let mut builder = hyper::Request::get(path).header("host", "127.0.0.1");
    if let Some((name, value)) = credential {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Empty::new()).expect("a valid request")
}

/// One request on a new connection: status, `Set-Cookie`, body.
async fn get(
    addr: SocketAddr,
    path: &str,
    credential: Option<&(String, String)>,
) -> Result<(u16, Option<String>, String), String> {
    let mut sender = connect(addr).await?;
    let res = sender
        .send_request(request(path, credential))
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, cookie, String::from_utf8_lossy(&body).into_owned()))
}

/// Logs in and returns the credential header, checking that `/me` accepts
/// it (and, for servers with authentication, refuses its absence).
async fn credential(
    scenario: &Scenario,
    addr: SocketAddr,
) -> Result<Option<(String, String)>, String> {
    let credential = if scenario.is_bare() {
        // The same bytes as a session scenario's request, unread: the
        // difference to bare is then the middleware, not the parsing of a
        // longer request.
        let cookie = format!("session={}", "A".repeat(auth_core::token::TOKEN_LEN));
        Some(("cookie".to_owned(), cookie))
    } else {
        let (status, cookie, body) = get(addr, "/login", None).await?;
        if status != 200 {
            return Err(format!("{}: /login answered {status}", scenario.name));
        }
        match (cookie, body.strip_prefix("Bearer ")) {
            (Some(cookie), _) => Some(("cookie".to_owned(), cookie)),
            (None, Some(_)) => Some(("authorization".to_owned(), body.clone())),
            (None, None) => None,
        }
    };
    let (status, _, user) = get(addr, "/me", credential.as_ref()).await?;
    if status != 200 || user != "alice" {
        return Err(format!("{}: /me answered {status} {user:?}", scenario.name));
    }
    if !scenario.is_bare() {
        let (status, _, _) = get(addr, "/me", None).await?;
        if status != 401 {
            return Err(format!(
                "{}: /me without a credential answered {status}",
                scenario.name
            ));
        }
    }
    Ok(credential)
}

/// Sends `GET /me` on `CONNECTIONS` connections until `until`, or until
/// `limit` requests were sent; returns each request's latency.
async fn load(
    addr: SocketAddr,
    credential: Option<(String, String)>,
    until: Instant,
    limit: Option<u64>,
) -> Result<Vec<Duration>, String> {
    let sent = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let mut tasks = tokio::task::JoinSet::new();
    let connections = if limit.is_some() { 4 } else { CONNECTIONS };
    for _ in 0..connections {
        let mut sender = connect(addr).await?;
        let credential = credential.clone();
        let sent = sent.clone();
        tasks.spawn_local(async move {
            let mut latencies = Vec::new();
            loop {
                if Instant::now() >= until || limit.is_some_and(|l| sent.get() >= l) {
                    return Ok::<_, String>(latencies);
                }
                sent.set(sent.get() + 1);
                let start = Instant::now();
                let res = sender
                    .send_request(request("/me", credential.as_ref()))
                    .await
                    .map_err(|e| e.to_string())?;
                let ok = res.status() == 200;
                res.into_body().collect().await.map_err(|e| e.to_string())?;
                if !ok {
                    return Err("a request was refused under load".to_owned());
                }
                latencies.push(start.elapsed());
            }
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

async fn measure(
    scenario: &Scenario,
    redis_url: &str,
    settings: &Settings,
) -> Result<Sample, String> {
    let server = Server::start(scenario, redis_url, None).await?;
    let credential = credential(scenario, server.addr).await?;
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            load(
                server.addr,
                credential.clone(),
                Instant::now() + settings.warmup,
                None,
            )
            .await?;
            let cpu_before = server.cpu_time();
            let start = Instant::now();
            let mut latencies =
                load(server.addr, credential, start + settings.duration, None).await?;
            let elapsed = start.elapsed();
            let cpu = server.cpu_time().saturating_sub(cpu_before);
            latencies.sort();
            let n = latencies.len().max(1);
            let at = |q: f64| latencies[((n - 1) as f64 * q) as usize];
            let sample = Sample {
                requests_per_second: n as f64 / elapsed.as_secs_f64(),
                p50: at(0.5),
                p99: at(0.99),
                cpu_per_request: cpu / u32::try_from(n).unwrap_or(u32::MAX),
            };
            server.quit().await;
            Ok(sample)
        })
        .await
}

/// Instructions per request: two runs under callgrind, the difference.
async fn count_instructions(
    scenario: &Scenario,
    redis_url: &str,
    settings: &Settings,
) -> Result<f64, String> {
    let (short, long) = settings.callgrind_requests;
    let dir = std::env::temp_dir().join(format!("auth-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut totals = Vec::new();
    for (run, requests) in [short, long].into_iter().enumerate() {
        let out = dir.join(format!("callgrind.{}.{run}", scenario.index()));
        let server = Server::start(scenario, redis_url, Some(&out)).await?;
        let credential = credential(scenario, server.addr).await?;
        let local = tokio::task::LocalSet::new();
        let far = Instant::now() + Duration::from_secs(3600);
        local
            .run_until(load(server.addr, credential, far, Some(requests)))
            .await?;
        server.quit().await;
        totals.push(read_total(&out)?);
    }
    if std::env::var_os("AUTH_LOAD_KEEP_PROFILES").is_some() {
        eprintln!("callgrind profiles kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok((totals[1] - totals[0]) as f64 / (long - short) as f64)
}

/// The instruction total of a callgrind output file.
fn read_total(path: &std::path::Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no totals", path.display()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(samples: &[Vec<Sample>], instructions: &[Option<f64>], settings: &Settings) -> String {
    let bare_of = |framework: Framework| {
        SCENARIOS
            .iter()
            .position(|s| s.framework == framework && s.is_bare())
            .unwrap_or(0)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} rounds of {:?} per scenario, {CONNECTIONS} connections; medians over rounds; \
         ratio: throughput over the bare framework's in the same round; instructions: \
         callgrind, per request, {} minus {} requests",
        settings.rounds,
        settings.duration,
        settings.callgrind_requests.1,
        settings.callgrind_requests.0
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | req/s | ratio to bare | p50 | p99 | server CPU / req | instructions / req | over bare |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        if samples[i].is_empty() {
            continue;
        }
        let bare = bare_of(scenario.framework);
        let rps = median(samples[i].iter().map(|s| s.requests_per_second).collect());
        let ratio = median(
            samples[i]
                .iter()
                .zip(&samples[bare])
                .map(|(s, b)| s.requests_per_second / b.requests_per_second)
                .collect(),
        );
        let p50 = median(
            samples[i]
                .iter()
                .map(|s| s.p50.as_secs_f64() * 1e6)
                .collect(),
        );
        let p99 = median(
            samples[i]
                .iter()
                .map(|s| s.p99.as_secs_f64() * 1e6)
                .collect(),
        );
        let cpu = median(
            samples[i]
                .iter()
                .map(|s| s.cpu_per_request.as_secs_f64() * 1e6)
                .collect(),
        );
        let (ir, over) = match (instructions[i], instructions[bare]) {
            (Some(ir), Some(bare_ir)) => (format!("{ir:.0}"), format!("{:+.0}", ir - bare_ir)),
            (Some(ir), None) => (format!("{ir:.0}"), String::new()),
            _ => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {rps:.0} | {ratio:.2} | {p50:.0} µs | {p99:.0} µs | {cpu:.1} µs | {ir} | {over} |",
            scenario.name
        );
    }
    out
}
