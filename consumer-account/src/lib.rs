//! The consumer account's Lambda: a Kafka event (self-managed or MSK event source mapping)
//! becomes readings in DynamoDB.
//!
//! Per record: base64 → Glue framing → writer schema (cross-account registry through a bounded
//! cache) → DynamoDB item. Records that can never be stored go to the dead-letter sink with their
//! reason and the batch goes on; outages (registry, STS, DynamoDB, the dead-letter queue) fail the
//! invocation so the event source mapping retries the whole batch. A reading's key carries its
//! Kafka coordinates (`sensor_shared::item`), so a retried batch overwrites its own items and two
//! records never share one. After the readings, each (device, window) the batch touched gets one
//! conditional write of its aggregate ([`aggregate`]).

pub mod aggregate;
pub mod config;
pub mod dlq;
pub mod item;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use sensor_shared::failure::Failure;
use sensor_shared::metrics::{breakdown, MetricSet};
use sensor_shared::wire;
use sensor_shared::{CompiledSchema, RegistryError, SchemaCache, SchemaSource};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

pub use aggregate::{AggregateStats, AggregateStore};
pub use dlq::{DeadLetter, DeadLetterError, DeadLetterSink};
pub use item::{Item, ItemWriter};
pub use sensor_shared::item::{
    Coordinates, ATTR_HEADERS, ATTR_OFFSET, ATTR_PARTITION, ATTR_READING_ID, ATTR_SCHEMA_VERSION,
    ATTR_TOPIC, MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES, RESERVED_ATTRIBUTES,
};
pub use store::{write_all, write_all_counted, Backoff, BatchWriter, StoreError, WriteStats};

/// What one invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub received: usize,
    pub stored: usize,
    pub dead_lettered: usize,
    /// Records the event listed twice, written once.
    pub duplicates: usize,
    /// Records whose key another record of the batch already had, with other content: kept in
    /// the dead-letter queue (and counted in `dead_lettered`).
    pub key_collisions: usize,
    /// (device, window) aggregates written.
    pub aggregates_written: usize,
}

/// An outage or misconfiguration: the invocation fails and the batch is retried.
#[derive(Debug, Error)]
pub enum ConsumerError {
    #[error("schema registry: {0}")]
    Registry(RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

impl ConsumerError {
    /// The class Lambda reports (`errorType`) and whether a retry can help
    /// ([`sensor_shared::failure`] has the naming rule).
    pub fn failure(&self) -> Failure {
        let cause = self.to_string();
        let (class, retryable) = match self {
            ConsumerError::Registry(RegistryError::Unavailable(_)) => ("RegistryUnavailable", true),
            ConsumerError::Registry(RegistryError::AccessDenied(_)) => ("AccessDenied", false),
            ConsumerError::Registry(_) => ("RegistryRefused", false),
            ConsumerError::Store(StoreError::Throttled(_)) => ("StoreThrottled", true),
            ConsumerError::Store(StoreError::Unavailable(_)) => ("StoreUnavailable", true),
            ConsumerError::Store(StoreError::AccessDenied(_)) => ("AccessDenied", false),
            ConsumerError::Store(StoreError::Refused(_)) => ("StoreRefused", false),
            ConsumerError::DeadLetter(DeadLetterError::Unavailable(_)) => {
                ("DeadLetterUnavailable", true)
            }
            ConsumerError::DeadLetter(DeadLetterError::AccessDenied(_)) => ("AccessDenied", false),
            ConsumerError::DeadLetter(DeadLetterError::Refused(_)) => ("DeadLetterRefused", false),
        };
        Failure::new(class, retryable, cause)
    }

    pub fn is_retryable(&self) -> bool {
        self.failure().retryable
    }
}

impl From<ConsumerError> for lambda_runtime::Diagnostic {
    fn from(e: ConsumerError) -> Self {
        let f = e.failure();
        lambda_runtime::Diagnostic {
            error_type: f.class.into(),
            error_message: f.message(),
        }
    }
}

/// Why records were dead-lettered, by reason class (the `Reason` dimension of the
/// `DeadLettered` metric).
pub const DEAD_LETTER_REASONS: [&str; 6] = [
    "BadValue",
    "NotGlueFraming",
    "UnknownSchemaVersion",
    "CorruptBody",
    "KeyCollision",
    "Unstorable",
];

/// The reason class of a dead letter's reason text.
pub fn dead_letter_reason(reason: &str) -> &'static str {
    if reason.starts_with("record has no value") || reason.starts_with("value is not base64") {
        "BadValue"
    } else if reason.starts_with("not Glue framing") {
        "NotGlueFraming"
    } else if reason.starts_with("schema version") {
        "UnknownSchemaVersion"
    } else if reason.starts_with("corrupt body") {
        "CorruptBody"
    } else if reason.starts_with("key collision") {
        "KeyCollision"
    } else {
        "Unstorable"
    }
}

/// What one invocation did beyond its [`Summary`], for metrics; filled in also when it fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Dead letters per reason class ([`DEAD_LETTER_REASONS`] order).
    pub dead_lettered_by_reason: [u64; 6],
    pub store: store::WriteStats,
    pub aggregates: AggregateStats,
    pub elapsed: std::time::Duration,
}

