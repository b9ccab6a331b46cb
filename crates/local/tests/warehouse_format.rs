//! A warehouse written by DuckDB 2.0 (what tidemark linked before it linked
//! DuckDB 1.5.6's released library): opening it names the file and the
//! conversion, and `tools/duckdb/convert_warehouse.py` makes it readable,
//! also when a first attempt was killed between its two renames.

use std::path::{Path, PathBuf};
use std::process::Command;
use tidemark_core::ports::QueryEngine;
use tidemark_local::duckdb::DuckDbEngine;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python with DuckDB 2's package: the emulator's venv (`make test`).
fn python() -> PathBuf {
    std::env::var_os("TIDEMARK_EMULATOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tools/emulator/.venv/bin/python"))
}

fn python_run(args: &[&str]) -> String {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_with_duckdb_2(path: &Path) {
    let version = python_run(&[
        "-c",
        &format!(
            "import duckdb; c = duckdb.connect('{}'); \
             c.execute('CREATE SCHEMA demo; CREATE TABLE demo.t AS SELECT range AS id FROM range(1000)'); \
             print(duckdb.__version__)",
            path.display()
        ),
    ]);
    assert!(version.starts_with('2'), "DuckDB {version} wrote it");
}

async fn rows(path: &Path) -> Option<i64> {
    let engine = DuckDbEngine::open(path, path.parent().unwrap()).unwrap();
    engine
        .execute("SELECT count(*) AS n FROM demo.t")
        .await
        .unwrap()
        .int("n")
}

#[tokio::test]
async fn a_duckdb_2_warehouse_is_named_with_its_conversion_and_converts() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse.duckdb");
    write_with_duckdb_2(&warehouse);

    let error = DuckDbEngine::open(&warehouse, dir.path())
        .err()
        .expect("DuckDB 1.5.6 cannot read it")
        .to_string();
    assert!(
        error.contains(&format!(
            "python3 tools/duckdb/convert_warehouse.py {}",
            warehouse.display()
        )),
        "{error}"
    );

    let script = workspace().join("tools/duckdb/convert_warehouse.py");
    let said = python_run(&[script.to_str().unwrap(), warehouse.to_str().unwrap()]);
    assert!(said.contains("converted for DuckDB 1.5.6"), "{said}");
    assert_eq!(rows(&warehouse).await, Some(1000));
    // The original is kept, unchanged: moving it back undoes the conversion.
    let original = dir.path().join("warehouse.duckdb.duckdb-2.0");
    assert!(DuckDbEngine::open(&original, dir.path()).is_err());

    // Killed between its renames (the original moved aside, no copy in
    // place yet): running it again finishes from the original.
    std::fs::remove_file(&warehouse).unwrap();
    std::fs::write(dir.path().join("warehouse.duckdb.converting"), b"partial").unwrap();
    python_run(&[script.to_str().unwrap(), warehouse.to_str().unwrap()]);
    assert_eq!(rows(&warehouse).await, Some(1000));
}
