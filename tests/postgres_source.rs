//! A real PostgreSQL source through the whole pipeline: metadata from its
//! catalog, a full load and CDC through a logical replication slot, and
//! schema drift reported by the next run. Needs `make pg` (CI runs it).

use std::path::Path;
use std::sync::Arc;
use tidemark_asl::ExecutionStatus;
use tidemark_core::events::ExecutionInput;
use tidemark_core::ports::MetadataSource;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::LocalBackend;
use tidemark_local::postgres::PgMetadata;
use tidemark_tests::pg::TestDb;
use tidemark_tests::{KilledSwap, metadata_of, run_and_dump};

const CONFIG: &str = r#"
[source]
database = "shop"
schema = "public"

[[tables]]
name = "items"
mode = "cdc"

[local]
lake = "lake"
"#;

fn open(dir: &Path, url: &str) -> LocalBackend {
    LocalBackend::open(&LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        source: Some(url.to_string()),
        ..Default::default()
    })
    .unwrap()
}

async fn run(dir: &Path, url: &str, name: &str) -> (ExecutionStatus, String) {
    run_and_dump(
        &open(dir, url),
        name,
        "shop",
        "items",
        "id, valid_from, change_seq",
    )
    .await
}

/// Runs `name`, which must fail the table and leave `history` as it was;
/// returns the run's alert.
async fn run_failing(dir: &Path, url: &str, name: &str, history: &str) -> String {
    let (status, after) = run(dir, url, name).await;
    assert!(
        matches!(&status, ExecutionStatus::Failed { error, .. } if error == "Tidemark.TablesFailed"),
        "{status:?}"
    );
    assert_eq!(after, history, "a failed table's history must not change");
    std::fs::read_to_string(dir.join(format!("lake/alerts/{name}.json"))).unwrap()
}

