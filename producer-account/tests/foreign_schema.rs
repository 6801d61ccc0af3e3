//! The producer writing into a schema version registered by someone else (a Java SerDe with
//! enums, decimals, uuids, fixed, durations, unions of three, named types, non-null defaults and
//! a `timestamp-micros` key): new JSON fields merge into it, events are encoded wherever JSON can
//! express the value, and everything else is a 400 naming the field, never an error.

use sensor_producer::sink::MemorySink;
use sensor_producer::{testing, Producer, ProducerSchemas};
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::schema::{Record, Type};
use sensor_shared::wire;
use sensor_shared::{check_compatibility, Compatibility, CompiledSchema, InferOptions};
use serde_json::{json, Value};

const FOREIGN: &str = r#"{"type":"record","name":"SensorEvent","namespace":"com.acme.iot","doc":"from a Java producer",
  "fields":[
    {"name":"deviceId","type":"string"},
    {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-micros"}},
    {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["UNKNOWN","TEMPERATURE","HUMIDITY"],"default":"UNKNOWN"}},
    {"name":"site","type":"string","default":"roof"},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2},"default":"\u0000"},
    {"name":"id","type":["null",{"type":"string","logicalType":"uuid"}],"default":null},
    {"name":"hash","type":{"type":"fixed","name":"Hash4","size":4}},
    {"name":"span","type":["null",{"type":"fixed","name":"Span","size":12,"logicalType":"duration"}],"default":null},
    {"name":"opt","type":["null","string","long"],"default":null},
    {"name":"location","type":["null",{"type":"record","name":"Location","namespace":"com.acme.geo","fields":[
        {"name":"lat","type":"double"},{"name":"lon","type":"double"}]}],"default":null},
    {"name":"previous","type":["null","com.acme.geo.Location"],"default":null},
    {"name":"kinds","type":{"type":"array","items":"Kind"},"default":[]}]}"#;

const NOW_MS: i64 = 1_767_225_600_123;

fn producer() -> Producer<MemoryRegistry, MemorySink> {
    let p = testing::producer(Compatibility::Backward);
    p.schemas.registry().insert(FOREIGN);
    Producer {
        device_id: "dev-1".into(),
        clock: || NOW_MS,
        ..p
    }
}

fn full_event(extra: Value) -> Value {
    let mut e = json!({"kind": "HUMIDITY", "price": 12.3, "id": "6b0c3a4e-0d5a-4c8e-9a39-1f2e3d4c5b6a",
        "hash": "abcd", "span": {"months": 1, "days": 2, "milliseconds": 3}, "opt": 5,
        "location": {"lat": 57.7, "lon": 11.9}, "previous": {"lat": 1.0, "lon": 2.0},
        "kinds": ["TEMPERATURE", "UNKNOWN"]});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    e
}

fn last_sent(p: &Producer<MemoryRegistry, MemorySink>, definition: &str) -> String {
    let sent = p.sink.records.lock().unwrap().clone();
    let frame = wire::decode(&sent.last().unwrap().payload, 1 << 20).unwrap();
    CompiledSchema::parse(definition)
        .unwrap()
        .decode_to_json(&frame.body, false)
        .unwrap()
}

