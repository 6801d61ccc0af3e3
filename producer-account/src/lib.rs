//! The producer account's Lambda: any JSON object (or array of objects) becomes a reading with
//! `deviceId` and `timestamp`, written in the Glue wire format with a schema version inferred,
//! merged and registered at run time.
//!
//! `main.rs` only wires configuration and clients; [`Producer::handle`] is the whole behaviour and
//! takes its registry and sink as type parameters, so tests run it without AWS or a broker.

pub mod config;
pub mod schemas;
pub mod sink;

use std::time::{SystemTime, UNIX_EPOCH};

use sensor_shared::item::{self, Coordinates, ItemWriter};
use sensor_shared::schema::{DEVICE_ID, TIMESTAMP};
use sensor_shared::wire::{self, Compression};
use sensor_shared::{RegistryError, SchemaRegistry};
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

pub use schemas::{ProducerSchemas, SchemaFailure};
pub use sink::{Delivery, OutRecord, RecordSink, SinkError};

/// The function's answer, in the HTTP-style shape Lambda publishers commonly return.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status_code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version_number: Option<i64>,
    pub records: Vec<Delivered>,
}

/// One reading as delivered: where Kafka put it, the timestamp it carries and the key
/// (`deviceId`, `readingId`) it is stored under in the consumer account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub reading_id: String,
}

impl Response {
    fn bad_request(message: impl Into<String>) -> Self {
        Response {
            status_code: 400,
            message: message.into(),
            schema_version_id: None,
            schema_version_number: None,
            records: Vec::new(),
        }
    }
}

/// Why an invocation's input can never be written: a 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The payload is not an object or a non-empty array of objects within the batch limit.
    #[error("{0}")]
    Shape(String),
    /// One event cannot be written or stored; `index` is `None` for a lone event.
    #[error("{}{reason}", index.map(|i| format!("event {i}: ")).unwrap_or_default())]
    Event {
        index: Option<usize>,
        reason: String,
    },
}

/// A failure a retry may fix: the invocation fails (a Lambda error), nothing is acknowledged.
#[derive(Debug, Error)]
pub enum ProducerError {
    #[error("schema registry: {0}")]
    Registry(RegistryError),
    #[error("latest registered schema cannot be read: {0}")]
    Unreadable(String),
    #[error("delivery to Kafka failed: {0}")]
    Delivery(#[from] SinkError),
}

impl ProducerError {
    /// Whether calling again with the same event can succeed without anyone fixing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProducerError::Registry(e) => e.is_retryable(),
            ProducerError::Unreadable(_) => false,
            ProducerError::Delivery(_) => true,
        }
    }
}

