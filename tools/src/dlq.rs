//! The consumer account's dead-letter queue as an operator sees it: every letter read (and held
//! invisible while it is looked at), letters deleted or made visible again, letters sent.
//!
//! Reading a queue to its end needs the messages already read to stay hidden: a message received
//! with no visibility timeout comes back on the next receive and hides the rest. So every command
//! receives with a hold, and gives back (makes visible at once) what it does not delete.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use sensor_consumer::dlq::{
    DeadLetter, DeadLetterError, DeadLetterSink, SqsDeadLetters, MAX_MESSAGE_BYTES,
};
use sensor_consumer::{dead_letter_reason, DEAD_LETTER_REASONS};
use sensor_shared::aws::classify;
use serde::Serialize;
use uuid::Uuid;

/// One message of the queue, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Handle for deleting it or giving it back (valid while it is held).
    pub receipt: String,
    pub message_id: String,
    /// The letter, or why the body is not one (someone else's message).
    pub letter: Result<DeadLetter, String>,
}

/// The queue's operations the tools use.
pub trait LetterQueue: Send + Sync {
    /// Every message visible now, each held invisible for `hold` (until deleted or given back).
    fn receive_all(
        &self,
        hold: Duration,
    ) -> impl Future<Output = Result<Vec<Queued>, DeadLetterError>> + Send;

    fn delete(
        &self,
        receipts: &[String],
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;

    /// Makes held messages visible again at once.
    fn give_back(
        &self,
        receipts: &[String],
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;

    /// Sends letters as the consumer does (its size limit and batching).
    fn send(
        &self,
        letters: Vec<DeadLetter>,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}

/// The messages of a batch call's failed entries.
fn failed(entries: &[BatchResultErrorEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|f| f.message.clone().unwrap_or_else(|| f.code.clone()))
        .collect()
}

/// The SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl SqsQueue {
    /// Runs a batch call (10 entries at most per call) over `receipts`.
    async fn in_batches<F, Fut>(&self, receipts: &[String], call: F) -> Result<(), DeadLetterError>
    where
        F: Fn(Vec<(String, String)>) -> Fut,
        Fut: Future<Output = Result<Vec<String>, DeadLetterError>>,
    {
        for chunk in receipts.chunks(10) {
            let entries: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("m{i}"), r.clone()))
                .collect();
            let failed = call(entries).await?;
            if !failed.is_empty() {
                return Err(DeadLetterError::Unavailable(format!(
                    "the queue refused {} of {} entries: {}",
                    failed.len(),
                    chunk.len(),
                    failed.join("; ")
                )));
            }
        }
        Ok(())
    }
}

impl LetterQueue for SqsQueue {
    async fn receive_all(&self, hold: Duration) -> Result<Vec<Queued>, DeadLetterError> {
        let mut out = Vec::new();
        loop {
            let got = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(hold.as_secs().max(1) as i32)
                // Long polling asks every server of the queue: an empty answer means empty.
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| DeadLetterError::from(classify("ReceiveMessage", &e)))?;
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(out);
            }
            for m in messages {
                let body = m.body.unwrap_or_default();
                out.push(Queued {
                    receipt: m.receipt_handle.unwrap_or_default(),
                    message_id: m.message_id.unwrap_or_default(),
                    letter: serde_json::from_str(&body)
                        .map_err(|e| format!("not a dead letter ({e}): {}", short(&body))),
                });
            }
        }
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), DeadLetterError> {
        self.in_batches(receipts, |entries| async move {
            let entries = entries
                .into_iter()
                .map(|(id, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(r)
                        .build()
                        .map_err(DeadLetterError::from)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| DeadLetterError::from(classify("DeleteMessageBatch", &e)))?;
            Ok(failed(&out.failed))
        })
        .await
    }

    async fn give_back(&self, receipts: &[String]) -> Result<(), DeadLetterError> {
        self.in_batches(receipts, |entries| async move {
            let entries = entries
                .into_iter()
                .map(|(id, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                        .map_err(DeadLetterError::from)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| DeadLetterError::from(classify("ChangeMessageVisibilityBatch", &e)))?;
            Ok(failed(&out.failed))
        })
        .await
    }

    async fn send(&self, letters: Vec<DeadLetter>) -> Result<(), DeadLetterError> {
        SqsDeadLetters {
            client: self.client.clone(),
            queue_url: self.queue_url.clone(),
        }
        .send_all(letters)
        .await
    }
}

/// A queue in memory: messages with a held flag, for tests.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    next: Mutex<u64>,
    /// (message id, body, held)
    pub messages: Mutex<Vec<(String, String, bool)>>,
    pub fail: Mutex<Option<DeadLetterError>>,
}

impl MemoryQueue {
    pub fn with_letters(letters: &[DeadLetter]) -> Self {
        let q = MemoryQueue::default();
        for l in letters {
            q.push_body(l.message(MAX_MESSAGE_BYTES));
        }
        q
    }

    pub fn push_body(&self, body: String) {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        self.messages
            .lock()
            .unwrap()
            .push((format!("msg-{n}"), body, false));
    }

