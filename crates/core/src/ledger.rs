//! The per-table ledger: which landed files each batch consumed and what it
//! did. Stored as one JSON object, replaced only with a conditional write on
//! its ETag, so two runs can never both record a batch over the same files.

use crate::batch_id::BatchId;
use crate::dms::ChangeSeqKind;
use crate::error::{Error, StoreError};
use crate::metadata::RowHashFormat;
use crate::ports::{Condition, ObjectInfo, ObjectStore};
use crate::run_plan::RunMode;
use crate::scd2::Since;
use crate::validate::{CurrentDigest, OpCounts, RowsDigest};
use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Files checked and normalised; not merged yet (a crash, or the merge failed).
    Validated,
    /// In history.
    Merged,
    /// Rejected by the table's `on_invalid = "fail"` policy. Its files are not
    /// consumed: the next run checks them again.
    Failed,
    /// Validated for a rebuild that was started again (under other metadata,
    /// or a reload asked again): never merged, replaced by the new attempt's.
    Abandoned,
    /// What had landed when a `reload` asked for a fresh full load: that load
    /// replaces these files, in this generation and every later one, so no
    /// batch consumes them again.
    Superseded,
}

/// A landed file as a batch consumed it. A rewritten file (new ETag) is a
/// new file, but for an erasure's rewrite ([`Ledger::replace_etag`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumedFile {
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub accepted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: BatchId,
    pub status: BatchStatus,
    pub run_id: String,
    /// The run mode that validated it: a `reprocess` batch re-consumes files
    /// an earlier batch quarantined (which run reprocessed a file).
    #[serde(default)]
    pub mode: RunMode,
    /// The history generation it belongs to (see [`Ledger::generation`]).
    #[serde(default)]
    pub generation: u32,
    pub metadata_version: u32,
    pub files: Vec<ConsumedFile>,
    pub ops: OpCounts,
    /// Earliest change time in the batch (µs since the epoch): the merge
    /// reads no history or log older than it. Absent in ledgers written
    /// before it was recorded (their merges read everything).
    #[serde(default)]
    pub min_valid_from: Option<i64>,
    /// Latest change time in the batch (µs since the epoch): a snapshot's extract time.
    pub max_valid_from: Option<i64>,
    /// What its accepted rows hold: a snapshot extract equal to the one
    /// merged before it needs no merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowsDigest>,
    pub validated_at: String,
    #[serde(default)]
    pub merged_at: Option<String>,
    /// The change-seq kind its files were validated under (`auto`: they
    /// held no value to decide by). Absent in batches validated before
    /// kinds: those were ordered as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_seq_kind: Option<ChangeSeqKind>,
    /// How its files store `row_hash`: its generation's format. Absent in
    /// batches validated before formats: those stored `hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_hash: Option<RowHashFormat>,
    /// The erasures (their runs) whose keys its validation left out. An
    /// erasure that is not among them overlapped the validation, and the
    /// batch is filtered again before it is merged. Absent in batches
    /// validated before it was recorded: every erasure is applied again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasures: Option<Vec<String>>,
    /// Whether no key occurs twice among its accepted rows: one accepted
    /// file, a full load, which validation refuses with a repeated key.
    /// (Several files may repeat keys between them.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub distinct_keys: bool,
    /// What a snapshot extract changes against the extract merged before
    /// it, left for its merge ([`crate::layout::snapshot_diff_prefix`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_diff: Option<DiffRecord>,
}

/// A snapshot batch's diff ([`crate::validate::SnapshotDiff`]): it stands
/// for the merge's join only while the history's current rows are those of
/// batch `base` (the last merged) and add up to `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffRecord {
    pub base: BatchId,
    pub current: CurrentDigest,
    pub changed: u64,
    pub gone: u64,
}

/// A rebuild whose new history generation the ledger already records as
/// live, while the engine may still show the old table: whoever next holds
/// the table's lease completes the swap before anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSwap {
    /// The rebuilt history table (in the history database) to swap in.
    pub staged_table: String,
    pub run_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub batches: Vec<Batch>,
    /// The live history generation. A rebuild validates every landed file
    /// again into generation + 1 and merges it into a staged table; the swap
    /// makes that generation live. Batches of other generations are kept as
    /// the record, but only the live generation's are consumed or merged.
    #[serde(default)]
    pub generation: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<PendingSwap>,
    /// When the live table's maintenance last completed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintained_at: Option<String>,
}

