//! Duplicate primary keys within a full-load file, in bounded memory.
//!
//! First pass: every key goes through a blocked Bloom filter (one cache line
//! a key) of fixed maximum size;
//! a key the filter may have seen before becomes a *candidate* (a 64-bit
//! hash). Second pass, only if there are candidates: the file is read again
//! (key columns only) and candidate keys are compared exactly, so a finding
//! is never a false positive and names the row the key first appeared in.
//! Memory: the filter (at most [`MAX_FILTER_BYTES`]) plus the candidates,
//! i.e. the duplicates themselves and a few false alarms.
//!
//! A single integer key that grows through the file (a table extracted in
//! key order, with gaps where rows were deleted) skips the filter: keys
//! larger than all before them are kept as runs of consecutive values (at
//! most [`MAX_RUNS`]), which answer exactly whether a later, smaller key
//! was seen. Only the keys that neither grow nor fall in a run meet the
//! filter.

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type,
};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use std::collections::{HashMap, HashSet};
use xxhash_rust::xxh3::xxh3_128;

/// The Bloom filter's largest size.
pub const MAX_FILTER_BYTES: usize = 64 << 20;
/// Filter bits per expected row: a few false alarms per ten million keys,
/// each costing a look at the key columns in the second pass.
const BITS_PER_ROW: u64 = 48;
/// Candidates remembered at most; beyond, duplicate counts are a lower bound.
pub const MAX_CANDIDATES: usize = 1 << 22;

/// Runs of consecutive ascending keys remembered at most (16 bytes each);
/// beyond, ascending keys go through the filter too.
pub const MAX_RUNS: usize = 1 << 20;

/// How many keys ahead a filter block is loaded (see [`DuplicateKeys::observe`]).
const LOAD_AHEAD: usize = 12;

pub(crate) struct DuplicateKeys {
    converter: RowConverter,
    /// 512-bit blocks: a key sets one bit in each of its block's eight words.
    blocks: Vec<[u64; 8]>,
    mask: u64,
    candidates: HashSet<u64>,
    /// Some candidates were not remembered ([`MAX_CANDIDATES`]).
    pub(crate) overflowed: bool,
    /// For a single integer key: the ascending runs.
    runs: Option<Runs>,
}

/// The keys of a single integer key column that were larger than every key
/// before them, as inclusive runs of consecutive values in ascending order,
/// and the largest key seen (through the filter or not).
struct Runs {
    runs: Vec<(i64, i64)>,
    max: Option<i64>,
    /// At most this many runs ([`MAX_RUNS`]).
    limit: usize,
}

/// Where a key goes (see [`Runs::place`]).
enum Place {
    /// New, and remembered by the runs.
    Kept,
    /// In a run: seen before.
    Repeated,
    /// Not known to the runs: the filter decides.
    Filter,
}

impl Runs {
    fn new(limit: usize) -> Runs {
        Runs {
            runs: Vec::new(),
            max: None,
            limit,
        }
    }

    /// Whether the runs can hold keys of this type (as `i64`): every
    /// integer but `UInt64`.
    fn holds(t: &DataType) -> bool {
        t.is_integer() && *t != DataType::UInt64
    }

    /// Places the keys of `rows` (present ones) of an array of a type the
    /// runs hold: the rows for the filter, and those that repeat a run.
    fn place_all(
        &mut self,
        keys: &ArrayRef,
        rows: impl Iterator<Item = usize>,
    ) -> (Vec<usize>, Vec<usize>) {
        fn place<T: ArrowPrimitiveType>(
            runs: &mut Runs,
            keys: &ArrayRef,
            rows: impl Iterator<Item = usize>,
        ) -> (Vec<usize>, Vec<usize>)
        where
            i64: From<T::Native>,
        {
            let values = keys.as_primitive::<T>().values();
            let (mut filtered, mut repeated) = (Vec::new(), Vec::new());
            for i in rows {
                match runs.place(i64::from(values[i])) {
                    Place::Kept => {}
                    Place::Repeated => repeated.push(i),
                    Place::Filter => filtered.push(i),
                }
            }
            (filtered, repeated)
        }
        match keys.data_type() {
            DataType::Int8 => place::<Int8Type>(self, keys, rows),
            DataType::Int16 => place::<Int16Type>(self, keys, rows),
            DataType::Int32 => place::<Int32Type>(self, keys, rows),
            DataType::Int64 => place::<Int64Type>(self, keys, rows),
            DataType::UInt8 => place::<UInt8Type>(self, keys, rows),
            DataType::UInt16 => place::<UInt16Type>(self, keys, rows),
            DataType::UInt32 => place::<UInt32Type>(self, keys, rows),
            _ => (rows.collect(), Vec::new()),
        }
    }

