//! Local files as the validation's byte source and sink.

use bytes::Bytes;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tidemark_core::dms::ByteSource;
use tidemark_core::error::StoreError;
use tidemark_core::validate::ByteSink;

/// A file read a range at a time, as the local object store reads a landed
/// file: opened for each range, into a buffer that is not zeroed first.
pub struct FileSource {
    path: PathBuf,
    len: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> std::io::Result<FileSource> {
        Ok(FileSource {
            len: std::fs::metadata(path)?.len(),
            path: path.to_path_buf(),
        })
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() < len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(buf)
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        self.read(offset, len)
            .map(Bytes::from)
            .map_err(|e| StoreError::Io {
                key: self.path.display().to_string(),
                message: e.to_string(),
            })
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
