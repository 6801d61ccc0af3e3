//! The handler against JSON fixtures, with an in-memory registry and sink.

use std::path::PathBuf;

use sensor_producer::sink::MemorySink;
use sensor_producer::testing::producer;
use sensor_producer::Producer;
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::testing::assert_reported;
use sensor_shared::wire::{self, Compression};
use sensor_shared::{Compatibility, CompiledSchema, RegistryError};
use serde_json::{json, Value};

fn fixture(path: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[tokio::test]
async fn demo_sequence_response_contract() {
    let p = producer(Compatibility::Backward);
    let r1 = p.handle(fixture("events/empty.json")).await.unwrap();
    let r2 = p.handle(fixture("events/temperature.json")).await.unwrap();
    let r3 = p.handle(fixture("events/empty.json")).await.unwrap();
    let j = serde_json::to_value(&r2).unwrap();
    assert_eq!(j["statusCode"], 200);
    assert_eq!(j["schemaVersionNumber"], 2);
    assert_eq!(
        j["records"],
        json!([{"partition": 0, "offset": 1, "timestamp": 1_767_225_600_000i64,
            "readingId": "1767225600000#sensor-readings#0#1"}])
    );
    assert!(j["schemaVersionId"].as_str().unwrap().len() == 36);
    assert_eq!(r1.schema_version_number, Some(1));
    assert_eq!(r3.schema_version_number, Some(2));
    assert_eq!(r3.schema_version_id, r2.schema_version_id);
    let versions = p.schemas.registry().versions();
    assert_eq!(versions.len(), 2);
    // What went to the sink is Glue-framed Avro with deviceId and timestamp added.
    let sent = p.sink.records.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|r| r.key == "000001"));
    let frame = wire::decode(&sent[1].payload, 1 << 20).unwrap();
    assert_eq!(frame.schema_version_id, versions[1].id);
    let schema = CompiledSchema::parse(&versions[1].definition).unwrap();
    assert_eq!(
        schema.decode(&frame.body).unwrap(),
        json!({"deviceId": "000001", "timestamp": 1_767_225_600_000i64, "temperature": 30})
    );
}

#[tokio::test]
async fn realistic_events_and_batches() {
    let p = producer(Compatibility::Backward);
    for f in ["location", "tags", "humidity"] {
        let r = p
            .handle(fixture(&format!("events/{f}.json")))
            .await
            .unwrap();
        assert_eq!(r.status_code, 200, "{f}: {}", r.message);
    }
    let r = p.handle(fixture("events/batch.json")).await.unwrap();
    assert_eq!(r.status_code, 200);
    assert_eq!(r.records.len(), 2);
    // Event-supplied timestamps are kept.
    let sent = p.sink.records.lock().unwrap().clone();
    let last = wire::decode(&sent.last().unwrap().payload, 1 << 20).unwrap();
    let v = p.schemas.registry().versions();
    let schema = CompiledSchema::parse(&v.last().unwrap().definition).unwrap();
    assert_eq!(
        schema.decode(&last.body).unwrap()["timestamp"],
        1_767_225_660_000i64
    );
}

#[tokio::test]
async fn every_bad_request_is_a_400_that_names_the_problem() {
    let cases = [
        ("tests/fixtures/not_object.json", "found string"),
        ("tests/fixtures/empty_batch.json", "empty batch"),
        (
            "tests/fixtures/batch_with_number.json",
            "event 1 must be a JSON object",
        ),
        (
            "tests/fixtures/numeric_device.json",
            "`deviceId` must be a string",
        ),
        (
            "tests/fixtures/text_timestamp.json",
            "`timestamp` must be an integer (epoch milliseconds) or an RFC 3339 date-time with an offset, not \"yesterday\"",
        ),
    ];
    for (f, needle) in cases {
        let p = producer(Compatibility::Backward);
        let r = p.handle(fixture(f)).await.unwrap();
        assert_eq!(r.status_code, 400, "{f}");
        assert!(r.message.contains(needle), "{f}: {}", r.message);
        assert!(p.sink.records.lock().unwrap().is_empty(), "{f}");
    }
    // Conflicting type after a registered version.
    let p = producer(Compatibility::Backward);
    p.handle(fixture("events/temperature.json")).await.unwrap();
    let r = p
        .handle(fixture("tests/fixtures/temperature_text.json"))
        .await
        .unwrap();
    assert_eq!(r.status_code, 400);
    assert!(
        r.message.contains("type conflict at `temperature`"),
        "{}",
        r.message
    );
    // Too deep.
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "x": deep });
    }
    let r = p.handle(json!({ "d": deep })).await.unwrap();
    assert_eq!(r.status_code, 400);
    assert!(r.message.contains("nesting deeper"), "{}", r.message);
    // Too many events.
    let r = p.handle(Value::Array(vec![json!({}); 101])).await.unwrap();
    assert_eq!(r.status_code, 400);
    // Incompatible under FULL: long widening to double.
    let p = producer(Compatibility::Full);
    p.handle(json!({"t": 1})).await.unwrap();
    let r = p.handle(json!({"t": 1.5})).await.unwrap();
    assert_eq!(r.status_code, 400);
    assert!(
        r.message.contains("widening is not allowed under FULL"),
        "{}",
        r.message
    );
    assert_eq!(p.schemas.registry().versions().len(), 1);
    // A version registered by someone else requires a field the event lacks.
    let p = producer(Compatibility::Backward);
    p.schemas.registry().insert(
        r#"{"type":"record","name":"SensorReading","fields":[{"name":"deviceId","type":"string"},
        {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"site","type":"string"}]}"#,
    );
    let r = p.handle(fixture("events/temperature.json")).await.unwrap();
    assert_eq!(r.status_code, 400);
    assert_eq!(
        r.message,
        "event does not fit the registered schema: `site` is required by the schema but missing"
    );
    assert_eq!(p.schemas.registry().versions().len(), 1);
    assert!(p.sink.records.lock().unwrap().is_empty());
}

