//! Helpers shared by the workspace's end-to-end tests.

pub mod pg;
pub mod scd2;
pub mod sql;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidemark_core::error::Error;
use tidemark_core::ports::{Catalog, CatalogEntry, QueryEngine, SqlValue};
use tidemark_local::duckdb::DuckDbEngine;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The demo's tables, each with the order [`dump_table`] lists its history in.
pub const DEMO_TABLES: [(&str, &str); 3] = [
    ("customers", "customer_id, valid_from, change_seq"),
    ("orders", "order_id, valid_from, change_seq"),
    ("products", "product_id, valid_from, change_seq"),
];

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The demo (metadata, replay, and its config as `edit` makes it) copied
/// into `dir`, so a test can change it; returns the config's path.
pub fn demo_copy(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let from = workspace().join("examples/demo");
    copy_dir(&from.join("metadata"), &dir.join("metadata"));
    copy_dir(&from.join("replay"), &dir.join("replay"));
    let config = std::fs::read_to_string(from.join("tidemark.toml")).unwrap();
    let path = dir.join("tidemark.toml");
    std::fs::write(&path, edit(config)).unwrap();
    path
}

/// The `tidemark` binary built beside the running test.
pub fn tidemark_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("tidemark"))
        .unwrap();
    assert!(
        path.exists(),
        "{} is missing: build with `cargo build --workspace --bins --tests`",
        path.display()
    );
    path
}

/// The Python interpreter of the tools venv (`tools/python/requirements.txt`):
/// `$TIDEMARK_PYTHON`, set by `make test`, or the venv in the workspace.
pub fn python() -> PathBuf {
    let path = std::env::var_os("TIDEMARK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tools/python/.venv/bin/python"));
    assert!(
        path.exists(),
        "{} is missing: run `make test`, which creates the tools venv from tools/python/requirements.txt",
        path.display()
    );
    path
}

/// Runs `tools/python/<script>` with `args` in the tools venv, feeding it
/// `input` as JSON on stdin; returns its JSON output.
pub fn run_python(script: &str, args: &[&str], input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let path = workspace().join("tools/python").join(script);
    let mut child = Command::new(python())
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("write the input");
    let out = child.wait_with_output().expect("the script finishes");
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs one execution on `backend`, then dumps `database.table` (see [`dump_table`]).
pub async fn run_and_dump(
    backend: &tidemark_local::LocalBackend,
    execution: &str,
    database: &str,
    table: &str,
    order: &str,
) -> (tidemark_asl::ExecutionStatus, String) {
    let run = backend
        .run(
            execution,
            &tidemark_core::events::ExecutionInput::default(),
            0.0,
        )
        .await
        .unwrap_or_else(|e| panic!("{execution}: {e}"));
    (
        run.status,
        dump_table(&backend.engine, database, table, order).await,
    )
}

/// A whole history table as text: a header, then every row with every
/// column (business and control), ordered by key and timeline.
pub async fn dump_table(engine: &DuckDbEngine, database: &str, table: &str, order: &str) -> String {
    let sql =
        format!("SELECT COLUMNS(*)::VARCHAR FROM \"{database}\".\"{table}\" ORDER BY {order}");
    let result = engine
        .execute(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = format!("# {database}.{table}\n{}\n", result.columns.join(" | "));
    for row in result.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|v| match v {
                SqlValue::Null => "NULL".to_string(),
                SqlValue::Text(t) => t.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        out.push_str(&cells.join(" | "));
        out.push('\n');
    }
    out
}

/// Compares `actual` with the golden file, or rewrites it when `UPDATE_GOLDEN=1`.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("golden files live in a folder"))
            .expect("create golden folder");
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{} differs from the actual output (rerun with UPDATE_GOLDEN=1 and review the diff)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

/// A catalog whose every swap is killed, as a process killed between a
/// rebuild's commit in the ledger and the swap would leave it.
pub struct KilledSwap(pub Arc<dyn Catalog>);

#[tidemark_core::ports::async_trait]
impl Catalog for KilledSwap {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error> {
        self.0.publish(entry).await
    }
    fn swaps_history(&self) -> bool {
        true
    }
    async fn swap_history(
        &self,
        database: &str,
        _: &str,
        staged: &str,
        _: &str,
    ) -> Result<(), Error> {
        Err(Error::Transient(format!(
            "killed before swapping {database}.{staged} in"
        )))
    }
}

/// The states a table's Map iteration entered, in order.
pub fn states_of(execution: &tidemark_asl::Execution, table: &str) -> Vec<String> {
    execution
        .events
        .iter()
        .filter(|e| e.kind == "Entered")
        .filter(|e| {
            let input: serde_json::Value =
                serde_json::from_str(e.detail.as_deref().unwrap()).unwrap();
            input
                .pointer("/work/table")
                .and_then(serde_json::Value::as_str)
                == Some(table)
        })
        .map(|e| e.state.clone())
        .collect()
}

/// The metadata version a table's validation used in `execution`, and when
/// it was read at the source if this run did not read it.
pub fn metadata_of(execution: &tidemark_asl::Execution, table: &str) -> (u64, Option<String>) {
    let entered = execution
        .events
        .iter()
        .find(|e| {
            e.kind == "Entered"
                && e.state == "ValidateLanded"
                && e.detail
                    .as_deref()
                    .unwrap()
                    .contains(&format!("\"{table}\""))
        })
        .unwrap_or_else(|| panic!("{table} was not validated"));
    let input: serde_json::Value =
        serde_json::from_str(entered.detail.as_deref().unwrap()).unwrap();
    (
        input["work"]["metadata_version"].as_u64().unwrap(),
        input["work"]["metadata_read_at"].as_str().map(String::from),
    )
}