#[tokio::test]
async fn events_fit_the_foreign_version_and_new_fields_merge_into_it() {
    let p = producer();
    // Every field JSON can express, in the registered version itself.
    let r = p.handle(full_event(json!({}))).await.unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    assert_eq!(r.schema_version_number, Some(1));
    let text = last_sent(&p, FOREIGN);
    let v: Value = serde_json::from_str(&text).unwrap();
    // The key field is epoch milliseconds for the producer, micros in this schema.
    assert_eq!(v["timestamp"], json!(NOW_MS * 1000));
    assert_eq!(r.records[0].timestamp, NOW_MS);
    assert!(
        text.contains(r#""price":12.30,"#),
        "exact decimal digits: {text}"
    );
    assert_eq!(v["kind"], "HUMIDITY");
    assert_eq!(v["site"], "roof", "a missing field takes its default");
    assert_eq!(v["id"], "6b0c3a4e-0d5a-4c8e-9a39-1f2e3d4c5b6a");
    assert_eq!(v["hash"], "abcd");
    assert_eq!(
        v["span"],
        json!({"months": 1, "days": 2, "milliseconds": 3})
    );
    assert_eq!(v["opt"], 5);
    assert_eq!(v["previous"], json!({"lat": 1.0, "lon": 2.0}));
    assert_eq!(v["kinds"], json!(["TEMPERATURE", "UNKNOWN"]));

    // A new field: merged into the foreign version, which keeps everything it had.
    let r = p
        .handle(full_event(json!({"temperature": 21.5, "opt": "five"})))
        .await
        .unwrap();
    assert_eq!(r.status_code, 200, "{}", r.message);
    assert_eq!(r.schema_version_number, Some(2));
    let versions = p.schemas.registry().versions();
    let v2 = &versions[1].definition;
    check_compatibility(FOREIGN, v2, Compatibility::Backward).unwrap();
    let before = Record::parse(FOREIGN).unwrap();
    let after = Record::parse(v2).unwrap();
    assert_eq!(after.fields.len(), before.fields.len() + 1);
    assert_eq!(
        after.fields[..before.fields.len()],
        before.fields[..],
        "order and types kept"
    );
    assert_eq!(after.fields.last().unwrap().name, "temperature");
    assert!(matches!(after.fields[2].ty, Type::Enum(_)));
    let v: Value = serde_json::from_str(&last_sent(&p, v2)).unwrap();
    assert_eq!(v["temperature"], 21.5);
    assert_eq!(v["opt"], "five", "the union's string branch");
    // The same shape again: no new version.
    let r = p
        .handle(full_event(json!({"temperature": 3})))
        .await
        .unwrap();
    assert_eq!((r.status_code, r.schema_version_number), (200, Some(2)));
}

#[tokio::test]
async fn values_json_cannot_express_are_400s_naming_the_field() {
    let p = producer();
    for (extra, field, why) in [
        (json!({"kind": "COLD"}), "kind", "not one of its symbols"),
        (
            json!({"price": 1.234}),
            "price",
            "more than 2 digits after the decimal point",
        ),
        (
            json!({"price": 12345678901i64}),
            "price",
            "exceeds its precision of 9",
        ),
        (json!({"hash": "toolong"}), "hash", "7 bytes, not 4"),
        (json!({"id": "not-a-uuid"}), "id", "uuid"),
        (
            json!({"span": {"months": -1, "days": 0, "milliseconds": 0}}),
            "span",
            "months",
        ),
        (json!({"location": {"lat": 1.0}}), "location", "location"),
        (json!({"kinds": ["HOT"]}), "kinds", "kinds"),
        (json!({"opt": true}), "opt", "opt"),
    ] {
        let r = p.handle(full_event(extra.clone())).await.unwrap();
        assert_eq!(r.status_code, 400, "{extra}: {}", r.message);
        assert!(
            r.message.contains(&format!("`{field}")),
            "{extra}: {}",
            r.message
        );
        assert!(r.message.contains(why), "{extra}: {}", r.message);
    }
    // A field the schema requires without a default.
    let mut e = full_event(json!({}));
    e.as_object_mut().unwrap().remove("hash");
    let r = p.handle(e).await.unwrap();
    assert_eq!(r.status_code, 400);
    assert!(r.message.contains("`hash` is required"), "{}", r.message);
    assert_eq!(
        p.schemas.registry().versions().len(),
        1,
        "nothing registered"
    );
    assert!(p.sink.records.lock().unwrap().is_empty());
}

/// A latest version no Avro parser accepts (another writer's bug, a hand-edited definition) is
/// not the event's fault: the invocation fails as `SchemaUnreadable`, not a 400, and a retry
/// does not help until someone fixes the registry. Nothing is registered over it, nothing sent.
#[tokio::test]
async fn an_unreadable_registered_version_is_a_lambda_error_not_a_400() {
    for broken in [
        r#"{"type":"record","name":"SensorEvent","fields":[{"name":"x","type":"nosuchtype"}]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
        r#"{"type":"record","name":"SensorEvent","fields":[{"name":"k","type":{"type":"fixed","name":"F"}}]}"#,
        "not json at all",
    ] {
        let registry = MemoryRegistry::new(Compatibility::Backward);
        registry.insert(broken);
        let p = Producer {
            schemas: ProducerSchemas::new(registry, InferOptions::default()),
            ..producer()
        };
        let err = p
            .handle(json!({"temperature": 20}))
            .await
            .expect_err(broken);
        let failure = err.failure();
        assert_eq!(failure.class, "SchemaUnreadable", "{broken}: {err}");
        assert!(!failure.retryable, "{broken}");
        assert!(
            err.to_string()
                .contains("latest registered schema cannot be read"),
            "{broken}: {err}"
        );
        let d = lambda_runtime::Diagnostic::from(err);
        assert_eq!(d.error_type, "SchemaUnreadable");
        assert_eq!(p.schemas.registry().versions().len(), 1, "{broken}");
        assert!(p.sink.records.lock().unwrap().is_empty(), "{broken}");
    }
}
