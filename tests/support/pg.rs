//! A throwaway PostgreSQL database per test, on the cluster `make pg` runs.
//!
//! The server is `$TIDEMARK_PG_URL` when set; otherwise `scripts/pg.sh start`
//! (idempotent) installs or starts the loopback cluster and names it. Without
//! PostgreSQL a test fails, saying so: it never skips.

use crate::workspace;
use std::path::Path;
use tokio_postgres::{Client, NoTls};

/// A database of its own for one test, dropped (with its slots) by [`TestDb::drop_all`].
pub struct TestDb {
    /// `postgres://.../<name>`
    pub url: String,
    pub name: String,
    server: String,
}

/// The server's URL (its `postgres` database).
pub fn server_url() -> String {
    if let Ok(url) = std::env::var("TIDEMARK_PG_URL") {
        return url;
    }
    let script = workspace().join("scripts/pg.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "this test needs PostgreSQL 15 with wal2json: run `make pg` (as root it installs them \
         with apt), or set TIDEMARK_PG_URL to a server with wal_level=logical.\n{} said:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("pg.sh prints the URL")
        .trim()
        .to_string()
}

/// Connects to `url`.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e} (run `make pg`)"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let root = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |s| s + 2) => &base[..i],
        _ => base,
    };
    format!("{root}/{name}{query}")
}

/// Drops the databases (and slots) of test processes that died before
/// cleaning up: their slots would make the server keep WAL for ever.
async fn drop_abandoned(admin: &Client) {
    let Ok(rows) = admin
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 't\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        // t_<test>_<pid>_<nanos>
        let pid = name.rsplit('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            drop_database(admin, &name).await;
        }
    }
}

async fn drop_database(admin: &Client, name: &str) {
    let _ = admin
        .execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1",
            &[&name],
        )
        .await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

impl TestDb {
    /// A new, empty database named after `test`.
    pub async fn create(test: &str) -> TestDb {
        let server = server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("t_{test}_{}_{nanos}", std::process::id());
        let admin = connect(&server).await;
        drop_abandoned(&admin).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        TestDb {
            url: with_database(&server, &name),
            name,
            server,
        }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Drops the database's replication slots and the database.
    pub async fn drop_all(self) {
        let admin = connect(&self.server).await;
        drop_database(&admin, &self.name).await;
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:54329/postgres", "x"),
            "postgres://postgres@127.0.0.1:54329/x"
        );
        assert_eq!(
            with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}
