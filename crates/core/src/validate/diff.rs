//! What a snapshot extract changes against the extract before it, found
//! while the extract is validated: its rows whose key is new or whose row
//! hash differs, and the keys it lacks. Where the history's current rows
//! are still that earlier extract's, these are what the merge's join of the
//! whole extract with the current rows finds, so the merge reads them
//! instead (docs/merge.md, "Snapshot tables"). Tables with one integer key
//! and `row_hash` as a `bigint` only.

use crate::metadata::{RowHashFormat, TableMetadata};
use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

/// The keys and row hashes of the extract before (the base).
pub struct SnapshotBase {
    key: String,
    slots: Slots,
    /// Each slot's row hash.
    hashes: Vec<i64>,
    digest: CurrentDigest,
}

impl std::fmt::Debug for SnapshotBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotBase")
            .field("key", &self.key)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// The rows the history's current rows must hold for a diff against a base
/// to stand for the join: their number, and the sum and the exclusive or of
/// their row hashes ([`crate::scd2::MergePlan::current_digest`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CurrentDigest {
    pub rows: u64,
    /// Written as text: JSON numbers lose digits past 2^53.
    #[serde(with = "i128_text")]
    pub hash_sum: i128,
    #[serde(with = "i128_text")]
    pub hash_xor: i128,
}

impl CurrentDigest {
    /// The digest [`crate::scd2::MergePlan::current_digest`] returns.
    pub fn of_listing(result: &crate::ports::QueryResult) -> Option<CurrentDigest> {
        let number = |column: &str| result.text(column)?.parse::<i128>().ok();
        Some(CurrentDigest {
            rows: number("rows")?.try_into().ok()?,
            hash_sum: number("hash_sum")?,
            hash_xor: number("hash_xor")?,
        })
    }
}

mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where a key's row hash is kept.
#[derive(Debug)]
enum Slots {
    /// Keys in a range at most about twice their number (most integer keys):
    /// a key's slot is its distance from the smallest.
    Dense { min: i64, present: Bits },
    /// Other keys: a map, and each slot's key.
    Sparse {
        of: HashMap<i64, u32, BuildHasherDefault<KeyHasher>>,
        keys: Vec<i64>,
    },
}

/// A hasher for integer keys: the finaliser of splitmix64. The keys are a
/// table's own, not an attacker's, and SipHash took most of the time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = n as u64;
    }
}

/// The one key column of a table a diff can be found for, if it has one.
pub fn diff_key(meta: &TableMetadata, row_hash: RowHashFormat) -> Option<&str> {
    let [key] = meta.primary_key.as_slice() else {
        return None;
    };
    let column = meta.columns.iter().find(|c| &c.name == key)?;
    (column.column_type.is_integer() && row_hash.is_bigint()).then_some(key.as_str())
}

/// A batch's key and row hash columns as 64-bit integers; `None` where a
/// key does not fit or is null, or the columns are missing.
fn keys_and_hashes(batch: &RecordBatch, key: &str) -> Option<(Int64Array, Int64Array)> {
    let keys = cast(batch.column_by_name(key)?, &DataType::Int64).ok()?;
    let hashes = batch.column_by_name("row_hash")?;
    if keys.null_count() > 0 || hashes.data_type() != &DataType::Int64 {
        return None;
    }
    Some((
        keys.as_primitive::<Int64Type>().clone(),
        hashes.as_primitive::<Int64Type>().clone(),
    ))
}