    /// The letters in the queue, held or not, in the order they arrived.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body, _)| serde_json::from_str(body).expect("letters in the test queue"))
            .collect()
    }

    pub fn held(&self) -> usize {
        self.messages.lock().unwrap().iter().filter(|m| m.2).count()
    }

    fn check(&self) -> Result<(), DeadLetterError> {
        match self.fail.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl LetterQueue for MemoryQueue {
    async fn receive_all(&self, _hold: Duration) -> Result<Vec<Queued>, DeadLetterError> {
        self.check()?;
        let mut out = Vec::new();
        for (id, body, held) in self.messages.lock().unwrap().iter_mut() {
            if !*held {
                *held = true;
                out.push(Queued {
                    receipt: format!("receipt-{id}"),
                    message_id: id.clone(),
                    letter: serde_json::from_str(body)
                        .map_err(|e| format!("not a dead letter ({e}): {}", short(body))),
                });
            }
        }
        Ok(out)
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), DeadLetterError> {
        self.check()?;
        self.messages
            .lock()
            .unwrap()
            .retain(|(id, _, held)| !(*held && receipts.contains(&format!("receipt-{id}"))));
        Ok(())
    }

    async fn give_back(&self, receipts: &[String]) -> Result<(), DeadLetterError> {
        self.check()?;
        for (id, _, held) in self.messages.lock().unwrap().iter_mut() {
            if receipts.contains(&format!("receipt-{id}")) {
                *held = false;
            }
        }
        Ok(())
    }

    async fn send(&self, letters: Vec<DeadLetter>) -> Result<(), DeadLetterError> {
        self.check()?;
        for l in letters {
            self.push_body(l.message(MAX_MESSAGE_BYTES));
        }
        Ok(())
    }
}

fn short(s: &str) -> &str {
    s.char_indices().nth(120).map_or(s, |(i, _)| &s[..i])
}

/// Which letters a command acts on: reason classes (any of them; none = every class) and Kafka
/// coordinates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub reasons: Vec<String>,
    pub topic: Option<String>,
    pub partitions: Vec<i64>,
    pub from_offset: Option<i64>,
    pub to_offset: Option<i64>,
}

impl Selection {
    /// Refuses reason classes that do not exist, naming those that do.
    pub fn check(&self) -> Result<(), String> {
        for r in &self.reasons {
            if !DEAD_LETTER_REASONS.contains(&r.as_str()) {
                return Err(format!(
                    "unknown reason {r:?}: one of {}",
                    DEAD_LETTER_REASONS.join(", ")
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.from_offset, self.to_offset) {
            if a > b {
                return Err(format!("--from-offset {a} is past --to-offset {b}"));
            }
        }
        Ok(())
    }

    pub fn names_reason(&self, class: &str) -> bool {
        self.reasons.iter().any(|r| r == class)
    }

    pub fn matches(&self, l: &DeadLetter) -> bool {
        (self.reasons.is_empty() || self.names_reason(dead_letter_reason(&l.reason)))
            && self.topic.as_ref().is_none_or(|t| *t == l.topic)
            && (self.partitions.is_empty() || self.partitions.contains(&l.partition))
            && self.from_offset.is_none_or(|o| l.offset >= o)
            && self.to_offset.is_none_or(|o| l.offset <= o)
    }
}

/// The schema version id of a letter: the one it names, else the one in its value's frame.
pub fn schema_version_id(l: &DeadLetter) -> Option<Uuid> {
    use base64::Engine;
    l.schema_version_id.or_else(|| {
        let v = l.value.as_deref()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
        sensor_shared::wire::peek(&bytes).ok().map(|(id, _)| id)
    })
}

/// One letter in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub timestamp: i64,
    pub schema_version_id: Option<Uuid>,
    /// The record is not in the letter (too large for the queue); Kafka has it.
    pub omitted: bool,
    pub message_id: String,
}

/// Letters of one reason text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonGroup {
    pub reason: String,
    pub letters: Vec<Entry>,
}

/// Letters of one reason class, by reason text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassGroup {
    pub class: String,
    pub count: usize,
    pub reasons: Vec<ReasonGroup>,
}

/// What `dlq list` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub total: usize,
    pub classes: Vec<ClassGroup>,
    /// Messages that are not dead letters: (message id, why).
    pub unreadable: Vec<(String, String)>,
}

