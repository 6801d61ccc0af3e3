//! Kafka for the tools: where the brokers are (given, or read from the producer's broker-map
//! secret through the cross-account role) and single records read back at their coordinates.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use sensor_shared::aws::{assume_role_config, AssumeRole};
use sensor_shared::broker_map::{Access, BrokerMap};

use crate::esm::RawRecord;

/// The bootstrap servers of a PLAINTEXT listener in the broker-map secret `secret_arn` (in the
/// producer account), read with credentials of `role` assumed from `base`. The tools connect
/// without TLS or SASL: they run against the local stack or a broker reachable in plain text.
pub async fn bootstrap_from_secret(
    base: &SdkConfig,
    role: &AssumeRole,
    secret_arn: &str,
) -> Result<String, String> {
    let producer_side = assume_role_config(base, role).await;
    let sm = aws_sdk_secretsmanager::Client::new(&producer_side);
    let secret = sm
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| sensor_shared::aws::classify("GetSecretValue", &e).message)?;
    let map = BrokerMap::parse(secret.secret_string().unwrap_or_default())?;
    match map.access()? {
        Access::Plaintext => Ok(map.bootstrap()),
        other => Err(format!(
            "the tools connect in PLAINTEXT only; the broker map asks for {other:?}"
        )),
    }
}

/// Why a record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Kafka no longer (or never) had a record there: retention, compaction, a wrong offset.
    Gone(String),
    /// The broker could not be reached or answered with an error; a retry may help.
    Unavailable(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Gone(s) => write!(f, "record not in Kafka: {s}"),
            FetchError::Unavailable(s) => write!(f, "Kafka unavailable: {s}"),
        }
    }
}

/// Reads single records by their coordinates.
pub trait RecordSource: Send + Sync {
    fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> impl Future<Output = Result<RawRecord, FetchError>> + Send;
}

/// Records read straight from partitions (no consumer group, nothing committed).
pub struct KafkaRecords {
    bootstrap: String,
    timeout: Duration,
    consumer: Mutex<Option<BaseConsumer>>,
}

impl KafkaRecords {
    pub fn new(bootstrap: impl Into<String>, timeout: Duration) -> Self {
        KafkaRecords {
            bootstrap: bootstrap.into(),
            timeout,
            consumer: Mutex::new(None),
        }
    }

    fn fetch_blocking(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<RawRecord, FetchError> {
        let mut guard = self.consumer.lock().unwrap();
        if guard.is_none() {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &self.bootstrap)
                // Required by the client, never joined: partitions are assigned by hand.
                .set("group.id", "sensorctl-fetch")
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "true")
                .set("auto.offset.reset", "error")
                .create()
                .map_err(|e| FetchError::Unavailable(e.to_string()))?;
            *guard = Some(c);
        }
        let consumer = guard.as_ref().expect("set above");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| FetchError::Unavailable(e.to_string()))?;
        consumer
            .assign(&tpl)
            .map_err(|e| FetchError::Unavailable(e.to_string()))?;
        let at = format!("{topic}/{partition}/{offset}");
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {
                    return Err(FetchError::Gone(format!(
                        "{at} is past the end of the partition"
                    )))
                }
                Some(Err(e)) => {
                    let text = e.to_string();
                    // auto.offset.reset=error: an offset outside the log is reported, not skipped.
                    if text.contains("out of range") || text.contains("OffsetOutOfRange") {
                        return Err(FetchError::Gone(format!("{at}: {text}")));
                    }
                    tracing::debug!(error = %text, "fetch poll error");
                }
                Some(Ok(m)) if m.offset() == offset => return Ok(raw_record(&m)),
                // Compacted logs skip offsets: the first record read is past the one asked for.
                Some(Ok(m)) if m.offset() > offset => {
                    return Err(FetchError::Gone(format!(
                        "{at}: the partition continues at offset {}",
                        m.offset()
                    )))
                }
                Some(Ok(_)) => continue,
            }
        }
        Err(FetchError::Unavailable(format!(
            "{at} not read within {} ms",
            self.timeout.as_millis()
        )))
    }
}

/// A message as read, copied out of the client's buffer.
pub fn raw_record(m: &impl Message) -> RawRecord {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    RawRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers,
    }
}

impl RecordSource for KafkaRecords {
    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<RawRecord, FetchError> {
        // librdkafka blocks; the tools fetch a few records, one at a time.
        tokio::task::block_in_place(|| self.fetch_blocking(topic, partition, offset))
    }
}

/// Records kept in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryRecords {
    pub records: Mutex<Vec<RawRecord>>,
    pub fetches: Mutex<Vec<(String, i32, i64)>>,
}

impl RecordSource for MemoryRecords {
    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<RawRecord, FetchError> {
        self.fetches
            .lock()
            .unwrap()
            .push((topic.to_string(), partition, offset));
        self.records
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.topic == topic && r.partition == partition && r.offset == offset)
            .cloned()
            .ok_or_else(|| FetchError::Gone(format!("{topic}/{partition}/{offset}")))
    }
}
