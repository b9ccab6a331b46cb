//! The local replicator: what DMS does to a PostgreSQL source, done with a
//! logical replication slot (wal2json) and written in the DMS S3 layout.
//!
//! First start: every configured table gets `REPLICA IDENTITY FULL` (so
//! updates and deletes carry whole before-images), the slot is created, and a
//! full load is read in one repeatable-read snapshot taken right after it. The
//! snapshot's transaction list is kept: a decoded transaction the snapshot
//! already saw is skipped, so load and changes neither overlap nor leave a gap.
//! Every start then peeks the slot's changes a chunk at a time, writes one CDC
//! file per table and chunk, and only then advances the slot past the chunk.
//! A crash before the advance replays the chunk into a second file with the
//! same changes, which the merge absorbs (same key, time and change_seq).

use super::text::{Micros, normalise};
use super::{PgError, connect, ident, literal, query_err};
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use tidemark_core::config::TableMode;
use tidemark_core::dms::ControlColumns;
use tidemark_core::error::{ReplicationError, StoreError};
use tidemark_core::events::{ReplicationStatus, StartReplicationEvent};
use tidemark_core::ports::{ObjectStore, ReloadRequest, Replication};
use tidemark_postgres::read_columns;
use tokio_postgres::Client;

/// The landing-store key of the replicator's state (beside `<schema>/`).
pub const STATE_KEY: &str = ".tidemark-postgres.json";

/// Rows per full-load file.
const LOAD_ROWS: usize = 100_000;

/// Replicates `schema.tables` of the database at `url` into `landing`.
pub struct PgReplicator {
    pub url: String,
    pub schema: String,
    pub tables: Vec<String>,
    pub landing: Arc<dyn ObjectStore>,
    pub control: ControlColumns,
    /// The replication slot (cluster-wide name; one per source database and pipeline).
    pub slot: String,
    /// Decoded rows to peek per chunk; a chunk always ends on a commit.
    pub chunk_changes: u32,
}

/// What the replicator keeps between starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    slot: String,
    tables: Vec<String>,
    /// When the full load's snapshot was taken (µs since the epoch, UTC).
    load_time: i64,
    snapshot: Snapshot,
    /// The latest fresh full load of a table (a `reload` run), by table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    reloads: BTreeMap<String, TableLoad>,
}

/// One table's fresh full load: when, and what its snapshot saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TableLoad {
    load_time: i64,
    snapshot: Snapshot,
}

impl State {
    /// Whether the transaction `xid`'s changes to `table` are in a full load
    /// (the first one, or the table's latest reload), so CDC skips them.
    fn loaded(&self, table: &str, xid: u32) -> bool {
        self.snapshot.saw(xid) || self.reloads.get(table).is_some_and(|r| r.snapshot.saw(xid))
    }

    /// When `table` was last fully loaded (µs since the epoch).
    fn load_time(&self, table: &str) -> Micros {
        Micros(
            self.reloads
                .get(table)
                .map_or(self.load_time, |r| r.load_time.max(self.load_time)),
        )
    }
}

/// `pg_current_snapshot()` of the full load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    xmin: u64,
    xmax: u64,
    xip: Vec<u64>,
}

impl Snapshot {
    /// Parses `xmin:xmax:xip,xip`.
    fn parse(text: &str) -> Result<Snapshot, PgError> {
        let bad = || PgError::Decode(format!("snapshot {text:?}"));
        let mut parts = text.split(':');
        let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok()).ok_or_else(bad);
        let xmin = num(parts.next())?;
        let xmax = num(parts.next())?;
        let xip = match parts.next() {
            Some("") | None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|x| x.parse::<u64>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        };
        Ok(Snapshot { xmin, xmax, xip })
    }

    /// Whether the (32-bit) transaction `xid` had committed when the snapshot
    /// was taken, i.e. its changes are in the full load.
    fn saw(&self, xid: u32) -> bool {
        // Place the 32-bit xid in the epoch nearest the snapshot's xmax.
        let epoch = self.xmax & !0xFFFF_FFFF;
        let mut full = epoch | u64::from(xid);
        if full > self.xmax + (1 << 31) && full >= 1 << 32 {
            full -= 1 << 32;
        } else if full + (1 << 31) < self.xmax {
            full += 1 << 32;
        }
        full < self.xmin || (full < self.xmax && !self.xip.contains(&full))
    }
}