/// The function's state, built once per container.
pub struct Consumer<S, W, D, A> {
    pub schemas: SchemaCache<S>,
    pub store: W,
    pub dead_letters: D,
    /// The aggregates table.
    pub aggregates: A,
    /// The aggregates' window length (`AGGREGATE_WINDOW_SECONDS`), in milliseconds.
    pub window_ms: i64,
    pub max_inflated: usize,
    pub backoff: Backoff,
}

enum Outcome {
    Item(Item),
    Poison(String),
}

impl<S: SchemaSource, W: BatchWriter, D: DeadLetterSink, A: AggregateStore> Consumer<S, W, D, A> {
    /// Handles one event.
    pub async fn handle(&self, event: &KafkaEvent) -> Result<Summary, ConsumerError> {
        self.handle_counted(event, &mut BatchStats::default()).await
    }

    /// [`Consumer::handle`], counting what metrics need into `stats`.
    pub async fn handle_counted(
        &self,
        event: &KafkaEvent,
        stats: &mut BatchStats,
    ) -> Result<Summary, ConsumerError> {
        let started = std::time::Instant::now();
        let r = self.handle_inner(event, stats).await;
        stats.elapsed = started.elapsed();
        r
    }

    async fn handle_inner(
        &self,
        event: &KafkaEvent,
        stats: &mut BatchStats,
    ) -> Result<Summary, ConsumerError> {
        // Deterministic order: by topic-partition, then offset.
        let ordered: BTreeMap<&String, &Vec<KafkaRecord>> = event.records.iter().collect();
        let records: Vec<&KafkaRecord> = ordered
            .into_values()
            .flat_map(|rs| {
                let mut rs: Vec<&KafkaRecord> = rs.iter().collect();
                rs.sort_by_key(|r| (r.partition, r.offset));
                rs
            })
            .collect();
        let mut summary = Summary {
            received: records.len(),
            ..Summary::default()
        };

        let payloads = Payloads::decode(&records);
        let schemas = self.resolve_schemas(&payloads).await?;

        let mut writer = ItemWriter::new();
        let mut items: Vec<(Item, usize)> = Vec::with_capacity(records.len());
        let mut letters = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match self.decode(record, payloads.get(i), &schemas, &mut writer) {
                Outcome::Item(item) => items.push((item, i)),
                Outcome::Poison(reason) => {
                    letters.push(dead_letter(record, payloads.get(i), reason))
                }
            }
        }
        // One BatchWriteItem call may not name a key twice. A key carries the record's
        // coordinates, so only an event that lists one record twice repeats it: the same
        // reading again is written once, a different one is a collision that keeps both (the
        // first stored, the other dead-lettered).
        let folded = fold_repeated_keys(items);
        summary.duplicates = folded.duplicates;
        summary.key_collisions = folded.collisions.len();
        for (later, earlier) in folded.collisions {
            let (r, first) = (records[later], records[earlier]);
            letters.push(dead_letter(
                r,
                payloads.get(later),
                format!(
                    "key collision: a different record has the same key, at {}/{}/{}",
                    first.topic.as_deref().unwrap_or_default(),
                    first.partition,
                    first.offset
                ),
            ));
        }
        let items = folded.items;
        let windows = aggregate::by_window(&items, self.window_ms).map_err(StoreError::Refused)?;

