//! Local files as the validation's byte source and sink.

use bytes::Bytes;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use tidemark_core::error::StoreError;
use tidemark_core::validate::ByteSink;

/// A file read a range at a time, as the local object store reads a landed file.
pub use tidemark_core::dms::FileSource;

/// Parts appended to a file, as an upload would receive them.
pub struct FileSink {
    file: File,
    pub written: u64,
}

impl FileSink {
    pub fn create(path: &Path) -> std::io::Result<FileSink> {
        Ok(FileSink {
            file: File::create(path)?,
            written: 0,
        })
    }
}

impl ByteSink for FileSink {
    fn write(&mut self, part: Bytes) -> Result<(), StoreError> {
        self.written += part.len() as u64;
        self.file.write_all(&part).map_err(|e| StoreError::Io {
            key: "sink".into(),
            message: e.to_string(),
        })
    }
}
