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

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
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
        })
    }

    /// Adds the keys of one batch (rows with a null key part are skipped).
    pub(crate) fn observe(&mut self, keys: &[ArrayRef]) -> Result<(), ArrowError> {
        let rows = self.converter.convert_columns(keys)?;
        // Hashes first, then the filter: its blocks are random cache lines
        // of a large table, so each is loaded a few keys ahead of its update
        // and the memory waits overlap instead of following one another.
        let mut hashes: Vec<(u64, usize)> = Vec::with_capacity(rows.num_rows());
        for i in 0..rows.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            let h = xxh3_128(rows.row(i).as_ref());
            hashes.push((h as u64, ((h >> 64) as u64 & self.mask) as usize));
        }
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
                if self.candidates.len() < MAX_CANDIDATES {
                    self.candidates.insert(h1);
                } else {
                    self.overflowed = true;
                }
            }
        }
        // The early loads are only wanted for their effect on the cache.
        std::hint::black_box(ahead);
        Ok(())
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
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn duplicates(batches: &[Vec<ArrayRef>], types: &[DataType]) -> Vec<(u64, u64)> {
        let mut keys = DuplicateKeys::new(types, 10).unwrap();
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

    #[test]
    fn unique_keys_of_a_large_file_raise_no_candidate() {
        let types = [DataType::Int64];
        let mut keys = DuplicateKeys::new(&types, 1_000_000).unwrap();
        for chunk in 0..100 {
            let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
                (chunk * 10_000)..((chunk + 1) * 10_000),
            ));
            keys.observe(&[ids]).unwrap();
        }
        assert!(!keys.has_candidates());
        assert!(keys.blocks.len() * 64 <= MAX_FILTER_BYTES);
    }

    #[test]
    fn the_filter_never_outgrows_its_bound() {
        let keys = DuplicateKeys::new(&[DataType::Int64], u64::MAX / 2).unwrap();
        assert_eq!(keys.blocks.len() * 64, MAX_FILTER_BYTES);
    }
}
