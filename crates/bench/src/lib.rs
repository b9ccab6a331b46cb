//! Benchmarks of tidemark's domain on large generated files. Only
//! `tidemark-core` (no DuckDB), so a release build stays quick.
//!
//! [`data`] writes a wide table's landed files (Parquet as DMS writes it,
//! and CSV) of any size, deterministically; [`files`] reads and writes local
//! files the way the pipeline's stores do, a range or a part at a time.

pub mod data;
pub mod files;

/// Sizes from the environment variable `var` (comma-separated numbers), or
/// `default` when it is not set.
pub fn env_sizes(var: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// Writes a benchmark's figures to `path` (`target/bench/<name>.json`) as
/// indented JSON, creating its folder.
pub fn write_figures(path: &std::path::Path, figures: &serde_json::Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{figures:#}\n"))
}

/// The process's peak resident set (`VmHWM`), in KiB; `None` off Linux.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time this process has used (user + system), in seconds; `None` off
/// Linux. `/proc/self/stat` counts clock ticks of 1/100 s on Linux.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The PostgreSQL server benchmarks use: `TIDEMARK_PG_URL`, else `make pg`'s
/// (started if it is not running), as `postgres://user@host:port/postgres`.
pub fn pg_server_url() -> String {
    if let Ok(url) = std::env::var("TIDEMARK_PG_URL") {
        return url;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/pg.sh"))
        .arg("start")
        .output()
        .expect("run scripts/pg.sh");
    assert!(out.status.success(), "needs PostgreSQL: make pg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// The URL of database `name` on the server of [`pg_server_url`].
pub fn pg_database_url(server: &str, name: &str) -> String {
    format!("{}/{name}", server.rsplit_once('/').map_or("", |(b, _)| b))
}
