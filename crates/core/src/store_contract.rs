//! The behaviour every [`ObjectStore`] adapter must have, as one check that
//! each adapter's own tests run against a real backend (the folder store on
//! a temporary folder, the S3 store on an S3 emulator). It panics, naming the
//! broken promise.

use crate::error::StoreError;
use crate::ports::{Condition, MIN_PART_BYTES, ObjectStore};
use bytes::Bytes;
use std::sync::Arc;

/// Runs every check on `store`, which must be empty.
pub async fn check(store: Arc<dyn ObjectStore>) {
    conditional_writes(store.as_ref()).await;
    one_concurrent_create_wins(store.clone()).await;
    ranges_copies_and_parts(store.as_ref()).await;
    listing(store.as_ref()).await;
}

async fn conditional_writes(store: &dyn ObjectStore) {
    let key = "state/t/lease.json";
    let etag = store
        .put(key, Bytes::from("a"), Some(Condition::Absent))
        .await
        .expect("create an absent key");
    let again = store
        .put(key, Bytes::from("b"), Some(Condition::Absent))
        .await;
    assert!(
        matches!(again, Err(StoreError::PreconditionFailed { .. })),
        "a second create must fail its precondition: {again:?}"
    );
    let stale = store
        .put(
            key,
            Bytes::from("c"),
            Some(Condition::Matches("\"nope\"".into())),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::PreconditionFailed { .. })),
        "a replace at a stale ETag must fail: {stale:?}"
    );
    let etag2 = store
        .put(
            key,
            Bytes::from("dd"),
            Some(Condition::Matches(etag.clone())),
        )
        .await
        .expect("replace at the current ETag");
    assert_ne!(etag, etag2, "a rewrite changes the ETag");
    let (bytes, current) = store.get(key).await.expect("get");
    assert_eq!((bytes, current), (Bytes::from("dd"), etag2.clone()));
    let stale_delete = store.delete(key, &etag).await;
    assert!(
        matches!(stale_delete, Err(StoreError::PreconditionFailed { .. })),
        "a delete at a stale ETag must fail: {stale_delete:?}"
    );
    store
        .delete(key, &etag2)
        .await
        .expect("delete at the current ETag");
    let gone = store.get(key).await;
    assert!(
        matches!(gone, Err(StoreError::NotFound { .. })),
        "a deleted key is not found: {gone:?}"
    );
}

async fn one_concurrent_create_wins(store: Arc<dyn ObjectStore>) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put(
                        "k/lease",
                        Bytes::from(format!("{i}")),
                        Some(Condition::Absent),
                    )
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += t.await.expect("join") as usize;
    }
    assert_eq!(wins, 1, "exactly one of 16 concurrent creates wins");
}

async fn ranges_copies_and_parts(store: &dyn ObjectStore) {
    store
        .put("a/x.bin", Bytes::from("0123456789"), None)
        .await
        .expect("put");
    assert_eq!(
        store.get_range("a/x.bin", 3..7).await.expect("range"),
        Bytes::from("3456")
    );
    assert!(
        store.get_range("a/x.bin", 8..12).await.is_err(),
        "a range past the end is an error"
    );
    assert!(matches!(
        store.get("a/missing").await,
        Err(StoreError::NotFound { .. })
    ));

    store.copy("a/x.bin", "b/y z+.bin").await.expect("copy");
    assert_eq!(
        store.get("b/y z+.bin").await.expect("copied").0,
        Bytes::from("0123456789")
    );

    // S3's smallest part (but the last) is 5 MiB; no two neighbouring
    // bytes alike, so a part written out of order or twice shows.
    let big: Bytes = (0..MIN_PART_BYTES).map(|i| (i % 251) as u8).collect();
    store
        .put("a/big.bin", big.clone(), None)
        .await
        .expect("put a big object");
    assert_eq!(store.get("a/big.bin").await.expect("get").0, big);
    let mut parts = store
        .put_parts("v/b1/f.parquet")
        .await
        .expect("start parts");
    parts.write_part(big.clone()).await.expect("part 1");
    parts.write_part(Bytes::from("tail")).await.expect("part 2");
    assert!(
        store.list("v/").await.expect("list").is_empty(),
        "nothing is visible before finish"
    );
    parts.finish().await.expect("finish");
    let (whole, _) = store.get("v/b1/f.parquet").await.expect("get parts");
    assert_eq!(whole.len(), MIN_PART_BYTES + 4);
    assert_eq!(whole.slice(..MIN_PART_BYTES), big);
    assert_eq!(&whole[MIN_PART_BYTES..], b"tail");

    let mut parts = store
        .put_parts("v/b1/g.parquet")
        .await
        .expect("start parts");
    parts.write_part(Bytes::from("abc")).await.expect("part");
    parts.abort().await.expect("abort");
    let empty = store
        .put_parts("v/b1/e.parquet")
        .await
        .expect("start parts");
    empty.finish().await.expect("an object of no parts");
    let keys: Vec<String> = store
        .list("v/b1/")
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        keys,
        ["v/b1/e.parquet", "v/b1/f.parquet"],
        "an aborted upload leaves nothing"
    );
}

async fn listing(store: &dyn ObjectStore) {
    for k in [
        "public/orders/2026/11/02/b.parquet",
        "public/orders/LOAD00000001.parquet",
        "public/orders_x/a",
        "public/customers/x",
    ] {
        store.put(k, Bytes::from("x"), None).await.expect("put");
    }
    let listed = store.list("public/orders/").await.expect("list");
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "public/orders/2026/11/02/b.parquet",
            "public/orders/LOAD00000001.parquet"
        ],
        "every depth under the prefix, in key order, and nothing beside it"
    );
    assert!(listed.iter().all(|o| o.size == 1 && !o.etag.is_empty()));
}