    fn place(&mut self, key: i64) -> Place {
        if self.max.is_none_or(|max| key > max) {
            // Larger than every key seen: new.
            self.max = Some(key);
            let room = self.runs.len() < self.limit;
            return match self.runs.last_mut() {
                Some(last) if last.1 + 1 == key => {
                    last.1 = key;
                    Place::Kept
                }
                _ if room => {
                    self.runs.push((key, key));
                    Place::Kept
                }
                _ => Place::Filter,
            };
        }
        let after = self.runs.partition_point(|&(lo, _)| lo <= key);
        match after.checked_sub(1) {
            Some(at) if key <= self.runs[at].1 => Place::Repeated,
            _ => Place::Filter,
        }
    }
}

impl DuplicateKeys {
    /// A filter sized for `expected_rows` (an upper estimate is fine).
    pub(crate) fn new(key_types: &[DataType], expected_rows: u64) -> Result<Self, ArrowError> {
        let wanted = expected_rows.saturating_mul(BITS_PER_ROW).max(1 << 16);
        let bits = wanted
            .checked_next_power_of_two()
            .unwrap_or(u64::MAX)
            .min(MAX_FILTER_BYTES as u64 * 8);
        let blocks = bits / 512;
        Ok(DuplicateKeys {
            converter: converter(key_types)?,
            blocks: vec![[0; 8]; blocks as usize],
            mask: blocks - 1,
            candidates: HashSet::new(),
            overflowed: false,
            runs: matches!(key_types, [t] if Runs::holds(t)).then(|| Runs::new(MAX_RUNS)),
        })
    }

    /// Adds the keys of one batch (rows with a null key part are skipped).
    pub(crate) fn observe(&mut self, keys: &[ArrayRef]) -> Result<(), ArrowError> {
        let n = keys.first().map_or(0, |k| k.len());
        let present = |i: &usize| !keys.iter().any(|k| k.is_null(*i));
        // The rows the filter decides on, and those the runs know repeat.
        let (filtered, repeated) = match self.runs.as_mut() {
            Some(runs) => runs.place_all(&keys[0], (0..n).filter(present)),
            None => ((0..n).filter(present).collect(), Vec::new()),
        };
        if filtered.is_empty() && repeated.is_empty() {
            return Ok(());
        }
        let rows = self.converter.convert_columns(keys)?;
        let hash = |i: usize| xxh3_128(rows.row(i).as_ref());
        for i in repeated {
            self.candidate(hash(i) as u64);
        }
        // Hashes first, then the filter: its blocks are random cache lines
        // of a large table, so each is loaded a few keys ahead of its update
        // and the memory waits overlap instead of following one another.
        let hashes: Vec<(u64, usize)> = filtered
            .into_iter()
            .map(|i| {
                let h = hash(i);
                (h as u64, ((h >> 64) as u64 & self.mask) as usize)
            })
            .collect();
        let mut ahead = 0u64;
        for (j, &(h1, at)) in hashes.iter().enumerate() {
            if let Some(&(_, next)) = hashes.get(j + LOAD_AHEAD) {
                ahead ^= prefetch(&self.blocks[next]);
            }
            let block = &mut self.blocks[at];
            let mut seen = true;
            for (w, word) in block.iter_mut().enumerate() {
                let bit = 1u64 << ((h1 >> (6 * w)) & 63);
                seen &= *word & bit != 0;
                *word |= bit;
            }
            if seen {
                self.candidate(h1);
            }
        }
        // The early loads are only wanted for their effect on the cache.
        std::hint::black_box(ahead);
        Ok(())
    }

