//! The consumer account's Lambda: a Kafka event (self-managed or MSK event source mapping)
//! becomes readings in DynamoDB.
//!
//! Per record: base64 → Glue framing → writer schema (cross-account registry through a bounded
//! cache) → DynamoDB item. Records that can never be stored go to the dead-letter sink with their
//! reason and the batch goes on; outages (registry, STS, DynamoDB, the dead-letter queue) fail the
//! invocation so the event source mapping retries the whole batch. Writes are idempotent, so a
//! retried batch overwrites instead of duplicating.

pub mod config;
pub mod dlq;
pub mod esm;
pub mod item;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use sensor_shared::wire;
use sensor_shared::{CompiledSchema, RegistryError, SchemaCache, SchemaSource};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

pub use dlq::{DeadLetter, DeadLetterError, DeadLetterSink};
pub use item::{Item, ItemWriter};
pub use store::{write_all, Backoff, BatchWriter, StoreError};

/// Attributes added to every stored reading.
pub const ATTR_SCHEMA_VERSION: &str = "_schemaVersionId";
pub const ATTR_TOPIC: &str = "_kafkaTopic";
pub const ATTR_PARTITION: &str = "_kafkaPartition";
pub const ATTR_OFFSET: &str = "_kafkaOffset";
/// Names a record's own top-level fields may not take.
pub const RESERVED_ATTRIBUTES: &[&str] =
    &[ATTR_SCHEMA_VERSION, ATTR_TOPIC, ATTR_PARTITION, ATTR_OFFSET];

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's limit on a partition key value (UTF-8 bytes).
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;

/// What one invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub received: usize,
    pub stored: usize,
    pub dead_lettered: usize,
    /// Readings in the batch that repeated an earlier (deviceId, timestamp) and were folded.
    pub duplicates: usize,
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

/// The function's state, built once per container.
pub struct Consumer<S, W, D> {
    pub schemas: SchemaCache<S>,
    pub store: W,
    pub dead_letters: D,
    pub max_inflated: usize,
    pub backoff: Backoff,
}

enum Outcome {
    Item(Item),
    Poison(String),
}

impl<S: SchemaSource, W: BatchWriter, D: DeadLetterSink> Consumer<S, W, D> {
    /// Handles one event.
    pub async fn handle(&self, event: &KafkaEvent) -> Result<Summary, ConsumerError> {
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

        let mut writer = ItemWriter::new(RESERVED_ATTRIBUTES);
        let mut items: Vec<Item> = Vec::with_capacity(records.len());
        let mut letters = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match self.decode(record, payloads.get(i), &schemas, &mut writer) {
                Outcome::Item(item) => items.push(item),
                Outcome::Poison(reason) => letters.push(dead_letter(record, reason)),
            }
        }
        // One BatchWriteItem call may not name a key twice: the last reading of each key wins,
        // as it would have one write after another.
        let items = last_of_each_key(items);
        summary.duplicates = summary.received - letters.len() - items.len();

        // Readings first: a store outage fails the batch before anything is dead-lettered, so
        // the retries of that batch do not send its poison records again and again (the writes
        // are idempotent; the queue is not).
        summary.stored = write_all(&self.store, items, self.backoff).await?;
        summary.dead_lettered = letters.len();
        if !letters.is_empty() {
            for l in &letters {
                tracing::warn!(topic = %l.topic, partition = l.partition, offset = l.offset, reason = %l.reason, "dead-lettering record");
            }
            self.dead_letters.send_all(letters).await?;
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
        match decode_item(bytes, self.max_inflated, schemas, at, writer) {
            Ok(item) => Outcome::Item(item),
            Err(reason) => Outcome::Poison(reason),
        }
    }
}

/// The writer schemas of one batch by version id: the schema, or why its records are poison.
pub type BatchSchemas = HashMap<Uuid, Result<Arc<CompiledSchema>, String>>;

/// Where a record sits in Kafka.
#[derive(Debug, Clone, Copy)]
pub struct Coordinates<'a> {
    pub topic: &'a str,
    pub partition: i64,
    pub offset: i64,
}