/// (id, name, price, op, is_current, is_deleted) of every history row.
fn rows(history: &str) -> Vec<String> {
    let header: Vec<&str> = history.lines().nth(1).unwrap().split(" | ").collect();
    let at = |name: &str| header.iter().position(|c| *c == name).expect(name);
    history
        .lines()
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            ["id", "name", "price", "op", "is_current", "is_deleted"]
                .map(|c| cells[at(c)])
                .join(" ")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_comes_from_the_catalog_with_arrow_types_keys_and_comments() {
    let db = TestDb::create("pgmeta").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE items (
                 id bigint, region smallint, name text NOT NULL, price numeric(10,2),
                 ratio double precision, seen timestamptz, born date, ok boolean, note varchar(20),
                 PRIMARY KEY (region, id));
             COMMENT ON TABLE items IS 'Things we sell';
             COMMENT ON COLUMN items.name IS 'What it is called';",
        )
        .await
        .unwrap();
    let source = PgMetadata {
        source: tidemark_local::postgres::PgSource::from_url(&db.url).unwrap(),
        schema: "public".into(),
    };
    let meta = source.read("items").await.unwrap();
    assert_eq!(meta.description, "Things we sell");
    assert_eq!(meta.primary_key, ["region", "id"]);
    let shape: Vec<String> = meta
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.name, c.column_type, c.nullable, c.description
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            "id int64 false ",
            "region int16 false ",
            "name string false What it is called",
            "price decimal128(10,2) true ",
            "ratio float64 true ",
            "seen timestamp(us) true ",
            "born date32 true ",
            "ok bool true ",
            "note string true ",
        ]
    );
    let missing = source.read("nothing").await.unwrap_err().to_string();
    assert!(missing.contains("no table public.nothing"), "{missing}");
    drop(client);
    db.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overrides_lie_over_the_catalog_and_documents_are_read_only_when_chosen() {
    let db = TestDb::create("pgfrom").await;
    let client = db.client().await;
    client
        .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, status text);")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("metadata/overrides")).unwrap();
    std::fs::write(
        dir.join("metadata/overrides/items.json"),
        r#"{"columns": [{"name": "status", "description": "Where it is", "enum": ["new", "sold"]}]}"#,
    )
    .unwrap();
    // A document that is not what the catalog says.
    std::fs::write(
        dir.join("metadata/items.json"),
        r#"{"name": "items", "primary_key": ["id"], "columns": [{"name": "id", "type": "int32", "nullable": false}]}"#,
    )
    .unwrap();
    // Read as a run with `extra` in its configuration would read it.
    let read = |extra: &str| {
        std::fs::write(dir.join("tidemark.toml"), format!("{CONFIG}\n{extra}")).unwrap();
        let backend = open(dir, &db.url);
        async move { backend.ports.metadata.read("items").await.unwrap() }
    };
    let meta = read("").await;
    assert_eq!(meta.column("id").unwrap().column_type.to_string(), "int64");
    let status = meta.column("status").unwrap();
    assert_eq!(status.description, "Where it is");
    assert!(meta.to_json().contains("\"sold\""), "{}", meta.to_json());

    let meta = read("[metadata]\nfrom = \"documents\"\n").await;
    assert_eq!(meta.column("id").unwrap().column_type.to_string(), "int32");
    assert!(
        meta.column("status").is_none(),
        "the document, not the catalog"
    );

    std::fs::write(
        dir.join("tidemark.toml"),
        format!("{CONFIG}\n[metadata]\nfrom = \"catalog\"\n"),
    )
    .unwrap();
    let refused = LocalBackend::open(&LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        ..Default::default()
    })
    .err()
    .expect("the catalog needs a source")
    .to_string();
    assert!(refused.contains("--source"), "{refused}");
    drop(client);
    db.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_flow_into_history_and_drift_is_reported_by_the_next_run() {
    let db = TestDb::create("pgsrc").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2));
             INSERT INTO items VALUES (1, 'pen', 1.50), (2, 'ink', NULL);",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();

    // Day 1: the full load, taken with the slot.
    let (status, history) = run(dir, &db.url, "day-1").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{history}");
    assert_eq!(
        rows(&history),
        ["1 pen 1.50 L true false", "2 ink NULL L true false"],
        "{history}"
    );
    let identity: String = client
        .query_one(
            "SELECT relreplident::text FROM pg_class WHERE relname = 'items'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(identity, "f", "the replicator sets REPLICA IDENTITY FULL");

    // Day 2: an update, a delete and a re-insert in one transaction, an insert, and
    // an added nullable column (additive drift).
    client
        .batch_execute(
            "BEGIN;
             UPDATE items SET price = 2.00 WHERE id = 1;
             DELETE FROM items WHERE id = 2;
             INSERT INTO items VALUES (2, 'ink', 3.25);
             COMMIT;
             INSERT INTO items VALUES (3, 'pad', 0.99);
             ALTER TABLE items ADD COLUMN colour text;
             UPDATE items SET colour = 'red' WHERE id = 3;",
        )
        .await
        .unwrap();
    let (status, history) = run(dir, &db.url, "day-2").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{history}");
    assert_eq!(
        rows(&history),
        [
            "1 pen 1.50 L false false",
            "1 pen 2.00 U true false",
            "2 ink NULL L false false",
            "2 ink NULL D false true",
            "2 ink 3.25 I true false",
            "3 pad 0.99 I false false",
            "3 pad 0.99 U true false",
        ],
        "{history}"
    );
    assert!(
        history.contains("red"),
        "the added column is in history:\n{history}"
    );
    let backend = open(dir, &db.url);
    let v2 = backend
        .ports
        .lake
        .get("metadata/shop/items/v0002.json")
        .await
        .map(|(b, _)| String::from_utf8_lossy(&b).to_string())
        .expect("the additive change is stored as version 2");
    assert!(v2.contains("colour"), "{v2}");
    drop(backend);

    // A second run with nothing new changes nothing.
    let (status, again) = run(dir, &db.url, "day-2-again").await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(again, history);

    // Day 3: a retyped and a dropped column: breaking. The table fails and history stays.
    client
        .batch_execute(
            "ALTER TABLE items ALTER COLUMN price TYPE text;
             ALTER TABLE items DROP COLUMN colour;
             UPDATE items SET price = 'lots' WHERE id = 1;",
        )
        .await
        .unwrap();
    let alert = run_failing(dir, &db.url, "day-3", &history).await;
    assert!(alert.contains("Tidemark.SchemaDrift"), "{alert}");
    assert!(
        alert.contains("price") && alert.contains("colour was dropped"),
        "{alert}"
    );
    drop(client);
    db.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_source_fails_the_run_as_a_replication_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let backend = open(dir, "postgres://postgres@127.0.0.1:9/none");
    let status = backend
        .run("down", &ExecutionInput::default(), 0.0)
        .await
        .unwrap()
        .status;
    assert!(
        matches!(&status, ExecutionStatus::Failed { error, .. } if error == "Tidemark.TablesFailed"),
        "{status:?}"
    );
    let alert = std::fs::read_to_string(dir.join("lake/alerts/down.json")).unwrap();
    assert!(alert.contains("Tidemark.Replication"), "{alert}");
    assert!(
        alert.contains("cannot connect to PostgreSQL") && alert.contains("make pg"),
        "{alert}"
    );
}

