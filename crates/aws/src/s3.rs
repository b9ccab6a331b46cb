//! The object-store port on S3: paginated listing, ranged and streamed reads,
//! conditional writes (`If-None-Match: *` creates a lease, `If-Match` replaces
//! the ledger only at the version it read), multipart uploads and server-side
//! copies.

use crate::error::{describe, kind};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use std::ops::Range;
use tidemark_core::error::{ErrorKind, Invalid, StoreError};
use tidemark_core::ports::{Condition, ObjectInfo, ObjectStore, PartWriter};

/// A bucket, or a prefix of one: keys of the port are relative to `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ends with `/`.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix/]`.
    pub fn parse(uri: &str) -> Result<S3Location, Invalid> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{uri:?} is not an s3:// URI"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{uri:?} names no bucket").into());
        }
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix,
        })
    }
}

pub struct S3Store {
    client: Client,
    location: S3Location,
}

impl S3Store {
    pub fn new(client: Client, location: S3Location) -> S3Store {
        S3Store { client, location }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.location.prefix)
    }
}

fn io(key: &str, message: String) -> StoreError {
    StoreError::Io {
        key: key.to_string(),
        message,
    }
}

/// Maps an SDK error on `key` by its kind: a missing object, a lost
/// precondition, worth retrying, or refused for good.
fn store_error<E>(key: &str, e: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let key = key.to_string();
    match kind(&e) {
        ErrorKind::NotFound => StoreError::NotFound { key },
        ErrorKind::Concurrency => StoreError::PreconditionFailed {
            key,
            reason: describe(&e),
        },
        ErrorKind::Transient => StoreError::Transient {
            key,
            message: describe(&e),
        },
        ErrorKind::InvalidInput | ErrorKind::Fatal => StoreError::Io {
            key,
            message: describe(&e),
        },
    }
}

fn etag(value: Option<&str>, key: &str) -> Result<String, StoreError> {
    value
        .map(str::to_string)
        .ok_or_else(|| io(key, "S3 returned no ETag".into()))
}

async fn collect(key: &str, body: ByteStream) -> Result<Bytes, StoreError> {
    body.collect()
        .await
        .map(|b| b.into_bytes())
        .map_err(|e| StoreError::Transient {
            key: key.to_string(),
            message: format!("reading the body: {e}"),
        })
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full = self.full_key(prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&full)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(prefix, e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let Some(relative) = key.strip_prefix(&self.location.prefix) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: relative.to_string(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().to_string(),
                });
            }
        }
        // S3 lists in UTF-8 binary order already; the port promises key order.
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<(Bytes, String), StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| store_error(key, e))?;
        let tag = etag(out.e_tag(), key)?;
        Ok((collect(key, out.body).await?, tag))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        if range.start >= range.end {
            return if range.start == range.end {
                Ok(Bytes::new())
            } else {
                Err(io(key, format!("range {range:?} is empty")))
            };
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| store_error(key, e))?;
        let bytes = collect(key, out.body).await?;
        if bytes.len() as u64 != range.end - range.start {
            return Err(io(
                key,
                format!(
                    "range {}..{} is outside the object ({} bytes came back)",
                    range.start,
                    range.end,
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        let full = self.full_key(key);
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.location.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| store_error(key, e))?;
        let upload_id = out
            .upload_id()
            .ok_or_else(|| io(key, "S3 returned no upload id".into()))?
            .to_string();
        Ok(Box::new(Multipart {
            store: self,
            key: key.to_string(),
            full,
            upload_id,
            parts: Vec::new(),
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(bytes));
        request = match condition {
            None => request,
            Some(Condition::Absent) => request.if_none_match("*"),
            Some(Condition::Matches(tag)) => request.if_match(tag),
        };
        let out = request.send().await.map_err(|e| store_error(key, e))?;
        etag(out.e_tag(), key)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let source = format!(
            "{}/{}",
            self.location.bucket,
            percent_encode(&self.full_key(from))
        );
        self.client
            .copy_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(to))
            .copy_source(source)
            .send()
            .await
            .map_err(|e| store_error(from, e))?;
        Ok(())
    }

    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .if_match(etag)
            .send()
            .await
            .map_err(|e| store_error(key, e))?;
        Ok(())
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{}", self.location.bucket, self.full_key(key))
    }
}

/// `x-amz-copy-source` is URL-encoded: keep unreserved characters and `/`.
fn percent_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A multipart upload: nothing is visible under the key until it completes.
struct Multipart<'a> {
    store: &'a S3Store,
    key: String,
    full: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

#[async_trait]
impl PartWriter for Multipart<'_> {
    async fn write_part(&mut self, part: Bytes) -> Result<(), StoreError> {
        let number = self.parts.len() as i32 + 1;
        let out = self
            .store
            .client
            .upload_part()
            .bucket(&self.store.location.bucket)
            .key(&self.full)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| store_error(&self.key, e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<String, StoreError> {
        let this = *self;
        if this.parts.is_empty() {
            // S3 refuses to complete an upload without parts: an empty object is a put.
            this.abort_upload().await?;
            return this.store.put(&this.key, Bytes::new(), None).await;
        }
        let out = this
            .store
            .client
            .complete_multipart_upload()
            .bucket(&this.store.location.bucket)
            .key(&this.full)
            .upload_id(&this.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(this.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| store_error(&this.key, e))?;
        etag(out.e_tag(), &this.key)
    }

    async fn abort(self: Box<Self>) -> Result<(), StoreError> {
        self.abort_upload().await
    }
}

impl Multipart<'_> {
    async fn abort_upload(&self) -> Result<(), StoreError> {
        self.store
            .client
            .abort_multipart_upload()
            .bucket(&self.store.location.bucket)
            .key(&self.full)
            .upload_id(&self.upload_id)
            .send()
            .await
            .map_err(|e| store_error(&self.key, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_and_without_prefix() {
        assert_eq!(
            S3Location::parse("s3://lake").unwrap(),
            S3Location {
                bucket: "lake".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            S3Location::parse("s3://land/dms/app").unwrap().prefix,
            "dms/app/"
        );
        assert!(S3Location::parse("lake/x").is_err());
        assert!(S3Location::parse("s3:///x").is_err());
    }

    #[test]
    fn copy_sources_are_url_encoded() {
        assert_eq!(percent_encode("a b/c+d.parquet"), "a%20b/c%2Bd.parquet");
    }
}
