//! What the middleware decides, for operators: `tracing` spans and events,
//! and metrics through the [`metrics`] facade (install any recorder, such as
//! `metrics-exporter-prometheus`; without one they cost next to nothing).
//!
//! Every authentication runs in a `debug` span named `authenticate` whose
//! `method` (`session`, `bearer`, `none`), `outcome` (`authenticated`,
//! `anonymous`, `rejected`, `error`) and `reason` fields are filled in at
//! the end. No field ever holds a token, a key or a password.
//!
//! # Metrics
//! | name | kind | labels | counts |
//! |---|---|---|---|
//! | `auth_authentications_total` | counter | `method`, `outcome` | every request the layer saw |
//! | `auth_rejections_total` | counter | `reason` | credentials refused (`malformed_cookie`, `unknown_session`, `expired`, `bad_signature`, …) |
//! | `auth_csrf_rejections_total` | counter | `reason` | requests refused as cross-site |
//! | `auth_store_operation_duration_seconds` | histogram | `op` | every store call, failed ones included |
//! | `auth_store_errors_total` | counter | `op`, `retryable` | store calls that failed |
//! | `auth_session_refreshes_total` | counter | | sliding refreshes written to the store |
//! | `auth_logins_total` | counter | `kind` (`browser`, `refresh`) | sessions begun |
//! | `auth_revocations_total` | counter | `kind` (`session`, `user`) | access-token revocations announced |
//! | `auth_login_throttled_total` | counter | `scope` (`user`, `address`) | logins refused by the throttle |
//! | `auth_revocation_feed_lost_total` | counter | | times the delivery of other instances' revocations failed |
//! | `auth_token_store_checks_total` | counter | | access tokens checked against the store because that delivery was not current |
//!
//! Strings that come from users (user ids, user agents) are logged
//! escaped (`str::escape_debug`), so a newline in a username cannot forge
//! a log line.

use std::time::Duration;

/// `auth_authentications_total`.
pub const AUTHENTICATIONS: &str = "auth_authentications_total";
/// `auth_rejections_total`.
pub const REJECTIONS: &str = "auth_rejections_total";
/// `auth_csrf_rejections_total`.
pub const CSRF_REJECTIONS: &str = "auth_csrf_rejections_total";
/// `auth_store_operation_duration_seconds`.
pub const STORE_DURATION: &str = "auth_store_operation_duration_seconds";
/// `auth_store_errors_total`.
pub const STORE_ERRORS: &str = "auth_store_errors_total";
/// `auth_session_refreshes_total`.
pub const REFRESHES: &str = "auth_session_refreshes_total";
/// `auth_logins_total`.
pub const LOGINS: &str = "auth_logins_total";
/// `auth_revocations_total`.
pub const REVOCATIONS: &str = "auth_revocations_total";
/// `auth_login_throttled_total`.
pub const THROTTLED: &str = "auth_login_throttled_total";
/// `auth_revocation_feed_lost_total`.
pub const FEED_LOST: &str = "auth_revocation_feed_lost_total";
/// `auth_token_store_checks_total`.
pub const TOKEN_STORE_CHECKS: &str = "auth_token_store_checks_total";

/// A metric key built at compile time: no allocation and no hashing per
/// call, unlike a key with labels chosen at run time.
macro_rules! static_key {
    ($name:expr $(, $k:literal => $v:literal)*) => {{
        static LABELS: &[metrics::Label] = &[$(metrics::Label::from_static_parts($k, $v)),*];
        static KEY: metrics::Key = metrics::Key::from_static_parts($name, LABELS);
        &KEY
    }};
}
pub(crate) use static_key;

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

fn count(key: &metrics::Key) {
    metrics::with_recorder(|r| r.register_counter(key, &METADATA)).increment(1);
}

pub(crate) fn authentication(method: &'static str, outcome: &'static str) {
    let key = match (method, outcome) {
        ("session", "authenticated") => static_key!(
            AUTHENTICATIONS,
            "method" => "session",
            "outcome" => "authenticated"
        ),
        ("bearer", "authenticated") => static_key!(
            AUTHENTICATIONS,
            "method" => "bearer",
            "outcome" => "authenticated"
        ),
        ("access_cookie", "authenticated") => static_key!(
            AUTHENTICATIONS,
            "method" => "access_cookie",
            "outcome" => "authenticated"
        ),
        ("none", "anonymous") => static_key!(
            AUTHENTICATIONS,
            "method" => "none",
            "outcome" => "anonymous"
        ),
        _ => {
            metrics::counter!(AUTHENTICATIONS, "method" => method, "outcome" => outcome)
                .increment(1);
            return;
        }
    };
    count(key);
}