impl SnapshotBase {
    /// The base from the normalised rows of the extract before (only
    /// their key and `row_hash` columns are read). `None` when a key is
    /// repeated, null or not an integer of 64 bits.
    pub fn from_batches(
        meta: &TableMetadata,
        row_hash: RowHashFormat,
        batches: &[RecordBatch],
    ) -> Option<SnapshotBase> {
        let key = diff_key(meta, row_hash)?.to_string();
        let columns: Vec<(Int64Array, Int64Array)> = batches
            .iter()
            .map(|b| keys_and_hashes(b, &key))
            .collect::<Option<_>>()?;
        let pairs = || {
            columns
                .iter()
                .flat_map(|(k, h)| k.values().iter().copied().zip(h.values().iter().copied()))
        };
        let (mut rows, mut hash_sum, mut hash_xor) = (0u64, 0i128, 0i64);
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for (k, h) in pairs() {
            rows += 1;
            hash_sum += i128::from(h);
            hash_xor ^= h;
            (min, max) = (min.min(k), max.max(k));
        }
        let digest = CurrentDigest {
            rows,
            hash_sum,
            hash_xor: i128::from(hash_xor),
        };
        let span = (i128::from(max) - i128::from(min) + 1).max(0) as u128;
        let (slots, hashes) = if span <= 2 * u128::from(rows) + 1024 {
            let mut present = Bits::new(span as usize);
            let mut hashes = vec![0; span as usize];
            for (k, h) in pairs() {
                let slot = (k - min) as usize;
                if present.set(slot) {
                    return None;
                }
                hashes[slot] = h;
            }
            (Slots::Dense { min, present }, hashes)
        } else {
            let mut of = HashMap::with_capacity_and_hasher(rows as usize, Default::default());
            let mut keys = Vec::with_capacity(rows as usize);
            let mut hashes = Vec::with_capacity(rows as usize);
            for (k, h) in pairs() {
                if of.insert(k, keys.len() as u32).is_some() {
                    return None;
                }
                keys.push(k);
                hashes.push(h);
            }
            (Slots::Sparse { of, keys }, hashes)
        };
        Some(SnapshotBase {
            key,
            slots,
            hashes,
            digest,
        })
    }

    /// The base from the extract's normalised files, reading their key and
    /// `row_hash` columns only. `None` as [`Self::from_batches`], or when a
    /// file cannot be read.
    pub fn from_parquet(
        meta: &TableMetadata,
        row_hash: RowHashFormat,
        files: Vec<bytes::Bytes>,
    ) -> Option<SnapshotBase> {
        use parquet::arrow::ProjectionMask;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let key = diff_key(meta, row_hash)?;
        let mut batches = Vec::new();
        for file in files {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
            let schema = builder.parquet_schema();
            let wanted: Vec<usize> = (0..schema.num_columns())
                .filter(|&i| [key, "row_hash"].contains(&schema.column(i).name()))
                .collect();
            let mask = ProjectionMask::leaves(schema, wanted);
            let reader = builder
                .with_projection(mask)
                .with_batch_size(64 * 1024)
                .build()
                .ok()?;
            for batch in reader {
                batches.push(batch.ok()?);
            }
        }
        Self::from_batches(meta, row_hash, &batches)
    }

    fn slot(&self, key: i64) -> Option<usize> {
        match &self.slots {
            Slots::Dense { min, present } => {
                let slot = usize::try_from(key.checked_sub(*min)?).ok()?;
                present.get(slot).then_some(slot)
            }
            Slots::Sparse { of, .. } => of.get(&key).map(|&s| s as usize),
        }
    }

    /// The keys of the slots `seen` leaves out, in order.
    fn unseen(&self, seen: &Bits) -> Vec<i64> {
        match &self.slots {
            Slots::Dense { min, present } => (0..self.hashes.len())
                .filter(|&s| present.get(s) && !seen.get(s))
                .map(|s| min + s as i64)
                .collect(),
            Slots::Sparse { keys, .. } => {
                let mut unseen: Vec<i64> = (0..keys.len())
                    .filter(|&s| !seen.get(s))
                    .map(|s| keys[s])
                    .collect();
                unseen.sort_unstable();
                unseen
            }
        }
    }
}