/// The function's state: built once per container.
pub struct Producer<R, S> {
    pub schemas: ProducerSchemas<R>,
    pub sink: S,
    pub device_id: String,
    pub compression: Compression,
    pub max_batch: usize,
    /// The topic readings go to: part of their key in the consumer account.
    pub topic: String,
    pub clock: fn() -> i64,
}

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl<R: SchemaRegistry, S: RecordSink> Producer<R, S> {
    /// Handles one invocation. `Ok` carries 200 or 400; `Err` is an outage (500, retry).
    pub async fn handle(&self, payload: Value) -> Result<Response, ProducerError> {
        match self.write(payload).await? {
            Ok(response) => Ok(response),
            Err(refusal) => Ok(Response::bad_request(refusal.to_string())),
        }
    }

    async fn write(&self, payload: Value) -> Result<Result<Response, Refusal>, ProducerError> {
        let events = match self.readings(payload) {
            Ok(events) => events,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let lone = events.len() == 1;
        let at = |index: usize| (!lone).then_some(index);
        let (active, bodies) = match self.schemas.encode_batch(&events).await {
            Ok(ok) => ok,
            Err(SchemaFailure::Event { index, error }) => {
                return Ok(Err(Refusal::Event {
                    index: at(index),
                    reason: error.to_string(),
                }))
            }
            Err(SchemaFailure::Misfit { index, error }) => {
                let which = at(index).map_or("event".into(), |i| format!("event {i}"));
                return Ok(Err(Refusal::Shape(format!(
                    "{which} does not fit the registered schema: {error}"
                ))));
            }
            Err(SchemaFailure::Registry(
                e @ (RegistryError::Incompatible(_) | RegistryError::Invalid(_)),
            )) => return Ok(Err(Refusal::Shape(e.to_string()))),
            Err(SchemaFailure::Registry(e)) => return Err(ProducerError::Registry(e)),
            Err(SchemaFailure::Unreadable(e)) => return Err(ProducerError::Unreadable(e)),
        };
        let id = active.version.id;
        // Each reading's item as the consumer will write it, with the widest coordinates Kafka
        // can give it: what the consumer could not store is refused here, not dead-lettered.
        let mut writer = ItemWriter::new();
        let mut stamps = Vec::with_capacity(events.len());
        for (index, body) in bodies.iter().enumerate() {
            let widest = Coordinates::widest(&self.topic);
            match item::write_reading(&active.schema, body, &id, widest, &mut writer) {
                Ok(w) => stamps.push(w.timestamp_ms),
                Err(reason) => {
                    return Ok(Err(Refusal::Event {
                        index: at(index),
                        reason: format!("cannot be stored: {reason}"),
                    }))
                }
            }
        }
        let records: Vec<OutRecord> = events
            .iter()
            .zip(bodies)
            .map(|(e, body)| OutRecord {
                key: e[DEVICE_ID].as_str().unwrap_or_default().to_string(),
                payload: wire::encode(&id, self.compression, &body),
            })
            .collect();
        let n = records.len();
        let deliveries = self.sink.send_all(records).await?;
        tracing::info!(
            schema_version_id = %id,
            schema_version_number = active.version.number,
            records = n,
            first_partition = deliveries.first().map(|d| d.partition),
            first_offset = deliveries.first().map(|d| d.offset),
            "readings delivered"
        );
        let records = deliveries
            .into_iter()
            .zip(stamps)
            .map(|(d, timestamp)| Delivered {
                partition: d.partition,
                offset: d.offset,
                timestamp,
                reading_id: item::reading_id(
                    timestamp,
                    Coordinates {
                        topic: &self.topic,
                        partition: d.partition.into(),
                        offset: d.offset,
                    },
                ),
            })
            .collect();
        Ok(Ok(Response {
            status_code: 200,
            message: format!("{n} reading(s) delivered"),
            schema_version_id: Some(id.to_string()),
            schema_version_number: Some(active.version.number),
            records,
        }))
    }

    /// The invocation's events, each with its key fields: `deviceId` and `timestamp` added
    /// where missing, a date-time timestamp turned into epoch milliseconds, and both within
    /// what a key can hold.
    fn readings(&self, payload: Value) -> Result<Vec<Value>, Refusal> {
        let mut events = match payload {
            Value::Object(o) => vec![o],
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(Refusal::Shape(
                        "empty batch: send at least one object".into(),
                    ));
                }
                if items.len() > self.max_batch {
                    return Err(Refusal::Shape(format!(
                        "batch of {} events exceeds the limit of {}",
                        items.len(),
                        self.max_batch
                    )));
                }
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::Object(o) => Ok(o),
                        other => Err(Refusal::Shape(format!(
                            "event {i} must be a JSON object, found {}",
                            sensor_shared::infer::json_kind(&other)
                        ))),
                    })
                    .collect::<Result<_, _>>()?
            }
            other => {
                return Err(Refusal::Shape(format!(
                    "event must be a JSON object or an array of objects, found {}",
                    sensor_shared::infer::json_kind(&other)
                )))
            }
        };
        let lone = events.len() == 1;
        let now = (self.clock)();
        for (i, e) in events.iter_mut().enumerate() {
            add_keys(e, &self.device_id, now).map_err(|reason| Refusal::Event {
                index: (!lone).then_some(i),
                reason,
            })?;
        }
        Ok(events.into_iter().map(Value::Object).collect())
    }
}

/// Adds `deviceId` and `timestamp` unless the event carries its own, reads an RFC 3339
/// timestamp as epoch milliseconds, and checks both against the key's limits. Values of other
/// types are left for inference to refuse with its own message.
fn add_keys(e: &mut Map<String, Value>, device_id: &str, now: i64) -> Result<(), String> {
    let device = e
        .entry(DEVICE_ID)
        .or_insert_with(|| Value::String(device_id.to_string()));
    if let Value::String(d) = device {
        item::check_device_id(d.len())?;
    }
    let timestamp = e.entry(TIMESTAMP).or_insert_with(|| Value::from(now));
    if let Value::String(text) = timestamp {
        *timestamp = Value::from(parse_timestamp(text)?);
    }
    if let Some(ms) = timestamp.as_i64() {
        item::check_timestamp(ms)?;
    }
    Ok(())
}

/// An RFC 3339 date-time with its offset (`2026-12-01T10:00:00.250+01:00`, `…Z`) as epoch
/// milliseconds; finer fractions are cut to the millisecond.
fn parse_timestamp(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            format!(
                "`{TIMESTAMP}` must be an integer (epoch milliseconds) or an RFC 3339 date-time \
                 with an offset, not {:?}",
                short(text)
            )
        })
}

/// At most 64 characters of `s`.
fn short(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(i, _)| &s[..i])
}
