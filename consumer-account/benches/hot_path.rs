//! The consumer's hot path with the registry warm, single thread, in records per second:
//!
//! - `decode_to_item`: Glue-framed bytes → DynamoDB item (`wire::decode`, the Avro walk writing
//!   the item's DynamoDB JSON, schema version and Kafka coordinates added, key and size checks);
//! - `handle_discard`: [`Consumer::handle`] on a `KafkaEvent` (base64 values over three
//!   partitions): ordering, base64, schema resolution (cache hits only), decoding, folding
//!   repeated keys, chunking into BatchWriteItem calls of 25, each chunk's request body built
//!   as the real store builds it, then dropped: the consumer's own cost. (Before timing, the
//!   same event goes once through the in-memory table, which reads every item back as DynamoDB
//!   would, to check that all of it is stored.)
//!
//! The framed messages are generated here, or read from `CONSUMER_BENCH_FRAMES`: a file of
//! hex-encoded Glue-framed messages with its `.schema.json` sidecar, as written by
//! `scripts/bench_python_glue.py --write-framed`, so that the Python reference deserializer is
//! measured on the very same bytes (`scripts/bench-consumer.sh`).
//!
//! `cargo bench -p sensor-consumer --bench hot_path`

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sensor_consumer::aggregate::MemoryAggregates;
use sensor_consumer::dlq::MemoryDeadLetters;
use sensor_consumer::store::MemoryStore;
use sensor_consumer::{
    decode_item, store, Backoff, BatchSchemas, BatchWriter, Consumer, Coordinates, Item,
    ItemWriter, StoreError,
};
use sensor_shared::testing::{Rng, TAGS};
use sensor_shared::wire::{self, Compression};
use sensor_shared::{CompiledSchema, RegistryError, SchemaCache, SchemaSource, SchemaVersion};
use serde_json::{json, Value};
use uuid::Uuid;

/// Messages generated when `CONSUMER_BENCH_FRAMES` is not set.
const GENERATED: usize = 10_000;
const MAX_INFLATED: usize = 4 << 20;
const TOPIC: &str = "sensor-readings";
const PARTITIONS: usize = 3;

/// The schema of `scripts/bench_python_glue.py`.
const SCHEMA: &str = r#"{"type":"record","name":"SensorReading","namespace":"com.example.sensors","fields":[
 {"name":"deviceId","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"temperature","type":["null","double"],"default":null},
 {"name":"humidity","type":["null","double"],"default":null},
 {"name":"pressure","type":["null","double"],"default":null},
 {"name":"location","type":["null",{"type":"record","name":"Location","fields":[
   {"name":"lat","type":"double"},{"name":"lon","type":"double"}]}],"default":null},
 {"name":"tags","type":["null",{"type":"array","items":"string"}],"default":null}]}"#;

/// A registry that knows the versions it was given.
struct FixedSource(HashMap<Uuid, String>);

impl SchemaSource for FixedSource {
    async fn get_version(&self, id: Uuid) -> Result<SchemaVersion, RegistryError> {
        self.0
            .get(&id)
            .map(|d| SchemaVersion {
                id,
                number: 1,
                definition: d.clone(),
            })
            .ok_or_else(|| RegistryError::NotFound(format!("schema version {id}")))
    }
}

/// Builds every chunk's request body and drops it.
#[derive(Default)]
struct Discard(AtomicUsize);

impl BatchWriter for Discard {
    async fn batch_write(&self, items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let body = store::request_body("readings", &items);
        self.0.fetch_add(body.len(), Ordering::Relaxed);
        drop(black_box(body));
        Ok(Vec::new())
    }
}