        // Readings first, then aggregates: a store outage fails the batch before anything is
        // dead-lettered, so the retries of that batch do not send its poison records again and
        // again (the writes are idempotent, and aggregates count a reading once; the queue is
        // not).
        summary.stored =
            write_all_counted(&self.store, items, self.backoff, &mut stats.store).await?;
        aggregate::apply(
            &self.aggregates,
            windows,
            self.window_ms,
            self.backoff,
            &mut stats.aggregates,
        )
        .await?;
        summary.aggregates_written = stats.aggregates.writes;
        summary.dead_lettered = letters.len();
        if !letters.is_empty() {
            for l in &letters {
                tracing::warn!(topic = %l.topic, partition = l.partition, offset = l.offset, reason = %l.reason, "dead-lettering record");
            }
            let mut by_reason = [0u64; 6];
            for l in &letters {
                let class = dead_letter_reason(&l.reason);
                if let Some(i) = DEAD_LETTER_REASONS.iter().position(|r| *r == class) {
                    by_reason[i] += 1;
                }
            }
            self.dead_letters.send_all(letters).await?;
            stats.dead_lettered_by_reason = by_reason;
        }
        Ok(summary)
    }

    /// Looks up each distinct schema version of the batch once. Outages fail the batch; missing
    /// or unreadable versions make their records poison.
    async fn resolve_schemas(&self, payloads: &Payloads) -> Result<BatchSchemas, ConsumerError> {
        let mut ids: Vec<Uuid> = Vec::new();
        for i in 0..payloads.spans.len() {
            if let Ok(Ok((id, _))) = payloads.get(i).map(wire::peek) {
                // Neighbours mostly share their version: keep the list short before sorting.
                if ids.last() != Some(&id) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let lookups = futures::future::join_all(ids.iter().map(|id| self.schemas.get(*id))).await;
        let mut out = HashMap::with_capacity(ids.len());
        for (id, r) in ids.into_iter().zip(lookups) {
            match r {
                Ok(s) => {
                    out.insert(id, Ok(s));
                }
                Err(e @ (RegistryError::NotFound(_) | RegistryError::Invalid(_))) => {
                    out.insert(id, Err(format!("schema version {id}: {e}")));
                }
                Err(e) => return Err(ConsumerError::Registry(e)),
            }
        }
        Ok(out)
    }

    fn decode(
        &self,
        record: &KafkaRecord,
        payload: Result<&[u8], &str>,
        schemas: &BatchSchemas,
        writer: &mut ItemWriter,
    ) -> Outcome {
        let bytes = match payload {
            Ok(b) => b,
            Err(reason) => return Outcome::Poison(reason.to_owned()),
        };
        let at = Coordinates {
            topic: record.topic.as_deref().unwrap_or_default(),
            partition: record.partition,
            offset: record.offset,
        };
        // Each entry of the event's list is one header (a map of one name).
        let headers: Vec<(&str, Vec<u8>)> = record
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|(name, v)| (name.as_str(), v.iter().map(|b| *b as u8).collect()))
            .collect();
        let headers: Vec<sensor_shared::item::Header<'_>> =
            headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        match decode_record(bytes, self.max_inflated, schemas, at, &headers, writer) {
            Ok(item) => Outcome::Item(item),
            Err(reason) => Outcome::Poison(reason),
        }
    }
}