/// Mode reload after the replication lost changes: the slot is advanced past
/// them, as when DMS loses its position. A fresh full load of the table
/// becomes the start of a new history, swapped in whole; the lost state is
/// back, the old history is kept beside it, and CDC goes on from the load.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_takes_a_fresh_full_load_and_rebuilds_the_history_from_it() {
    let db = TestDb::create("pgreload").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2));
             INSERT INTO items VALUES (1, 'pen', 1.50), (2, 'ink', 2.00), (3, 'pad', 0.99);",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();
    let (status, _) = run(dir, &db.url, "day-1").await;
    assert_eq!(status, ExecutionStatus::Succeeded);

    // Changes the replication never delivers: the slot skips past them.
    client
        .batch_execute(
            "UPDATE items SET price = 2.50 WHERE id = 2;
             DELETE FROM items WHERE id = 3;",
        )
        .await
        .unwrap();
    let slot = tidemark_local::postgres::slot_name(&db.url, "shop");
    client
        .execute(
            "SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())",
            &[&slot],
        )
        .await
        .unwrap();
    let (status, stale) = run(dir, &db.url, "day-2").await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(
        rows(&stale),
        [
            "1 pen 1.50 L true false",
            "2 ink 2.00 L true false",
            "3 pad 0.99 L true false"
        ],
        "the lost changes are not in history"
    );

    let reload_input = ExecutionInput(serde_json::json!({"mode": "reload", "tables": ["items"]}));
    let order = "id, valid_from, change_seq";

    // Killed between the ledger's commit and the swap: the old history is
    // read until the next step completes the swap.
    let mut backend = open(dir, &db.url);
    backend.ports.catalog = Arc::new(KilledSwap(backend.ports.catalog.clone()));
    let killed = backend.run("reload", &reload_input, 0.0).await.unwrap();
    assert!(matches!(killed.status, ExecutionStatus::Failed { .. }));
    let during = tidemark_tests::dump_table(&backend.engine, "shop", "items", order).await;
    assert_eq!(during, stale, "the old history is read until the swap");
    drop(backend);

    let (status, reloaded) = run(dir, &db.url, "day-2-again").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{reloaded}");
    assert_eq!(
        rows(&reloaded),
        ["1 pen 1.50 L true false", "2 ink 2.50 L true false"],
        "{reloaded}"
    );
    let backend = open(dir, &db.url);
    let previous =
        tidemark_tests::dump_table(&backend.engine, "shop", "items__previous", order).await;
    let body = |dump: &str| dump.split_once('\n').unwrap().1.to_string();
    assert_eq!(
        body(&previous),
        body(&stale),
        "the replaced history is kept"
    );
    drop(backend);
    let ledger = || {
        let text = std::fs::read(dir.join("lake/state/shop/items/ledger.json")).unwrap();
        serde_json::from_slice::<serde_json::Value>(&text).unwrap()
    };
    assert_eq!(ledger()["generation"], 1);

    // CDC goes on after the fresh load, and nothing of it comes twice.
    client
        .batch_execute("UPDATE items SET price = 3.00 WHERE id = 1;")
        .await
        .unwrap();
    let (status, after) = run(dir, &db.url, "day-3").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{after}");
    assert_eq!(
        rows(&after),
        [
            "1 pen 1.50 L false false",
            "1 pen 3.00 U true false",
            "2 ink 2.50 L true false"
        ],
        "{after}"
    );
    let (_, again) = run(dir, &db.url, "day-3-again").await;
    assert_eq!(again, after);

    // Reloaded again: a new history from the source as it is now.
    let backend = open(dir, &db.url);
    let reload = backend.run("reload-2", &reload_input, 0.0).await.unwrap();
    assert_eq!(reload.status, ExecutionStatus::Succeeded);
    let history = tidemark_tests::dump_table(&backend.engine, "shop", "items", order).await;
    assert_eq!(
        rows(&history),
        ["1 pen 3.00 L true false", "2 ink 2.50 L true false"],
        "{history}"
    );
    drop(backend);
    assert_eq!(ledger()["generation"], 2);
    drop(client);
    db.drop_all().await;
}

