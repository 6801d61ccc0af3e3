//! The consumer as the tests of this crate and of the tools set it up (feature `testing`, turned
//! on only by dev-dependencies, so never in the Lambda's build): in-memory dead letters and
//! aggregates, the fixtures' topic, short backoffs.

use std::time::Duration;

use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use sensor_shared::{wire, SchemaCache, SchemaSource};

use crate::aggregate::MemoryAggregates;
use crate::dlq::MemoryDeadLetters;
use crate::{Backoff, BatchWriter, Consumer, DeadLetter};

/// The topic of the test events.
pub const TOPIC: &str = "sensor-readings";

/// The aggregates' window of [`consumer`], in milliseconds.
pub const WINDOW_MS: i64 = 60_000;

/// A consumer reading writer schemas from `source` and storing into `store`, with in-memory
/// dead letters and aggregates and retries a few milliseconds apart.
pub fn consumer<S: SchemaSource, W: BatchWriter>(
    source: S,
    store: W,
) -> Consumer<S, W, MemoryDeadLetters, MemoryAggregates> {
    Consumer {
        schemas: SchemaCache::new(source, 100),
        store,
        dead_letters: MemoryDeadLetters::default(),
        aggregates: MemoryAggregates::default(),
        window_ms: WINDOW_MS,
        max_inflated: 1 << 20,
        backoff: Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
            attempts: 5,
        },
    }
}

/// A record of [`TOPIC`] at these coordinates with this value (base64, as the event carries
/// it).
pub fn record(partition: i64, offset: i64, value: String) -> KafkaRecord {
    let mut r = KafkaRecord::default();
    r.topic = Some(TOPIC.into());
    r.partition = partition;
    r.offset = offset;
    r.value = Some(value);
    r
}

/// An event of these records, listed under `<topic>-<partition>` as the event source mapping
/// lists them.
pub fn event(records: impl IntoIterator<Item = KafkaRecord>) -> KafkaEvent {
    let mut e = KafkaEvent::default();
    for r in records {
        let topic = r.topic.as_deref().unwrap_or_default();
        e.records
            .entry(format!("{topic}-{}", r.partition))
            .or_default()
            .push(r);
    }
    e
}

/// The dead letter the consumer writes for a record of [`TOPIC`] with the key `000001`, these
/// coordinates and this value.
pub fn letter(reason: &str, partition: i64, offset: i64, value: &[u8]) -> DeadLetter {
    let b64 = base64::engine::general_purpose::STANDARD;
    DeadLetter {
        reason: reason.into(),
        topic: TOPIC.into(),
        partition,
        offset,
        timestamp: 1_767_225_600_000,
        key: Some(b64.encode(b"000001")),
        value: Some(b64.encode(value)),
        headers: Vec::new(),
        omitted: None,
        schema_version_id: wire::peek(value).ok().map(|(id, _)| id),
    }
}