#[tokio::test]
async fn outages_are_errors_and_nothing_is_acknowledged() {
    let p = producer(Compatibility::Backward);
    p.schemas
        .registry()
        .fail_with(Some(RegistryError::Unavailable("throttled".into())));
    let e = p.handle(json!({"x": 1})).await.unwrap_err();
    assert!(e.is_retryable());
    p.schemas.registry().fail_with(None);
    *p.sink.fail.lock().unwrap() = Some("broker down".into());
    let e = p.handle(json!({"x": 1})).await.unwrap_err();
    assert!(e.is_retryable());
    assert!(e.to_string().contains("broker down"));
    *p.sink.fail.lock().unwrap() = None;
    assert_eq!(p.handle(json!({"x": 1})).await.unwrap().status_code, 200);
}

#[tokio::test]
async fn failures_reach_lambda_named_by_class_with_their_cause() {
    use lambda_runtime::Diagnostic;
    let p = producer(Compatibility::Backward);
    let diagnostic = |e| Diagnostic::from(e);

    p.schemas
        .registry()
        .fail_with(Some(RegistryError::Unavailable(
            "GetSchemaVersion: dispatch failure: connection refused".into(),
        )));
    let d = diagnostic(p.handle(json!({"x": 1})).await.unwrap_err());
    assert_eq!(
        d.error_message,
        "retryable: schema registry: registry unavailable: GetSchemaVersion: dispatch failure: \
         connection refused"
    );
    assert_reported(&d, "RegistryUnavailable", "connection refused");
    p.schemas
        .registry()
        .fail_with(Some(RegistryError::AccessDenied(
            "GetSchemaVersion: 403".into(),
        )));
    let d = diagnostic(p.handle(json!({"x": 1})).await.unwrap_err());
    assert_reported(&d, "AccessDenied", "GetSchemaVersion: 403");
    p.schemas.registry().fail_with(None);

    *p.sink.fail.lock().unwrap() = Some("Message timed out".into());
    let d = diagnostic(p.handle(json!({"x": 1})).await.unwrap_err());
    assert_reported(&d, "DeliveryFailed", "Message timed out");
    assert!(d
        .error_message
        .starts_with("retryable: delivery to Kafka failed: "));
    assert!(!d.error_type.contains("::"));
}

#[tokio::test]
async fn invocations_are_counted_for_metrics() {
    use sensor_producer::{metric_lines, InvocationStats};
    use sensor_shared::metrics::parse_emf;

    let p = producer(Compatibility::Backward);
    let mut stats = InvocationStats::default();
    let r = p
        .handle_counted(json!([{"t": 1}, {"t": 2}, {"t": 3}]), &mut stats)
        .await
        .unwrap();
    assert_eq!(r.status_code, 200);
    assert_eq!(
        (stats.readings, stats.delivered, stats.refused),
        (3, 3, None)
    );
    assert!(stats.delivery_time.is_some());
    let lines = metric_lines("producer", &stats, 4, 1);
    assert_eq!(lines.len(), 1);
    let doc = parse_emf(&lines[0]).unwrap();
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "SensorPipeline"
    );
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );
    for (name, value) in [
        ("Readings", 3),
        ("Delivered", 3),
        ("Batches", 1),
        ("VersionsRegistered", 1),
        ("RegistryCalls", 4),
        ("Refused", 0),
    ] {
        assert_eq!(doc[name], value, "{name}");
    }
    assert!(doc["DeliveryTime"].is_number());

    // 400s by reason class.
    for (payload, reason) in [
        (json!("text"), "Shape"),
        (json!({"t": "text"}), "Inference"),
        (json!({"deviceId": ""}), "KeyField"),
    ] {
        let mut stats = InvocationStats::default();
        let r = p.handle_counted(payload.clone(), &mut stats).await.unwrap();
        assert_eq!(r.status_code, 400, "{payload}");
        assert_eq!(stats.refused, Some(reason), "{payload}: {}", r.message);
        let lines = metric_lines("producer", &stats, 0, 0);
        assert_eq!(lines.len(), 2);
        let by_reason = parse_emf(&lines[1]).unwrap();
        assert_eq!(by_reason["Reason"], reason);
        assert_eq!(by_reason["Refused"], 1);
        assert_eq!(
            by_reason["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Reason"]])
        );
        assert!(!parse_emf(&lines[0]).unwrap().contains_key("DeliveryTime"));
    }
}

