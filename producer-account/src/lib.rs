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
    pub records: Vec<Delivery>,
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
        let mut events = match payload {
            Value::Object(o) => vec![o],
            Value::Array(items) => {
                if items.is_empty() {
                    return Ok(Response::bad_request(
                        "empty batch: send at least one object",
                    ));
                }
                if items.len() > self.max_batch {
                    return Ok(Response::bad_request(format!(
                        "batch of {} events exceeds the limit of {}",
                        items.len(),
                        self.max_batch
                    )));
                }
                let mut objs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(o) => objs.push(o),
                        other => {
                            return Ok(Response::bad_request(format!(
                                "event {i} must be a JSON object, found {}",
                                sensor_shared::infer::json_kind(&other)
                            )))
                        }
                    }
                }
                objs
            }
            other => {
                return Ok(Response::bad_request(format!(
                    "event must be a JSON object or an array of objects, found {}",
                    sensor_shared::infer::json_kind(&other)
                )))
            }
        };
        let now = (self.clock)();
        for e in &mut events {
            add_keys(e, &self.device_id, now);
        }
        let events: Vec<Value> = events.into_iter().map(Value::Object).collect();
        let (active, bodies) = match self.schemas.encode_batch(&events).await {
            Ok(ok) => ok,
            Err(SchemaFailure::Event { index, error }) => {
                let which = if events.len() == 1 {
                    String::new()
                } else {
                    format!("event {index}: ")
                };
                return Ok(Response::bad_request(format!("{which}{error}")));
            }
            Err(SchemaFailure::Misfit { index, error }) => {
                let which = if events.len() == 1 {
                    "event".to_string()
                } else {
                    format!("event {index}")
                };
                return Ok(Response::bad_request(format!(
                    "{which} does not fit the registered schema: {error}"
                )));
            }
            Err(SchemaFailure::Registry(
                e @ (RegistryError::Incompatible(_) | RegistryError::Invalid(_)),
            )) => return Ok(Response::bad_request(e.to_string())),
            Err(SchemaFailure::Registry(e)) => return Err(ProducerError::Registry(e)),
            Err(SchemaFailure::Unreadable(e)) => return Err(ProducerError::Unreadable(e)),
        };
        let id = active.version.id;
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
        Ok(Response {
            status_code: 200,
            message: format!("{n} reading(s) delivered"),
            schema_version_id: Some(id.to_string()),
            schema_version_number: Some(active.version.number),
            records: deliveries,
        })
    }
}

/// Adds `deviceId` and `timestamp` unless the event carries its own.
fn add_keys(e: &mut Map<String, Value>, device_id: &str, now: i64) {
    if !e.contains_key(DEVICE_ID) {
        e.insert(DEVICE_ID.into(), Value::String(device_id.to_string()));
    }
    if !e.contains_key(TIMESTAMP) {
        e.insert(TIMESTAMP.into(), Value::from(now));
    }
}
