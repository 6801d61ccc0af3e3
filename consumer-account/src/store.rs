//! Readings storage: BatchWriteItem in chunks of at most 25, unprocessed items retried with
//! backoff. Item keys are deterministic (deviceId, `_readingId`), so writing a batch again
//! overwrites instead of duplicating.
//!
//! Items are already DynamoDB JSON, so the request body is their concatenation: the SDK sends
//! it (signing, retries, errors, the response) without building and serialising attribute
//! maps again.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use futures::StreamExt;
use sensor_shared::aws::classify;
use sensor_shared::failure::FailureKind;
use sensor_shared::item::MAX_BATCH_WRITE;
use thiserror::Error;

use crate::item::{attributes, item_from_attributes, Item};
pub use crate::item::{key_of, Attributes};

/// BatchWriteItem calls in flight at once for one invocation: a 10,000-record batch is 400 calls,
/// and opening 400 connections at once would mostly buy throttling.
pub const MAX_IN_FLIGHT: usize = 16;

/// Items could not all be stored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// DynamoDB throttled the writes, or left items unprocessed after every retry.
    #[error("readings store throttled: {0}")]
    Throttled(String),
    /// Timeouts, 5xx, connection failures.
    #[error("readings store unavailable: {0}")]
    Unavailable(String),
    /// The function may not write the table (IAM). Retrying fails the same way.
    #[error("readings store access denied: {0}")]
    AccessDenied(String),
    /// The store refused the request (validation, permissions). Retrying the same items fails
    /// the same way until someone fixes the cause.
    #[error("readings store refused the write: {0}")]
    Refused(String),
}

/// One BatchWriteItem call: returns the items DynamoDB left unprocessed.
pub trait BatchWriter: Send + Sync {
    fn batch_write(
        &self,
        items: Vec<Item>,
    ) -> impl Future<Output = Result<Vec<Item>, StoreError>> + Send;
}

/// How unprocessed items are retried.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 8,
        }
    }
}

/// Writes every item in chunks of at most 25, at most [`MAX_IN_FLIGHT`] calls at a time,
/// retrying unprocessed ones. The first failed call ends the write (calls in flight are
/// dropped; the items are written again when the batch is retried).
pub async fn write_all<W: BatchWriter>(
    writer: &W,
    items: Vec<Item>,
    backoff: Backoff,
) -> Result<usize, StoreError> {
    write_all_counted(writer, items, backoff, &mut WriteStats::default()).await
}

/// What [`write_all_counted`] did, also when it failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// BatchWriteItem calls made.
    pub calls: usize,
    /// Items sent again because DynamoDB left them unprocessed.
    pub unprocessed_retried: usize,
}

