//! The object store on a folder, with S3's conditional-write semantics
//! (`If-None-Match: *` and `If-Match: <etag>`), safe across processes.

use async_trait::async_trait;
use bytes::Bytes;
use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tidemark_core::error::StoreError;
use tidemark_core::ports::{Condition, ObjectInfo, ObjectStore, PartWriter};

/// How long a writer waits for another process's per-key lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// A store rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<FsStore> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(FsStore {
            root: fs::canonicalize(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        if key.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(StoreError::Io {
                key: key.into(),
                message: "keys are relative paths without . or ..".into(),
            });
        }
        Ok(self.root.join(rel))
    }
}

fn io(key: &str, e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::NotFound {
            key: key.to_string(),
        }
    } else {
        StoreError::Io {
            key: key.to_string(),
            message: e.to_string(),
        }
    }
}

/// Size and modification time in nanoseconds: changes whenever the file is rewritten.
fn etag_of(meta: &fs::Metadata) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{nanos:x}", meta.len())
}

/// A per-key lock file, held while a conditional write checks and writes.
struct KeyLock(PathBuf);

impl KeyLock {
    fn take(path: &Path, key: &str) -> Result<KeyLock, StoreError> {
        let lock = path.with_file_name(format!(
            ".{}.lock",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object")
        ));
        let start = Instant::now();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(KeyLock(lock)),
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && start.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // The holder died: the lock is older than anyone waits for.
                    let _ = fs::remove_file(&lock);
                }
                Err(e) => return Err(io(key, e)),
            }
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Writes through a temporary file and a rename, so readers never see half a file.
fn write_atomic(path: &Path, key: &str, bytes: &[u8]) -> Result<String, StoreError> {
    let dir = path.parent().ok_or_else(|| StoreError::Io {
        key: key.into(),
        message: "no parent folder".into(),
    })?;
    fs::create_dir_all(dir).map_err(|e| io(key, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object"),
        std::process::id()
    ));
    let mut f = fs::File::create(&tmp).map_err(|e| io(key, e))?;
    write_in_slices(&mut f, bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| io(key, e))?;
    fs::rename(&tmp, path).map_err(|e| io(key, e))?;
    fs::metadata(path)
        .map(|m| etag_of(&m))
        .map_err(|e| io(key, e))
}

/// Writes `bytes` a quarter MiB at a time. A write of a whole 8 MiB part
/// into the page cache could take 15 times as long on a VM that returns
/// free memory to its host (the machine `make bench-peers` runs on; 2M-key
/// snapshot: validation 5.5 -> 4.2 s over five days), and costs nothing
/// elsewhere but a few more calls.
fn write_in_slices(file: &mut fs::File, bytes: &[u8]) -> std::io::Result<()> {
    bytes
        .chunks(256 << 10)
        .try_for_each(|slice| file.write_all(slice))
}

/// A write in parts: a hidden temporary file beside the target, renamed into
/// place on finish (so readers never see half a file), removed on abort or drop.
struct FsParts {
    key: String,
    path: PathBuf,
    tmp: PathBuf,
    file: Option<fs::File>,
}

#[async_trait]
impl PartWriter for FsParts {
    async fn write_part(&mut self, part: Bytes) -> Result<(), StoreError> {
        let file = self.file.as_mut().ok_or_else(|| StoreError::Io {
            key: self.key.clone(),
            message: "the write was already finished".into(),
        })?;
        write_in_slices(file, &part).map_err(|e| io(&self.key, e))
    }

    async fn finish(mut self: Box<Self>) -> Result<String, StoreError> {
        let file = self.file.take().ok_or_else(|| StoreError::Io {
            key: self.key.clone(),
            message: "the write was already finished".into(),
        })?;
        file.sync_all().map_err(|e| io(&self.key, e))?;
        drop(file);
        fs::rename(&self.tmp, &self.path).map_err(|e| io(&self.key, e))?;
        fs::metadata(&self.path)
            .map(|m| etag_of(&m))
            .map_err(|e| io(&self.key, e))
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StoreError> {
        self.file.take();
        match fs::remove_file(&self.tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.key, e)),
            _ => Ok(()),
        }
    }
}