fn consumer<W: BatchWriter>(
    store: W,
    id: Uuid,
    definition: &str,
) -> Consumer<FixedSource, W, MemoryDeadLetters, MemoryAggregates> {
    Consumer {
        schemas: SchemaCache::new(
            FixedSource(HashMap::from([(id, definition.to_string())])),
            100,
        ),
        store,
        dead_letters: MemoryDeadLetters::default(),
        aggregates: MemoryAggregates::default(),
        window_ms: 60_000,
        max_inflated: MAX_INFLATED,
        backoff: Backoff::default(),
    }
}

/// Readings shaped like the Python benchmark's (some values null, 0 to 3 tags), one schema.
fn generate(n: usize) -> (Uuid, String, Vec<Vec<u8>>) {
    let id = Uuid::from_u128(0x636c_b0bb_7243_43f0_b309_7a25_a8f1_9df2);
    let schema = CompiledSchema::parse(SCHEMA).expect("the schema parses");
    let mut rng = Rng::default();
    let frames = (0..n)
        .map(|i| {
            let event = json!({
                "deviceId": format!("{:06}", 1 + rng.below(999)),
                "timestamp": 1_700_000_000_000i64 + i as i64 * 1000,
                "temperature": rng.number(0.1, -20.0, 40.0, 2),
                "humidity": rng.number(0.1, 0.0, 100.0, 2),
                "pressure": rng.number(0.1, 950.0, 1050.0, 1),
                "location": if rng.unit() < 0.2 { Value::Null } else {
                    json!({"lat": rng.uniform(-90.0, 90.0), "lon": rng.uniform(-180.0, 180.0)})
                },
                "tags": if rng.unit() < 0.3 { Value::Null } else {
                    let k = rng.below(4) as usize;
                    json!(TAGS[..k])
                },
            });
            let body = schema.encode_to_vec(&event).expect("the event fits");
            wire::encode(&id, Compression::None, &body)
        })
        .collect();
    (id, SCHEMA.to_string(), frames)
}

/// Messages and writer schema from a `--write-framed` file of the Python benchmark.
fn load(path: &str) -> (Uuid, String, Vec<Vec<u8>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let frames: Vec<Vec<u8>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| hex(l.trim()))
        .collect();
    let side = format!("{path}.schema.json");
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(&side).unwrap_or_else(|e| panic!("{side}: {e}")),
    )
    .expect("sidecar is JSON");
    let id = Uuid::parse_str(
        meta["schema_version_id"]
            .as_str()
            .expect("schema_version_id"),
    )
    .expect("a UUID");
    let definition = meta["schema_definition"]
        .as_str()
        .expect("schema_definition")
        .to_string();
    (id, definition, frames)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The event the event source mapping would send for these messages, round-robin over three
/// partitions, in the wire JSON's shape.
fn event(frames: &[Vec<u8>]) -> KafkaEvent {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut event = KafkaEvent::default();
    event.event_source = Some("SelfManagedKafka".into());
    for (i, f) in frames.iter().enumerate() {
        let mut r = KafkaRecord::default();
        r.topic = Some(TOPIC.into());
        r.partition = (i % PARTITIONS) as i64;
        r.offset = (i / PARTITIONS) as i64;
        r.timestamp = MillisecondTimestamp(
            chrono::DateTime::from_timestamp_millis(1_767_225_600_000).unwrap(),
        );
        r.timestamp_type = Some("CREATE_TIME".into());
        r.key = Some(b64.encode(b"000001"));
        r.value = Some(b64.encode(f));
        event
            .records
            .entry(format!("{TOPIC}-{}", r.partition))
            .or_default()
            .push(r);
    }
    event
}

