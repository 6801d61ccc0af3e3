//! The dead-letter sink for records that can never be stored.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A poison record: the raw record, where it came from and why it cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub reason: String,
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub timestamp: i64,
    /// Base64, as the event source delivered it.
    pub key: Option<String>,
    /// Base64, as the event source delivered it.
    pub value: Option<String>,
    pub headers: Vec<std::collections::HashMap<String, Vec<i8>>>,
}

/// Dead letters could not be sent; the batch must be retried.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("dead-letter queue unavailable: {0}")]
pub struct DeadLetterError(pub String);

pub trait DeadLetterSink: Send + Sync {
    fn send_all(
        &self,
        letters: Vec<DeadLetter>,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}

/// An SQS queue (SendMessageBatch, 10 per call, failed entries retried once more).
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeadLetterSink for SqsDeadLetters {
    async fn send_all(&self, letters: Vec<DeadLetter>) -> Result<(), DeadLetterError> {
        for chunk in letters.chunks(10) {
            let mut pending: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    (
                        format!("r{i}"),
                        serde_json::to_string(l).expect("dead letters serialise"),
                    )
                })
                .collect();
            for attempt in 0..3 {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body)
                            .build()
                            .map_err(|e| DeadLetterError(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| DeadLetterError(format!("SendMessageBatch: {e:?}")))?;
                let failed: std::collections::HashSet<String> =
                    out.failed.iter().map(|f| f.id.clone()).collect();
                pending.retain(|(id, _)| failed.contains(id));
                if pending.is_empty() {
                    break;
                }
                if attempt == 2 {
                    return Err(DeadLetterError(format!(
                        "{} dead letters refused by the queue",
                        pending.len()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Dead letters kept in memory.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    pub letters: Mutex<Vec<DeadLetter>>,
    pub fail: Mutex<Option<String>>,
}

impl DeadLetterSink for MemoryDeadLetters {
    async fn send_all(&self, letters: Vec<DeadLetter>) -> Result<(), DeadLetterError> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(DeadLetterError(e));
        }
        self.letters.lock().unwrap().extend(letters);
        Ok(())
    }
}