/// One decoded row change.
struct Change {
    table: String,
    op: char,
    values: Vec<(String, Option<String>)>,
}

/// A committed transaction.
struct Txn {
    xid: u32,
    commit_time: Micros,
    /// End of the commit record: the slot advances to it.
    commit_lsn: u64,
    changes: Vec<Change>,
}

/// What one start did.
#[derive(Default)]
struct Progress {
    loaded_rows: u64,
    changes: u64,
    transactions: u64,
    files: u64,
    identity_set: Vec<String>,
    truncates: Vec<String>,
}

/// A read-only `REPEATABLE READ` transaction for a full load, the snapshot
/// it reads in, and when that was taken.
async fn take_snapshot(
    client: &mut Client,
) -> Result<(tokio_postgres::Transaction<'_>, Snapshot, Micros), ReplicationError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(query_err("starting the full load's snapshot"))?;
    let row = tx
        .query_one(
            "SELECT pg_current_snapshot()::text, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
            &[],
        )
        .await
        .map_err(query_err("taking the full load's snapshot"))?;
    let snapshot = Snapshot::parse(&row.get::<_, String>(0))?;
    Ok((tx, snapshot, Micros(row.get(1))))
}

fn parse_lsn(text: &str) -> Result<u64, PgError> {
    let (hi, lo) = text
        .split_once('/')
        .ok_or_else(|| PgError::Decode(format!("LSN {text:?}")))?;
    let hex =
        |s: &str| u64::from_str_radix(s, 16).map_err(|_| PgError::Decode(format!("LSN {text:?}")));
    Ok((hex(hi)? << 32) | hex(lo)?)
}

fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// The change_seq of a full-load row: before every change.
const LOAD_SEQ: &str = "000000000000000000000000";

/// Orders changes within a timestamp: the commit's LSN, then the position in
/// the transaction; fixed-width hex, so text order is numeric order.
fn change_seq(commit_lsn: u64, index: usize) -> String {
    format!("{commit_lsn:016X}{index:08X}")
}

impl PgReplicator {
    fn slot_literal(&self) -> String {
        literal(&self.slot)
    }

    async fn read_state(&self) -> Result<Option<State>, ReplicationError> {
        match self.landing.get(STATE_KEY).await {
            Ok((bytes, _)) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ReplicationError::Unhealthy(format!(
                    "{STATE_KEY} is not readable ({e}); remove it and the slot {} to load again",
                    self.slot
                ))
            }),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn check_server(&self, client: &Client) -> Result<(), PgError> {
        let row = client
            .query_one("SHOW wal_level", &[])
            .await
            .map_err(query_err("reading wal_level"))?;
        let level: String = row.get(0);
        if level != "logical" {
            return Err(PgError::Setup(format!(
                "wal_level is {level}; logical decoding needs wal_level = logical (then restart the server; `make pg` starts one that has it)"
            )));
        }
        Ok(())
    }

    /// Sets `REPLICA IDENTITY FULL` where it is not, so updates and deletes
    /// carry every column's old value. Returns the tables it changed.
    async fn ensure_identity(&self, client: &Client) -> Result<Vec<String>, PgError> {
        let mut changed = Vec::new();
        for table in &self.tables {
            let row = client
                .query_opt(
                    "SELECT c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = $1 AND c.relname = $2",
                    &[&self.schema, table],
                )
                .await
                .map_err(query_err(format!("reading the replica identity of {table}")))?
                .ok_or_else(|| PgError::Setup(format!("the source has no table {}.{table}", self.schema)))?;
            let identity: String = row.get(0);
            if identity != "f" {
                let sql = format!(
                    "ALTER TABLE {}.{} REPLICA IDENTITY FULL",
                    ident(&self.schema),
                    ident(table)
                );
                client.batch_execute(&sql).await.map_err(query_err(format!(
                    "{sql} (the replicator needs it for before-images; run it as the table's owner)"
                )))?;
                tracing::info!(table = %table, "set REPLICA IDENTITY FULL");
                changed.push(table.clone());
            }
        }
        Ok(changed)
    }