/// Groups the selected letters by reason class and text, each group in partition-offset order.
pub fn listing(queued: &[Queued], selection: &Selection) -> Listing {
    let mut classes: BTreeMap<&str, BTreeMap<String, Vec<Entry>>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut total = 0;
    for q in queued {
        match &q.letter {
            Err(why) => unreadable.push((q.message_id.clone(), why.clone())),
            Ok(l) if selection.matches(l) => {
                total += 1;
                classes
                    .entry(dead_letter_reason(&l.reason))
                    .or_default()
                    .entry(l.reason.clone())
                    .or_default()
                    .push(Entry {
                        topic: l.topic.clone(),
                        partition: l.partition,
                        offset: l.offset,
                        timestamp: l.timestamp,
                        schema_version_id: schema_version_id(l),
                        omitted: l.omitted.is_some(),
                        message_id: q.message_id.clone(),
                    });
            }
            Ok(_) => {}
        }
    }
    let classes = classes
        .into_iter()
        .map(|(class, reasons)| {
            let reasons: Vec<ReasonGroup> = reasons
                .into_iter()
                .map(|(reason, mut letters)| {
                    letters.sort_by(|a, b| {
                        (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset))
                    });
                    ReasonGroup { reason, letters }
                })
                .collect();
            ClassGroup {
                class: class.to_string(),
                count: reasons.iter().map(|r| r.letters.len()).sum(),
                reasons,
            }
        })
        .collect();
    Listing {
        total,
        classes,
        unreadable,
    }
}

/// The listing as text for people.
pub fn listing_text(l: &Listing) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{} dead letter(s)", l.total);
    for c in &l.classes {
        let _ = writeln!(s, "\n{} ({})", c.class, c.count);
        for r in &c.reasons {
            let _ = writeln!(s, "  {} ({})", r.reason, r.letters.len());
            for e in &r.letters {
                let version = e
                    .schema_version_id
                    .map_or("-".to_string(), |v| v.to_string());
                let _ = writeln!(
                    s,
                    "    {}/{}/{}  schema version {version}{}",
                    e.topic,
                    e.partition,
                    e.offset,
                    if e.omitted {
                        "  (record omitted: in Kafka)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    for (id, why) in &l.unreadable {
        let _ = writeln!(s, "\nmessage {id}: {why}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(reason: &str, partition: i64, offset: i64) -> DeadLetter {
        sensor_consumer::testing::letter(reason, partition, offset, b"not glue")
    }

    #[tokio::test]
    async fn listing_groups_by_class_and_reason_in_partition_offset_order() {
        let id = Uuid::from_u128(42);
        let mut omitted = letter("schema version x: not found", 1, 3);
        omitted.value = None;
        omitted.omitted = Some("left out".into());
        omitted.schema_version_id = Some(id);
        let q = MemoryQueue::with_letters(&[
            letter("not Glue framing: too short", 2, 9),
            omitted,
            letter("not Glue framing: too short", 0, 4),
            letter("not Glue framing: unknown header version 110", 0, 1),
        ]);
        q.push_body("hello".into());
        let got = q.receive_all(Duration::from_secs(30)).await.unwrap();
        let l = listing(&got, &Selection::default());
        assert_eq!(l.total, 4);
        assert_eq!(l.unreadable.len(), 1);
        assert!(l.unreadable[0].1.starts_with("not a dead letter"));
        let classes: Vec<(&str, usize)> = l
            .classes
            .iter()
            .map(|c| (c.class.as_str(), c.count))
            .collect();
        assert_eq!(
            classes,
            [("NotGlueFraming", 3), ("UnknownSchemaVersion", 1)]
        );
        let short: Vec<(i64, i64)> = l.classes[0].reasons[0]
            .letters
            .iter()
            .map(|e| (e.partition, e.offset))
            .collect();
        assert_eq!(
            l.classes[0].reasons[0].reason,
            "not Glue framing: too short"
        );
        assert_eq!(short, [(0, 4), (2, 9)]);
        let e = &l.classes[1].reasons[0].letters[0];
        assert_eq!((e.schema_version_id, e.omitted), (Some(id), true));
        let text = listing_text(&l);
        assert!(text.contains("sensor-readings/1/3  schema version 00000000-0000-0000-0000-00000000002a  (record omitted: in Kafka)"), "{text}");

        let only = Selection {
            partitions: vec![0],
            reasons: vec!["NotGlueFraming".into()],
            ..Selection::default()
        };
        assert_eq!(listing(&got, &only).total, 2);
        let range = Selection {
            from_offset: Some(4),
            to_offset: Some(9),
            ..Selection::default()
        };
        assert_eq!(listing(&got, &range).total, 2);
    }

    #[test]
    fn selections_name_known_reasons_only() {
        let bad = Selection {
            reasons: vec!["Poison".into()],
            ..Selection::default()
        };
        let e = bad.check().unwrap_err();
        assert!(e.contains("KeyCollision"), "{e}");
        let backwards = Selection {
            from_offset: Some(5),
            to_offset: Some(4),
            ..Selection::default()
        };
        assert!(backwards.check().is_err());
        assert!(Selection::default().check().is_ok());
    }

    #[test]
    fn version_id_from_the_letter_or_its_frame() {
        use base64::Engine;
        let id = Uuid::from_u128(9);
        let mut l = letter("corrupt body", 0, 0);
        l.value = Some(base64::engine::general_purpose::STANDARD.encode(
            sensor_shared::wire::encode(&id, sensor_shared::wire::Compression::None, b"\x02"),
        ));
        assert_eq!(schema_version_id(&l), Some(id));
        l.value = None;
        assert_eq!(schema_version_id(&l), None);
        l.schema_version_id = Some(id);
        assert_eq!(schema_version_id(&l), Some(id));
    }
}