impl Drop for FsParts {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // locks and temporary files
        }
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&path, root, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(ObjectInfo {
                key,
                size: meta.len(),
                etag: etag_of(&meta),
            });
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let start = if dir.is_empty() {
            self.root.clone()
        } else {
            self.path(dir)?
        };
        let mut out = Vec::new();
        walk(&start, &self.root, &mut out).map_err(|e| io(prefix, e))?;
        out.retain(|o| o.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<(Bytes, String), StoreError> {
        let path = self.path(key)?;
        let bytes = fs::read(&path).map_err(|e| io(key, e))?;
        let meta = fs::metadata(&path).map_err(|e| io(key, e))?;
        Ok((Bytes::from(bytes), etag_of(&meta)))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let file = fs::File::open(self.path(key)?).map_err(|e| io(key, e))?;
        tidemark_core::dms::read_range(file, range)
            .map(Bytes::from)
            .map_err(|e| io(key, e))
    }

    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| io(key, e))?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{}.{}.{}.part",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object"),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = fs::File::create(&tmp).map_err(|e| io(key, e))?;
        Ok(Box::new(FsParts {
            key: key.to_string(),
            path,
            tmp,
            file: Some(file),
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError> {
        let path = self.path(key)?;
        let Some(condition) = condition else {
            return write_atomic(&path, key, &bytes);
        };
        fs::create_dir_all(path.parent().unwrap_or(&self.root)).map_err(|e| io(key, e))?;
        let _lock = KeyLock::take(&path, key)?;
        let current = match fs::metadata(&path) {
            Ok(m) => Some(etag_of(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(key, e)),
        };
        match (&condition, current) {
            (Condition::Absent, Some(_)) => {
                return Err(StoreError::PreconditionFailed {
                    key: key.into(),
                    reason: "the object already exists".into(),
                });
            }
            (Condition::Matches(want), Some(have)) if *want != have => {
                return Err(StoreError::PreconditionFailed {
                    key: key.into(),
                    reason: "the object changed since it was read".into(),
                });
            }
            (Condition::Matches(_), None) => {
                return Err(StoreError::PreconditionFailed {
                    key: key.into(),
                    reason: "the object no longer exists".into(),
                });
            }
            _ => {}
        }
        write_atomic(&path, key, &bytes)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let bytes = fs::read(self.path(from)?).map_err(|e| io(from, e))?;
        write_atomic(&self.path(to)?, to, &bytes).map(|_| ())
    }

    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let _lock = KeyLock::take(&path, key)?;
        let meta = fs::metadata(&path).map_err(|e| io(key, e))?;
        if etag_of(&meta) != etag {
            return Err(StoreError::PreconditionFailed {
                key: key.into(),
                reason: "the object changed since it was read".into(),
            });
        }
        fs::remove_file(&path).map_err(|e| io(key, e))
    }

    fn uri(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn meets_the_object_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(FsStore::new(dir.path()).unwrap());
        tidemark_core::store_contract::check(store).await;
    }

    #[tokio::test]
    async fn unfinished_parts_and_temporaries_leave_no_visible_trace() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path()).unwrap();
        let mut parts = store.put_parts("v/b1/f.parquet").await.unwrap();
        parts.write_part(Bytes::from("abc")).await.unwrap();
        parts.finish().await.unwrap();
        let dropped = store.put_parts("v/b1/h.parquet").await.unwrap();
        drop(dropped);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("v/b1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(left, ["f.parquet"]);
        std::fs::write(dir.path().join("v/b1/.tmp"), "x").unwrap();
        assert_eq!(store.list("v/").await.unwrap().len(), 1);
        assert!(store.path("../x").is_err());
    }
}
