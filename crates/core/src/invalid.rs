//! The error of a check that a document, a setting or a request fails.

/// A rule that a document, a setting or a request breaks. The message names
/// the field and what is accepted; whoever reads the document wraps it with
/// where it came from (a file, a column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(message: String) -> Invalid {
        Invalid(message)
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Invalid {
        Invalid(message.to_string())
    }
}
