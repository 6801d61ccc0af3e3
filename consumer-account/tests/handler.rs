//! The handler against the event source mapping's JSON shapes, with in-memory adapters.

use std::path::PathBuf;
use std::time::Duration;

use aws_lambda_events::kafka::KafkaEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use sensor_consumer::aggregate::MemoryAggregates;
use sensor_consumer::dlq::MemoryDeadLetters;
use sensor_consumer::store::MemoryStore;
use sensor_consumer::{testing, Consumer, ConsumerError, StoreError};
use sensor_shared::item::{reading_id, Coordinates};
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::testing::{assert_reported, frame, reading};
use sensor_shared::wire::{self, Compression};
use sensor_shared::{Compatibility, CompiledSchema, RegistryError};
use serde_json::{json, Value};

type TestConsumer = Consumer<MemoryRegistry, MemoryStore, MemoryDeadLetters, MemoryAggregates>;

fn consumer() -> TestConsumer {
    testing::consumer(
        MemoryRegistry::new(Compatibility::Backward),
        MemoryStore::default(),
    )
}

/// Registers the inferred schema of `event` and returns its Glue frame in base64.
fn framed(c: &TestConsumer, event: &Value, compression: Compression) -> String {
    b64(&frame(c.schemas.source(), event, None, compression).0)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn event_from(fixture: &str, values: &[String]) -> KafkaEvent {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture);
    let mut text = std::fs::read_to_string(p).unwrap();
    for (i, v) in values.iter().enumerate() {
        text = text.replace(&format!("__VALUE_{i}__"), v);
    }
    serde_json::from_str(&text).unwrap()
}

/// A stored reading's key, for a record of the fixtures' topic.
fn key(device: &str, ts: i64, partition: i64, offset: i64) -> (String, String) {
    let at = Coordinates {
        topic: "sensor-readings",
        partition,
        offset,
    };
    (device.to_string(), reading_id(ts, at))
}

#[tokio::test]
async fn self_managed_event_is_stored_with_coordinates() {
    let c = consumer();
    let values = [
        framed(&c, &reading("000001", 1, json!({})), Compression::None),
        framed(
            &c,
            &reading("000001", 2, json!({"temperature": 30})),
            Compression::Zlib,
        ),
        framed(
            &c,
            &reading("000002", 3, json!({"loc": {"lat": 1.5}, "tags": ["a"]})),
            Compression::None,
        ),
    ];
    let s = c
        .handle(&event_from("self_managed_event.json", &values))
        .await
        .unwrap();
    assert_eq!((s.received, s.stored, s.dead_lettered), (3, 3, 0));
    let table = c.store.items.lock().unwrap();
    let second = &table[&key("000001", 2, 0, 16)];
    assert_eq!(second["temperature"], AttributeValue::N("30".into()));
    assert_eq!(
        second["_kafkaTopic"],
        AttributeValue::S("sensor-readings".into())
    );
    assert_eq!(second["_kafkaPartition"], AttributeValue::N("0".into()));
    assert_eq!(second["_kafkaOffset"], AttributeValue::N("16".into()));
    assert!(matches!(&second["_schemaVersionId"], AttributeValue::S(s) if s.len() == 36));
    let third = &table[&key("000002", 3, 2, 7)];
    let AttributeValue::M(loc) = &third["loc"] else {
        panic!("{third:?}")
    };
    assert_eq!(loc["lat"], AttributeValue::N("1.5".into()));
    assert_eq!(
        third["tags"],
        AttributeValue::L(vec![AttributeValue::S("a".into())])
    );
}

#[tokio::test]
async fn msk_event_shape_is_accepted() {
    let c = consumer();
    let values = [framed(
        &c,
        &reading("000002", 9, json!({"humidity": 0.5})),
        Compression::None,
    )];
    let s = c
        .handle(&event_from("msk_event.json", &values))
        .await
        .unwrap();
    assert_eq!(s.stored, 1);
}

/// A good record (base64, as the event carries it), its frame, and the frame with a version id
/// the registry does not hold.
fn good_and_unknown_version(c: &TestConsumer) -> (String, Vec<u8>, Vec<u8>) {
    let good = framed(c, &reading("000001", 1, json!({"t": 1})), Compression::None);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&good)
        .unwrap();
    let mut unknown_version = raw.clone();
    unknown_version[2] ^= 0xff;
    (good, raw, unknown_version)
}