/// [`write_all`], counting calls and retried items into `stats`.
pub async fn write_all_counted<W: BatchWriter>(
    writer: &W,
    items: Vec<Item>,
    backoff: Backoff,
    stats: &mut WriteStats,
) -> Result<usize, StoreError> {
    let total = items.len();
    let mut pending = items;
    let mut delay = backoff.first;
    let mut attempt = 0;
    while !pending.is_empty() {
        let mut left = Vec::new();
        // One pass: splitting the head off again and again would copy the tail every time
        // (quadratic in the batch size).
        let mut chunks = Vec::with_capacity(pending.len().div_ceil(MAX_BATCH_WRITE));
        let mut rest = std::mem::take(&mut pending).into_iter();
        loop {
            let chunk: Vec<Item> = rest.by_ref().take(MAX_BATCH_WRITE).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        stats.calls += chunks.len();
        let mut calls = futures::stream::iter(chunks)
            .map(|c| writer.batch_write(c))
            .buffer_unordered(MAX_IN_FLIGHT);
        while let Some(r) = calls.next().await {
            left.extend(r?);
        }
        if left.is_empty() {
            break;
        }
        attempt += 1;
        if attempt >= backoff.attempts {
            return Err(StoreError::Throttled(format!(
                "{} of {total} items still unprocessed after {attempt} attempts",
                left.len()
            )));
        }
        stats.unprocessed_retried += left.len();
        tracing::warn!(
            unprocessed = left.len(),
            attempt,
            "retrying unprocessed items"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(backoff.max);
        pending = left;
    }
    Ok(total)
}

/// The readings table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

/// The body of a BatchWriteItem request putting `items` into `table`.
pub fn request_body(table: &str, items: &[Item]) -> Vec<u8> {
    const PUT: &[u8] = br#"{"PutRequest":{"Item":"#;
    let len = items
        .iter()
        .map(|i| i.json().len() + PUT.len() + 3)
        .sum::<usize>();
    let mut body = Vec::with_capacity(len + table.len() + 40);
    body.extend_from_slice(br#"{"RequestItems":{"#);
    sensor_shared::item::push_json_str(&mut body, table);
    body.extend_from_slice(b":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(PUT);
        body.extend_from_slice(item.json());
        body.extend_from_slice(b"}}");
    }
    body.extend_from_slice(b"]}}");
    body
}

impl BatchWriter for DynamoStore {
    async fn batch_write(&self, items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let body = Bytes::from(request_body(&self.table, &items));
        let out = self
            .client
            .batch_write_item()
            // The SDK's own body for the table is replaced by ours before signing (and again
            // before every retry).
            .request_items(&self.table, Vec::new())
            .customize()
            .mutate_request(move |req| {
                req.headers_mut()
                    .insert("content-length", body.len().to_string());
                *req.body_mut() = SdkBody::from(body.clone());
            })
            .send()
            .await
            .map_err(|e| {
                let f = classify("BatchWriteItem", &e);
                match f.kind {
                    FailureKind::Throttled => StoreError::Throttled(f.message),
                    FailureKind::Unavailable => StoreError::Unavailable(f.message),
                    FailureKind::AccessDenied => StoreError::AccessDenied(f.message),
                    FailureKind::NotFound | FailureKind::AlreadyExists | FailureKind::Invalid => {
                        StoreError::Refused(f.message)
                    }
                }
            })?;
        out.unprocessed_items
            .unwrap_or_default()
            .into_values()
            .flatten()
            .filter_map(|w| w.put_request)
            .map(|p| {
                item_from_attributes(&p.item)
                    .map_err(|e| StoreError::Unavailable(format!("unprocessed item: {e}")))
            })
            .collect()
    }
}

/// An in-memory table keyed like the real one, with scripted unprocessed items and failures. It
/// reads each item's JSON back into attributes, as DynamoDB would, and refuses what DynamoDB
/// refuses: more than 25 items, a key named twice, an item without its key.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub items: Mutex<std::collections::BTreeMap<(String, String), Attributes>>,
    pub calls: Mutex<Vec<usize>>,
    /// Items to leave unprocessed, per call, before everything goes through.
    pub unprocessed_script: Mutex<Vec<usize>>,
    pub fail: Mutex<Option<StoreError>>,
}

impl BatchWriter for MemoryStore {
    async fn batch_write(&self, items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        if items.len() > MAX_BATCH_WRITE {
            return Err(StoreError::Refused(format!(
                "{} requests in one BatchWriteItem, at most {MAX_BATCH_WRITE}",
                items.len()
            )));
        }
        let parsed = items
            .iter()
            .map(|i| {
                let a = attributes(i).map_err(StoreError::Refused)?;
                let key =
                    key_of(&a).ok_or_else(|| StoreError::Refused("item without its key".into()))?;
                Ok((key, a))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let keys: std::collections::HashSet<_> = parsed.iter().map(|(k, _)| k).collect();
        if keys.len() != items.len() {
            return Err(StoreError::Refused(
                "Provided list of item keys contains duplicates".into(),
            ));
        }
        self.calls.lock().unwrap().push(items.len());
        let leave = {
            let mut script = self.unprocessed_script.lock().unwrap();
            if script.is_empty() {
                0
            } else {
                script.remove(0).min(items.len())
            }
        };
        let mut items = items;
        let unprocessed = items.split_off(items.len() - leave);
        let mut table = self.items.lock().unwrap();
        for (key, a) in parsed.into_iter().take(items.len()) {
            table.insert(key, a);
        }
        Ok(unprocessed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(i: usize) -> Item {
        item_from_attributes(&Attributes::from([
            ("deviceId".to_string(), AttributeValue::S("d".into())),
            ("_readingId".to_string(), AttributeValue::S(i.to_string())),
        ]))
        .unwrap()
    }

    fn fast() -> Backoff {
        Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
            attempts: 5,
        }
    }

    #[tokio::test]
    async fn chunks_of_25() {
        let store = MemoryStore::default();
        let n = write_all(&store, (0..101).map(item).collect(), fast())
            .await
            .unwrap();
        assert_eq!(n, 101);
        let mut calls = store.calls.lock().unwrap().clone();
        calls.sort();
        assert_eq!(calls, [1, 25, 25, 25, 25]);
        assert_eq!(store.items.lock().unwrap().len(), 101);
    }

    #[tokio::test]
    async fn unprocessed_items_are_retried() {
        let store = MemoryStore::default();
        *store.unprocessed_script.lock().unwrap() = vec![10, 3, 2];
        let mut stats = WriteStats::default();
        write_all_counted(&store, (0..50).map(item).collect(), fast(), &mut stats)
            .await
            .unwrap();
        assert_eq!(
            stats,
            WriteStats {
                calls: 4,
                unprocessed_retried: 15
            }
        );
        assert_eq!(store.items.lock().unwrap().len(), 50);
        // Round one: two chunks leave 13; round two: one chunk leaves 2; round three stores them.
        assert_eq!(store.calls.lock().unwrap().len(), 4);
    }

    /// Counts calls in flight; fails the call numbered `fail_at`.
    #[derive(Default)]
    struct Gauge {
        now: std::sync::atomic::AtomicUsize,
        max: std::sync::atomic::AtomicUsize,
        calls: std::sync::atomic::AtomicUsize,
        fail_at: Option<usize>,
    }

    impl BatchWriter for Gauge {
        async fn batch_write(&self, _items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
            use std::sync::atomic::Ordering::SeqCst;
            let n = self.calls.fetch_add(1, SeqCst);
            let now = self.now.fetch_add(1, SeqCst) + 1;
            self.max.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.now.fetch_sub(1, SeqCst);
            if Some(n) == self.fail_at {
                return Err(StoreError::Unavailable("throttled".into()));
            }
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn calls_in_flight_are_bounded_and_the_first_failure_ends_the_write() {
        use std::sync::atomic::Ordering::SeqCst;
        let g = Gauge::default();
        assert_eq!(
            write_all(&g, (0..2000).map(item).collect(), fast()).await,
            Ok(2000)
        );
        assert_eq!(g.calls.load(SeqCst), 80);
        assert_eq!(g.max.load(SeqCst), MAX_IN_FLIGHT);

        let g = Gauge {
            fail_at: Some(3),
            ..Gauge::default()
        };
        let e = write_all(&g, (0..2000).map(item).collect(), fast()).await;
        assert!(matches!(e, Err(StoreError::Unavailable(_))), "{e:?}");
        assert!(
            g.calls.load(SeqCst) < 80,
            "stopped early: {}",
            g.calls.load(SeqCst)
        );
    }

    #[tokio::test]
    async fn gives_up_with_a_retryable_error() {
        let store = MemoryStore::default();
        *store.unprocessed_script.lock().unwrap() = vec![1; 100];
        let e = write_all(&store, vec![item(1)], fast()).await.unwrap_err();
        assert!(matches!(e, StoreError::Throttled(_)), "{e:?}");
    }

    #[test]
    fn the_request_body_is_batch_write_item_json() {
        let body = request_body("readings \"x\"", &[item(1), item(2)]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let puts = v["RequestItems"]["readings \"x\""].as_array().unwrap();
        assert_eq!(puts.len(), 2);
        assert_eq!(
            puts[1]["PutRequest"]["Item"],
            serde_json::json!({"deviceId": {"S": "d"}, "_readingId": {"S": "2"}})
        );
        let empty: serde_json::Value = serde_json::from_slice(&request_body("t", &[])).unwrap();
        assert_eq!(empty, serde_json::json!({"RequestItems": {"t": []}}));
    }

    #[tokio::test]
    async fn the_memory_store_refuses_what_dynamodb_refuses() {
        let store = MemoryStore::default();
        let e = store.batch_write((0..26).map(item).collect()).await;
        assert!(matches!(e, Err(StoreError::Refused(_))), "{e:?}");
        let e = store.batch_write(vec![item(1), item(1)]).await;
        assert!(matches!(e, Err(StoreError::Refused(m)) if m.contains("duplicates")));
        assert!(store.items.lock().unwrap().is_empty());
    }
}