/// Keeps the last item of each key, in the order of those last items.
fn last_of_each_key(items: Vec<Item>) -> Vec<Item> {
    // foldhash: several times faster than SipHash on short keys, and seeded per map.
    let mut last: HashMap<(&[u8], &[u8]), usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(items.len(), Default::default());
    for (i, item) in items.iter().enumerate() {
        last.insert(item.key(), i);
    }
    if last.len() == items.len() {
        return items;
    }
    let keep: Vec<bool> = items
        .iter()
        .enumerate()
        .map(|(i, item)| last[&item.key()] == i)
        .collect();
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, keep)| keep.then_some(item))
        .collect()
}

/// The hot path: Glue-framed bytes → a DynamoDB item (its DynamoDB JSON) with its schema
/// version id and Kafka coordinates. `Err` says why the record can never be stored. `writer`'s
/// buffers are reused from call to call.
pub fn decode_item(
    bytes: &[u8],
    max_inflated: usize,
    schemas: &BatchSchemas,
    at: Coordinates<'_>,
    writer: &mut ItemWriter,
) -> Result<Item, String> {
    let frame = wire::decode(bytes, max_inflated).map_err(|e| format!("not Glue framing: {e}"))?;
    let schema = match schemas.get(&frame.schema_version_id) {
        Some(Ok(s)) => s,
        Some(Err(reason)) => return Err(reason.clone()),
        None => return Err("schema version not resolved".into()),
    };
    writer.start();
    schema.visit(&frame.body, writer).map_err(|e| {
        format!(
            "corrupt body for schema version {}: {e}",
            frame.schema_version_id
        )
    })?;
    // Formatted without `Display` (its machinery costs more than the rest of these attributes).
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = frame.schema_version_id.hyphenated().encode_lower(&mut id);
    writer.add_string(ATTR_SCHEMA_VERSION, id);
    writer.add_string(ATTR_TOPIC, at.topic);
    writer.add_number(ATTR_PARTITION, at.partition);
    writer.add_number(ATTR_OFFSET, at.offset);
    let written = writer.finish()?;
    // DynamoDB refuses the whole BatchWriteItem call for such a key or item: it would block
    // the partition, so the record is poison.
    if written.device_id_len == 0 || written.device_id_len > MAX_PARTITION_KEY_BYTES {
        return Err(format!(
            "deviceId must be 1 to {MAX_PARTITION_KEY_BYTES} bytes, not {}",
            written.device_id_len
        ));
    }
    if written.size > MAX_ITEM_BYTES {
        return Err(format!(
            "reading exceeds DynamoDB's {MAX_ITEM_BYTES}-byte item limit"
        ));
    }
    Ok(written.item)
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

fn dead_letter(r: &KafkaRecord, reason: String) -> DeadLetter {
    DeadLetter {
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

/// A CloudWatch Embedded Metric Format line for one invocation.
pub fn emf_line(
    function: &str,
    summary: &Summary,
    cache: sensor_shared::registry::CacheStats,
) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "SensorPipeline",
                "Dimensions": [["Function"]],
                "Metrics": [
                    {"Name": "Received", "Unit": "Count"},
                    {"Name": "Stored", "Unit": "Count"},
                    {"Name": "DeadLettered", "Unit": "Count"},
                    {"Name": "SchemaCacheHits", "Unit": "Count"},
                    {"Name": "GlueCalls", "Unit": "Count"}
                ]
            }]
        },
        "Function": function,
        "Received": summary.received,
        "Stored": summary.stored,
        "DeadLettered": summary.dead_lettered,
        "SchemaCacheHits": cache.hits,
        "GlueCalls": cache.fetches,
    })
    .to_string()
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
        let mut writer = ItemWriter::new(RESERVED_ATTRIBUTES);
        decode_item(&frame, 1 << 20, &schemas, at, &mut writer).map(|i| i.attributes().unwrap())
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
        let mut writer = ItemWriter::new(RESERVED_ATTRIBUTES);
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