/// The writer schemas of one batch by version id: the schema, or why its records are poison.
pub type BatchSchemas = HashMap<Uuid, Result<Arc<CompiledSchema>, String>>;

/// A batch's items with each key once.
struct Folded {
    items: Vec<Item>,
    /// Items that repeated an earlier one exactly.
    duplicates: usize,
    /// (record index of an item that repeated an earlier key with other content, the earlier's)
    collisions: Vec<(usize, usize)>,
}

/// Keeps the first item of each key: a repeat with the same JSON is a duplicate, one with other
/// JSON a collision.
fn fold_repeated_keys(items: Vec<(Item, usize)>) -> Folded {
    // foldhash: several times faster than SipHash on short keys, and seeded per map.
    let mut first: HashMap<(&[u8], &[u8]), usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(items.len(), Default::default());
    let mut keep = vec![true; items.len()];
    let (mut duplicates, mut collisions) = (0, Vec::new());
    for (i, (item, record)) in items.iter().enumerate() {
        match first.entry(item.key()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                keep[i] = false;
                let (earlier, earlier_record) = &items[*o.get()];
                if earlier.json() == item.json() {
                    duplicates += 1;
                } else {
                    collisions.push((*record, *earlier_record));
                }
            }
        }
    }
    drop(first);
    let items = if duplicates + collisions.len() == 0 {
        items.into_iter().map(|(item, _)| item).collect()
    } else {
        items
            .into_iter()
            .zip(keep)
            .filter_map(|((item, _), keep)| keep.then_some(item))
            .collect()
    };
    Folded {
        items,
        duplicates,
        collisions,
    }
}

/// The hot path: Glue-framed bytes → a DynamoDB item (its DynamoDB JSON) with its sort key,
/// schema version id and Kafka coordinates. `Err` says why the record can never be stored. `writer`'s
/// buffers are reused from call to call.
pub fn decode_item(
    bytes: &[u8],
    max_inflated: usize,
    schemas: &BatchSchemas,
    at: Coordinates<'_>,
    writer: &mut ItemWriter,
) -> Result<Item, String> {
    decode_record(bytes, max_inflated, schemas, at, &[], writer)
}

