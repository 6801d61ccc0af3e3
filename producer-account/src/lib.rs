//! The producer account's Lambda: any JSON object (or array of objects) becomes a reading with
//! `deviceId` and `timestamp`, written in the Glue wire format with a schema version inferred,
//! merged and registered at run time.
//!
//! `main.rs` only wires configuration and clients; [`Producer::handle`] is the whole behaviour and
//! takes its registry and sink as type parameters, so tests run it without AWS or a broker.

pub mod config;
pub mod kafka_roots;
pub mod msk_iam;
pub mod schemas;
pub mod sink;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::{SystemTime, UNIX_EPOCH};

use sensor_shared::failure::Failure;
use sensor_shared::item::{self, Coordinates, ItemWriter};
use sensor_shared::metrics::MetricSet;
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

/// Why an invocation's input can never be written: a 400, whose message is this value's text.
/// `index` is the event's place in a batch, `None` for a lone event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The payload is not an object or a non-empty array of objects within the batch limit.
    #[error("{0}")]
    Shape(String),
    /// The publish envelope is malformed (`EVENT_ENVELOPE=true`).
    #[error("publish envelope: {0}")]
    Envelope(String),
    /// A key field (`deviceId`, `timestamp`) is outside what a key can hold.
    #[error("{}{reason}", event_prefix(*index))]
    KeyField {
        index: Option<usize>,
        reason: String,
    },
    /// The event's schema cannot be inferred or merged.
    #[error("{}{reason}", event_prefix(*index))]
    Inference {
        index: Option<usize>,
        reason: String,
    },
    /// The event does not fit the registered schema it must be written with.
    #[error("{} does not fit the registered schema: {reason}", index.map_or("event".into(), |i| format!("event {i}")))]
    Misfit {
        index: Option<usize>,
        reason: String,
    },
    /// The merged schema is not compatible with the latest version.
    #[error("{0}")]
    Incompatible(String),
    /// The registry refused the definition.
    #[error("{0}")]
    RegistryRefused(String),
    /// The consumer could not store the reading.
    #[error("{}cannot be stored: {reason}", event_prefix(*index))]
    Unstorable {
        index: Option<usize>,
        reason: String,
    },
}

fn event_prefix(index: Option<usize>) -> String {
    index.map(|i| format!("event {i}: ")).unwrap_or_default()
}

impl Refusal {
    /// The reason class (the `Reason` dimension of the `Refused` metric, [`REFUSAL_REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Shape(_) => "Shape",
            Refusal::Envelope(_) => "Envelope",
            Refusal::KeyField { .. } => "KeyField",
            Refusal::Inference { .. } => "Inference",
            Refusal::Misfit { .. } => "Misfit",
            Refusal::Incompatible(_) => "Incompatible",
            Refusal::RegistryRefused(_) => "RegistryRefused",
            Refusal::Unstorable { .. } => "Unstorable",
        }
    }
}

/// Why an invocation stops early: a 400, or an outage.
enum Stop {
    Refused(Refusal),
    Failed(ProducerError),
}

impl From<Refusal> for Stop {
    fn from(r: Refusal) -> Self {
        Stop::Refused(r)
    }
}

impl From<ProducerError> for Stop {
    fn from(e: ProducerError) -> Self {
        Stop::Failed(e)
    }
}

/// A schema failure of the event numbered `index` (`None` for a lone event): a 400, or an
/// outage.
fn schema_stop(failure: SchemaFailure, at: impl Fn(usize) -> Option<usize>) -> Stop {
    match failure {
        SchemaFailure::Event { index, error } => Refusal::Inference {
            index: at(index),
            reason: error.to_string(),
        }
        .into(),
        SchemaFailure::Misfit { index, error } => Refusal::Misfit {
            index: at(index),
            reason: error.to_string(),
        }
        .into(),
        SchemaFailure::Registry(e @ RegistryError::Incompatible(_)) => {
            Refusal::Incompatible(e.to_string()).into()
        }
        SchemaFailure::Registry(e @ RegistryError::Invalid(_)) => {
            Refusal::RegistryRefused(e.to_string()).into()
        }
        SchemaFailure::Registry(e) => ProducerError::Registry(e).into(),
        SchemaFailure::Unreadable(e) => ProducerError::Unreadable(e).into(),
    }
}

/// The longest Kafka message key an envelope may give: a `deviceId`'s limit, the key it replaces.
pub const MAX_KEY_BYTES: usize = item::MAX_PARTITION_KEY_BYTES;

/// One invocation's input: its events, and what an envelope gave them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Publish {
    pub events: Vec<Map<String, Value>>,
    /// The Kafka message key of every record (`None`: each record's `deviceId`).
    pub key: Option<String>,
    /// Kafka headers of every record, in name order.
    pub headers: Vec<(String, String)>,
}

