//! A local stand-in for Lambda's self-managed Kafka event source mapping: a consumer group on the
//! topic, batches by size and window, the exact `KafkaEvent` JSON, an Invoke API call, and offsets
//! committed only after the function succeeded. A failed batch is retried (same records) until
//! it succeeds, so nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use chrono::{TimeZone, Utc};

/// A record as read from Kafka, before it is shaped for Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Builds the event Lambda sends for a self-managed Kafka source: records grouped under
/// `"<topic>-<partition>"`, base64 keys and values, headers as arrays of signed bytes.
pub fn build_event(records: &[RawRecord], bootstrap_servers: &str) -> KafkaEvent {
    let b64 = |b: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let mut grouped: BTreeMap<String, Vec<KafkaRecord>> = BTreeMap::new();
    for r in records {
        let mut k = KafkaRecord::default();
        k.topic = Some(r.topic.clone());
        k.partition = i64::from(r.partition);
        k.offset = r.offset;
        k.timestamp = MillisecondTimestamp(
            Utc.timestamp_millis_opt(r.timestamp_ms)
                .single()
                .unwrap_or_default(),
        );
        k.timestamp_type = Some("CREATE_TIME".into());
        k.key = r.key.as_ref().map(b64);
        k.value = r.value.as_ref().map(b64);
        k.headers = r
            .headers
            .iter()
            .map(|(name, v)| {
                std::collections::HashMap::from([(
                    name.clone(),
                    v.iter().map(|b| *b as i8).collect(),
                )])
            })
            .collect();
        grouped
            .entry(format!("{}-{}", r.topic, r.partition))
            .or_default()
            .push(k);
    }
    let mut event = KafkaEvent::default();
    event.event_source = Some("SelfManagedKafka".into());
    event.bootstrap_servers = Some(bootstrap_servers.to_string());
    event.records = grouped.into_iter().collect();
    event
}

/// The event as Lambda puts it on the wire. `aws_lambda_events` writes timestamps as strings;
/// Lambda sends numbers, so they are fixed here.
pub fn event_json(records: &[RawRecord], bootstrap_servers: &str) -> serde_json::Value {
    let mut j =
        serde_json::to_value(build_event(records, bootstrap_servers)).expect("events serialise");
    if let Some(groups) = j.get_mut("records").and_then(|r| r.as_object_mut()) {
        for rs in groups.values_mut().filter_map(|v| v.as_array_mut()) {
            for r in rs {
                let ms = r["timestamp"].as_str().and_then(|t| t.parse::<i64>().ok());
                if let Some(ms) = ms {
                    r["timestamp"] = ms.into();
                }
            }
        }
    }
    j.as_object_mut()
        .expect("an object")
        .retain(|_, v| !v.is_null());
    j
}

/// The offsets to commit after a successful batch: next offset per topic-partition.
pub fn next_offsets(records: &[RawRecord]) -> BTreeMap<(String, i32), i64> {
    let mut out: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for r in records {
        let e = out.entry((r.topic.clone(), r.partition)).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    out
}

/// Batching settings, as on a real event source mapping.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub batch_size: usize,
    pub window: Duration,
}

/// Writes `partitions` and a newline to `path` through a temporary file renamed into place, so
/// a reader sees either no file or the whole of it.
pub fn write_ready_file(path: &Path, partitions: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{partitions}\n"))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(partition: i32, offset: i64) -> RawRecord {
        RawRecord {
            topic: "sensor-readings".into(),
            partition,
            offset,
            timestamp_ms: 1_767_225_600_000,
            key: Some(b"000001".to_vec()),
            value: Some(vec![3, 0, 255]),
            headers: vec![("h".into(), vec![0xff, 1])],
        }
    }

    #[test]
    fn event_has_the_lambda_shape() {
        let e = build_event(&[raw(0, 5), raw(2, 9), raw(0, 6)], "127.0.0.1:9092");
        let j = event_json(&[raw(0, 5), raw(2, 9), raw(0, 6)], "127.0.0.1:9092");
        assert!(j.get("eventSourceArn").is_none());
        assert_eq!(j["eventSource"], "SelfManagedKafka");
        assert_eq!(j["bootstrapServers"], "127.0.0.1:9092");
        let p0 = &j["records"]["sensor-readings-0"];
        assert_eq!(p0.as_array().unwrap().len(), 2);
        assert_eq!(p0[0]["offset"], 5);
        assert_eq!(p0[0]["partition"], 0);
        assert_eq!(p0[0]["key"], "MDAwMDAx");
        assert_eq!(p0[0]["value"], "AwD/");
        assert_eq!(p0[0]["timestamp"], 1_767_225_600_000i64);
        assert_eq!(p0[0]["timestampType"], "CREATE_TIME");
        assert_eq!(p0[0]["headers"][0]["h"], serde_json::json!([-1, 1]));
        assert_eq!(j["records"]["sensor-readings-2"][0]["offset"], 9);
        // What we send is what the consumer parses.
        let back: KafkaEvent = serde_json::from_value(j).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn ready_file_appears_whole_and_is_replaced() {
        let dir = std::env::temp_dir().join(format!("esm-ready-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ready");
        write_ready_file(&path, "sensor-readings-0,sensor-readings-1").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "sensor-readings-0,sensor-readings-1\n"
        );
        write_ready_file(&path, "sensor-readings-2").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "sensor-readings-2\n"
        );
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file stays behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn commits_the_next_offset_per_partition() {
        let o = next_offsets(&[raw(0, 5), raw(2, 9), raw(0, 7)]);
        assert_eq!(o[&("sensor-readings".to_string(), 0)], 8);
        assert_eq!(o[&("sensor-readings".to_string(), 2)], 10);
    }
}
