//! The validation corpus, `tests/fixtures/validation/`: one landed file per
//! rule and per DMS quirk, plus good files, written by
//! `validation_corpus/cases.rs`. Each case's outcome (rules, columns, rows,
//! values, counts; for accepted files the normalised rows) is pinned in its
//! `expected.txt`.
//!
//! After changing the generator or the validation, rewrite the corpus and
//! the expected files, then review the diff:
//! `UPDATE_GOLDEN=1 cargo nextest run --workspace -E 'binary(validation_corpus)'`.

#[path = "validation_corpus/cases.rs"]
mod cases;

use arrow::util::display::FormatOptions;
use bytes::Bytes;
use cases::{Case, METADATA, cases};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use tidemark_core::dms::ControlColumns;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::validate::{CheckOptions, FileCheck, FileOutcome, Rule};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validation")
}

fn updating() -> bool {
    std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1")
}

/// Every file the generator writes, by path relative to the corpus.
fn generated() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("accounts.json".to_string(), METADATA.as_bytes().to_vec());
    let mut readme = String::from(
        "# The validation corpus\n\n\
         Written by `crates/core/tests/validation_corpus/cases.rs`; each case's \
         `expected.txt` pins what validating its file against `accounts.json` gives. \
         Regenerate with `UPDATE_GOLDEN=1 cargo nextest run --workspace -E 'binary(validation_corpus)'`.\n\n\
         | case | file | breaks | what it shows |\n|---|---|---|---|\n",
    );
    for case in cases() {
        let breaks: Vec<&str> = case.breaks.iter().map(|r| r.as_str()).collect();
        readme.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            case.name,
            case.file,
            if breaks.is_empty() {
                "nothing (accepted)".to_string()
            } else {
                breaks.join(", ")
            },
            case.intent
        ));
        files.insert(format!("{}/{}", case.name, case.file), case.bytes);
    }
    files.insert("README.md".to_string(), readme.into_bytes());
    files
}

/// The committed corpus without the expected files.
fn committed() -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.file_name().is_some_and(|n| n != "expected.txt") {
                let rel = path.strip_prefix(root).expect("inside the corpus");
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, fs::read(&path).expect("readable"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&corpus(), &corpus(), &mut out);
    out
}

#[test]
fn the_committed_corpus_is_what_the_generator_writes() {
    let fresh = generated();
    if updating() {
        let names: BTreeSet<String> = fresh
            .keys()
            .filter_map(|k| k.split_once('/').map(|(d, _)| d.to_string()))
            .collect();
        if let Ok(entries) = fs::read_dir(corpus()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if e.path().is_dir() && !names.contains(&name) {
                    fs::remove_dir_all(e.path()).expect("remove a stale case");
                }
            }
        }
        for (rel, bytes) in &fresh {
            let path = corpus().join(rel);
            fs::create_dir_all(path.parent().expect("a folder")).expect("create");
            fs::write(&path, bytes).expect("write");
        }
    }
    let committed = committed();
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "the corpus's files differ from the generator's: rerun with UPDATE_GOLDEN=1 and review"
    );
    for (rel, bytes) in &fresh {
        assert!(
            committed[rel] == *bytes,
            "{rel} differs from the generator's ({} vs {} bytes): rerun with UPDATE_GOLDEN=1 and review",
            committed[rel].len(),
            bytes.len()
        );
    }
}

#[test]
fn every_rule_has_a_case() {
    let covered: BTreeSet<Rule> = cases()
        .iter()
        .flat_map(|c| c.breaks.iter().copied())
        .collect();
    for rule in Rule::ALL {
        assert!(covered.contains(&rule), "no case breaks {rule}");
    }
}

fn check(case: &Case, meta: &TableMetadata, bytes: Vec<u8>) -> FileOutcome {
    let options = CheckOptions {
        allow_unexpected: case.options.allow_unexpected,
        csv_null_value: case.options.csv_null_value.to_string(),
        change_seq_kind: case.options.change_seq_kind,
        lob_max_bytes: case.options.lob_max_bytes,
        ..CheckOptions::default()
    };
    FileCheck {
        file: &format!("{}/{}", case.name, case.file),
        name: case.file,
        meta,
        control: &ControlColumns::default(),
        batch_id: tidemark_core::batch_id::BatchId::FIRST,
    }
    .run_with(&options, Bytes::from(bytes))
}

