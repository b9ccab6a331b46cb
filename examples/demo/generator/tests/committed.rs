//! The committed `examples/demo/replay/` tree must be exactly what the
//! generator writes: regenerate it into a temporary folder and compare.
//! If this fails after a change to the generator, run
//! `cargo run -p demo-generator` and commit the result.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Every file under `root`, by path relative to it (`/`-separated), with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn committed_replay_matches_generator() {
    let committed_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../replay");
    assert!(
        committed_root.is_dir(),
        "{} is missing: run `cargo run -p demo-generator`",
        committed_root.display()
    );

    let tmp = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_demo-generator"))
        .arg(tmp.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "demo-generator failed: {status}");

    let fresh = tree(tmp.path());
    let committed = tree(&committed_root);
    assert!(!fresh.is_empty(), "the generator wrote no file");

    let fresh_names: Vec<_> = fresh.keys().collect();
    let committed_names: Vec<_> = committed.keys().collect();
    assert_eq!(
        committed_names, fresh_names,
        "file lists differ between examples/demo/replay and a fresh run; \
         run `cargo run -p demo-generator` and commit the result"
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "examples/demo/replay/{name} differs from a fresh run ({} vs {} bytes); \
             run `cargo run -p demo-generator` and commit the result",
            committed[name].len(),
            bytes.len()
        );
    }
}

#[test]
fn generator_is_deterministic() {
    let run = || {
        let tmp = tempfile::tempdir().unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_demo-generator"))
            .arg(tmp.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        tree(tmp.path())
    };
    assert!(run() == run(), "two runs wrote different files");
}
