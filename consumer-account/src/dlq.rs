//! The dead-letter sink for records that can never be stored.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_types::error::operation::BuildError;
use sensor_shared::aws::{classify, SdkFailure};
use sensor_shared::failure::FailureKind;
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
    /// Set when key, value and headers were left out to fit the queue's message limit: the
    /// record stays readable in Kafka at its topic, partition and offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
    /// The schema version id in the record's Glue frame, when it has one: kept when the record
    /// itself is left out, so the letters of a version can be found without Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version_id: Option<uuid::Uuid>,
}

/// The largest dead-letter message, and SendMessageBatch request, sent: SQS's classic limit, which
/// every queue takes (Terraform and the local stack set it on the queue).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl DeadLetter {
    /// The queue message: the letter as JSON or, when that exceeds `limit`, the letter without
    /// its raw key, value and headers, saying so in `omitted`. A poison record too large for the
    /// queue must not fail the batch again and again: that would block its partition.
    pub fn message(&self, limit: usize) -> String {
        let full = sqs_safe(serde_json::to_string(self).expect("dead letters serialise"));
        if full.len() <= limit {
            return full;
        }
        let mut reason = self.reason.clone();
        if reason.len() > 1024 {
            let mut end = 1024;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push('…');
        }
        let slim = DeadLetter {
            reason,
            key: None,
            value: None,
            headers: Vec::new(),
            omitted: Some(format!(
                "key, value and headers left out: the letter would be {} bytes, over the queue's \
                 {limit}; read the record from Kafka at its topic, partition and offset",
                full.len()
            )),
            ..self.clone()
        };
        sqs_safe(serde_json::to_string(&slim).expect("dead letters serialise"))
    }
}

/// SQS refuses U+FFFE and U+FFFF in a message body, which serde_json leaves as they are (it
/// escapes the control characters SQS refuses too). They can only stand inside JSON strings,
/// where their `\u` escapes mean the same.
fn sqs_safe(json: String) -> String {
    if !json.contains(['\u{FFFE}', '\u{FFFF}']) {
        return json;
    }
    json.replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff")
}

/// Groups messages into SendMessageBatch calls: at most 10 each and `limit` bytes in all.
pub fn batches(messages: Vec<String>, limit: usize) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for m in messages {
        match out.last_mut() {
            Some(b) if b.len() < 10 && size + m.len() <= limit => {
                size += m.len();
                b.push(m);
            }
            _ => {
                size = m.len();
                out.push(vec![m]);
            }
        }
    }
    out
}

/// Dead letters could not be sent; the batch must be retried.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeadLetterError {
    /// Throttling, timeouts, 5xx, entries the queue kept refusing.
    #[error("dead-letter queue unavailable: {0}")]
    Unavailable(String),
    /// The function may not send to the queue (IAM). Retrying fails the same way.
    #[error("dead-letter queue access denied: {0}")]
    AccessDenied(String),
    /// The queue refused the request (no such queue, invalid request).
    #[error("dead-letter queue refused the letters: {0}")]
    Refused(String),
}

/// A failed SQS call as the dead-letter error its kind is.
impl From<SdkFailure> for DeadLetterError {
    fn from(f: SdkFailure) -> Self {
        match f.kind {
            FailureKind::Throttled | FailureKind::Unavailable => {
                DeadLetterError::Unavailable(f.message)
            }
            FailureKind::AccessDenied => DeadLetterError::AccessDenied(f.message),
            _ => DeadLetterError::Refused(f.message),
        }
    }
}

/// A request the SDK could not build: refused before it was sent.
impl From<BuildError> for DeadLetterError {
    fn from(e: BuildError) -> Self {
        DeadLetterError::Refused(e.to_string())
    }
}