    fn candidate(&mut self, hash: u64) {
        if self.candidates.len() < MAX_CANDIDATES {
            self.candidates.insert(hash);
        } else {
            self.overflowed = true;
        }
    }

    /// Whether a second pass is needed.
    pub(crate) fn has_candidates(&self) -> bool {
        !self.candidates.is_empty()
    }

    /// Starts the second pass; frees the filter.
    pub(crate) fn confirm(mut self) -> Confirm {
        self.blocks = Vec::new();
        Confirm {
            converter: self.converter,
            candidates: self.candidates,
            first_rows: HashMap::new(),
        }
    }
}

/// The second pass: exact comparison of candidate keys.
pub(crate) struct Confirm {
    converter: RowConverter,
    candidates: HashSet<u64>,
    /// Candidate key bytes → the row it first appeared in.
    first_rows: HashMap<Vec<u8>, u64>,
}

impl Confirm {
    /// Calls `duplicate(i, first_row)` for each row of the batch whose key
    /// appeared earlier in the file; `first_row` numbers the batch's row 0.
    pub(crate) fn observe(
        &mut self,
        keys: &[ArrayRef],
        first_row: u64,
        mut duplicate: impl FnMut(usize, u64),
    ) -> Result<(), ArrowError> {
        let rows = self.converter.convert_columns(keys)?;
        for i in 0..rows.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            let bytes = rows.row(i);
            if !self.candidates.contains(&(xxh3_128(bytes.as_ref()) as u64)) {
                continue;
            }
            let row = first_row + i as u64;
            match self.first_rows.get(bytes.as_ref()) {
                Some(&first) => duplicate(i, first),
                None => {
                    self.first_rows.insert(bytes.as_ref().to_vec(), row);
                }
            }
        }
        Ok(())
    }
}

/// Starts loading `block` into the cache without waiting for it. Where the
/// processor has no prefetch instruction, reads a word of it: the read is
/// not waited for until its value is, and it never is.
#[inline(always)]
fn prefetch(block: &[u64; 8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint that never faults and changes no
        // memory; the pointer is to a live block anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().cast()) };
        0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block[0]
    }
}