#[tokio::test]
async fn zlib_frames() {
    let mut p = producer(Compatibility::Backward);
    p.compression = Compression::Zlib;
    p.handle(json!({"temperature": 30})).await.unwrap();
    let sent = p.sink.records.lock().unwrap().clone();
    assert_eq!(sent[0].payload[1], 0x05);
    assert!(wire::decode(&sent[0].payload, 1 << 20).is_ok());
}

#[tokio::test]
async fn the_answer_gives_each_reading_its_timestamp_and_key() {
    let p = producer(Compatibility::Backward);
    let events = json!([{"temperature": 20}, {"temperature": 21, "timestamp": 5},
        {"temperature": 22, "timestamp": "2026-12-01T10:00:00.250+01:00"},
        {"temperature": 23, "timestamp": "2026-12-01T09:00:00.2509Z"}]);
    let r = p.handle(events).await.unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    let stamps: Vec<i64> = r.records.iter().map(|d| d.timestamp).collect();
    assert_eq!(
        stamps,
        [1_767_225_600_000, 5, 1_796_115_600_250, 1_796_115_600_250]
    );
    for (i, d) in r.records.iter().enumerate() {
        assert_eq!(
            d.reading_id,
            format!(
                "{:013}#sensor-readings#{}#{}",
                d.timestamp, d.partition, d.offset
            )
        );
        assert_eq!(d.offset, i as i64);
    }
    // The converted timestamp is what goes to Kafka.
    let sent = p.sink.records.lock().unwrap().clone();
    let version = &p.schemas.registry().versions()[0];
    let schema = CompiledSchema::parse(&version.definition).unwrap();
    let third = wire::decode(&sent[2].payload, 1 << 20).unwrap();
    assert_eq!(
        schema.decode(&third.body).unwrap()["timestamp"],
        json!(1_796_115_600_250i64)
    );
}

#[tokio::test]
async fn what_the_consumer_could_not_store_is_refused_at_the_door() {
    let reserved_def = r#"{"type":"record","name":"SensorReading","fields":[{"name":"deviceId","type":"string"},
        {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"_kafkaOffset","type":["null","long"],"default":null}]}"#;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"deviceId": "", "t": 1}),
            "deviceId must be 1 to 2048 bytes, not 0",
        ),
        (
            json!({"deviceId": "x".repeat(2049), "t": 1}),
            "deviceId must be 1 to 2048 bytes, not 2049",
        ),
        (
            json!({"timestamp": -1}),
            "timestamp must be epoch milliseconds from 0 to 9999999999999, not -1",
        ),
        (
            json!({"timestamp": 1_700_000_000_000_000i64}),
            "timestamp must be epoch milliseconds from 0 to 9999999999999",
        ),
        (
            json!({"timestamp": "2026-12-01T10:00:00"}),
            "or an RFC 3339 date-time with an offset",
        ),
        (
            json!({"note": "x".repeat(409_600)}),
            "cannot be stored: reading exceeds DynamoDB's 409600-byte item limit",
        ),
        (
            json!({"_kafkaOffset": 3}),
            "cannot be stored: field `_kafkaOffset` is reserved",
        ),
    ];
    for (i, (event, needle)) in cases.into_iter().enumerate() {
        let p = producer(Compatibility::Backward);
        if i == 6 {
            // A field the schema of someone else declares, which the consumer adds itself.
            p.schemas.registry().insert(reserved_def);
        }
        let r = p.handle(event).await.unwrap();
        assert_eq!(r.status_code, 400, "{needle}: {}", r.message);
        assert!(r.message.contains(needle), "{needle}: {}", r.message);
        assert!(p.sink.records.lock().unwrap().is_empty(), "{needle}");
    }
    // In a batch, the answer names the event; a reading just under the limit goes through.
    let p = producer(Compatibility::Backward);
    let r = p
        .handle(json!([{"t": 1}, {"deviceId": "", "t": 2}]))
        .await
        .unwrap();
    assert_eq!(
        r.message,
        "event 1: deviceId must be 1 to 2048 bytes, not 0"
    );
    let r = p
        .handle(json!({"note": "x".repeat(409_000)}))
        .await
        .unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
}

