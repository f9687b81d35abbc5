//! Throwaway databases for tests (feature `testing`): each test gets
//! `auth_test_<random>` on the server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the guard
//! is, even after a panic.

use auth_core::SessionToken;
use tokio_postgres::NoTls;

use crate::PostgresStore;

/// The server tests create their databases on: `DATABASE_URL`, or
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own, dropped (connections and all) with the guard.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    /// Its URL.
    pub url: String,
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed at {} ({e}); set DATABASE_URL to another server",
                server_url()
            )
        });
    tokio::spawn(connection);
    client
}

impl TestDatabase {
    /// Creates a database on the server.
    pub async fn create() -> Self {
        let name = format!(
            "auth_test_{}",
            SessionToken::generate().unwrap().key().to_hex()[..16].to_owned()
        );
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut config: tokio_postgres::Config = server_url().parse().unwrap();
        config.dbname(&name);
        let url = format!(
            "postgres://{}@{}:{}/{name}",
            config.get_user().unwrap_or("postgres"),
            server_host(&config),
            config.get_ports().first().copied().unwrap_or(5432),
        );
        Self { name, url }
    }

    /// A migrated store on it.
    pub async fn store(&self) -> PostgresStore {
        let store = PostgresStore::connect(&self.url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TestDatabase {
    /// Drops the database even when the test panicked, from a thread of its
    /// own (a runtime cannot be blocked on from inside another).
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    admin()
                        .await
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

fn server_host(config: &tokio_postgres::Config) -> String {
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".into(),
    }
}

/// Counts the live rows of `auth_sessions`, for tests that check what a
/// logout or an expiry left behind.
#[async_trait::async_trait]
impl auth_core::testing::Inventory for PostgresStore {
    async fn live_sessions(
        &self,
        now: time::OffsetDateTime,
    ) -> Result<usize, auth_core::StoreError> {
        self.run(async |client| {
            let row = client
                .query_one(
                    "SELECT count(*) FROM auth_sessions \
                     WHERE idle_expires_at > $1 AND absolute_expires_at > $1",
                    &[&now],
                )
                .await
                .map_err(crate::map_pg)?;
            usize::try_from(row.get::<_, i64>(0)).map_err(auth_core::StoreError::backend)
        })
        .await
    }
}