fn hot_path(c: &mut Criterion) {
    let (id, definition, frames) = match std::env::var("CONSUMER_BENCH_FRAMES") {
        Ok(path) if !path.is_empty() => load(&path),
        _ => generate(GENERATED),
    };
    let n = frames.len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = consumer(MemoryStore::default(), id, &definition);
    let discard = consumer(Discard::default(), id, &definition);
    // Warm the registry, and check once that everything is stored.
    let event = event(&frames);
    for summary in [
        rt.block_on(memory.handle(&event)),
        rt.block_on(discard.handle(&event)),
    ] {
        let summary = summary.expect("the batch is stored");
        assert_eq!(
            (summary.stored, summary.dead_lettered),
            (n, 0),
            "{summary:?}"
        );
    }
    assert_eq!(memory.store.items.lock().unwrap().len(), n);
    let schemas: BatchSchemas =
        HashMap::from([(id, Ok(rt.block_on(memory.schemas.get(id)).unwrap()))]);
    let schema: Arc<CompiledSchema> = schemas[&id].clone().unwrap();
    eprintln!(
        "hot_path: {n} messages, schema version {id}, {} fields, {:.1} bytes per message on average",
        schema.record().fields.len(),
        frames.iter().map(Vec::len).sum::<usize>() as f64 / n as f64
    );

    let mut g = c.benchmark_group("consumer_hot_path");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    let mut writer = ItemWriter::new();
    g.bench_function("decode_to_item", |b| {
        b.iter(|| {
            for (i, f) in frames.iter().enumerate() {
                let at = Coordinates {
                    topic: TOPIC,
                    partition: (i % PARTITIONS) as i64,
                    offset: (i / PARTITIONS) as i64,
                };
                black_box(
                    decode_item(black_box(f), MAX_INFLATED, &schemas, at, &mut writer)
                        .expect("decodes"),
                );
            }
        })
    });
    g.bench_function("handle_discard", |b| {
        b.iter(|| {
            rt.block_on(discard.handle(black_box(&event)))
                .expect("stored")
        })
    });
    g.finish();
    for stats in [memory.schemas.stats(), discard.schemas.stats()] {
        assert_eq!(stats.fetches, 1, "the registry is asked once, then warm");
    }
}

/// `decode_to_item` for the schema with every Avro construct
/// (`shared/tests/fixtures/avro/wide.avsc`): the uncompressed records fastavro and Apache's avro
/// package wrote (those a key can hold), repeated to 10,000 messages.
fn wide(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tests/fixtures/avro");
    let definition = std::fs::read_to_string(format!("{dir}/wide.avsc")).expect("wide.avsc");
    let rows = std::fs::read_to_string(format!("{dir}/wide.frames.jsonl")).expect("frames");
    let schema = Arc::new(CompiledSchema::parse(&definition).expect("the schema parses"));
    let mut id = Uuid::nil();
    let mut writer = ItemWriter::new();
    let at = Coordinates {
        topic: TOPIC,
        partition: 0,
        offset: 1,
    };
    let mut one: Vec<Vec<u8>> = Vec::new();
    for line in rows.lines() {
        let row: Value = serde_json::from_str(line).expect("a JSON line");
        if row["compression"] != "none" {
            continue;
        }
        let frame = hex(row["frame"].as_str().expect("frame"));
        id = wire::peek(&frame).expect("framed").0;
        let schemas: BatchSchemas = HashMap::from([(id, Ok(schema.clone()))]);
        if decode_item(&frame, MAX_INFLATED, &schemas, at, &mut writer).is_ok() {
            one.push(frame);
        }
    }
    assert!(one.len() >= 4, "{} storable wide records", one.len());
    let frames: Vec<Vec<u8>> = one.iter().cycle().take(GENERATED).cloned().collect();
    let schemas: BatchSchemas = HashMap::from([(id, Ok(schema))]);
    eprintln!(
        "wide: {} messages, {:.1} bytes per message on average",
        frames.len(),
        frames.iter().map(Vec::len).sum::<usize>() as f64 / frames.len() as f64
    );
    let mut g = c.benchmark_group("consumer_wide_schema");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("decode_to_item", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(
                    decode_item(black_box(f), MAX_INFLATED, &schemas, at, &mut writer)
                        .expect("decodes"),
                );
            }
        })
    });
    g.finish();
}

criterion_group!(benches, hot_path, wide);
criterion_main!(benches);