fn converter(key_types: &[DataType]) -> Result<RowConverter, ArrowError> {
    RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn duplicates(batches: &[Vec<ArrayRef>], types: &[DataType]) -> Vec<(u64, u64)> {
        found(DuplicateKeys::new(types, 10).unwrap(), batches)
    }

    /// The duplicates `keys` finds in `batches`: (row, the row of its key's
    /// first occurrence), rows numbered from 1.
    fn found(mut keys: DuplicateKeys, batches: &[Vec<ArrayRef>]) -> Vec<(u64, u64)> {
        for b in batches {
            keys.observe(b).unwrap();
        }
        if !keys.has_candidates() {
            return Vec::new();
        }
        let mut confirm = keys.confirm();
        let mut found = Vec::new();
        let mut first_row = 1;
        for b in batches {
            confirm
                .observe(b, first_row, |i, first| {
                    found.push((first_row + i as u64, first))
                })
                .unwrap();
            first_row += b[0].len() as u64;
        }
        found
    }

    #[test]
    fn finds_repeats_across_batches_with_composite_keys_and_skips_nulls() {
        let ids = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
        let names = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let types = [DataType::Int64, DataType::Utf8];
        let batches = vec![
            vec![
                ids(vec![Some(1), Some(1), Some(2), None]),
                names(vec![Some("a"), Some("b"), Some("a"), Some("a")]),
            ],
            vec![
                ids(vec![Some(1), Some(3), None, Some(2)]),
                names(vec![Some("b"), Some("a"), Some("a"), Some("a")]),
            ],
        ];
        assert_eq!(duplicates(&batches, &types), [(5, 2), (8, 3)]);
    }

    /// Keys mostly ascending with gaps, with stretches out of order and
    /// repeats, or in no order at all; null keys now and then.
    fn key_batches() -> impl Strategy<Value = Vec<Vec<Option<i32>>>> {
        let ascending = prop::collection::vec((1..4i32, 0..10u8), 0..300).prop_map(|steps| {
            let mut key = -50;
            let mut keys = Vec::new();
            for (step, what) in steps {
                key += step;
                keys.push(match what {
                    0 => None,
                    1 => Some(key - 20),
                    2 => Some(key - step),
                    _ => Some(key),
                });
            }
            keys
        });
        let any = prop::collection::vec(prop::option::weighted(0.95, -40..40i32), 0..200);
        prop_oneof![ascending, any]
            .prop_flat_map(|keys| {
                let n = keys.len();
                (Just(keys), prop::collection::vec(0..=n, 0..4))
            })
            .prop_map(|(keys, mut cuts)| {
                cuts.extend([0, keys.len()]);
                cuts.sort_unstable();
                cuts.windows(2).map(|w| keys[w[0]..w[1]].to_vec()).collect()
            })
    }

    proptest! {
        /// Through the runs (however few it may keep) or the filter, every
        /// repeated key is found once per repeat, with the row it first
        /// appeared in, and nothing else is.
        #[test]
        fn finds_exactly_the_repeats_of_integer_keys(batches in key_batches(), limit in 0..4usize) {
            let mut first = HashMap::new();
            let mut expected = Vec::new();
            for (row, key) in batches.iter().flatten().enumerate() {
                let row = row as u64 + 1;
                if let Some(k) = key {
                    match first.get(k) {
                        Some(&at) => expected.push((row, at)),
                        None => {
                            first.insert(*k, row);
                        }
                    }
                }
            }
            let arrays: Vec<Vec<ArrayRef>> = batches
                .iter()
                .map(|b| vec![Arc::new(Int32Array::from(b.clone())) as ArrayRef])
                .collect();
            let mut keys = DuplicateKeys::new(&[DataType::Int32], 10).unwrap();
            keys.runs = Some(Runs::new([0, 1, 3, MAX_RUNS][limit]));
            prop_assert_eq!(found(keys, &arrays), expected);
        }
    }

    #[test]
    fn keys_in_order_with_gaps_take_a_run_per_gap_and_skip_the_filter() {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..10_000).filter(|k| k % 1000 != 7),
        ));
        let mut keys = DuplicateKeys::new(&[DataType::Int64], 10_000).unwrap();
        keys.observe(&[ids]).unwrap();
        assert_eq!(keys.runs.as_ref().map(|r| r.runs.len()), Some(11));
        assert!(keys.blocks.iter().all(|b| *b == [0; 8]));
        assert!(!keys.has_candidates());
    }

    #[test]
    fn unique_keys_of_a_large_file_raise_no_candidate() {
        let types = [DataType::Int64];
        let mut keys = DuplicateKeys::new(&types, 1_000_000).unwrap();
        for chunk in 0..100 {
            // Distinct (an odd factor is a bijection) and in no order, so
            // that nearly all of them meet the filter.
            let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
                ((chunk * 10_000)..((chunk + 1) * 10_000))
                    .map(|k: i64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)),
            ));
            keys.observe(&[ids]).unwrap();
        }
        assert!(!keys.has_candidates());
        assert!(keys.runs.is_some_and(|r| r.runs.len() < 100));
        assert!(keys.blocks.len() * 64 <= MAX_FILTER_BYTES);
    }

    #[test]
    fn the_filter_never_outgrows_its_bound() {
        let keys = DuplicateKeys::new(&[DataType::Int64], u64::MAX / 2).unwrap();
        assert_eq!(keys.blocks.len() * 64, MAX_FILTER_BYTES);
    }
}
