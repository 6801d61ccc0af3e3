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
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use sensor_shared::wire;
use sensor_shared::{CompiledSchema, RegistryError, SchemaCache, SchemaSource};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

pub use dlq::{DeadLetter, DeadLetterError, DeadLetterSink};
pub use item::{Item, ItemBuilder};
pub use store::{write_all, Backoff, BatchWriter, StoreError};

/// Attributes added to every stored reading.
pub const ATTR_SCHEMA_VERSION: &str = "_schemaVersionId";
pub const ATTR_TOPIC: &str = "_kafkaTopic";
pub const ATTR_PARTITION: &str = "_kafkaPartition";
pub const ATTR_OFFSET: &str = "_kafkaOffset";

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

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

        let payloads: Vec<Result<Vec<u8>, String>> = records.iter().map(|r| payload(r)).collect();
        let schemas = self.resolve_schemas(&payloads).await?;

        // Decode, keeping the last reading for each key.
        let mut by_key: HashMap<(String, String), Item> = HashMap::with_capacity(records.len());
        let mut order: Vec<(String, String)> = Vec::with_capacity(records.len());
        let mut letters = Vec::new();
        for (record, payload) in records.iter().zip(&payloads) {
            match self.decode(record, payload, &schemas) {
                Outcome::Item(item) => {
                    let key = store::item_key(&item).expect("decode checked the key");
                    if by_key.insert(key.clone(), item).is_some() {
                        summary.duplicates += 1;
                    } else {
                        order.push(key);
                    }
                }
                Outcome::Poison(reason) => letters.push(dead_letter(record, reason)),
            }
        }
        let items: Vec<Item> = order
            .into_iter()
            .map(|k| by_key.remove(&k).expect("every key has an item"))
            .collect();

        summary.dead_lettered = letters.len();
        if !letters.is_empty() {
            for l in &letters {
                tracing::warn!(topic = %l.topic, partition = l.partition, offset = l.offset, reason = %l.reason, "dead-lettering record");
            }
            self.dead_letters.send_all(letters).await?;
        }
        summary.stored = write_all(&self.store, items, self.backoff).await?;
        Ok(summary)
    }

    /// Looks up each distinct schema version of the batch once. Outages fail the batch; missing
    /// or unreadable versions make their records poison.
    async fn resolve_schemas(
        &self,
        payloads: &[Result<Vec<u8>, String>],
    ) -> Result<BatchSchemas, ConsumerError> {
        let mut ids: Vec<Uuid> = payloads
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .filter_map(|p| wire::peek(p).ok().map(|(id, _)| id))
            .collect();
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
        payload: &Result<Vec<u8>, String>,
        schemas: &BatchSchemas,
    ) -> Outcome {
        let bytes = match payload {
            Ok(b) => b,
            Err(reason) => return Outcome::Poison(reason.clone()),
        };
        let at = Coordinates {
            topic: record.topic.as_deref().unwrap_or_default(),
            partition: record.partition,
            offset: record.offset,
        };
        match decode_item(bytes, self.max_inflated, schemas, at) {
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

/// The hot path: Glue-framed bytes → a DynamoDB item with its schema version id and Kafka
/// coordinates. `Err` says why the record can never be stored.
pub fn decode_item(
    bytes: &[u8],
    max_inflated: usize,
    schemas: &BatchSchemas,
    at: Coordinates<'_>,
) -> Result<Item, String> {
    let frame = wire::decode(bytes, max_inflated).map_err(|e| format!("not Glue framing: {e}"))?;
    let schema = match schemas.get(&frame.schema_version_id) {
        Some(Ok(s)) => s,
        Some(Err(reason)) => return Err(reason.clone()),
        None => return Err("schema version not resolved".into()),
    };
    let mut item = match schema.decode_with(&frame.body, &mut ItemBuilder) {
        Ok(AttributeValue::M(m)) => m,
        Ok(_) => return Err("body is not a record".into()),
        Err(e) => {
            return Err(format!(
                "corrupt body for schema version {}: {e}",
                frame.schema_version_id
            ))
        }
    };
    if store::item_key(&item).is_none() {
        return Err("missing key fields deviceId (string) and timestamp".into());
    }
    item.insert(
        ATTR_SCHEMA_VERSION.into(),
        AttributeValue::S(frame.schema_version_id.to_string()),
    );
    item.insert(ATTR_TOPIC.into(), AttributeValue::S(at.topic.to_string()));
    item.insert(
        ATTR_PARTITION.into(),
        AttributeValue::N(at.partition.to_string()),
    );
    item.insert(ATTR_OFFSET.into(), AttributeValue::N(at.offset.to_string()));
    if item::item_size(&item) > MAX_ITEM_BYTES {
        return Err(format!(
            "reading exceeds DynamoDB's {MAX_ITEM_BYTES}-byte item limit"
        ));
    }
    Ok(item)
}

fn payload(r: &KafkaRecord) -> Result<Vec<u8>, String> {
    let v = r.value.as_deref().ok_or("record has no value")?;
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|e| format!("value is not base64: {e}"))
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
