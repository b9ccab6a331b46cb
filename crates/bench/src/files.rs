//! Local files as the validation's byte source and sink.

use bytes::Bytes;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use tidemark_core::error::StoreError;
use tidemark_core::validate::ByteSink;

/// A file read a range at a time, as the local object store reads a landed file.
pub use tidemark_core::dms::FileSource;

/// Parts appended to a file by a thread of its own, as the pipeline's
/// upload receives them: through a channel that holds one part, so the
/// encoder goes on while the last part is written
/// (`tidemark_core::steps::validate_landed`'s `ChannelSink`).
pub struct FileSink {
    parts: Option<SyncSender<Bytes>>,
    writer: Option<JoinHandle<Result<u64, String>>>,
}

impl FileSink {
    /// Writes over the file in place (its pages in the page cache stay
    /// there) and cuts it to what was written when closed.
    pub fn create(path: &Path) -> std::io::Result<FileSink> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let (parts, received) = sync_channel::<Bytes>(1);
        let writer = std::thread::spawn(move || {
            let mut written = 0;
            for part in received {
                file.write_all(&part).map_err(|e| e.to_string())?;
                written += part.len() as u64;
            }
            file.set_len(written).map_err(|e| e.to_string())?;
            Ok(written)
        });
        Ok(FileSink {
            parts: Some(parts),
            writer: Some(writer),
        })
    }

    /// Waits for every part to be written; returns the file's size.
    pub fn close(mut self) -> Result<u64, StoreError> {
        self.finish()
    }

    /// Ends the channel and waits for the writing thread.
    fn finish(&mut self) -> Result<u64, StoreError> {
        self.parts.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result.map_err(sink_error),
            _ => Err(sink_error("the writing thread stopped".into())),
        }
    }
}

impl ByteSink for FileSink {
    fn write(&mut self, part: Bytes) -> Result<(), StoreError> {
        match &self.parts {
            Some(parts) if parts.send(part).is_ok() => Ok(()),
            // The writing thread stopped: `close` says why.
            _ => Err(sink_error("the file cannot be written".into())),
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn sink_error(message: String) -> StoreError {
    StoreError::Io {
        key: "sink".into(),
        message,
    }
}
