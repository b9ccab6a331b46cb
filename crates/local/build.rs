//! DuckDB's C library for every binary that links this crate: fetched into
//! `tools/duckdb/lib` when it is missing there (`tools/duckdb/fetch.sh`),
//! then copied into `target/<profile>/`, where the binaries look for it
//! (their rpath, `.cargo/config.toml`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let fetch = manifest.join("../../tools/duckdb/fetch.sh");
    println!("cargo:rerun-if-changed={}", fetch.display());
    let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") else {
        panic!("DUCKDB_LIB_DIR is not set: .cargo/config.toml sets it to tools/duckdb/lib");
    };
    let dir = PathBuf::from(dir);
    let name = match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") => "libduckdb.dylib",
        _ => "libduckdb.so",
    };
    let lib = dir.join(name);
    println!("cargo:rerun-if-changed={}", lib.display());
    // Ours to fetch when it is tools/duckdb/lib, not a DuckDB of the user's own.
    let tools = manifest.join("../../tools/duckdb").canonicalize().ok();
    let ours = dir.file_name() == Some("lib".as_ref())
        && dir.parent().and_then(|p| p.canonicalize().ok()) == tools;
    if ours {
        // Up to date already: it returns at once.
        let status = Command::new(&fetch).status();
        if !matches!(status, Ok(s) if s.success()) {
            panic!(
                "{} could not bring DuckDB's library ({status:?})",
                fetch.display()
            );
        }
    }
    if !lib.is_file() {
        panic!(
            "DuckDB's library is not in DUCKDB_LIB_DIR: {} is missing",
            lib.display()
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // OUT_DIR is target/<profile>/build/<crate>-<hash>/out.
    let profile_dir = out.ancestors().nth(3).unwrap();
    copy(&lib, &profile_dir.join(name));
}

/// Through a temporary name, so a binary running from the old copy keeps it.
fn copy(from: &Path, to: &Path) {
    let temporary = to.with_extension("partial");
    std::fs::copy(from, &temporary)
        .and_then(|_| std::fs::rename(&temporary, to))
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}
