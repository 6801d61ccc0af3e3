//! The producer's door matches what the consumer stores: whatever the producer answers 200 for
//! is stored by the consumer, never dead-lettered; what the consumer could not store is a 400.

use aws_lambda_events::kafka::KafkaEvent;
use base64::Engine;
use proptest::prelude::*;
use sensor_consumer::store::MemoryStore;
use sensor_consumer::testing;
use sensor_producer::sink::MemorySink;
use sensor_producer::testing::producer;
use sensor_producer::Producer;
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::{Compatibility, RegistryError, SchemaSource, SchemaVersion};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The producer's registered versions, as the consumer reads them.
struct Versions(Vec<SchemaVersion>);

impl SchemaSource for Versions {
    async fn get_version(&self, id: Uuid) -> Result<SchemaVersion, RegistryError> {
        self.0
            .iter()
            .find(|v| v.id == id)
            .cloned()
            .ok_or(RegistryError::NotFound(id.to_string()))
    }
}

/// What the producer sent, as the event source mapping would hand it to the consumer.
fn kafka_event(p: &Producer<MemoryRegistry, MemorySink>) -> KafkaEvent {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sent = p.sink.records.lock().unwrap();
    testing::event(sent.iter().enumerate().map(|(offset, r)| {
        let mut k = testing::record(0, offset as i64, b64.encode(&r.payload));
        k.key = Some(b64.encode(&r.key));
        k
    }))
}

/// Runs `events` through the producer and, when it accepts them, through the consumer:
/// returns the producer's status and (stored, dead-lettered).
async fn through_both(events: Value) -> (u16, String, usize, usize) {
    let p = producer(Compatibility::Backward);
    let r = p.handle(events).await.unwrap();
    if r.status_code != 200 {
        assert!(p.sink.records.lock().unwrap().is_empty());
        return (r.status_code, r.message, 0, 0);
    }
    let c = testing::consumer(
        Versions(p.schemas.registry().versions()),
        MemoryStore::default(),
    );
    let s = c.handle(&kafka_event(&p)).await.unwrap();
    assert_eq!(c.store.items.lock().unwrap().len(), s.stored);
    (r.status_code, r.message, s.stored, s.dead_lettered)
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z °\"\\\\]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_ ]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Events with the fields senders send, and now and then a key field of their own: a device
/// (sometimes empty or too long), a timestamp (integer, date-time, out of range).
fn event() -> impl Strategy<Value = Value> {
    let device = prop_oneof![
        4 => Just(None),
        2 => "[a-z0-9-]{1,12}".prop_map(Some),
        1 => Just(Some(String::new())),
        1 => (2040usize..2060).prop_map(|n| Some("d".repeat(n))),
    ];
    let timestamp = prop_oneof![
        4 => Just(None),
        2 => (0i64..20_000_000_000_000).prop_map(|t| Some(json!(t - 1000))),
        1 => Just(Some(json!("2026-12-01T10:00:00.125+01:00"))),
        1 => Just(Some(json!("tomorrow"))),
    ];
    let big = prop_oneof![8 => Just(0usize), 1 => 409_200usize..409_700];
    (
        prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_ ]{0,8}", value(), 0..5),
        device,
        timestamp,
        big,
    )
        .prop_map(|(fields, device, timestamp, big)| {
            let mut m: Map<String, Value> = fields.into_iter().collect();
            m.remove("deviceId");
            m.remove("timestamp");
            if let Some(d) = device {
                m.insert("deviceId".into(), d.into());
            }
            if let Some(t) = timestamp {
                m.insert("timestamp".into(), t);
            }
            if big > 0 {
                m.insert("note".into(), "x".repeat(big).into());
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn whatever_the_producer_accepts_the_consumer_stores(events in prop::collection::vec(event(), 1..4)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let n = events.len();
        let (status, message, stored, dead) = rt.block_on(through_both(Value::Array(events)));
        prop_assert!(status == 200 || status == 400, "{status}: {message}");
        if status == 200 {
            prop_assert_eq!((stored, dead), (n, 0), "{}", message);
        }
    }
}

#[tokio::test]
async fn the_door_refuses_what_the_table_cannot_hold_and_passes_the_rest() {
    let near = 409_600 - 300;
    for (event, ok) in [
        (json!({"deviceId": ""}), false),
        (json!({"deviceId": "d".repeat(2049)}), false),
        (json!({"deviceId": "d".repeat(2048)}), true),
        (json!({"note": "x".repeat(409_600)}), false),
        (json!({"note": "x".repeat(near)}), true),
    ] {
        let (status, message, stored, dead) = through_both(event).await;
        if ok {
            assert_eq!((status, stored, dead), (200, 1, 0), "{message}");
        } else {
            assert_eq!(status, 400, "{message}");
        }
    }
}
