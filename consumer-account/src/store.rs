//! Readings storage: BatchWriteItem in chunks of at most 25, unprocessed items retried with
//! backoff. Item keys are deterministic (deviceId, timestamp), so writing a batch again
//! overwrites instead of duplicating.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use thiserror::Error;

use crate::item::Item;

/// DynamoDB's limit on requests in one BatchWriteItem.
pub const MAX_BATCH_WRITE: usize = 25;

/// Items could not all be stored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Throttling, timeouts, 5xx, or unprocessed items left after every retry.
    #[error("readings store unavailable: {0}")]
    Unavailable(String),
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

/// Writes every item in chunks of at most 25, retrying unprocessed ones.
pub async fn write_all<W: BatchWriter>(
    writer: &W,
    items: Vec<Item>,
    backoff: Backoff,
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
        let results =
            futures::future::join_all(chunks.into_iter().map(|c| writer.batch_write(c))).await;
        for r in results {
            left.extend(r?);
        }
        if left.is_empty() {
            break;
        }
        attempt += 1;
        if attempt >= backoff.attempts {
            return Err(StoreError::Unavailable(format!(
                "{} of {total} items still unprocessed after {attempt} attempts",
                left.len()
            )));
        }
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

impl BatchWriter for DynamoStore {
    async fn batch_write(&self, items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let out = self
            .client
            .batch_write_item()
            .request_items(&self.table, requests)
            .send()
            .await
            .map_err(|e| {
                let text = format!("BatchWriteItem: {}", aws_smithy_types_display(&e));
                let status = e.raw_response().map(|r| r.status().as_u16());
                match (e.code(), status) {
                    (Some("ValidationException" | "AccessDeniedException"), _)
                    | (_, Some(400 | 403))
                        if !is_throttle(e.code()) =>
                    {
                        StoreError::Refused(text)
                    }
                    _ => StoreError::Unavailable(text),
                }
            })?;
        Ok(out
            .unprocessed_items
            .unwrap_or_default()
            .into_values()
            .flatten()
            .filter_map(|w| w.put_request.map(|p| p.item))
            .collect())
    }
}

fn is_throttle(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
        )
    )
}

fn aws_smithy_types_display<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The key of a stored reading, for deduplication.
pub fn item_key(item: &Item) -> Option<(String, String)> {
    key_ref(item).map(|(d, t)| (d.to_owned(), t.to_owned()))
}

/// The key of a stored reading, borrowed: `deviceId` (S) and `timestamp` (N).
pub fn key_ref(item: &Item) -> Option<(&str, &str)> {
    match (item.get("deviceId"), item.get("timestamp")) {
        (Some(AttributeValue::S(d)), Some(AttributeValue::N(t))) => Some((d, t)),
        _ => None,
    }
}

/// An in-memory table keyed like the real one, with scripted unprocessed items and failures.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub items: Mutex<std::collections::BTreeMap<(String, String), Item>>,
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
        assert!(items.len() <= MAX_BATCH_WRITE, "batch of {}", items.len());
        let keys: std::collections::HashSet<_> = items.iter().map(key_ref).collect();
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
        for item in items {
            let key = item_key(&item).expect("items carry their key");
            table.insert(key, item);
        }
        Ok(unprocessed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(i: usize) -> Item {
        Item::from([
            ("deviceId".to_string(), AttributeValue::S("d".into())),
            ("timestamp".to_string(), AttributeValue::N(i.to_string())),
        ])
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
        write_all(&store, (0..50).map(item).collect(), fast())
            .await
            .unwrap();
        assert_eq!(store.items.lock().unwrap().len(), 50);
        // Round one: two chunks leave 13; round two: one chunk leaves 2; round three stores them.
        assert_eq!(store.calls.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn gives_up_with_a_retryable_error() {
        let store = MemoryStore::default();
        *store.unprocessed_script.lock().unwrap() = vec![1; 100];
        let e = write_all(&store, vec![item(1)], fast()).await.unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)));
    }
}