/// [`decode_item`] for a record with Kafka headers, which the item keeps as `_kafkaHeaders`.
pub fn decode_record(
    bytes: &[u8],
    max_inflated: usize,
    schemas: &BatchSchemas,
    at: Coordinates<'_>,
    headers: &[sensor_shared::item::Header<'_>],
    writer: &mut ItemWriter,
) -> Result<Item, String> {
    let frame = wire::decode(bytes, max_inflated).map_err(|e| format!("not Glue framing: {e}"))?;
    let schema = match schemas.get(&frame.schema_version_id) {
        Some(Ok(s)) => s,
        Some(Err(reason)) => return Err(reason.clone()),
        None => return Err("schema version not resolved".into()),
    };
    sensor_shared::item::write_reading_with_headers(
        schema,
        &frame.body,
        &frame.schema_version_id,
        at,
        headers,
        writer,
    )
    .map(|w| w.item)
}

/// The batch's record values, base64-decoded into one buffer.
struct Payloads {
    bytes: Vec<u8>,
    spans: Vec<Result<std::ops::Range<usize>, String>>,
}

impl Payloads {
    fn decode(records: &[&KafkaRecord]) -> Payloads {
        let b64 = base64::engine::general_purpose::STANDARD;
        let len = records
            .iter()
            .map(|r| r.value.as_deref().map_or(0, |v| v.len() / 4 * 3 + 3))
            .sum();
        let mut bytes = Vec::with_capacity(len);
        let spans = records
            .iter()
            .map(|r| {
                let v = r.value.as_deref().ok_or("record has no value")?;
                let start = bytes.len();
                match b64.decode_vec(v, &mut bytes) {
                    Ok(()) => Ok(start..bytes.len()),
                    Err(e) => {
                        bytes.truncate(start);
                        Err(format!("value is not base64: {e}"))
                    }
                }
            })
            .collect();
        Payloads { bytes, spans }
    }

    fn get(&self, i: usize) -> Result<&[u8], &str> {
        match &self.spans[i] {
            Ok(span) => Ok(&self.bytes[span.clone()]),
            Err(reason) => Err(reason),
        }
    }
}

fn dead_letter(r: &KafkaRecord, payload: Result<&[u8], &str>, reason: String) -> DeadLetter {
    DeadLetter {
        schema_version_id: payload
            .ok()
            .and_then(|p| wire::peek(p).ok())
            .map(|(id, _)| id),
        reason,
        topic: r.topic.clone().unwrap_or_default(),
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp.0.timestamp_millis(),
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r.headers.clone(),
        omitted: None,
    }
}

/// The Embedded Metric Format lines of one successful invocation (README, "Metrics"):
/// `cache` holds this invocation's schema cache hits and fetches.
pub fn metric_lines(
    function: &str,
    summary: &Summary,
    stats: &BatchStats,
    cache: sensor_shared::registry::CacheStats,
) -> Vec<String> {
    let mut set = MetricSet::for_function(function);
    set.count("Received", summary.received as u64)
        .count("Stored", summary.stored as u64)
        .count("DeadLettered", summary.dead_lettered as u64)
        .count("Duplicates", summary.duplicates as u64)
        .count("KeyCollisions", summary.key_collisions as u64)
        .count("SchemaCacheHits", cache.hits)
        .count("SchemaFetches", cache.fetches)
        .count("BatchWriteItemCalls", stats.store.calls as u64)
        .count("UnprocessedRetried", stats.store.unprocessed_retried as u64)
        .count("AggregateWrites", stats.aggregates.writes as u64)
        .count("AggregateConflicts", stats.aggregates.conflicts as u64)
        .millis("BatchTime", stats.elapsed);
    let mut lines = vec![set.line()];
    let reasons = DEAD_LETTER_REASONS
        .iter()
        .copied()
        .zip(stats.dead_lettered_by_reason);
    lines.extend(
        breakdown(function, "Reason", "DeadLettered", reasons)
            .iter()
            .map(MetricSet::line),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use sensor_shared::wire::Compression;
    use serde_json::json;

    const DEF: &str = r#"{"type":"record","name":"R","fields":[
        {"name":"deviceId","type":"string"},{"name":"timestamp","type":"long"},
        {"name":"t","type":["null","double"],"default":null}]}"#;

    fn decode(
        event: serde_json::Value,
    ) -> Result<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, String> {
        let id = Uuid::from_u128(7);
        let schema = CompiledSchema::parse(DEF).unwrap();
        let frame = wire::encode(
            &id,
            Compression::None,
            &schema.encode_to_vec(&event).unwrap(),
        );
        let schemas = BatchSchemas::from([(id, Ok(Arc::new(schema)))]);
        let at = Coordinates {
            topic: "t",
            partition: 2,
            offset: 9,
        };
        let mut writer = ItemWriter::new();
        decode_item(&frame, 1 << 20, &schemas, at, &mut writer)
            .map(|i| item::attributes(&i).unwrap())
    }

    #[test]
    fn keys_dynamodb_refuses_make_the_record_poison() {
        let ok = decode(json!({"deviceId": "d", "timestamp": 1, "t": 1.5})).unwrap();
        assert_eq!(ok["t"], AttributeValue::N("1.5".into()));
        assert_eq!(ok[ATTR_OFFSET], AttributeValue::N("9".into()));
        let long = "x".repeat(MAX_PARTITION_KEY_BYTES);
        assert!(decode(json!({"deviceId": long, "timestamp": 1})).is_ok());
        for device in [String::new(), "x".repeat(MAX_PARTITION_KEY_BYTES + 1)] {
            let e = decode(json!({"deviceId": device, "timestamp": 1})).unwrap_err();
            assert!(e.contains("deviceId must be 1 to 2048 bytes"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_batch_the_store_fails_dead_letters_nothing_until_it_goes_through() {
        use crate::dlq::MemoryDeadLetters;
        use crate::store::MemoryStore;
        use sensor_shared::registry::MemoryRegistry;
        use sensor_shared::Compatibility;

        let registry = MemoryRegistry::new(Compatibility::None);
        let version = registry.insert(DEF);
        let c = Consumer {
            schemas: SchemaCache::new(registry, 10),
            store: MemoryStore::default(),
            dead_letters: MemoryDeadLetters::default(),
            aggregates: crate::aggregate::MemoryAggregates::default(),
            window_ms: 60_000,
            max_inflated: 1 << 20,
            backoff: Backoff {
                first: std::time::Duration::from_millis(1),
                max: std::time::Duration::from_millis(1),
                attempts: 2,
            },
        };
        let body = CompiledSchema::parse(DEF)
            .unwrap()
            .encode_to_vec(&json!({"deviceId": "d", "timestamp": 1}))
            .unwrap();
        let good = base64::engine::general_purpose::STANDARD.encode(wire::encode(
            &version.id,
            Compression::None,
            &body,
        ));
        let record = |offset: i64, value: &str| {
            let mut r = KafkaRecord::default();
            r.topic = Some("t".into());
            r.offset = offset;
            r.value = Some(value.into());
            r
        };
        let mut event = KafkaEvent::default();
        event.records.insert(
            "t-0".into(),
            vec![record(0, &good), record(1, "bm90IGdsdWU=")],
        );
        *c.store.fail.lock().unwrap() = Some(StoreError::Unavailable("throttled".into()));
        for _ in 0..3 {
            assert!(matches!(
                c.handle(&event).await,
                Err(ConsumerError::Store(_))
            ));
        }
        assert!(c.dead_letters.letters.lock().unwrap().is_empty());
        *c.store.fail.lock().unwrap() = None;
        let s = c.handle(&event).await.unwrap();
        assert_eq!((s.stored, s.dead_lettered), (1, 1));
        let letters = c.dead_letters.letters.lock().unwrap();
        assert_eq!((letters.len(), letters[0].offset), (1, 1));
    }

    #[test]
    fn numbers_dynamodb_cannot_hold_are_left_out() {
        let item = decode(json!({"deviceId": "d", "timestamp": 1, "t": 1e300})).unwrap();
        assert!(!item.contains_key("t"), "{item:?}");
    }

    #[test]
    fn items_over_400_kb_and_reserved_names_are_poison() {
        let def = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"note","type":"string"},
            {"name":"_kafkaOffset","type":["null","long"],"default":null}]}"#;
        let id = Uuid::from_u128(8);
        let schema = CompiledSchema::parse(def).unwrap();
        let schemas = BatchSchemas::from([(id, Ok(Arc::new(schema.clone())))]);
        let mut writer = ItemWriter::new();
        let mut decode = |event: serde_json::Value| {
            let frame = wire::encode(
                &id,
                Compression::None,
                &schema.encode_to_vec(&event).unwrap(),
            );
            let at = Coordinates {
                topic: "t",
                partition: 0,
                offset: 1,
            };
            decode_item(&frame, 1 << 20, &schemas, at, &mut writer)
        };
        let fits = decode(
            json!({"deviceId": "d", "timestamp": 1, "note": "x".repeat(MAX_ITEM_BYTES - 200)}),
        );
        assert!(fits.is_ok(), "{fits:?}");
        let e =
            decode(json!({"deviceId": "d", "timestamp": 1, "note": "x".repeat(MAX_ITEM_BYTES)}))
                .unwrap_err();
        assert!(e.contains("409600-byte item limit"), "{e}");
        let e = decode(json!({"deviceId": "d", "timestamp": 1, "note": "", "_kafkaOffset": 3}))
            .unwrap_err();
        assert!(e.contains("`_kafkaOffset` is reserved"), "{e}");
    }
}