/// Reads a payload: a bare event or array of events, or with `envelope` a publish envelope
/// `{"body": <event or events>, "key": "<string>", "headers": {"<name>": "<string>"}}` (`key`
/// and `headers` optional). `max_batch` bounds the events.
pub fn parse_payload(payload: Value, envelope: bool, max_batch: usize) -> Result<Publish, Refusal> {
    if !envelope {
        return Ok(Publish {
            events: parse_events(payload, max_batch)?,
            ..Publish::default()
        });
    }
    let Value::Object(mut members) = payload else {
        return Err(Refusal::Envelope(format!(
            "must be a JSON object with a body, found {}",
            sensor_shared::infer::json_kind(&payload)
        )));
    };
    if let Some(other) = members
        .keys()
        .find(|k| !["body", "key", "headers"].contains(&k.as_str()))
    {
        return Err(Refusal::Envelope(format!(
            "member {:?} is not one of body, key, headers",
            short(other)
        )));
    }
    let body = members
        .remove("body")
        .ok_or_else(|| Refusal::Envelope("has no body (the event or array of events)".into()))?;
    let key = match members.remove("key") {
        None => None,
        Some(Value::String(k)) if (1..=MAX_KEY_BYTES).contains(&k.len()) => Some(k),
        Some(Value::String(k)) => {
            return Err(Refusal::Envelope(format!(
                "key must be 1 to {MAX_KEY_BYTES} bytes, not {}",
                k.len()
            )))
        }
        Some(other) => {
            return Err(Refusal::Envelope(format!(
                "key must be a string, found {}",
                sensor_shared::infer::json_kind(&other)
            )))
        }
    };
    let headers = match members.remove("headers") {
        None => Vec::new(),
        Some(Value::Object(h)) => h
            .into_iter()
            .map(|(name, v)| match v {
                _ if name.is_empty() => Err(Refusal::Envelope("a header name is empty".into())),
                Value::String(v) => Ok((name, v)),
                other => Err(Refusal::Envelope(format!(
                    "header {:?} must be a string, found {}",
                    short(&name),
                    sensor_shared::infer::json_kind(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(Refusal::Envelope(format!(
                "headers must be an object of strings, found {}",
                sensor_shared::infer::json_kind(&other)
            )))
        }
    };
    Ok(Publish {
        events: parse_events(body, max_batch)?,
        key,
        headers,
    })
}

/// A lone event or a non-empty array of at most `max_batch` events, each an object.
fn parse_events(payload: Value, max_batch: usize) -> Result<Vec<Map<String, Value>>, Refusal> {
    match payload {
        Value::Object(o) => Ok(vec![o]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(Refusal::Shape(
                    "empty batch: send at least one object".into(),
                ));
            }
            if items.len() > max_batch {
                return Err(Refusal::Shape(format!(
                    "batch of {} events exceeds the limit of {max_batch}",
                    items.len(),
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
                .collect()
        }
        other => Err(Refusal::Shape(format!(
            "event must be a JSON object or an array of objects, found {}",
            sensor_shared::infer::json_kind(&other)
        ))),
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
        self.failure().retryable
    }

    /// The class Lambda reports (`errorType`) and whether a retry can help
    /// ([`sensor_shared::failure`] has the naming rule).
    pub fn failure(&self) -> Failure {
        let (class, retryable) = match self {
            ProducerError::Registry(RegistryError::Unavailable(_)) => ("RegistryUnavailable", true),
            ProducerError::Registry(RegistryError::AccessDenied(_)) => ("AccessDenied", false),
            ProducerError::Registry(RegistryError::NotFound(_)) => ("RegistryNotFound", false),
            ProducerError::Registry(_) => ("RegistryRefused", false),
            ProducerError::Unreadable(_) => ("SchemaUnreadable", false),
            ProducerError::Delivery(_) => ("DeliveryFailed", true),
        };
        Failure::new(class, retryable, self.to_string())
    }
}

impl From<ProducerError> for lambda_runtime::Diagnostic {
    fn from(e: ProducerError) -> Self {
        let f = e.failure();
        lambda_runtime::Diagnostic {
            error_type: f.class.into(),
            error_message: f.message(),
        }
    }
}

/// Reason classes of 400 answers (the `Reason` dimension of the `Refused` metric).
pub const REFUSAL_REASONS: [&str; 8] = [
    "Shape",
    "Envelope",
    "KeyField",
    "Inference",
    "Misfit",
    "Incompatible",
    "RegistryRefused",
    "Unstorable",
];

/// What one invocation did, for metrics; filled in also when it fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationStats {
    /// Readings in the invocation's payload (0 when it was not an object or array).
    pub readings: usize,
    /// Readings acknowledged by Kafka.
    pub delivered: usize,
    /// The reason class of a 400 answer ([`REFUSAL_REASONS`]).
    pub refused: Option<&'static str>,
    /// Time from handing the records to the sink to the last acknowledgement.
    pub delivery_time: Option<std::time::Duration>,
    pub elapsed: std::time::Duration,
}

/// The Embedded Metric Format lines of one invocation (README, "Metrics"). `registry_calls`
/// and `versions_registered` count this invocation's Glue calls.
pub fn metric_lines(
    function: &str,
    stats: &InvocationStats,
    registry_calls: u64,
    versions_registered: u64,
) -> Vec<String> {
    let mut set = MetricSet::for_function(function);
    set.count("Readings", stats.readings as u64)
        .count("Delivered", stats.delivered as u64)
        .count("Batches", 1)
        .count("VersionsRegistered", versions_registered)
        .count("RegistryCalls", registry_calls)
        .count("Refused", u64::from(stats.refused.is_some()))
        .millis("Duration", stats.elapsed);
    if let Some(t) = stats.delivery_time {
        set.millis("DeliveryTime", t);
    }
    let mut lines = vec![set.line()];
    if let Some(reason) = stats.refused {
        let mut by_reason = MetricSet::for_function(function).dimension("Reason", reason);
        by_reason.count("Refused", 1);
        lines.push(by_reason.line());
    }
    lines
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
    /// Whether payloads are publish envelopes (`EVENT_ENVELOPE`; [`parse_payload`]).
    pub envelope: bool,
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
        self.handle_counted(payload, &mut InvocationStats::default())
            .await
    }

    /// [`Producer::handle`], counting what metrics need into `stats`.
    pub async fn handle_counted(
        &self,
        payload: Value,
        stats: &mut InvocationStats,
    ) -> Result<Response, ProducerError> {
        let started = std::time::Instant::now();
        let r = match self.write(payload, stats).await {
            Ok(response) => Ok(response),
            Err(Stop::Refused(refusal)) => {
                stats.refused = Some(refusal.reason());
                Ok(Response::bad_request(refusal.to_string()))
            }
            Err(Stop::Failed(e)) => Err(e),
        };
        stats.elapsed = started.elapsed();
        r
    }

    async fn write(&self, payload: Value, stats: &mut InvocationStats) -> Result<Response, Stop> {
        let body = if self.envelope {
            payload.get("body")
        } else {
            Some(&payload)
        };
        stats.readings = match body {
            Some(Value::Object(_)) => 1,
            Some(Value::Array(items)) => items.len(),
            _ => 0,
        };
        let Publish {
            events,
            key,
            headers,
        } = parse_payload(payload, self.envelope, self.max_batch)?;
        let events = self.with_keys(events)?;
        let lone = events.len() == 1;
        let at = |index: usize| (!lone).then_some(index);
        let (active, bodies) = self
            .schemas
            .encode_batch(&events)
            .await
            .map_err(|f| schema_stop(f, at))?;
        let id = active.version.id;
        // Each reading's item as the consumer will write it, with the widest coordinates Kafka
        // can give it and the record's headers: what the consumer could not store is refused
        // here, not dead-lettered.
        let mut writer = ItemWriter::new();
        let mut stamps = Vec::with_capacity(events.len());
        let item_headers: Vec<item::Header<'_>> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        for (index, body) in bodies.iter().enumerate() {
            let widest = Coordinates::widest(&self.topic);
            let w = item::write_reading_with_headers(
                &active.schema,
                body,
                &id,
                widest,
                &item_headers,
                &mut writer,
            )
            .map_err(|reason| Refusal::Unstorable {
                index: at(index),
                reason,
            })?;
            stamps.push(w.timestamp_ms);
        }
        let records: Vec<OutRecord> = events
            .iter()
            .zip(bodies)
            .map(|(e, body)| OutRecord {
                key: key
                    .clone()
                    .unwrap_or_else(|| e[DEVICE_ID].as_str().unwrap_or_default().to_string()),
                payload: wire::encode(&id, self.compression, &body),
                headers: headers.clone(),
            })
            .collect();
        let n = records.len();
        let sent = std::time::Instant::now();
        let deliveries = self.sink.send_all(records).await;
        stats.delivery_time = Some(sent.elapsed());
        let deliveries = deliveries.map_err(ProducerError::from)?;
        stats.delivered = deliveries.len();
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
        Ok(Response {
            status_code: 200,
            message: format!("{n} reading(s) delivered"),
            schema_version_id: Some(id.to_string()),
            schema_version_number: Some(active.version.number),
            records,
        })
    }

    /// The events, each with its key fields: `deviceId` and `timestamp` added where missing, a
    /// date-time timestamp turned into epoch milliseconds, and both within what a key can hold.
    fn with_keys(&self, events: Vec<Map<String, Value>>) -> Result<Vec<Value>, Refusal> {
        let lone = events.len() == 1;
        let now = (self.clock)();
        events
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                add_keys(&mut e, &self.device_id, now).map_err(|reason| Refusal::KeyField {
                    index: (!lone).then_some(i),
                    reason,
                })?;
                Ok(Value::Object(e))
            })
            .collect()
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