impl Ledger {
    /// Batches of `generation`, oldest first.
    pub fn batches_of(&self, generation: u32) -> impl Iterator<Item = &Batch> {
        self.batches
            .iter()
            .filter(move |b| b.generation == generation)
    }

    /// Landed files no validated or merged batch of `generation` has
    /// consumed, and no reload up to it superseded.
    pub fn unconsumed<'a>(&self, landed: &'a [ObjectInfo], generation: u32) -> Vec<&'a ObjectInfo> {
        let consumed: BTreeSet<(&str, &str)> = self
            .batches
            .iter()
            .filter(|b| match b.status {
                BatchStatus::Validated | BatchStatus::Merged => b.generation == generation,
                BatchStatus::Superseded => b.generation <= generation,
                BatchStatus::Failed | BatchStatus::Abandoned => false,
            })
            .flat_map(|b| b.files.iter().map(|f| (f.key.as_str(), f.etag.as_str())))
            .collect();
        landed
            .iter()
            .filter(|o| !consumed.contains(&(o.key.as_str(), o.etag.as_str())))
            .collect()
    }

    /// Landed files whose latest consumption in `generation` quarantined them
    /// (a batch that went on without them), with the date that batch was
    /// validated: what `reprocess` validates again.
    pub fn quarantined<'a>(
        &self,
        landed: &'a [ObjectInfo],
        generation: u32,
    ) -> Vec<(&'a ObjectInfo, Option<NaiveDate>)> {
        landed
            .iter()
            .filter_map(|o| {
                let (batch, file) = self
                    .batches_of(generation)
                    .filter(|b| matches!(b.status, BatchStatus::Validated | BatchStatus::Merged))
                    .flat_map(|b| b.files.iter().map(move |f| (b, f)))
                    .filter(|(_, f)| f.key == o.key && f.etag == o.etag)
                    .last()?;
                let validated = chrono::DateTime::parse_from_rfc3339(&batch.validated_at)
                    .ok()
                    .map(|t| t.date_naive());
                (!file.accepted).then_some((o, validated))
            })
            .collect()
    }

    /// The batches of `generation` validated but not merged yet, oldest first.
    pub fn pending(&self, generation: u32) -> Vec<BatchId> {
        self.batches_of(generation)
            .filter(|b| b.status == BatchStatus::Validated)
            .map(|b| b.id)
            .collect()
    }

    /// Sets aside the batches of `generation` that were not validated with
    /// `metadata_version` (a rebuild started again under other metadata):
    /// their files are validated again. Returns whether any was.
    pub fn abandon_other_versions(&mut self, generation: u32, metadata_version: u32) -> bool {
        let mut any = false;
        for b in self.batches.iter_mut().filter(|b| {
            b.generation == generation
                && b.metadata_version != metadata_version
                && !matches!(b.status, BatchStatus::Abandoned | BatchStatus::Superseded)
        }) {
            b.status = BatchStatus::Abandoned;
            any = true;
        }
        any
    }

    /// Records, once per reload run, that the fresh full load of
    /// `generation` replaces the files `mark` lists. An earlier attempt's
    /// batches of that generation (a reload asked again) are abandoned: the
    /// new load replaces theirs too. Returns whether the ledger changed.
    pub fn supersede(&mut self, mark: &ReloadMark, generation: u32, metadata_version: u32) -> bool {
        let done = self
            .batches_of(generation)
            .any(|b| b.status == BatchStatus::Superseded && b.run_id == mark.run_id);
        if done {
            return false;
        }
        let row_hash = self.row_hash_format(generation);
        for b in self
            .batches
            .iter_mut()
            .filter(|b| b.generation == generation && b.status != BatchStatus::Abandoned)
        {
            b.status = BatchStatus::Abandoned;
        }
        self.batches.push(Batch {
            id: self.new_batch_id(),
            status: BatchStatus::Superseded,
            run_id: mark.run_id.clone(),
            mode: RunMode::Reload,
            generation,
            metadata_version,
            files: mark
                .files
                .iter()
                .map(|o| ConsumedFile {
                    key: o.key.clone(),
                    etag: o.etag.clone(),
                    size: o.size,
                    accepted: false,
                })
                .collect(),
            ops: OpCounts::default(),
            min_valid_from: None,
            max_valid_from: None,
            rows: None,
            validated_at: mark.requested_at.clone(),
            merged_at: None,
            change_seq_kind: Some(ChangeSeqKind::Auto),
            row_hash: Some(row_hash),
            erasures: None,
            distinct_keys: false,
            snapshot_diff: None,
        });
        true
    }

    /// Whether the live table's maintenance is due at `now`: `every_days`
    /// after the last one or — never maintained — after its first merge. A
    /// table its first merge just wrote is as compact as a rewrite would
    /// leave it, so its first maintenance waits as long as any other.
    pub fn maintenance_due(&self, now: chrono::DateTime<chrono::Utc>, every_days: u32) -> bool {
        let every = chrono::Duration::days(every_days.into());
        let since = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| now - t.with_timezone(&chrono::Utc))
                .ok()
        };
        match &self.maintained_at {
            _ if every_days == 0 => false,
            Some(last) => since(last).is_none_or(|d| d >= every),
            None => self
                .batches_of(self.generation)
                .filter(|b| b.status == BatchStatus::Merged)
                .any(|b| {
                    b.merged_at
                        .as_deref()
                        .and_then(since)
                        .is_none_or(|d| d >= every)
                }),
        }
    }

    /// Records that `forget` rewrote the landed file `key` (from ETag `old`
    /// to `new`) without a data subject's rows: the batches that consumed
    /// it consumed the rewritten file. Returns whether anything changed.
    pub fn replace_etag(&mut self, key: &str, old: &str, new: &str) -> bool {
        let mut changed = false;
        for file in self.batches.iter_mut().flat_map(|b| b.files.iter_mut()) {
            if file.key == key && file.etag == old {
                file.etag = new.to_string();
                changed = true;
            }
        }
        changed
    }

    /// The change-seq kind `generation`'s history is ordered by: the one its
    /// first deciding batch recorded; text when a batch from before kinds
    /// were recorded is there; `None` while nothing has decided it.
    pub fn change_seq_kind(&self, generation: u32) -> Option<ChangeSeqKind> {
        let batches: Vec<&Batch> = self.batches_of(generation).collect();
        batches
            .iter()
            .find_map(|b| b.change_seq_kind.filter(|k| *k != ChangeSeqKind::Auto))
            .or_else(|| {
                batches
                    .iter()
                    .any(|b| b.change_seq_kind.is_none())
                    .then_some(ChangeSeqKind::Text)
            })
    }

    /// How `generation` stores `row_hash`: as its first batch recorded, or
    /// `hex` if that batch is from before formats were recorded. A
    /// generation without batches starts with the newest format, so a
    /// table moves to it by a rebuild.
    pub fn row_hash_format(&self, generation: u32) -> RowHashFormat {
        self.batches_of(generation)
            .next()
            .map_or(RowHashFormat::default(), |b| {
                b.row_hash.unwrap_or(RowHashFormat::Hex)
            })
    }

    pub fn batch(&self, id: BatchId) -> Option<&Batch> {
        self.batches.iter().find(|b| b.id == id)
    }

    /// The batch of `generation` merged last.
    pub fn last_merged(&self, generation: u32) -> Option<BatchId> {
        self.batches_of(generation)
            .filter(|b| b.status == BatchStatus::Merged)
            .map(|b| b.id)
            .max()
    }

    /// Whether batch `id` holds the same rows as the batch of its
    /// generation merged last before it: for a snapshot table, an extract
    /// that changes nothing.
    pub fn repeats_last_merged(&self, id: BatchId) -> bool {
        let Some(batch) = self.batch(id) else {
            return false;
        };
        let last = self
            .batches_of(batch.generation)
            .filter(|b| b.id < id && b.status == BatchStatus::Merged)
            .max_by_key(|b| b.id);
        batch.rows.is_some() && last.is_some_and(|last| last.rows == batch.rows)
    }

    /// How far back batch `id` reaches in its generation's change log: its
    /// earliest change, and the first batch holding a change from then on
    /// (a batch with no change holds no rows of the log). `None` for a
    /// batch validated before the ledger recorded its earliest change.
    pub fn since(&self, id: BatchId) -> Option<Since> {
        let batch = self.batch(id)?;
        let latest = self
            .batches_of(batch.generation)
            .filter_map(|b| Some((b.id, b.max_valid_from?)));
        Some(Since::of(id, batch.min_valid_from?, latest))
    }

    /// The id for a new batch over `files`: ids count every batch of every
    /// generation. A rerun over exactly the files of the last failed batch
    /// reuses its id, so repeated failures do not pile up.
    pub fn next_batch_id(&self, files: &[&ObjectInfo], generation: u32) -> BatchId {
        if let Some(last) = self
            .batches
            .last()
            .filter(|b| b.status == BatchStatus::Failed && b.generation == generation)
        {
            let same = last.files.len() == files.len()
                && files.iter().all(|f| {
                    last.files
                        .iter()
                        .any(|c| c.key == f.key && c.etag == f.etag)
                });
            if same {
                return last.id;
            }
        }
        self.new_batch_id()
    }

    /// An id no batch has: ids count every batch of every generation.
    fn new_batch_id(&self) -> BatchId {
        BatchId::new(self.batches.len() as u64 + 1)
    }

    /// Adds the batch, or replaces the batch with the same id.
    pub fn record(&mut self, batch: Batch) {
        match self.batches.iter_mut().find(|b| b.id == batch.id) {
            Some(b) => *b = batch,
            None => self.batches.push(batch),
        }
    }
}