pub trait DeadLetterSink: Send + Sync {
    fn send_all(
        &self,
        letters: Vec<DeadLetter>,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}

/// An SQS queue (SendMessageBatch of up to 10 messages and [`MAX_MESSAGE_BYTES`], failed
/// entries retried twice more).
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeadLetterSink for SqsDeadLetters {
    async fn send_all(&self, letters: Vec<DeadLetter>) -> Result<(), DeadLetterError> {
        let messages = letters
            .iter()
            .map(|l| l.message(MAX_MESSAGE_BYTES))
            .collect();
        for batch in batches(messages, MAX_MESSAGE_BYTES) {
            let mut pending: Vec<(String, String)> = batch
                .into_iter()
                .enumerate()
                .map(|(i, body)| (format!("r{i}"), body))
                .collect();
            for attempt in 0..3 {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body)
                            .build()
                            .map_err(DeadLetterError::from)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| DeadLetterError::from(classify("SendMessageBatch", &e)))?;
                let failed: std::collections::HashSet<String> =
                    out.failed.iter().map(|f| f.id.clone()).collect();
                pending.retain(|(id, _)| failed.contains(id));
                if pending.is_empty() {
                    break;
                }
                if attempt == 2 {
                    return Err(DeadLetterError::Unavailable(format!(
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
            return Err(DeadLetterError::Unavailable(e));
        }
        self.letters.lock().unwrap().extend(letters);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(value_bytes: usize) -> DeadLetter {
        DeadLetter {
            reason: "not Glue framing: too short".into(),
            topic: "t".into(),
            partition: 1,
            offset: 7,
            timestamp: 5,
            key: Some("a2V5".into()),
            value: Some("A".repeat(value_bytes)),
            headers: vec![[("h".to_string(), vec![104i8])].into()],
            omitted: None,
            schema_version_id: Some(uuid::Uuid::from_u128(7)),
        }
    }

    #[test]
    fn letters_too_large_for_the_queue_keep_their_coordinates_and_reason() {
        let small = letter(100);
        let m: DeadLetter = serde_json::from_str(&small.message(MAX_MESSAGE_BYTES)).unwrap();
        assert_eq!(m, small, "a letter that fits is sent whole");

        let big = letter(MAX_MESSAGE_BYTES);
        let text = big.message(MAX_MESSAGE_BYTES);
        assert!(text.len() < 1024, "{}", text.len());
        let m: DeadLetter = serde_json::from_str(&text).unwrap();
        assert_eq!((m.value, m.key), (None, None));
        assert!(m.headers.is_empty());
        assert_eq!((m.topic.as_str(), m.partition, m.offset), ("t", 1, 7));
        assert_eq!(m.schema_version_id, big.schema_version_id);
        assert_eq!(m.reason, big.reason);
        assert!(m.omitted.unwrap().contains("read the record from Kafka"));

        let mut long_reason = letter(MAX_MESSAGE_BYTES);
        long_reason.reason = "é".repeat(MAX_MESSAGE_BYTES);
        let text = long_reason.message(MAX_MESSAGE_BYTES);
        assert!(text.len() < 4096, "{}", text.len());
    }

    #[test]
    fn messages_hold_only_characters_sqs_takes() {
        let mut l = letter(10);
        l.reason = "map key \"a\u{FFFF}\u{FFFE}\u{1}\" appears twice".into();
        let text = l.message(MAX_MESSAGE_BYTES);
        let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        assert!(text.chars().all(allowed), "{text:?}");
        let back: DeadLetter = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l, "the escapes mean the same");
    }

    #[test]
    fn batches_hold_ten_messages_and_the_byte_limit_at_most() {
        let m = |n: usize| "x".repeat(n);
        let sizes = |b: &Vec<Vec<String>>| -> Vec<Vec<usize>> {
            b.iter()
                .map(|b| b.iter().map(String::len).collect())
                .collect()
        };
        assert_eq!(
            sizes(&batches((0..23).map(|_| m(1)).collect(), 100))
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [10, 10, 3]
        );
        assert_eq!(
            sizes(&batches(vec![m(60), m(30), m(20), m(100), m(1)], 100)),
            [vec![60, 30], vec![20], vec![100], vec![1]]
        );
        assert!(batches(Vec::new(), 100).is_empty());
    }
}
