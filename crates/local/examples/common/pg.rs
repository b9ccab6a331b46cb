//! A throwaway database on the benchmarks' PostgreSQL server
//! ([`tidemark_bench::pg_server_url`]), for the examples that replicate from it.

use tokio_postgres::{Client, NoTls};

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

pub struct BenchDb {
    admin: Client,
    pub name: String,
    pub url: String,
}

impl BenchDb {
    /// Creates `<prefix>_<pid>`.
    pub async fn create(prefix: &str) -> BenchDb {
        let server = tidemark_bench::pg_server_url();
        let admin = connect(&server).await;
        let name = format!("{prefix}_{}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let url = tidemark_bench::pg_database_url(&server, &name);
        BenchDb { admin, name, url }
    }

    /// Drops the replication slots on the database, then the database (best
    /// effort). Two statements: sent as one, they would run as one
    /// transaction, which `DROP DATABASE` refuses.
    pub async fn drop(self) {
        let name = &self.name;
        for sql in [
            format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{name}'"
            ),
            format!("DROP DATABASE {name} WITH (FORCE)"),
        ] {
            if let Err(e) = self.admin.batch_execute(&sql).await {
                eprintln!("{name} is left on the server: {e}");
            }
        }
    }
}
