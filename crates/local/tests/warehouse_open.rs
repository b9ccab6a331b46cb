//! Two processes opening one new warehouse at once. DuckDB creates the file
//! and then writes its header; a second process that opened the path in
//! between failed with "exists, but it is not a valid DuckDB database file"
//! (seen in CI with two `tidemark run`s on one lake).

use std::path::Path;
use std::time::Duration;
use tidemark_local::duckdb::DuckDbEngine;

/// The moment of the race, held still: the creator holds `<path>.open-lock`
/// and the file exists with no header yet. The second opener waits for the
/// lock instead of reading the empty file, and opens the warehouse once the
/// creator has written it.
#[test]
fn a_warehouse_being_created_is_waited_for_not_read_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.duckdb");
    let creator = std::fs::File::create(dir.path().join("warehouse.duckdb.open-lock")).unwrap();
    creator.lock().unwrap();
    std::fs::write(&path, b"").unwrap();

    let opener = {
        let path = path.clone();
        std::thread::spawn(move || DuckDbEngine::open(&path, Path::new("/")).map(|_| ()))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !opener.is_finished(),
        "the opener did not wait for the creator"
    );

    // The creator finishes: a whole database file takes the path's place.
    let whole = dir.path().join("whole.duckdb");
    drop(duckdb::Connection::open(&whole).unwrap());
    std::fs::rename(&whole, &path).unwrap();
    drop(creator);
    opener
        .join()
        .unwrap()
        .expect("the warehouse opens once it is whole");
}