    /// Creates the slot and lands the full load from the snapshot taken with it.
    async fn initial_load(
        &self,
        client: &mut Client,
        progress: &mut Progress,
    ) -> Result<State, ReplicationError> {
        let exists = client
            .query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await
            .map_err(query_err("looking up the slot"))?
            .is_some();
        if exists {
            // A load that never finished: its slot position means nothing yet.
            tracing::warn!(slot = %self.slot, "dropping the slot of an unfinished full load");
            client
                .batch_execute(&format!(
                    "SELECT pg_drop_replication_slot({})",
                    self.slot_literal()
                ))
                .await
                .map_err(query_err("dropping the unfinished slot"))?;
        }
        self.remove_unfinished_load().await?;
        client
            .batch_execute(&format!(
                "SELECT pg_create_logical_replication_slot({}, 'wal2json')",
                self.slot_literal()
            ))
            .await
            .map_err(query_err(format!(
                "creating the replication slot {} (is wal2json installed? `make pg` installs it)",
                self.slot
            )))?;
        let (tx, snapshot, load_time) = take_snapshot(client).await?;
        for table in &self.tables {
            self.load_table(&tx, table, load_time, false, progress)
                .await?;
        }
        tx.commit()
            .await
            .map_err(query_err("ending the full load"))?;
        let state = State {
            slot: self.slot.clone(),
            tables: self.tables.clone(),
            load_time: load_time.0,
            snapshot,
            reloads: BTreeMap::new(),
        };
        self.write_state(&state).await?;
        Ok(state)
    }

    async fn write_state(&self, state: &State) -> Result<(), ReplicationError> {
        let json = serde_json::to_vec_pretty(state).unwrap_or_default();
        self.landing.put(STATE_KEY, Bytes::from(json), None).await?;
        Ok(())
    }

    /// The kept state, if a full load was taken; refused when it belongs
    /// to another slot or table list.
    async fn checked_state(&self) -> Result<Option<State>, ReplicationError> {
        let Some(state) = self.read_state().await? else {
            return Ok(None);
        };
        if state.slot != self.slot {
            return Err(ReplicationError::Unhealthy(format!(
                "the landing folder was filled through the slot {}, this pipeline's slot is {}; use another lake, or remove {STATE_KEY} to load again",
                state.slot, self.slot
            )));
        }
        if state.tables != self.tables {
            return Err(ReplicationError::Unhealthy(format!(
                "the slot {} replicates {:?}, the configuration names {:?}; a new table needs a new full load: drop the slot and remove {STATE_KEY} from the landing folder",
                self.slot, state.tables, self.tables
            )));
        }
        Ok(Some(state))
    }

    /// Full-load files of a load that crashed before it was recorded were
    /// never handed to the pipeline; remove them so a smaller reload leaves
    /// no stale file behind.
    async fn remove_unfinished_load(&self) -> Result<(), ReplicationError> {
        for table in &self.tables {
            let prefix = format!("{}/{table}/", self.schema);
            for object in self.landing.list(&prefix).await? {
                let name = object.key.rsplit('/').next().unwrap_or_default();
                if name.starts_with("LOAD") {
                    self.landing.delete(&object.key, &object.etag).await?;
                }
            }
        }
        Ok(())
    }