/// The normalised rows, nulls shown as NULL.
fn normalised(outcome: &FileOutcome) -> String {
    let options = FormatOptions::default().with_null("NULL");
    arrow::util::pretty::pretty_format_batches_with_options(&outcome.normalised, &options)
        .expect("printable")
        .to_string()
}

/// What `expected.txt` holds.
fn render(case: &Case, bytes: usize, outcome: &FileOutcome) -> String {
    let mut out = format!("# {}: {}\n", case.name, case.intent);
    out.push_str(&format!("file: {} ({bytes} bytes)\n", case.file));
    out.push_str(&format!(
        "options: allow_unexpected = {}, csv_null_value = {:?}, change_seq_kind = {}, lob_max_bytes = {:?}\n",
        case.options.allow_unexpected,
        case.options.csv_null_value,
        case.options.change_seq_kind.as_str(),
        case.options.lob_max_bytes
    ));
    let o = &outcome.ops;
    out.push_str(&format!(
        "outcome: {}, {} rows (I {} U {} D {} L {}), {} finding(s)\n",
        if outcome.accepted() {
            "accepted"
        } else {
            "quarantined"
        },
        outcome.rows,
        o.inserts,
        o.updates,
        o.deletes,
        o.loads,
        outcome.findings.total
    ));
    if !outcome.ignored_columns.is_empty() {
        out.push_str(&format!(
            "ignored columns: {}\n",
            outcome.ignored_columns.join(", ")
        ));
    }
    if !outcome.findings.counts.is_empty() {
        out.push_str("counts:\n");
        for c in &outcome.findings.counts {
            out.push_str(&format!(
                "  {} {}: {}\n",
                c.rule,
                c.column.as_deref().unwrap_or("-"),
                c.count
            ));
        }
        out.push_str("findings:\n");
        for f in &outcome.findings.sample {
            out.push_str(&format!(
                "  {}{}\n",
                f,
                f.value
                    .as_deref()
                    .map(|v| format!(" (value {v:?})"))
                    .unwrap_or_default()
            ));
        }
    }
    if outcome.accepted() {
        out.push_str("normalised:\n");
        out.push_str(&normalised(outcome));
        out.push('\n');
    }
    out
}

#[test]
fn each_case_gives_exactly_its_findings() {
    let meta = TableMetadata::from_json("accounts.json", METADATA).expect("valid metadata");
    let mut base_rows: Option<(&str, String)> = None;
    let mut differ = Vec::new();
    let all = cases();
    for case in &all {
        let path = corpus().join(case.name).join(case.file);
        // Updating, the generator's bytes (another test writes them to disk).
        let bytes = if updating() {
            case.bytes.clone()
        } else {
            fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run with UPDATE_GOLDEN=1 to write the corpus)",
                    path.display()
                )
            })
        };
        let size = bytes.len();
        let outcome = check(case, &meta, bytes);

        // What the case is for, independently of the expected file.
        let broken: BTreeSet<Rule> = outcome.findings.counts.iter().map(|c| c.rule).collect();
        let meant: BTreeSet<Rule> = case.breaks.iter().copied().collect();
        assert_eq!(broken, meant, "{}: {:#?}", case.name, outcome.findings);
        assert_eq!(outcome.accepted(), case.breaks.is_empty(), "{}", case.name);
        assert_eq!(
            outcome.findings.sample.len() as u64,
            outcome.findings.total,
            "{}: a corpus case is small enough to show every finding",
            case.name
        );
        if case.base_changes {
            assert_eq!(outcome.rows, 4, "{}", case.name);
            let rows = normalised(&outcome);
            match &base_rows {
                None => base_rows = Some((case.name, rows)),
                Some((first, expected)) => assert_eq!(
                    &rows, expected,
                    "{} normalises the same changes differently from {first}",
                    case.name
                ),
            }
        }

        let expected_path = corpus().join(case.name).join("expected.txt");
        let actual = render(case, size, &outcome);
        if updating() {
            fs::create_dir_all(expected_path.parent().expect("a folder")).expect("create");
            fs::write(&expected_path, &actual).expect("write");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            differ.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} case(s) differ from their expected.txt (rerun with UPDATE_GOLDEN=1 and review the diff):\n{}",
        differ.len(),
        differ.join("\n")
    );
}