/// A set of slots, a bit each.
#[derive(Debug)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    /// Sets bit `i`; whether it was set already.
    fn set(&mut self, i: usize) -> bool {
        let (word, bit) = (&mut self.0[i / 64], 1 << (i % 64));
        let was = *word & bit != 0;
        *word |= bit;
        was
    }
}

/// The base while it is read, beside the check of the extract: the
/// comparison waits for it at the extract's first batch. Always given a
/// value, `None` if the base could not be read ([`PendingBase::setter`]).
#[derive(Debug, Clone, Default)]
pub struct PendingBase(Arc<OnceLock<Option<SnapshotBase>>>);

/// Gives a [`PendingBase`] its value; dropped without one (a failure, a
/// panic), it gives `None`, so the comparison never waits for ever.
pub struct BaseSetter(PendingBase);

impl BaseSetter {
    pub fn set(self, base: Option<SnapshotBase>) {
        let _ = (self.0).0.set(base);
    }
}

impl Drop for BaseSetter {
    fn drop(&mut self) {
        let _ = (self.0).0.set(None);
    }
}

impl PendingBase {
    pub fn setter(&self) -> BaseSetter {
        BaseSetter(self.clone())
    }
    fn wait(&self) -> Option<&SnapshotBase> {
        self.0.wait().as_ref()
    }
}

/// Finds a diff one normalised batch at a time.
#[derive(Debug)]
pub struct SnapshotDiffer {
    base: PendingBase,
    /// The base's slots of the keys seen so far (from the first batch).
    seen: Option<Bits>,
    changed: Vec<RecordBatch>,
    /// No base, or a key the diff cannot stand for (null, too large,
    /// repeated).
    failed: bool,
}

/// An extract's rows whose key is new or whose row hash differs from the
/// base's, and the base's keys it lacks.
#[derive(Debug, Clone)]
pub struct SnapshotDiff {
    /// The key column.
    pub key: String,
    pub changed: Vec<RecordBatch>,
    pub gone: Vec<i64>,
    /// What the current rows must hold for the diff to apply.
    pub base: CurrentDigest,
}

impl SnapshotDiffer {
    pub fn new(base: PendingBase) -> SnapshotDiffer {
        SnapshotDiffer {
            base,
            seen: None,
            changed: Vec::new(),
            failed: false,
        }
    }

    pub fn add(&mut self, batch: &RecordBatch) {
        if self.failed {
            return;
        }
        let Some(base) = self.base.wait() else {
            self.failed = true;
            return;
        };
        let seen = self
            .seen
            .get_or_insert_with(|| Bits::new(base.hashes.len()));
        let Some((keys, hashes)) = keys_and_hashes(batch, &base.key) else {
            self.failed = true;
            return;
        };
        let mut rows = Vec::new();
        for (i, (&k, &h)) in keys.values().iter().zip(hashes.values()).enumerate() {
            match base.slot(k) {
                Some(slot) => {
                    if seen.set(slot) {
                        self.failed = true;
                        return;
                    }
                    if base.hashes[slot] != h {
                        rows.push(i as u32);
                    }
                }
                None => rows.push(i as u32),
            }
        }
        if rows.is_empty() {
            return;
        }
        match take_record_batch(batch, &UInt32Array::from(rows)) {
            Ok(changed) => self.changed.push(changed),
            Err(_) => self.failed = true,
        }
    }

    /// The diff, unless a key kept it from standing for the join.
    pub fn finish(self) -> Option<SnapshotDiff> {
        let base = self.base.wait().filter(|_| !self.failed)?;
        let seen = self.seen.unwrap_or_else(|| Bits::new(base.hashes.len()));
        Some(SnapshotDiff {
            key: base.key.clone(),
            gone: base.unseen(&seen),
            changed: self.changed,
            base: base.digest,
        })
    }
}