    /// Lands `table` as read in `tx` as `LOAD…` files.
    /// `empty_file`: an empty table still gets one (empty) file, so that a
    /// reload of a table the source emptied says so.
    async fn load_table(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        table: &str,
        load_time: Micros,
        empty_file: bool,
        progress: &mut Progress,
    ) -> Result<(), ReplicationError> {
        let (columns, _) = read_columns(tx, &self.schema, table)
            .await?
            .ok_or_else(|| {
                PgError::Setup(format!("the source has no table {}.{table}", self.schema))
            })?;
        let select = columns
            .iter()
            .map(|c| format!("{}::text", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        tx.batch_execute(&format!(
            "DECLARE tidemark_load NO SCROLL CURSOR FOR SELECT {select} FROM {}.{}",
            ident(&self.schema),
            ident(table)
        ))
        .await
        .map_err(query_err(format!("reading {table}")))?;
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let stamp = load_time.dms();
        let (mut rows_total, mut file_no) = (0u64, 0u32);
        loop {
            let rows = tx
                .query(&format!("FETCH {LOAD_ROWS} FROM tidemark_load"), &[])
                .await
                .map_err(query_err(format!("reading {table}")))?;
            if rows.is_empty() && !(empty_file && file_no == 0) {
                break;
            }
            let records: Vec<Record> = rows
                .iter()
                .map(|r| Record {
                    op: None,
                    timestamp: stamp.clone(),
                    seq: LOAD_SEQ.to_string(),
                    values: columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            r.get::<_, Option<String>>(i)
                                .map(|v| normalise(&c.pg_type, v))
                        })
                        .collect(),
                })
                .collect();
            file_no += 1;
            let key = format!("{}/{table}/LOAD{file_no:08X}.parquet", self.schema);
            let bytes = self.parquet(&names, &records, false)?;
            self.landing.put(&key, bytes, None).await?;
            progress.files += 1;
            rows_total += records.len() as u64;
            if rows.len() < LOAD_ROWS {
                break;
            }
        }
        tx.batch_execute("CLOSE tidemark_load")
            .await
            .map_err(query_err(format!("reading {table}")))?;
        progress.loaded_rows += rows_total;
        tracing::info!(table = %table, rows = rows_total, files = file_no, "full load");
        Ok(())
    }

    /// A fresh full load of `tables` (a `reload` run), in one snapshot taken
    /// now: each table's `LOAD…` files are written again (an older one beyond
    /// the new load stays, superseded by the run's reload mark), and CDC then
    /// skips, for those tables, what that snapshot saw. The state is written after the files: a crash in between
    /// leaves changes that land twice (the merge absorbs them), never a gap.
    async fn reload_tables(&self, tables: &[&str]) -> Result<Progress, ReplicationError> {
        let mut progress = Progress::default();
        let mut client = connect(&self.url).await?;
        self.check_server(&client).await?;
        // Before the first full load there is nothing to reload: it loads all.
        let Some(mut state) = self.checked_state().await? else {
            return Ok(progress);
        };
        let (tx, snapshot, load_time) = take_snapshot(&mut client).await?;
        for table in tables {
            self.load_table(&tx, table, load_time, true, &mut progress)
                .await?;
            state.reloads.insert(
                table.to_string(),
                TableLoad {
                    load_time: load_time.0,
                    snapshot: snapshot.clone(),
                },
            );
        }
        tx.commit().await.map_err(query_err("ending the reload"))?;
        self.write_state(&state).await?;
        Ok(progress)
    }

    /// One landed file: the control columns, then the business columns as text
    /// (as DMS writes a CSV target; validation reads them as the metadata's types).
    fn parquet(
        &self,
        names: &[String],
        records: &[Record],
        with_op: bool,
    ) -> Result<Bytes, ReplicationError> {
        let text = |f: &dyn Fn(&Record) -> Option<&str>| -> ArrayRef {
            Arc::new(records.iter().map(f).collect::<StringArray>())
        };
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        if with_op {
            fields.push(Field::new(&self.control.op, DataType::Utf8, false));
            arrays.push(text(&|r| r.op));
        }
        fields.push(Field::new(&self.control.timestamp, DataType::Utf8, false));
        arrays.push(text(&|r| Some(r.timestamp.as_str())));
        if let Some(seq) = &self.control.change_seq {
            fields.push(Field::new(seq, DataType::Utf8, false));
            arrays.push(text(&|r| Some(r.seq.as_str())));
        }
        for (i, name) in names.iter().enumerate() {
            fields.push(Field::new(name, DataType::Utf8, true));
            arrays.push(text(&|r| r.values[i].as_deref()));
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| ReplicationError::Unhealthy(format!("building a landed file: {e}")))?;
        let mut out = Vec::new();
        let write = |out: &mut Vec<u8>| -> Result<(), parquet::errors::ParquetError> {
            let mut writer = ArrowWriter::try_new(out, schema, None)?;
            writer.write(&batch)?;
            writer.close()?;
            Ok(())
        };
        write(&mut out)
            .map_err(|e| ReplicationError::Unhealthy(format!("writing a landed file: {e}")))?;
        Ok(Bytes::from(out))
    }