/// What had landed of a table when a `reload` run asked for its fresh full
/// load (written before asking): the files that load supersedes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadMark {
    pub run_id: String,
    pub requested_at: String,
    pub files: Vec<ObjectInfo>,
}

/// A ledger read from the store, with the ETag its replacement must match.
pub struct StoredLedger {
    pub ledger: Ledger,
    etag: Option<String>,
    key: String,
}

impl StoredLedger {
    pub async fn load(store: &dyn ObjectStore, key: &str) -> Result<StoredLedger, Error> {
        match store.get(key).await {
            Ok((bytes, etag)) => {
                let ledger = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::InvalidInput(format!("ledger {} is corrupt: {e}", store.uri(key)))
                })?;
                Ok(StoredLedger {
                    ledger,
                    etag: Some(etag),
                    key: key.to_string(),
                })
            }
            Err(StoreError::NotFound { .. }) => Ok(StoredLedger {
                ledger: Ledger::default(),
                etag: None,
                key: key.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the ledger if nobody else changed it since it was loaded.
    pub async fn save(&mut self, store: &dyn ObjectStore) -> Result<(), Error> {
        let body = Bytes::from(serde_json::to_vec_pretty(&self.ledger).unwrap_or_default());
        let condition = match &self.etag {
            Some(etag) => Condition::Matches(etag.clone()),
            None => Condition::Absent,
        };
        self.etag = Some(store.put(&self.key, body, Some(condition)).await?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_written_before_batch_ids_were_numbers_reads_and_orders_them_as_numbers() {
        // The form every earlier version wrote: ids as text, padded to six digits.
        let written = r#"{"batches": [
            {"id": "b000002", "status": "merged", "run_id": "day-2", "metadata_version": 1,
             "files": [], "ops": {"I": 0, "U": 0, "D": 0, "L": 0},
             "max_valid_from": null, "validated_at": "2026-11-02T00:00:00Z"},
            {"id": "b000010", "status": "validated", "run_id": "day-3", "metadata_version": 1,
             "files": [], "ops": {"I": 0, "U": 0, "D": 0, "L": 0},
             "max_valid_from": null, "validated_at": "2026-11-03T00:00:00Z"}
        ]}"#;
        let ledger: Ledger = serde_json::from_str(written).unwrap();
        assert_eq!(ledger.batches[1].id, BatchId::new(10));
        assert!(ledger.batches[0].id < ledger.batches[1].id);
        assert_eq!(ledger.pending(0), [BatchId::new(10)]);
        assert!(ledger.batch(BatchId::new(2)).is_some());
        // Written back in the same form.
        let again = serde_json::to_value(&ledger).unwrap();
        assert_eq!(again["batches"][0]["id"], "b000002");
    }

    fn object(key: &str, etag: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size: 1,
            etag: etag.into(),
        }
    }

    fn batch(id: &str, generation: u32, status: BatchStatus, files: &[(&str, bool)]) -> Batch {
        Batch {
            id: id.parse().unwrap(),
            status,
            run_id: "r".into(),
            mode: RunMode::Incremental,
            generation,
            metadata_version: 1,
            files: files
                .iter()
                .map(|(key, accepted)| ConsumedFile {
                    key: key.to_string(),
                    etag: "e".into(),
                    size: 1,
                    accepted: *accepted,
                })
                .collect(),
            ops: OpCounts::default(),
            min_valid_from: None,
            max_valid_from: None,
            rows: None,
            validated_at: "2026-11-04T10:00:00Z".into(),
            merged_at: None,
            change_seq_kind: None,
            row_hash: None,
            erasures: None,
            distinct_keys: false,
            snapshot_diff: None,
        }
    }

    #[test]
    fn a_batch_reaches_back_to_the_batches_of_its_generation_that_hold_a_change_as_late() {
        let at = |id: &str, generation: u32, changes: Option<(i64, i64)>| Batch {
            min_valid_from: changes.map(|(lo, _)| lo),
            max_valid_from: changes.map(|(_, hi)| hi),
            ..batch(id, generation, BatchStatus::Merged, &[])
        };
        let ledger = Ledger {
            batches: vec![
                at("b000001", 0, Some((10, 20))),
                at("b000002", 0, Some((30, 40))),
                // Quarantined everything: no rows in the log.
                at("b000003", 0, None),
                at("b000004", 0, Some((45, 50))),
                // Another generation's log is another folder.
                at("b000005", 1, Some((0, 100))),
                // A late change, back to 35: batches 2 and 4 hold later ones.
                at("b000006", 0, Some((35, 60))),
                at("b000007", 0, Some((70, 80))),
            ],
            ..Ledger::default()
        };
        let reach = |id: u64| ledger.since(BatchId::new(id)).unwrap();
        assert_eq!(
            reach(6),
            Since {
                at: 35,
                batches: [2, 4, 6].map(BatchId::new).to_vec()
            }
        );
        assert_eq!(reach(7).batches, [BatchId::new(7)]);
        // A batch merged again later reaches no batch after it.
        assert_eq!(reach(2).batches, [2].map(BatchId::new));
        // Ledgers written before the earliest change was recorded: read everything.
        let old = Ledger {
            batches: vec![Batch {
                min_valid_from: None,
                ..at("b000001", 0, Some((10, 20)))
            }],
            ..Ledger::default()
        };
        assert_eq!(old.since(BatchId::FIRST), None);
    }

    #[test]
    fn an_extract_repeats_the_last_merged_one_only_when_their_rows_are_equal() {
        let digest = |rows: &str| serde_json::from_str::<RowsDigest>(rows).unwrap();
        let with = |id: &str, status: BatchStatus, rows: Option<&str>| Batch {
            rows: rows.map(digest),
            ..batch(id, 0, status, &[])
        };
        let ledger = Ledger {
            batches: vec![
                with("b000001", BatchStatus::Merged, Some("\"2:aa\"")),
                with("b000002", BatchStatus::Merged, Some("\"2:bb\"")),
                with("b000003", BatchStatus::Validated, Some("\"2:bb\"")),
                with("b000004", BatchStatus::Validated, Some("\"2:aa\"")),
                with("b000005", BatchStatus::Validated, None),
            ],
            ..Ledger::default()
        };
        assert!(ledger.repeats_last_merged(BatchId::new(3)));
        // Equal to an older extract, not to the last one merged.
        assert!(!ledger.repeats_last_merged(BatchId::new(4)));
        // Validated before digests were recorded, or nothing merged before.
        assert!(!ledger.repeats_last_merged(BatchId::new(5)));
        assert!(!ledger.repeats_last_merged(BatchId::FIRST));
    }

    #[test]
    fn each_generation_consumes_files_of_its_own() {
        let landed = [object("a", "e"), object("b", "e"), object("c", "e")];
        let ledger = Ledger {
            batches: vec![
                batch(
                    "b000001",
                    0,
                    BatchStatus::Merged,
                    &[("a", true), ("b", false)],
                ),
                batch("b000002", 0, BatchStatus::Failed, &[("c", false)]),
                batch("b000003", 1, BatchStatus::Validated, &[("a", true)]),
            ],
            generation: 0,
            swap: None,
            maintained_at: None,
        };
        let keys =
            |files: Vec<&ObjectInfo>| files.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
        // A failed batch consumes nothing; another generation's batches count only there.
        assert_eq!(keys(ledger.unconsumed(&landed, 0)), ["c"]);
        assert_eq!(keys(ledger.unconsumed(&landed, 1)), ["b", "c"]);
        // A rewritten file (new ETag) is a new file.
        assert_eq!(keys(ledger.unconsumed(&[object("a", "e2")], 0)), ["a"]);
        let quarantined = ledger.quarantined(&landed, 0);
        assert_eq!(quarantined.len(), 1);
        assert_eq!(quarantined[0].0.key, "b");
        assert_eq!(quarantined[0].1, NaiveDate::from_ymd_opt(2026, 11, 4));
        assert_eq!(ledger.pending(1), [BatchId::new(3)]);
        assert!(ledger.pending(0).is_empty());
    }

    #[test]
    fn a_file_accepted_by_a_later_batch_is_no_longer_quarantined() {
        let landed = [object("b", "e")];
        let mut ledger = Ledger {
            batches: vec![batch("b000001", 0, BatchStatus::Merged, &[("b", false)])],
            ..Ledger::default()
        };
        assert_eq!(ledger.quarantined(&landed, 0).len(), 1);
        let mut again = batch("b000002", 0, BatchStatus::Merged, &[("b", true)]);
        again.mode = RunMode::Reprocess;
        ledger.record(again);
        assert!(ledger.quarantined(&landed, 0).is_empty());
        // Ids count every batch of every generation.
        assert_eq!(ledger.next_batch_id(&[], 1), BatchId::new(3));
    }

    #[test]
    fn a_rebuild_started_again_under_other_metadata_sets_its_batches_aside() {
        let mut ledger = Ledger {
            batches: vec![
                batch("b000001", 0, BatchStatus::Merged, &[("a", true)]),
                batch("b000002", 1, BatchStatus::Merged, &[("a", true)]),
            ],
            ..Ledger::default()
        };
        assert!(!ledger.abandon_other_versions(1, 1));
        assert!(ledger.abandon_other_versions(1, 2));
        assert_eq!(ledger.batches[1].status, BatchStatus::Abandoned);
        assert_eq!(
            ledger.batches[0].status,
            BatchStatus::Merged,
            "the live generation is untouched"
        );
    }

    #[test]
    fn a_reload_supersedes_what_had_landed_in_its_generation_and_every_later_one() {
        let landed = [
            object("LOAD1", "old"),
            object("cdc1", "e"),
            object("cdc2", "e"),
        ];
        let mut ledger = Ledger {
            batches: vec![
                batch("b000001", 0, BatchStatus::Merged, &[("cdc1", true)]),
                // An earlier attempt of the reload, killed before its swap.
                batch("b000002", 1, BatchStatus::Validated, &[("cdc1", true)]),
            ],
            ..Ledger::default()
        };
        let mark = ReloadMark {
            run_id: "reload-1".into(),
            requested_at: "2026-11-05T10:00:00Z".into(),
            files: vec![landed[0].clone(), landed[1].clone()],
        };
        assert!(ledger.supersede(&mark, 1, 1));
        assert!(!ledger.supersede(&mark, 1, 1), "once per run");
        assert_eq!(ledger.batches[1].status, BatchStatus::Abandoned);
        // The reload rewrote LOAD1: the new version is the fresh load.
        let now = [object("LOAD1", "new"), landed[1].clone(), landed[2].clone()];
        let keys = |files: Vec<&ObjectInfo>| {
            files
                .iter()
                .map(|o| format!("{}:{}", o.key, o.etag))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(ledger.unconsumed(&now, 1)), ["LOAD1:new", "cdc2:e"]);
        assert_eq!(keys(ledger.unconsumed(&now, 2)), ["LOAD1:new", "cdc2:e"]);
        assert_eq!(
            keys(ledger.unconsumed(&now, 0)).len(),
            2,
            "the live generation is untouched"
        );
        assert!(ledger.pending(1).is_empty());
        // A rebuild under other metadata keeps what the reload superseded.
        assert!(!ledger.abandon_other_versions(1, 2));
        assert_eq!(ledger.batches[2].status, BatchStatus::Superseded);
    }

    #[test]
    fn maintenance_is_due_every_n_days_from_the_first_merge_then_from_the_last_maintenance() {
        let now: chrono::DateTime<chrono::Utc> = "2026-11-20T00:00:00Z".parse().unwrap();
        let merged = |at: &str| Batch {
            merged_at: Some(at.into()),
            ..batch("b000001", 0, BatchStatus::Merged, &[])
        };
        let mut ledger = Ledger::default();
        assert!(!ledger.maintenance_due(now, 7), "nothing merged");
        ledger.batches = vec![batch("b000001", 0, BatchStatus::Validated, &[])];
        assert!(!ledger.maintenance_due(now, 7), "nothing merged");
        ledger.batches = vec![merged("2026-11-19T00:00:00Z")];
        assert!(!ledger.maintenance_due(now, 7), "first merged yesterday");
        ledger.batches.push(Batch {
            id: BatchId::new(2),
            ..merged("2026-11-12T00:00:00Z")
        });
        assert!(ledger.maintenance_due(now, 7), "first merged a week ago");
        assert!(!ledger.maintenance_due(now, 0), "never");
        ledger.maintained_at = Some("2026-11-19T00:00:00+00:00".into());
        assert!(!ledger.maintenance_due(now, 7), "maintained yesterday");
        ledger.maintained_at = Some("2026-11-13T00:00:00+00:00".into());
        assert!(ledger.maintenance_due(now, 7), "maintained a week ago");
        // A merge recorded before merge times were: due, as it always was.
        let ledger = Ledger {
            batches: vec![batch("b000001", 0, BatchStatus::Merged, &[])],
            ..Ledger::default()
        };
        assert!(ledger.maintenance_due(now, 7));
    }

    #[test]
    fn ledgers_written_before_generations_still_read() {
        let old = r#"{"batches":[{"id":"b000001","status":"merged","run_id":"r","metadata_version":1,"files":[],"ops":{"I":0,"U":0,"D":0,"L":0},"max_valid_from":null,"validated_at":"t"}]}"#;
        let ledger: Ledger = serde_json::from_str(old).unwrap();
        assert_eq!(ledger.generation, 0);
        assert_eq!(ledger.batches[0].generation, 0);
        assert_eq!(ledger.batches[0].mode, RunMode::Incremental);
    }

    #[test]
    fn a_generation_keeps_the_row_hash_format_of_its_first_batch() {
        let old = r#"{"batches":[{"id":"b000001","status":"merged","run_id":"r","metadata_version":1,"files":[],"ops":{"I":0,"U":0,"D":0,"L":0},"max_valid_from":null,"validated_at":"t"}]}"#;
        let mut ledger: Ledger = serde_json::from_str(old).unwrap();
        // Validated before formats were recorded: hex, for every later batch too.
        assert_eq!(ledger.row_hash_format(0), RowHashFormat::Hex);
        // A generation with no batch yet (a rebuild's) starts with the newest.
        assert_eq!(ledger.row_hash_format(1), RowHashFormat::Typed);
        let mut rebuilt = batch("b000002", 1, BatchStatus::Validated, &[]);
        rebuilt.row_hash = Some(RowHashFormat::Bigint);
        ledger.batches.push(rebuilt);
        assert_eq!(ledger.row_hash_format(1), RowHashFormat::Bigint);
        assert_eq!(ledger.row_hash_format(0), RowHashFormat::Hex);
        let mut newest = batch("b000003", 2, BatchStatus::Validated, &[]);
        newest.row_hash = Some(RowHashFormat::Typed);
        ledger.batches.push(newest);
        assert_eq!(ledger.row_hash_format(2), RowHashFormat::Typed);
        // Written as the ledger's other fields are, and read back.
        let written = serde_json::to_value(&ledger).unwrap();
        assert_eq!(written["batches"][1]["row_hash"], "bigint");
        assert_eq!(written["batches"][2]["row_hash"], "typed");
        assert!(written["batches"][0].get("row_hash").is_none());
        let read: Ledger = serde_json::from_value(written).unwrap();
        assert_eq!(read, ledger);
    }
}