fn enveloped(p: Producer<MemoryRegistry, MemorySink>) -> Producer<MemoryRegistry, MemorySink> {
    Producer {
        envelope: true,
        ..p
    }
}

#[tokio::test]
async fn an_envelope_gives_the_records_their_key_and_headers() {
    let p = enveloped(producer(Compatibility::Backward));
    let r = p
        .handle(fixture("tests/fixtures/envelope.json"))
        .await
        .unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    assert_eq!(r.records.len(), 2);
    let sent = p.sink.records.lock().unwrap().clone();
    assert!(sent.iter().all(|r| r.key == "site-3"), "{sent:?}");
    // In name order.
    let headers = vec![
        ("source".to_string(), "gateway-3".to_string()),
        (
            "traceparent".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        ),
    ];
    assert!(sent.iter().all(|r| r.headers == headers), "{sent:?}");
    // The body's events are the readings: no `body`, `key` or `headers` field in the schema.
    let definition = &p.schemas.registry().versions()[0].definition;
    assert!(definition.contains("temperature"), "{definition}");
    for member in ["\"body\"", "\"key\"", "\"headers\""] {
        assert!(!definition.contains(member), "{definition}");
    }
    // Without a key, each record's key is its deviceId; without headers, none.
    let r = p
        .handle(fixture("tests/fixtures/envelope_plain.json"))
        .await
        .unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    let last = p.sink.records.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.key.as_str(), last.headers.len()), ("000001", 0));
}

#[tokio::test]
async fn without_envelopes_a_field_named_body_is_a_field() {
    let p = producer(Compatibility::Backward);
    let r = p
        .handle(fixture("tests/fixtures/reading_with_body.json"))
        .await
        .unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    let definition = &p.schemas.registry().versions()[0].definition;
    assert!(definition.contains("\"body\""), "{definition}");
    let sent = p.sink.records.lock().unwrap().clone();
    assert_eq!((sent[0].key.as_str(), sent[0].headers.len()), ("000001", 0));
    // An envelope is read as a reading: its `body` an object where the schema has a string.
    let r = p
        .handle(fixture("tests/fixtures/envelope_plain.json"))
        .await
        .unwrap();
    assert_eq!(r.status_code, 400, "{}", r.message);
    assert!(
        r.message.contains("type conflict at `body`"),
        "{}",
        r.message
    );
    let r = p.handle(json!({"body": "x", "key": "k"})).await.unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    assert_eq!(p.sink.records.lock().unwrap().last().unwrap().key, "000001");
}

#[tokio::test]
async fn a_malformed_envelope_is_a_400_and_nothing_is_produced() {
    let p = enveloped(producer(Compatibility::Backward));
    let cases: Vec<(Value, &str)> = vec![
        (
            fixture("tests/fixtures/envelope_bad_header.json"),
            r#"publish envelope: header "attempt" must be a string, found integer"#,
        ),
        (
            fixture("tests/fixtures/envelope_empty_key.json"),
            "publish envelope: key must be 1 to 2048 bytes, not 0",
        ),
        (
            fixture("tests/fixtures/envelope_extra_member.json"),
            r#"publish envelope: member "partition" is not one of body, key, headers"#,
        ),
        (
            json!({"body": {}, "key": "k".repeat(2049)}),
            "publish envelope: key must be 1 to 2048 bytes, not 2049",
        ),
        (
            json!({"body": {}, "key": 7}),
            "publish envelope: key must be a string, found integer",
        ),
        (
            json!({"body": {}, "headers": ["a"]}),
            "publish envelope: headers must be an object of strings, found array",
        ),
        (
            json!({"body": {}, "headers": {"": "x"}}),
            "publish envelope: a header name is empty",
        ),
        (json!({"key": "k"}), "publish envelope: has no body"),
        (
            json!([{"body": {}}]),
            "publish envelope: must be a JSON object with a body, found array",
        ),
        (json!({"body": []}), "empty batch"),
        (json!({"body": "x"}), "event must be a JSON object"),
        (
            json!({"body": {}, "headers": {"h": "x".repeat(410_000)}}),
            "cannot be stored: reading exceeds DynamoDB's 409600-byte item limit",
        ),
    ];
    for (payload, needle) in cases {
        let mut stats = sensor_producer::InvocationStats::default();
        let r = p.handle_counted(payload.clone(), &mut stats).await.unwrap();
        assert_eq!(r.status_code, 400, "{payload}: {}", r.message);
        assert!(r.message.starts_with(needle), "{payload}: {}", r.message);
        assert!(stats.refused.is_some());
        if needle.starts_with("publish envelope") {
            assert_eq!(stats.refused, Some("Envelope"));
        }
    }
    assert!(p.sink.records.lock().unwrap().is_empty());
}