impl SnapshotDiff {
    /// The changed rows and the missing keys (typed as the key in `schema`,
    /// the normalised rows'), each as a Parquet file. Plain and
    /// uncompressed: read once, by the merge, then removed (131,000 rows of
    /// a 2M-key day: 76 ms to write with dictionaries and snappy, 22 ms so).
    pub fn encode(&self, schema: &SchemaRef) -> Result<[Vec<u8>; 2], ParquetError> {
        let key = self.key.as_str();
        let field = schema.field_with_name(key)?;
        let gone: ArrayRef = Arc::new(Int64Array::from(self.gone.clone()));
        let gone = cast(&gone, field.data_type())?;
        let gone_schema = Arc::new(Schema::new(vec![Field::new(
            key,
            field.data_type().clone(),
            false,
        )]));
        let gone = RecordBatch::try_new(gone_schema.clone(), vec![gone])?;
        let props = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .build();
        let write = |schema: &SchemaRef, batches: &[RecordBatch]| {
            let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props.clone()))?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.into_inner()
        };
        Ok([write(schema, &self.changed)?, write(&gone_schema, &[gone])?])
    }

    /// Rows changed.
    pub fn changed_rows(&self) -> u64 {
        self.changed.iter().map(|b| b.num_rows() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> TableMetadata {
        TableMetadata::from_json(
            "t.json",
            r#"{"name":"t","primary_key":["id"],"columns":[
                {"name":"id","type":"int32","nullable":false},
                {"name":"v","type":"string"}]}"#,
        )
        .unwrap()
    }

    fn batch(rows: &[(i32, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("row_hash", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow::array::Int32Array::from_iter_values(
                    rows.iter().map(|r| r.0),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    fn diff(base: &[(i32, i64)], extract: &[&[(i32, i64)]]) -> Option<(Vec<i32>, Vec<i64>)> {
        let base = SnapshotBase::from_batches(&meta(), RowHashFormat::default(), &[batch(base)])?;
        let pending = PendingBase::default();
        pending.setter().set(Some(base));
        let mut differ = SnapshotDiffer::new(pending);
        for rows in extract {
            differ.add(&batch(rows));
        }
        let diff = differ.finish()?;
        let changed = diff
            .changed
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int32Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        Some((changed, diff.gone))
    }

    #[test]
    fn changed_new_and_missing_keys_are_found_dense_or_sparse() {
        let base = [(1, 10), (2, 20), (3, 30), (5, 50)];
        let extract: &[&[(i32, i64)]] = &[&[(3, 31), (1, 10)], &[(4, 40), (2, 20)]];
        assert_eq!(diff(&base, extract), Some((vec![3, 4], vec![5])));
        // Keys far apart take the map.
        let base = [(1, 10), (1 << 30, 20), (-(1 << 30), 30)];
        let extract: &[&[(i32, i64)]] = &[&[(1 << 30, 21), (7, 70)]];
        assert_eq!(
            diff(&base, extract),
            Some((vec![1 << 30, 7], vec![-(1 << 30), 1]))
        );
    }

    #[test]
    fn a_repeated_key_gives_no_diff() {
        assert_eq!(diff(&[(1, 1), (1, 2)], &[&[(1, 1)]]), None);
        assert_eq!(diff(&[(1, 1)], &[&[(1, 1)], &[(1, 1)]]), None);
    }

    #[test]
    fn the_digest_is_the_count_and_sum_of_row_hashes() {
        let base = SnapshotBase::from_batches(
            &meta(),
            RowHashFormat::default(),
            &[batch(&[(1, i64::MAX), (2, i64::MAX)])],
        )
        .unwrap();
        assert_eq!(
            base.digest,
            CurrentDigest {
                rows: 2,
                hash_sum: 2 * i128::from(i64::MAX),
                hash_xor: 0,
            }
        );
        let json = serde_json::to_string(&base.digest).unwrap();
        assert_eq!(
            serde_json::from_str::<CurrentDigest>(&json).unwrap(),
            base.digest
        );
    }
}