pub(crate) fn rejection(reason: &'static str) {
    metrics::counter!(REJECTIONS, "reason" => reason).increment(1);
}

pub(crate) fn csrf_rejection(reason: &'static str) {
    metrics::counter!(CSRF_REJECTIONS, "reason" => reason).increment(1);
}

pub(crate) fn refresh() {
    count(static_key!(REFRESHES));
}

pub(crate) fn login(kind: &'static str) {
    metrics::counter!(LOGINS, "kind" => kind).increment(1);
}

#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn revocation(kind: &'static str) {
    metrics::counter!(REVOCATIONS, "kind" => kind).increment(1);
}

pub(crate) fn throttled(scope: &'static str) {
    metrics::counter!(THROTTLED, "scope" => scope).increment(1);
}

pub(crate) fn revocation_feed_lost() {
    count(static_key!(FEED_LOST));
}

#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn token_store_check() {
    count(static_key!(TOKEN_STORE_CHECKS));
}

/// One store call: its duration, and the failure if it failed (whether a
/// retry may help). Conflicts and duplicates are answers, not failures,
/// and are not counted here.
pub(crate) fn store_call(
    op: &'static str,
    key: &'static metrics::Key,
    elapsed: Duration,
    failure: Option<Retryable>,
) {
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA)).record(elapsed.as_secs_f64());
    if let Some(Retryable(retryable)) = failure {
        let retryable = if retryable { "true" } else { "false" };
        metrics::counter!(STORE_ERRORS, "op" => op, "retryable" => retryable).increment(1);
    }
}

/// Whether a failed store call may succeed if tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retryable(pub(crate) bool);

#[cfg(test)]
mod tests {
    use metrics_util::CompositeKey;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    type Entries = Vec<(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )>;

    use crate::testing::FailingStore;
    use crate::{Authenticator, CookiePolicy, Login, MemoryStore};

    /// The value of metric `name` with exactly `labels` (as `k=v`), from one
    /// snapshot (taking a snapshot resets the recorder).
    fn value<'a>(entries: &'a Entries, name: &str, labels: &[&str]) -> Option<&'a DebugValue> {
        entries
            .iter()
            .find(|(key, _, _, _)| {
                let key = key.key();
                let mut have: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                have.sort();
                let mut want: Vec<String> = labels.iter().map(|s| (*s).to_owned()).collect();
                want.sort();
                key.name() == name && have == want
            })
            .map(|(_, _, _, v)| v)
    }

    fn counter(entries: &Entries, name: &str, labels: &[&str]) -> u64 {
        match value(entries, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn authentications_rejections_and_store_calls_are_counted() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let store = FailingStore::new(MemoryStore::new());
                let auth = Authenticator::builder(store.clone())
                    .with_cookie(CookiePolicy::default().with_secure(false))
                    .build()
                    .unwrap();
                let request = |cookie: Option<String>| {
                    auth.credentials(cookie.iter().map(|c| c.as_bytes()), None, None)
                };
                let handle = auth.authenticate(request(None)).await.unwrap();
                handle.login(Login::new("alice")).await.unwrap();
                let cookie = handle.finish().await.unwrap().set_cookies[0].clone();
                let cookie = cookie.split(';').next().unwrap().to_owned();
                for _ in 0..2 {
                    auth.authenticate(request(Some(cookie.clone())))
                        .await
                        .unwrap();
                }
                auth.authenticate(request(Some("session=%%%".into())))
                    .await
                    .unwrap();
                store.set_failing(true);
                assert!(auth.authenticate(request(Some(cookie))).await.is_err());
            });
        });
        let entries = snapshotter.snapshot().into_vec();
        let s = &entries;
        assert_eq!(counter(s, super::LOGINS, &["kind=browser"]), 1);
        assert_eq!(
            counter(
                s,
                super::AUTHENTICATIONS,
                &["method=none", "outcome=anonymous"]
            ),
            1
        );
        assert_eq!(
            counter(
                s,
                super::AUTHENTICATIONS,
                &["method=session", "outcome=authenticated"]
            ),
            2
        );
        assert_eq!(
            counter(
                s,
                super::AUTHENTICATIONS,
                &["method=session", "outcome=rejected"]
            ),
            1
        );
        assert_eq!(
            counter(s, super::REJECTIONS, &["reason=malformed_cookie"]),
            1
        );
        assert_eq!(
            counter(
                s,
                super::AUTHENTICATIONS,
                &["method=session", "outcome=error"]
            ),
            1
        );
        assert_eq!(
            counter(s, super::STORE_ERRORS, &["op=load", "retryable=true"]),
            1
        );
        match value(s, super::STORE_DURATION, &["op=load"]) {
            Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 3),
            other => panic!("{other:?}"),
        }
    }
}
