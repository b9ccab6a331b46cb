//! Validation's memory does not grow with the file. Every allocation of this
//! test process is counted; the peak while checking a file (read from disk
//! a range at a time, its normalised form written to disk a part at a time)
//! must stay under a fixed bound, and a file two or three times larger must
//! not need more. `make bench-validate` shows the same on 1 GB files by peak RSS.

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tidemark_bench::data::{self, Kind, Written};
use tidemark_bench::files::{FileSink, FileSource};
use tidemark_core::dms::{BATCH_ROWS, ControlColumns};
use tidemark_core::validate::{CheckOptions, FileCheck, QUEUED_BATCHES};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;
/// What checking one file may hold at once: an 8 MiB read cache (and a
/// window still referenced), a row group of output (8 MiB), up to three
/// 8 MiB parts (being filled, queued, being written), the record batches
/// waiting between the threads and their casts.
const BOUND: usize = 64 * MIB;

/// What the queues between validation's threads hold when both are full:
/// `QUEUED_BATCHES` batches each, measured as batches of the normalised
/// file `out` (its rows, completed). Whether they fill depends on how the
/// threads are scheduled, so a run may need up to this much more than another.
fn queued_bytes(out: &Path) -> usize {
    let file = std::fs::File::open(out).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_batch_size(BATCH_ROWS)
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    2 * QUEUED_BATCHES * batch.get_array_memory_size()
}

/// Bytes allocated at the peak of checking `path`, above what was allocated before.
fn peak_checking(path: &Path, out: &Path) -> (usize, u64) {
    let meta = data::metadata();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let source = Arc::new(FileSource::open(path).unwrap());
    let mut sink = FileSink::create(out).unwrap();
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let outcome = FileCheck {
        file: &name,
        name: &name,
        meta: &meta,
        control: &ControlColumns::default(),
        batch_id: tidemark_core::batch_id::BatchId::FIRST,
    }
    .check(&CheckOptions::default(), source, Some(&mut sink))
    .unwrap();
    sink.close().unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(outcome.accepted(), "{name}: {:#?}", outcome.findings);
    (peak, outcome.rows)
}

#[test]
fn checking_a_file_takes_bounded_memory_whatever_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    // Each pair: both files past every buffer's threshold (the CSV's output
    // fills a row group later), the second much larger.
    for (ext, sizes, write) in [
        (
            "parquet",
            [12, 36],
            data::write_parquet as fn(&Path, Kind, u64) -> anyhow::Result<Written>,
        ),
        ("csv", [24, 48], data::write_csv),
    ] {
        let mut peaks = Vec::new();
        for target_mb in sizes {
            let path = dir
                .path()
                .join(format!("{target_mb}"))
                .join(Kind::Cdc.file_name(ext));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let started = std::time::Instant::now();
            let written = write(&path, Kind::Cdc, target_mb * 1_000_000).unwrap();
            let generated = started.elapsed();
            let (peak, rows) = peak_checking(&path, &dir.path().join("out.parquet"));
            eprintln!(
                "{ext} {target_mb} MB: generated in {generated:?}, checked in {:?}",
                started.elapsed() - generated
            );
            assert_eq!(rows, written.rows);
            report.push(format!(
                "{ext}: {} rows, {:.1} MB file, peak {:.1} MiB",
                written.rows,
                written.bytes as f64 / 1e6,
                peak as f64 / MIB as f64
            ));
            peaks.push((written.bytes, peak));
        }
        let (small, large) = (peaks[0], peaks[1]);
        let queued = queued_bytes(&dir.path().join("out.parquet"));
        report.push(format!(
            "{ext}: the queues between the threads hold up to {:.1} MiB",
            queued as f64 / MIB as f64
        ));
        assert!(large.0 > 2 * small.0 - small.0 / 4, "{report:#?}");
        assert!(large.1 < BOUND, "over the bound: {report:#?}");
        // Full queues in one run and not the other: allow that much, far
        // less than the files differ.
        assert!(
            large.1 < small.1 + small.1 / 4 + 2 * MIB + queued,
            "memory grew with the file: {report:#?}"
        );
    }
    println!("{}", report.join("\n"));
}
