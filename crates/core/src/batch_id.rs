//! A batch's id: a number counted per table over every generation, written
//! `b000042` wherever a person or a file sees it (ledgers, object keys, the
//! `batch_id` column). Ordered as a number everywhere: in Rust by [`Ord`],
//! in SQL through [`BatchId::sql_number`], so the millionth batch sorts after
//! the 999,999th although its written form sorts before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(u64);

/// Text that is not a batch id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a batch id: expected `b` and a number from 1, e.g. b000042")]
pub struct ParseBatchIdError {
    pub text: String,
}

impl BatchId {
    /// The first batch of a table.
    pub const FIRST: BatchId = BatchId(1);

    /// The id numbered `number` (from 1).
    pub fn new(number: u64) -> BatchId {
        BatchId(number)
    }

    pub fn number(self) -> u64 {
        self.0
    }

    /// The id after this one.
    pub fn next(self) -> BatchId {
        BatchId(self.0 + 1)
    }

    /// SQL giving the number of the id in the text column `column` (an
    /// expression), in DuckDB and Athena alike: compare it, never the text.
    pub fn sql_number(column: &str) -> String {
        format!("CAST(substr({column}, 2) AS BIGINT)")
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{:06}", self.0)
    }
}

impl FromStr for BatchId {
    type Err = ParseBatchIdError;

    fn from_str(text: &str) -> Result<BatchId, ParseBatchIdError> {
        text.strip_prefix('b')
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse().ok())
            .filter(|n| *n > 0)
            .map(BatchId)
            .ok_or_else(|| ParseBatchIdError {
                text: text.to_string(),
            })
    }
}

impl Serialize for BatchId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BatchId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BatchId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_as_numbers_and_keep_their_written_form() {
        let before = BatchId::new(999_999);
        let millionth = BatchId::new(1_000_000);
        assert!(before < millionth);
        assert_eq!(before.next(), millionth);
        assert_eq!(BatchId::new(2).to_string(), "b000002");
        assert_eq!(millionth.to_string(), "b1000000");
        // The written forms sort the other way: the reason for the type.
        assert!(millionth.to_string() < before.to_string());
        for id in [BatchId::FIRST, before, millionth, BatchId::new(u64::MAX)] {
            assert_eq!(id.to_string().parse::<BatchId>(), Ok(id));
        }
    }

    #[test]
    fn what_is_not_an_id_is_refused_naming_the_text() {
        for text in ["", "b", "42", "b0", "b-1", "B000001", "b00x1", "b 1"] {
            let error = text.parse::<BatchId>().unwrap_err();
            assert_eq!(error.text, text);
            assert!(error.to_string().contains("b000042"), "{error}");
        }
    }

    #[test]
    fn json_holds_the_written_form() {
        let id = BatchId::new(7);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"b000007\"");
        assert_eq!(serde_json::from_str::<BatchId>("\"b000007\"").unwrap(), id);
        assert_eq!(serde_json::from_str::<BatchId>("\"b7\"").unwrap(), id);
        let error = serde_json::from_str::<BatchId>("\"7\"").unwrap_err();
        assert!(error.to_string().contains("not a batch id"), "{error}");
    }
}