#[tokio::test]
async fn poison_records_are_dead_lettered_and_the_rest_stored() {
    let c = consumer();
    let (good, raw, unknown_version) = good_and_unknown_version(&c);
    let mut corrupt_body = raw.clone();
    corrupt_body.truncate(raw.len() - 1);
    let values = [
        b64(b"plain text, not Glue"),
        b64(&unknown_version),
        b64(&corrupt_body),
    ];
    let mut event = event_from("self_managed_event.json", &values);
    // A fourth record without key fields (a foreign schema) and a fifth that is fine.
    let foreign = c
        .schemas
        .source()
        .insert(r#"{"type":"record","name":"X","fields":[{"name":"a","type":"long"}]}"#);
    let foreign_body = CompiledSchema::parse(&foreign.definition)
        .unwrap()
        .encode_to_vec(&json!({"a": 1}))
        .unwrap();
    let mut extra = event.records["sensor-readings-2"][0].clone();
    extra.offset = 8;
    extra.value = Some(b64(&wire::encode(
        &foreign.id,
        Compression::None,
        &foreign_body,
    )));
    let mut fine = extra.clone();
    fine.offset = 9;
    fine.value = Some(good);
    let mut no_value = extra.clone();
    no_value.offset = 10;
    no_value.value = None;
    event
        .records
        .get_mut("sensor-readings-2")
        .unwrap()
        .extend([extra, fine, no_value]);

    let s = c.handle(&event).await.unwrap();
    assert_eq!((s.received, s.stored, s.dead_lettered), (6, 1, 5));
    let letters = c.dead_letters.letters.lock().unwrap().clone();
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    assert!(reasons[0].contains("not Glue framing"), "{reasons:?}");
    assert!(reasons[1].contains("not found"), "{reasons:?}");
    assert!(reasons[2].contains("corrupt body"), "{reasons:?}");
    assert!(reasons[3].contains("missing key fields"), "{reasons:?}");
    assert!(reasons[4].contains("no value"), "{reasons:?}");
    assert_eq!((letters[0].partition, letters[0].offset), (0, 15));
    assert_eq!(letters[0].value.as_deref(), Some(values[0].as_str()));
    assert_eq!(letters[0].headers[0]["headerKey"][0], 104);
    // The version id of each letter whose value has a Glue frame, none for the others.
    let unknown_id = wire::peek(&unknown_version).unwrap().0;
    let ids: Vec<Option<uuid::Uuid>> = letters.iter().map(|l| l.schema_version_id).collect();
    assert_eq!(
        ids,
        [
            None,
            Some(unknown_id),
            Some(wire::peek(&raw).unwrap().0),
            Some(foreign.id),
            None
        ]
    );
}

#[tokio::test]
async fn dead_letters_and_writes_are_counted_for_metrics() {
    use sensor_consumer::{metric_lines, BatchStats, DEAD_LETTER_REASONS};
    use sensor_shared::metrics::parse_emf;

    let c = consumer();
    let (good, _, unknown_version) = good_and_unknown_version(&c);
    let values = [b64(b"plain text, not Glue"), b64(&unknown_version), good];
    let mut event = event_from("self_managed_event.json", &values);
    let mut second = event.records["sensor-readings-2"][0].clone();
    second.offset = 8;
    second.value = Some(b64(b"also not Glue"));
    event
        .records
        .get_mut("sensor-readings-2")
        .unwrap()
        .push(second);
    *c.store.unprocessed_script.lock().unwrap() = vec![1];
    let mut stats = BatchStats::default();
    let s = c.handle_counted(&event, &mut stats).await.unwrap();
    assert_eq!((s.received, s.stored, s.dead_lettered), (4, 1, 3));
    let by_reason: Vec<(&str, u64)> = DEAD_LETTER_REASONS
        .iter()
        .copied()
        .zip(stats.dead_lettered_by_reason)
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        by_reason,
        [("NotGlueFraming", 2), ("UnknownSchemaVersion", 1)]
    );
    assert_eq!((stats.store.calls, stats.store.unprocessed_retried), (2, 1));
    assert!(stats.elapsed > Duration::ZERO);

    let cache = c.schemas.stats();
    let lines = metric_lines("consumer", &s, &stats, cache);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let docs: Vec<_> = lines.iter().map(|l| parse_emf(l).unwrap()).collect();
    let main = &docs[0];
    assert_eq!(
        main["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "SensorPipeline"
    );
    assert_eq!(
        main["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );
    assert_eq!(main["Function"], "consumer");
    for (name, value) in [
        ("Received", 4),
        ("Stored", 1),
        ("DeadLettered", 3),
        ("Duplicates", 0),
        ("KeyCollisions", 0),
        ("BatchWriteItemCalls", 2),
        ("UnprocessedRetried", 1),
    ] {
        assert_eq!(main[name], value, "{name}");
    }
    assert_eq!(main["SchemaFetches"], cache.fetches);
    assert!(cache.fetches >= 1);
    assert!(main["BatchTime"].as_f64().unwrap() > 0.0);
    assert_eq!(
        (docs[1]["Reason"].as_str(), docs[1]["DeadLettered"].as_u64()),
        (Some("NotGlueFraming"), Some(2))
    );
    assert_eq!(
        docs[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function", "Reason"]])
    );
}

#[tokio::test]
async fn failures_reach_lambda_named_by_class_with_their_cause() {
    use lambda_runtime::Diagnostic;
    use sensor_consumer::DeadLetterError;

    let c = consumer();
    let values = [framed(
        &c,
        &reading("000001", 1, json!({"t": 1})),
        Compression::None,
    )];
    let event = event_from("self_managed_event.json", &values);
    let diagnostic = |r: Result<_, ConsumerError>| Diagnostic::from(r.unwrap_err());

    c.schemas
        .source()
        .fail_with(Some(RegistryError::Unavailable(
            "GetSchemaVersion: dispatch failure".into(),
        )));
    let d = diagnostic(c.handle(&event).await);
    assert_eq!(
        d.error_message,
        "retryable: schema registry: registry unavailable: GetSchemaVersion: dispatch failure"
    );
    assert_reported(
        &d,
        "RegistryUnavailable",
        "GetSchemaVersion: dispatch failure",
    );
    c.schemas
        .source()
        .fail_with(Some(RegistryError::AccessDenied(
            "AssumeRole refused".into(),
        )));
    assert_reported(
        &diagnostic(c.handle(&event).await),
        "AccessDenied",
        "AssumeRole refused",
    );
    c.schemas.source().fail_with(None);

    for (fault, class, retryable) in [
        (
            StoreError::Throttled("BatchWriteItem: slow down".into()),
            "StoreThrottled",
            true,
        ),
        (
            StoreError::Unavailable("BatchWriteItem: 503".into()),
            "StoreUnavailable",
            true,
        ),
        (
            StoreError::AccessDenied("BatchWriteItem: 403".into()),
            "AccessDenied",
            false,
        ),
        (
            StoreError::Refused("BatchWriteItem: bad".into()),
            "StoreRefused",
            false,
        ),
    ] {
        *c.store.fail.lock().unwrap() = Some(fault);
        let d = diagnostic(c.handle(&event).await);
        assert_reported(&d, class, "BatchWriteItem: ");
        assert_eq!(d.error_message.starts_with("retryable: "), retryable);
    }
    *c.store.fail.lock().unwrap() = None;

    let poison = [b64(b"not Glue")];
    let event = event_from("self_managed_event.json", &poison);
    *c.dead_letters.fail.lock().unwrap() = Some("SendMessageBatch: timeout".into());
    let e = c.handle(&event).await.unwrap_err();
    assert!(matches!(
        e,
        ConsumerError::DeadLetter(DeadLetterError::Unavailable(_))
    ));
    let d = Diagnostic::from(e);
    assert_reported(&d, "DeadLetterUnavailable", "SendMessageBatch: timeout");
    assert!(d.error_message.ends_with("SendMessageBatch: timeout"));
}

#[tokio::test]
async fn outages_fail_the_batch_and_retries_do_not_duplicate() {
    let c = consumer();
    let values: Vec<String> = (0..3)
        .map(|i| {
            framed(
                &c,
                &reading("000001", i, json!({"t": i})),
                Compression::None,
            )
        })
        .collect();
    let event = event_from("self_managed_event.json", &values);

    c.schemas
        .source()
        .fail_with(Some(RegistryError::Unavailable("Glue throttled".into())));
    assert!(matches!(
        c.handle(&event).await,
        Err(ConsumerError::Registry(_))
    ));
    c.schemas
        .source()
        .fail_with(Some(RegistryError::AccessDenied("role".into())));
    assert!(matches!(
        c.handle(&event).await,
        Err(ConsumerError::Registry(_))
    ));
    assert!(
        c.dead_letters.letters.lock().unwrap().is_empty(),
        "outages are not poison"
    );
    c.schemas.source().fail_with(None);

    *c.store.fail.lock().unwrap() = Some(StoreError::Unavailable("throttled".into()));
    assert!(matches!(
        c.handle(&event).await,
        Err(ConsumerError::Store(_))
    ));
    *c.store.fail.lock().unwrap() = None;
    *c.dead_letters.fail.lock().unwrap() = None;

    // The event source mapping retries: twice, even.
    c.handle(&event).await.unwrap();
    c.handle(&event).await.unwrap();
    assert_eq!(c.store.items.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn readings_sharing_device_and_timestamp_are_all_kept() {
    let c = consumer();
    let values: Vec<String> = [1, 2, 1]
        .iter()
        .map(|t| {
            framed(
                &c,
                &reading("000001", 7, json!({"t": t})),
                Compression::None,
            )
        })
        .collect();
    let event = event_from("self_managed_event.json", &values);
    let s = c.handle(&event).await.unwrap();
    assert_eq!((s.stored, s.duplicates, s.key_collisions), (3, 0, 0));
    let table = c.store.items.lock().unwrap();
    for (partition, offset, t) in [(0, 15, "1"), (0, 16, "2"), (2, 7, "1")] {
        assert_eq!(
            table[&key("000001", 7, partition, offset)]["t"],
            AttributeValue::N(t.into())
        );
    }
}

#[tokio::test]
async fn a_record_listed_twice_is_written_once_and_a_clashing_one_kept_aside() {
    let c = consumer();
    let one = framed(
        &c,
        &reading("000001", 7, json!({"t": 1})),
        Compression::None,
    );
    let other = framed(
        &c,
        &reading("000001", 7, json!({"t": 2})),
        Compression::None,
    );
    let mut event = event_from(
        "self_managed_event.json",
        &[one.clone(), one, other.clone()],
    );
    // The same coordinates three times: twice the same record (headers too), then a different
    // one.
    for r in event.records.values_mut().flatten() {
        (r.partition, r.offset) = (0, 15);
        r.headers.clear();
    }
    let s = c.handle(&event).await.unwrap();
    assert_eq!(
        (s.stored, s.duplicates, s.key_collisions, s.dead_lettered),
        (1, 1, 1, 1)
    );
    let table = c.store.items.lock().unwrap();
    assert_eq!(
        table[&key("000001", 7, 0, 15)]["t"],
        AttributeValue::N("1".into())
    );
    let letters = c.dead_letters.letters.lock().unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.starts_with("key collision:")
            && letters[0].reason.ends_with("at sensor-readings/0/15"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].value.as_deref(), Some(other.as_str()));
}

#[tokio::test]
async fn large_batches_are_chunked_and_unprocessed_items_retried() {
    let c = consumer();
    let v = framed(&c, &reading("d", 0, json!({"t": 0})), Compression::None);
    let mut event = event_from(
        "self_managed_event.json",
        &[v.clone(), v.clone(), v.clone()],
    );
    let template = event.records["sensor-readings-0"][0].clone();
    let records: Vec<_> = (0..1000)
        .map(|i| {
            let mut r = template.clone();
            r.offset = i;
            r.value = Some(framed(
                &c,
                &reading("d", i, json!({"t": i})),
                Compression::None,
            ));
            r
        })
        .collect();
    event.records.clear();
    event.records.insert("sensor-readings-0".into(), records);
    *c.store.unprocessed_script.lock().unwrap() = vec![5, 0, 12];
    let s = c.handle(&event).await.unwrap();
    assert_eq!(s.stored, 1000);
    assert_eq!(c.store.items.lock().unwrap().len(), 1000);
    assert!(c.store.calls.lock().unwrap().iter().all(|n| *n <= 25));
    // One schema, one registry call for the whole batch (and none when warm).
    assert_eq!(c.schemas.stats().fetches, 1);
    c.handle(&event).await.unwrap();
    assert_eq!(c.schemas.stats().fetches, 1);
}

#[tokio::test]
async fn kafka_headers_are_stored_with_the_reading() {
    use aws_sdk_dynamodb::primitives::Blob;
    let c = consumer();
    let values = [
        framed(
            &c,
            &reading("000009", 1, json!({"t": 1})),
            Compression::None,
        ),
        framed(
            &c,
            &reading("000009", 2, json!({"t": 2})),
            Compression::None,
        ),
        framed(
            &c,
            &reading("000009", 3, json!({"t": 3})),
            Compression::None,
        ),
    ];
    let s = c
        .handle(&event_from("headers_event.json", &values))
        .await
        .unwrap();
    assert_eq!((s.stored, s.dead_lettered), (2, 1));
    let table = c.store.items.lock().unwrap();
    let first = &table[&key("000009", 1, 1, 40)];
    let AttributeValue::M(headers) = &first["_kafkaHeaders"] else {
        panic!("{first:?}")
    };
    assert_eq!(headers["source"], AttributeValue::S("gateway-3".into()));
    assert_eq!(
        headers["raw"],
        AttributeValue::B(Blob::new(vec![255u8, 0, 7]))
    );
    assert_eq!(
        headers["hop"],
        AttributeValue::L(vec![
            AttributeValue::S("a".into()),
            AttributeValue::S("b".into())
        ])
    );
    assert_eq!(headers.len(), 3);
    assert!(!table[&key("000009", 3, 1, 42)].contains_key("_kafkaHeaders"));
    // A header DynamoDB cannot name is a dead letter that says so.
    let letters = c.dead_letters.letters.lock().unwrap();
    assert_eq!(letters[0].offset, 41);
    assert!(
        letters[0].reason.contains("header has an empty name"),
        "{}",
        letters[0].reason
    );
}