    /// Peeks up to `chunk_changes` decoded rows (whole transactions) of
    /// the transactions committed before `upto` (an LSN).
    async fn peek(
        &self,
        client: &Client,
        upto: &str,
    ) -> Result<(Vec<Txn>, Option<u64>, usize), PgError> {
        let tables = self
            .tables
            .iter()
            .map(|t| format!("{}.{t}", self.schema))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_changes({}, {}::pg_lsn, {},
               'format-version', '2', 'include-xids', '1', 'include-timestamp', '1',
               'include-types', '1', 'include-type-oids', '0', 'add-tables', {})",
            self.slot_literal(),
            literal(upto),
            self.chunk_changes,
            literal(&tables)
        );
        let rows = client.query(&sql, &[]).await.map_err(query_err(format!(
            "reading changes from the slot {}",
            self.slot
        )))?;
        let count = rows.len();
        let mut txns = Vec::new();
        let mut open: Option<Txn> = None;
        let mut last_commit = None;
        for row in &rows {
            let lsn = parse_lsn(row.get(0))?;
            let data: &str = row.get(1);
            let quoted = quote_numbers(data);
            let v: WalRow<'_> = serde_json::from_str(&quoted)
                .map_err(|e| PgError::Decode(format!("{e}: {data}")))?;
            match v.action.as_ref() {
                "B" => {
                    open = Some(Txn {
                        xid: v.xid as u32,
                        commit_time: Micros::parse(v.timestamp.as_deref().unwrap_or_default())?,
                        commit_lsn: 0,
                        changes: Vec::new(),
                    });
                }
                "C" => {
                    if let Some(mut txn) = open.take() {
                        txn.commit_lsn = lsn;
                        txns.push(txn);
                    }
                    last_commit = Some(lsn);
                }
                "I" | "U" | "D" => {
                    let txn = open.as_mut().ok_or_else(|| {
                        PgError::Decode(format!("a change outside a transaction: {data}"))
                    })?;
                    txn.changes.push(change(v)?);
                }
                "T" => {
                    let table = v.table.as_deref().unwrap_or_default().to_string();
                    tracing::warn!(table = %table, "TRUNCATE is not replicated: reload the table to bring history in line");
                    if let Some(txn) = open.as_mut() {
                        txn.changes.push(Change {
                            table,
                            op: 'T',
                            values: Vec::new(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok((txns, last_commit, count))
    }

    /// Lands one chunk's transactions: one CDC file per table.
    async fn land_chunk(
        &self,
        txns: &[Txn],
        state: &State,
        progress: &mut Progress,
    ) -> Result<(), ReplicationError> {
        let mut by_table: BTreeMap<&str, (Vec<String>, Vec<Record>, Micros)> = BTreeMap::new();
        for txn in txns {
            if state.snapshot.saw(txn.xid) {
                continue;
            }
            progress.transactions += 1;
            for (i, c) in txn.changes.iter().enumerate() {
                if state.loaded(&c.table, txn.xid) {
                    continue;
                }
                // A transaction the snapshot did not see, committed at the very
                // moment it was taken, still comes after the load.
                let time = txn.commit_time.max(state.load_time(&c.table));
                let stamp = time.dms();
                if c.op == 'T' {
                    progress.truncates.push(c.table.clone());
                    continue;
                }
                progress.changes += 1;
                let entry = by_table
                    .entry(c.table.as_str())
                    .or_insert_with(|| (Vec::new(), Vec::new(), time));
                let mut values = vec![None; entry.0.len()];
                for (name, value) in &c.values {
                    let at = match entry.0.iter().position(|n| n == name) {
                        Some(at) => at,
                        None => {
                            entry.0.push(name.clone());
                            for r in entry.1.iter_mut() {
                                r.values.push(None);
                            }
                            values.push(None);
                            entry.0.len() - 1
                        }
                    };
                    values[at] = value.clone();
                }
                entry.1.push(Record {
                    op: Some(match c.op {
                        'I' => "I",
                        'U' => "U",
                        _ => "D",
                    }),
                    timestamp: stamp.clone(),
                    seq: change_seq(txn.commit_lsn, i),
                    values,
                });
            }
        }
        for (table, (names, records, first)) in by_table {
            let bytes = self.parquet(&names, &records, true)?;
            let key = self.free_cdc_key(table, first).await?;
            self.landing.put(&key, bytes, None).await?;
            progress.files += 1;
        }
        Ok(())
    }

    /// `<schema>/<table>/<commit time>.parquet`, a millisecond later while taken.
    async fn free_cdc_key(&self, table: &str, first: Micros) -> Result<String, ReplicationError> {
        let mut time = first;
        loop {
            let key = format!("{}/{table}/{}.parquet", self.schema, time.file_stem());
            match self.landing.get(&key).await {
                Err(StoreError::NotFound { .. }) => return Ok(key),
                Ok(_) => time = Micros(time.0 + 1000),
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn run(&self) -> Result<ReplicationStatus, ReplicationError> {
        let mut client = connect(&self.url).await?;
        self.check_server(&client).await?;
        let mut progress = Progress {
            identity_set: self.ensure_identity(&client).await?,
            ..Default::default()
        };
        let state = match self.checked_state().await? {
            Some(state) => state,
            None => self.initial_load(&mut client, &mut progress).await?,
        };
        // What was committed when the run began: a writer faster than the
        // replicator must not keep a run landing forever.
        let upto: String = client
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .map_err(query_err("reading the current WAL position"))?
            .get(0);
        let crash_at = crash_before_confirming();
        let mut chunk = 0u32;
        loop {
            let (txns, last_commit, rows) = self.peek(&client, &upto).await?;
            let Some(last_commit) = last_commit else {
                break;
            };
            self.land_chunk(&txns, &state, &mut progress).await?;
            chunk += 1;
            if crash_at == Some(chunk) {
                // The crash the confirm-after-write rule is for (tests use it).
                tracing::error!(
                    chunk,
                    "TIDEMARK_PG_CRASH_BEFORE_CONFIRM: aborting with the chunk's files written and the slot not advanced"
                );
                std::process::abort();
            }
            // Only now that the files are written (and synced) may the slot move on.
            client
                .batch_execute(&format!(
                    "SELECT pg_replication_slot_advance({}, '{}')",
                    self.slot_literal(),
                    format_lsn(last_commit)
                ))
                .await
                .map_err(query_err("confirming the slot's position"))?;
            if rows < self.chunk_changes as usize {
                break;
            }
        }
        let mut message = format!(
            "postgres: {} change(s) in {} transaction(s) into {} file(s)",
            progress.changes, progress.transactions, progress.files
        );
        if progress.loaded_rows > 0 {
            message.push_str(&format!("; full load of {} row(s)", progress.loaded_rows));
        }
        if !progress.identity_set.is_empty() {
            message.push_str(&format!(
                "; set REPLICA IDENTITY FULL on {}",
                progress.identity_set.join(", ")
            ));
        }
        let mut tables_in_error = Vec::new();
        if !progress.truncates.is_empty() {
            progress.truncates.sort();
            progress.truncates.dedup();
            message.push_str(&format!(
                "; TRUNCATE of {} not replicated (reload those tables)",
                progress.truncates.join(", ")
            ));
            tables_in_error = progress.truncates.clone();
        }
        Ok(ReplicationStatus {
            tables_in_error,
            ..ReplicationStatus::ready("running", message)
        })
    }

    /// The slot's state: what the source keeps for the next run to land.
    async fn slot(&self) -> Result<ReplicationStatus, ReplicationError> {
        let client = connect(&self.url).await?;
        let row = client
            .query_opt(
                "SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
                 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await
            .map_err(query_err("reading the replication slot"))?;
        let Some(row) = row else {
            return Ok(ReplicationStatus::ready(
                "not started",
                format!(
                    "no slot {} yet: the next run creates it and lands a full load",
                    self.slot
                ),
            ));
        };
        let active: bool = row.get(0);
        let lag = row.get::<_, Option<i64>>(1).unwrap_or(0).max(0) as u64;
        Ok(ReplicationStatus {
            lag_bytes: Some(lag),
            ..ReplicationStatus::ready(
                if active { "landing" } else { "waiting" },
                format!(
                    "slot {} keeps {} of WAL for the next run to land",
                    self.slot,
                    tidemark_core::freshness::human_bytes(lag)
                ),
            )
        })
    }
}

/// wal2json writes numbers bare (`"value":12345678901234567890.123`); read
/// as JSON numbers they would be rounded to a double. Quote every column
/// value that is a bare number, so it is read as the text PostgreSQL printed.
/// Inside a JSON string every `"` is escaped, so `"value":` followed by a
/// digit occurs only as a column value.
fn quote_numbers(data: &str) -> std::borrow::Cow<'_, str> {
    const KEY: &str = "\"value\":";
    if !data.contains(KEY) {
        return data.into();
    }
    let mut out = String::with_capacity(data.len() + 16);
    let mut rest = data;
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        let number_len = tail
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(tail.len());
        if number_len > 0 {
            out.push('"');
            out.push_str(&tail[..number_len]);
            out.push('"');
        }
        rest = &tail[number_len..];
    }
    out.push_str(rest);
    out.into()
}

/// `TIDEMARK_PG_CRASH_BEFORE_CONFIRM=<n>`: abort the process after writing the
/// n-th chunk's files and before advancing the slot. For crash tests only.
fn crash_before_confirming() -> Option<u32> {
    std::env::var("TIDEMARK_PG_CRASH_BEFORE_CONFIRM")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// One row of a landed file.
struct Record {
    op: Option<&'static str>,
    timestamp: String,
    seq: String,
    values: Vec<Option<String>>,
}

/// One row of wal2json's format 2 output.
#[derive(Deserialize)]
struct WalRow<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(default)]
    xid: u64,
    #[serde(default, borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    table: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    columns: Vec<WalColumn<'a>>,
    #[serde(default, borrow)]
    identity: Vec<WalColumn<'a>>,
}

#[derive(Deserialize)]
struct WalColumn<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pg_type: Cow<'a, str>,
    #[serde(default)]
    value: Option<ValueText>,
}

/// A column value as text: strings as they are (numbers arrive quoted, see
/// [`quote_numbers`]), booleans as `true`/`false`.
struct ValueText(String);

impl<'de> Deserialize<'de> for ValueText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ValueText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a column value")
            }
            fn visit_str<E>(self, v: &str) -> Result<ValueText, E> {
                Ok(ValueText(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<ValueText, E> {
                Ok(ValueText(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<ValueText, E> {
                Ok(ValueText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<ValueText, E> {
                Ok(ValueText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<ValueText, E> {
                Ok(ValueText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<ValueText, E> {
                Ok(ValueText(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A wal2json change: the after-image of an insert or update (columns an
/// update left unchanged and out of line are taken from the old row, which
/// `REPLICA IDENTITY FULL` makes whole), the before-image of a delete.
fn change(v: WalRow<'_>) -> Result<Change, PgError> {
    let table = v.table.as_deref().unwrap_or_default().to_string();
    let read = |cols: Vec<WalColumn<'_>>| -> Vec<(String, Option<String>)> {
        cols.into_iter()
            .map(|c| {
                let value = c.value.map(|t| normalise(&c.pg_type, t.0));
                (c.name.into_owned(), value)
            })
            .collect()
    };
    let op = v.action.chars().next().unwrap_or('I');
    let values = match op {
        'D' => read(v.identity),
        'U' => {
            let mut after = read(v.columns);
            for (name, value) in read(v.identity) {
                if !after.iter().any(|(n, _)| *n == name) {
                    after.push((name, value));
                }
            }
            after
        }
        _ => read(v.columns),
    };
    if values.is_empty() {
        return Err(PgError::Decode(format!(
            "a {op} on {table} without column values (is its REPLICA IDENTITY FULL?)"
        )));
    }
    Ok(Change { table, op, values })
}

#[async_trait]
impl Replication for PgReplicator {
    async fn start(
        &self,
        _event: &StartReplicationEvent,
        _tables: &[(String, TableMode)],
    ) -> Result<ReplicationStatus, ReplicationError> {
        self.run().await
    }

    async fn observe(&self) -> Result<ReplicationStatus, ReplicationError> {
        self.slot().await
    }

    /// The replicator lands changes only within runs: paused, runs land
    /// none (start-replication reads the pause) and the slot keeps them.
    async fn stop(&self) -> Result<String, ReplicationError> {
        Ok(format!(
            "runs land nothing until resume; slot {} keeps the changes meanwhile",
            self.slot
        ))
    }

    async fn resume(&self) -> Result<String, ReplicationError> {
        Ok(format!("the next run lands what slot {} kept", self.slot))
    }

    async fn reload(&self, request: &ReloadRequest) -> Result<(), ReplicationError> {
        let tables = request.names();
        if let Some(t) = tables.iter().find(|t| !self.tables.iter().any(|c| c == *t)) {
            return Err(ReplicationError::Invalid(format!(
                "mode reload: {t} is not replicated from {}.{}; nothing was changed",
                self.schema, t
            )));
        }
        let progress = self.reload_tables(&tables).await?;
        tracing::info!(tables = ?tables, rows = progress.loaded_rows, files = progress.files, "reloaded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn an_update_takes_unchanged_out_of_line_values_from_the_old_row() {
        let data = r#"{"action":"U","xid":9,"schema":"public","table":"t","columns":[{"name":"id","type":"integer","value":1},{"name":"ok","type":"boolean","value":true}],"identity":[{"name":"id","type":"integer","value":1},{"name":"ok","type":"boolean","value":false},{"name":"doc","type":"text","value":"big"}]}"#;
        let quoted = quote_numbers(data);
        let row: WalRow<'_> = serde_json::from_str(&quoted).unwrap();
        let c = change(row).unwrap();
        assert_eq!((c.table.as_str(), c.op), ("t", 'U'));
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            c.values,
            [
                ("id".to_string(), some("1")),
                ("ok".to_string(), some("true")),
                ("doc".to_string(), some("big"))
            ]
        );
    }

    #[test]
    fn snapshot_visibility() {
        let s = Snapshot::parse("100:105:101,103").unwrap();
        assert!(s.saw(99));
        assert!(s.saw(100) && s.saw(102) && s.saw(104));
        assert!(!s.saw(101) && !s.saw(103) && !s.saw(105) && !s.saw(200));
        let empty = Snapshot::parse("7:7:").unwrap();
        assert!(empty.saw(6) && !empty.saw(7));
        // Across a wraparound: the 32-bit xid belongs to the snapshot's epoch.
        let e = (1u64 << 32) + 10;
        let s = Snapshot {
            xmin: e,
            xmax: e + 5,
            xip: vec![],
        };
        assert!(s.saw(12) && !s.saw(20) && s.saw(u32::MAX));
    }

    #[test]
    fn numbers_keep_every_digit() {
        let data = r#"{"columns":[{"name":"a","type":"numeric(38,3)","value":12345678901234567890123.125},{"name":"b","type":"text","value":"x\"value\":1"},{"name":"c","type":"integer","value":-7},{"name":"d","type":"boolean","value":true},{"name":"e","type":"real","value":1.5e+20},{"name":"f","type":"text","value":null}]}"#;
        let v: Value = serde_json::from_str(&quote_numbers(data)).unwrap();
        let values: Vec<Value> = v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].clone())
            .collect();
        assert_eq!(
            values,
            [
                Value::from("12345678901234567890123.125"),
                Value::from("x\"value\":1"),
                Value::from("-7"),
                Value::from(true),
                Value::from("1.5e+20"),
                Value::Null
            ]
        );
    }

    #[test]
    fn change_seqs_sort_as_text() {
        assert!(change_seq(0x1_0000_0000, 0) > change_seq(0xFFFF_FFFF, 99));
        assert!(change_seq(5, 10) > change_seq(5, 9));
        assert!(LOAD_SEQ < change_seq(1, 0).as_str());
        assert_eq!(parse_lsn("1/5057E0").unwrap(), (1 << 32) | 0x5057E0);
        assert_eq!(format_lsn((1 << 32) | 0x5057E0), "1/5057E0");
    }
}
