//! The DuckDB engine reports what each statement read, from DuckDB's profile:
//! the local stand-in for Athena's bytes scanned.

use tidemark_core::ports::QueryEngine;
use tidemark_local::duckdb::DuckDbEngine;

#[tokio::test]
async fn each_statement_reports_the_bytes_it_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = DuckDbEngine::open(&dir.path().join("w.duckdb"), dir.path()).unwrap();
    let file = dir.path().join("numbers.parquet");
    engine
        .execute(&format!(
            "COPY (SELECT i, md5(i::VARCHAR) AS h FROM range(200000) t(i)) TO '{}' (FORMAT parquet)",
            file.display()
        ))
        .await
        .unwrap();
    let size = std::fs::metadata(&file).unwrap().len();

    let read = engine
        .execute(&format!(
            "SELECT count(DISTINCT h) AS n FROM read_parquet('{}')",
            file.display()
        ))
        .await
        .unwrap();
    assert_eq!(read.int("n"), Some(200_000));
    let bytes = read.bytes_scanned.expect("bytes read reported");
    assert!(
        bytes > size / 2 && bytes <= size * 2,
        "read {bytes} bytes of a {size}-byte file"
    );
    assert!(read.engine_ms.is_some());

    // A statement that reads no file reports none: the next statement's
    // figures are its own.
    let none = engine.execute("SELECT 1 AS one").await.unwrap();
    assert_eq!(none.bytes_scanned.unwrap_or(0), 0);
}