/// DMS lands no change for a TRUNCATE (nor for a table dropped and
/// re-created): the run sees the table's storage changed at the source,
/// fails it once proposing a reload, and the reload brings history in line.
#[tokio::test(flavor = "multi_thread")]
async fn a_truncate_at_the_source_fails_the_table_once_proposing_the_reload_that_fixes_it() {
    let db = TestDb::create("pgtrunc").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2));
             INSERT INTO items VALUES (1, 'pen', 1.50), (2, 'ink', 2.00);",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();
    let (status, day1) = run(dir, &db.url, "day-1").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{day1}");

    client
        .batch_execute("TRUNCATE items; INSERT INTO items VALUES (3, 'pad', 0.99);")
        .await
        .unwrap();
    let alert = run_failing(dir, &db.url, "day-2", &day1).await;
    for part in ["TRUNCATE", "mode \\\"reload\\\" for items"] {
        assert!(alert.contains(part), "{part} is not in {alert}");
    }

    let reload = ExecutionInput(serde_json::json!({"mode": "reload", "tables": ["items"]}));
    let backend = open(dir, &db.url);
    let outcome = backend.run("reload", &reload, 0.0).await.unwrap();
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    drop(backend);
    let (status, after) = run(dir, &db.url, "day-3").await;
    assert_eq!(
        status,
        ExecutionStatus::Succeeded,
        "the failure is not repeated"
    );
    assert_eq!(rows(&after), ["3 pad 0.99 L true false"], "{after}");
    drop(client);
    db.drop_all().await;
}

/// What DMS installs on a PostgreSQL source with `CaptureDdls`: a log table
/// and an event trigger that writes each DDL statement to it.
const DMS_DDL_ARTIFACTS: &str = "
CREATE TABLE public.awsdms_ddl_audit (
    c_key bigserial PRIMARY KEY, c_time timestamp, c_user varchar(64), c_txn varchar(16),
    c_tag varchar(24), c_oid integer, c_name varchar(64), c_schema varchar(64), c_ddlqry text);
CREATE FUNCTION public.awsdms_intercept_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE object_type = 'table' LOOP
        INSERT INTO public.awsdms_ddl_audit (c_time, c_user, c_txn, c_tag, c_name, c_schema, c_ddlqry)
        SELECT now(), current_user, txid_current()::text, r.command_tag, c.relname, r.schema_name, current_query()
          FROM pg_class c WHERE c.oid = r.objid;
    END LOOP;
END $$;
CREATE EVENT TRIGGER awsdms_intercept_ddl ON ddl_command_end EXECUTE PROCEDURE public.awsdms_intercept_ddl();
";

/// A frequent run reads a table's metadata within the hour only when the
/// source's DDL log (DMS's `awsdms_ddl_audit`) names the table since the
/// last read: an added column reaches the catalog at the next frequent run,
/// before any row carries it; DDL on another table reads nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_frequent_run_reads_the_metadata_again_when_the_ddl_log_names_the_table() {
    let db = TestDb::create("pgddl").await;
    let client = db.client().await;
    client.batch_execute(DMS_DDL_ARTIFACTS).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);
             CREATE TABLE other (id bigint PRIMARY KEY);
             INSERT INTO items VALUES (1, 'pen');",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();
    let frequent = ExecutionInput(serde_json::json!({"cadence": "frequent"}));
    let (status, _) = run(dir, &db.url, "daily").await;
    assert_eq!(status, ExecutionStatus::Succeeded);

    let backend = open(dir, &db.url);
    let quiet = backend.run("frequent-1", &frequent, 0.0).await.unwrap();
    assert_eq!(quiet.status, ExecutionStatus::Succeeded);
    let (version, read_at) = metadata_of(&quiet, "items");
    assert_eq!(version, 1);
    assert!(read_at.is_some(), "no DDL since the daily run: not read");

    client
        .batch_execute("ALTER TABLE other ADD COLUMN note text")
        .await
        .unwrap();
    let elsewhere = backend.run("frequent-2", &frequent, 0.0).await.unwrap();
    assert!(
        metadata_of(&elsewhere, "items").1.is_some(),
        "DDL on another table"
    );

    client
        .batch_execute("ALTER TABLE items ADD COLUMN colour text")
        .await
        .unwrap();
    let after = backend.run("frequent-3", &frequent, 0.0).await.unwrap();
    assert_eq!(after.status, ExecutionStatus::Succeeded);
    assert_eq!(metadata_of(&after, "items"), (2, None));
    let (v2, _) = backend
        .ports
        .lake
        .get("metadata/shop/items/v0002.json")
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&v2).contains("colour"));
    // Read now: the next frequent run has no reason to read it again.
    let next = backend.run("frequent-4", &frequent, 0.0).await.unwrap();
    assert_eq!(metadata_of(&next, "items").0, 2);
    assert!(metadata_of(&next, "items").1.is_some());
    drop(backend);
    drop(client);
    db.drop_all().await;
}
