//! How a table's change sequence orders changes within one timestamp
//! (`[source.control_columns] change_seq_kind`, docs/validation.md).
//!
//! The merge compares `change_seq` as text. Validation therefore writes each
//! value in a form whose text order is the order the kind means: an integer
//! (or a decimal digit string of any width) and a PostgreSQL LSN `X/Y` as
//! the number they name, zero-padded to [`WIDTH`] digits; text as it is
//! (DMS's `AR_H_CHANGE_SEQ` is fixed-width digits already).

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Digits of a normalised integer or LSN: enough for any u128.
pub const WIDTH: usize = 40;

/// What a table's change-sequence values are.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSeqKind {
    /// Decided from the first values a table's history sees, then fixed.
    #[default]
    Auto,
    /// Non-negative whole numbers, of any width: ordered numerically.
    Integer,
    /// PostgreSQL LSNs `X/Y` (hex): ordered as the 64-bit number they name.
    Lsn,
    /// Ordered as text, byte by byte.
    Text,
}

impl ChangeSeqKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSeqKind::Auto => "auto",
            ChangeSeqKind::Integer => "integer",
            ChangeSeqKind::Lsn => "lsn",
            ChangeSeqKind::Text => "text",
        }
    }

    /// The kind `values` (a landed change-seq column) show: an integer
    /// column, or text that is all LSNs, is that; text of decimal digits is
    /// an integer, unless every value has the same width of 20 digits or
    /// more (DMS's `AR_H_CHANGE_SEQ`: text order is already its order);
    /// anything else is text. `None` when there is no value to tell.
    pub fn detect(values: &dyn Array) -> Option<ChangeSeqKind> {
        if values.data_type().is_integer() {
            return (values.len() > values.null_count()).then_some(ChangeSeqKind::Integer);
        }
        let text = match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>(),
            _ => return Some(ChangeSeqKind::Text),
        };
        let present: Vec<&str> = text.iter().flatten().filter(|v| !v.is_empty()).collect();
        let first = present.first()?;
        Some(if present.iter().all(|v| lsn(v).is_some()) {
            ChangeSeqKind::Lsn
        } else if present
            .iter()
            .all(|v| v.bytes().all(|b| b.is_ascii_digit()))
        {
            let fixed = present.iter().all(|v| v.len() == first.len());
            if fixed && first.len() >= 20 {
                ChangeSeqKind::Text
            } else {
                ChangeSeqKind::Integer
            }
        } else {
            ChangeSeqKind::Text
        })
    }

    /// `value` in the form whose text order is this kind's order, or why it
    /// is not a value of this kind. `Auto` is `Text`.
    pub fn normalise(self, value: &str) -> Result<Cow<'_, str>, String> {
        match self {
            ChangeSeqKind::Auto | ChangeSeqKind::Text => Ok(Cow::Borrowed(value)),
            ChangeSeqKind::Integer => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(
                        "not a non-negative whole number (change_seq_kind = integer)".into(),
                    );
                }
                let digits = value.trim_start_matches('0');
                if digits.len() > WIDTH {
                    return Err(format!(
                        "more than {WIDTH} digits (change_seq_kind = integer)"
                    ));
                }
                Ok(Cow::Owned(format!("{digits:0>WIDTH$}")))
            }
            ChangeSeqKind::Lsn => lsn(value)
                .map(|n| Cow::Owned(format!("{n:0WIDTH$}")))
                .ok_or_else(|| {
                    "not a PostgreSQL LSN such as 0/16B3748 (change_seq_kind = lsn)".into()
                }),
        }
    }
}

/// The number a PostgreSQL LSN `X/Y` names (each part 1 to 8 hex digits).
fn lsn(value: &str) -> Option<u64> {
    let (high, low) = value.split_once('/')?;
    let part = |p: &str| {
        (!p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(p, 16).ok())
            .flatten()
    };
    Some(part(high)? << 32 | part(low)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use proptest::prelude::*;

    fn detect(values: &[Option<&str>]) -> Option<ChangeSeqKind> {
        ChangeSeqKind::detect(&StringArray::from(values.to_vec()))
    }

    #[test]
    fn the_kind_is_told_from_the_values() {
        use ChangeSeqKind::*;
        assert_eq!(detect(&[Some("9"), Some("10")]), Some(Integer));
        assert_eq!(detect(&[Some("0/16B3748"), None, Some("1/0")]), Some(Lsn));
        let dms = "00000000000000000000000000000000401";
        assert_eq!(detect(&[Some(dms), Some(dms)]), Some(Text));
        assert_eq!(
            detect(&[Some("0000000000000000000000000000000000401"), Some(dms)]),
            Some(Integer)
        );
        assert_eq!(detect(&[Some("0000000016B3748000000001")]), Some(Text));
        assert_eq!(detect(&[Some("a7"), Some("9")]), Some(Text));
        assert_eq!(detect(&[None, Some("")]), None);
        assert_eq!(
            ChangeSeqKind::detect(&Int64Array::from(vec![3, 10])),
            Some(Integer)
        );
        assert_eq!(
            ChangeSeqKind::detect(&Int64Array::from(vec![None::<i64>])),
            None
        );
    }

    #[test]
    fn values_of_another_kind_are_refused_with_the_rule() {
        use ChangeSeqKind::*;
        assert!(
            Integer
                .normalise("-1")
                .unwrap_err()
                .contains("non-negative whole number")
        );
        assert!(Integer.normalise("1.5").is_err());
        assert!(
            Integer
                .normalise(&"9".repeat(41))
                .unwrap_err()
                .contains("more than 40 digits")
        );
        assert!(
            Lsn.normalise("16B3748")
                .unwrap_err()
                .contains("not a PostgreSQL LSN")
        );
        assert!(Lsn.normalise("0/123456789").is_err());
        assert!(Lsn.normalise("g/1").is_err());
        assert_eq!(Text.normalise("anything").unwrap(), "anything");
        assert_eq!(Integer.normalise("0").unwrap(), "0".repeat(WIDTH));
    }

    proptest! {
        /// Text order of the normalised values is the numeric order, whatever their width.
        #[test]
        fn normalised_integers_and_lsns_sort_as_the_numbers_they_name(a: u64, b: u64, zeros in 0usize..5) {
            let padded = |n: u64| format!("{}{n}", "0".repeat(zeros));
            let int = |n: u64| ChangeSeqKind::Integer.normalise(&padded(n)).unwrap().into_owned();
            prop_assert_eq!(a.cmp(&b), int(a).cmp(&int(b)));
            let as_lsn = |n: u64| format!("{:X}/{:X}", n >> 32, n & 0xFFFF_FFFF);
            let lsn = |n: u64| ChangeSeqKind::Lsn.normalise(&as_lsn(n)).unwrap().into_owned();
            prop_assert_eq!(a.cmp(&b), lsn(a).cmp(&lsn(b)));
            prop_assert_eq!(int(a), lsn(a));
        }
    }
}
