//! PostgreSQL's text forms, turned into what the DMS S3 target writes.

use super::PgError;
use chrono::NaiveDateTime;

/// A commit (or load) time, in microseconds since the epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Micros(pub i64);

impl Micros {
    /// Parses `2026-11-21 09:47:45.474325+00` (a session in UTC; PostgreSQL
    /// drops trailing zeros of the fraction, and the fraction when it is zero).
    pub(crate) fn parse(text: &str) -> Result<Micros, PgError> {
        let bare = strip_utc(text)
            .ok_or_else(|| PgError::Decode(format!("timestamp {text:?} is not in UTC (+00)")))?;
        let t = NaiveDateTime::parse_from_str(bare, "%Y-%m-%d %H:%M:%S%.f")
            .map_err(|e| PgError::Decode(format!("timestamp {text:?}: {e}")))?;
        Ok(Micros(t.and_utc().timestamp_micros()))
    }

    fn time(self) -> NaiveDateTime {
        chrono::DateTime::from_timestamp_micros(self.0)
            .unwrap_or_default()
            .naive_utc()
    }

    /// DMS's timestamp column: `yyyy-MM-dd HH:mm:ss.SSSSSS`.
    pub(crate) fn dms(self) -> String {
        self.time().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }

    /// A CDC file's name stem: `yyyyMMdd-HHmmssSSS`.
    pub(crate) fn file_stem(self) -> String {
        self.time().format("%Y%m%d-%H%M%S%3f").to_string()
    }
}

fn strip_utc(text: &str) -> Option<&str> {
    text.strip_suffix("+00").or(text.strip_suffix("+00:00"))
}

/// A value's text as the landed file carries it, by the column's PostgreSQL
/// type (`format_type` spelling): booleans as `true`/`false`, timestamps with
/// time zone without their `+00` (the session is in UTC).
pub(crate) fn normalise(pg_type: &str, text: String) -> String {
    if pg_type == "boolean" {
        return match text.as_str() {
            "t" => "true".into(),
            "f" => "false".into(),
            _ => text,
        };
    }
    if pg_type.starts_with("timestamp")
        && pg_type.ends_with("with time zone")
        && let Some(bare) = strip_utc(&text)
    {
        return bare.to_string();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_times_in_dms_form() {
        let t = Micros::parse("2026-11-21 09:47:45.47+00").unwrap();
        assert_eq!(t.dms(), "2026-11-21 09:47:45.470000");
        assert_eq!(t.file_stem(), "20261121-094745470");
        let whole = Micros::parse("2026-11-21 09:47:45+00").unwrap();
        assert_eq!(whole.dms(), "2026-11-21 09:47:45.000000");
        assert!(Micros::parse("2026-11-21 09:47:45+02").is_err());
    }

    #[test]
    fn values() {
        assert_eq!(normalise("boolean", "t".into()), "true");
        assert_eq!(
            normalise(
                "timestamp with time zone",
                "2026-11-21 09:47:45.1+00".into()
            ),
            "2026-11-21 09:47:45.1"
        );
        assert_eq!(
            normalise(
                "timestamp(3) with time zone",
                "2026-11-21 09:47:45+00".into()
            ),
            "2026-11-21 09:47:45"
        );
        assert_eq!(normalise("text", "t".into()), "t");
    }
}
