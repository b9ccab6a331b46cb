//! Local files as the validation's byte source and sink.

use bytes::Bytes;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use tidemark_core::dms::ByteSource;
use tidemark_core::error::StoreError;
use tidemark_core::validate::ByteSink;

/// A file read a range at a time (`pread`).
pub struct FileSource {
    file: File,
    len: u64,
    name: String,
}

impl FileSource {
    pub fn open(path: &Path) -> std::io::Result<FileSource> {
        let file = File::open(path)?;
        Ok(FileSource {
            len: file.metadata()?.len(),
            file,
            name: path.display().to_string(),
        })
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let mut buf = vec![0; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| StoreError::Io {
                key: self.name.clone(),
                message: e.to_string(),
            })?;
        Ok(Bytes::from(buf))
    }
}

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
