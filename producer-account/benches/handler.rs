//! Events per second through the producer's whole handler, [`Producer::handle`]: keys added,
//! the event checked against and encoded with the active schema, Glue framing, the sink, the
//! response. The registry is warm (a [`MemoryRegistry`] that already holds the version every event
//! fits) and the sink is a [`MemorySink`]: no network, no Glue call during the measurement (checked
//! after it). Single thread, current-thread tokio runtime.
//!
//! - `producer_handler/single_event`: one event per invocation;
//! - `producer_handler/batch_1000`: a JSON array of 1,000 events per invocation.
//!
//! Throughput is in events (elements) per second.
//!
//! The events are generated here, or read from `PRODUCER_BENCH_EVENTS` (JSON lines, one event
//! object each, as the Lambda receives them) so that `scripts/bench-producer.sh` measures the
//! Python `aws-glue-schema-registry` serializer on the very same events. With
//! `PRODUCER_BENCH_SCHEMA_OUT` the registered schema definition is written there, and with
//! `PRODUCER_BENCH_FRAMES_OUT` the framed message of each event (hex, one a line, in event order)
//! as written with the fixed clock [`testing::CLOCK_MS`].
//!
//! `cargo bench -p sensor-producer --bench handler`

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sensor_producer::sink::MemorySink;
use sensor_producer::testing;
use sensor_producer::Producer;
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::testing::{json_lines, Rng, TAGS};
use sensor_shared::Compatibility;
use serde_json::{json, Value};

/// Events generated when `PRODUCER_BENCH_EVENTS` is not set.
const GENERATED: usize = 2_000;
/// Events per invocation in the batch benchmark.
const BATCH: usize = 1_000;

type Bench = Producer<MemoryRegistry, MemorySink>;

/// Readings as the Lambda receives them: no deviceId/timestamp, some values null, a nested
/// location, 0 to 3 tags.
fn generate(n: usize) -> Vec<Value> {
    let mut rng = Rng::default();
    (0..n)
        .map(|_| {
            let location = if rng.unit() < 0.2 {
                Value::Null
            } else {
                json!({"lat": rng.number(0.0, -90.0, 90.0, 6), "lon": rng.number(0.0, -180.0, 180.0, 6)})
            };
            let tag_list: Vec<&str> = (0..rng.below(4))
                .map(|_| TAGS[rng.below(TAGS.len() as u64) as usize])
                .collect();
            json!({
                "temperature": rng.number(0.1, -20.0, 40.0, 2),
                "humidity": rng.number(0.1, 0.0, 100.0, 2),
                "pressure": rng.number(0.1, 950.0, 1050.0, 1),
                "location": location,
                "tags": if rng.unit() < 0.3 { Value::Null } else { json!(tag_list) },
            })
        })
        .collect()
}

fn events() -> Vec<Value> {
    json_lines("PRODUCER_BENCH_EVENTS").unwrap_or_else(|| generate(GENERATED))
}

fn producer() -> Bench {
    Producer {
        max_batch: 10_000,
        ..testing::producer(Compatibility::Backward)
    }
}

/// Registers the version every event fits (one batch through the handler), checks that each
/// event alone is then written with it, and writes the optional outputs.
fn warm(rt: &tokio::runtime::Runtime, p: &Bench, events: &[Value]) {
    let mut version = None;
    for chunk in events.chunks(p.max_batch) {
        let r = rt.block_on(p.handle(Value::Array(chunk.to_vec()))).unwrap();
        assert_eq!(r.status_code, 200, "warm-up batch refused: {}", r.message);
        version = r.schema_version_id;
    }
    p.sink.records.lock().unwrap().clear();
    for e in events {
        let r = rt.block_on(p.handle(e.clone())).unwrap();
        assert_eq!(r.status_code, 200, "{}", r.message);
        assert_eq!(
            r.schema_version_id, version,
            "an event needed another version"
        );
    }
    let registered = p.schemas.registry().versions();
    let definition = &registered.last().expect("a registered version").definition;
    if let Some(path) = std::env::var_os("PRODUCER_BENCH_SCHEMA_OUT") {
        std::fs::write(&path, definition).unwrap();
    }
    if let Some(path) = std::env::var_os("PRODUCER_BENCH_FRAMES_OUT") {
        let sent = p.sink.records.lock().unwrap();
        let hex: String = sent
            .iter()
            .map(|r| {
                let mut line: String = r.payload.iter().map(|b| format!("{b:02x}")).collect();
                line.push('\n');
                line
            })
            .collect();
        std::fs::write(&path, hex).unwrap();
    }
    p.sink.records.lock().unwrap().clear();
    let fields = serde_json::from_str::<Value>(definition)
        .ok()
        .and_then(|d| d["fields"].as_array().map(Vec::len))
        .unwrap_or(0);
    eprintln!(
        "producer_handler: {} events, {} registered version(s), {fields} top-level fields",
        events.len(),
        registered.len()
    );
}

/// Runs `iters` invocations, built by `input(i)` outside the timed part, in chunks; the sink is
/// emptied between chunks (untimed) so that memory does not grow with the iteration count.
fn timed(
    rt: &tokio::runtime::Runtime,
    p: &Bench,
    iters: u64,
    chunk: u64,
    mut input: impl FnMut(u64) -> Value,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(chunk);
        let inputs: Vec<Value> = (done..done + n).map(&mut input).collect();
        p.sink.records.lock().unwrap().clear();
        let start = Instant::now();
        rt.block_on(async {
            for payload in inputs {
                let r = p.handle(payload).await.expect("no outage in memory");
                assert_eq!(r.status_code, 200, "{}", r.message);
                black_box(r);
            }
        });
        total += start.elapsed();
        done += n;
    }
    p.sink.records.lock().unwrap().clear();
    total
}

fn handler(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let events = events();
    let p = producer();
    warm(&rt, &p, &events);
    let registry = p.schemas.registry();
    let calls = || {
        (
            registry.latest_calls.load(Ordering::SeqCst),
            registry.register_calls.load(Ordering::SeqCst),
            registry.get_calls.load(Ordering::SeqCst),
        )
    };
    let before = calls();

    let mut g = c.benchmark_group("producer_handler");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));

    g.throughput(Throughput::Elements(1));
    let n = events.len() as u64;
    g.bench_function("single_event", |b| {
        b.iter_custom(|iters| timed(&rt, &p, iters, 20_000, |i| events[(i % n) as usize].clone()))
    });

    let batches: Vec<Value> = (0..events.len().div_ceil(BATCH).max(1))
        .map(|k| {
            Value::Array(
                (0..BATCH)
                    .map(|j| events[(k * BATCH + j) % events.len()].clone())
                    .collect(),
            )
        })
        .collect();
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("batch_1000", |b| {
        b.iter_custom(|iters| {
            timed(&rt, &p, iters, 20, |i| {
                batches[(i % batches.len() as u64) as usize].clone()
            })
        })
    });
    g.finish();

    assert_eq!(
        calls(),
        before,
        "the registry was called while measuring: not warm"
    );
}

criterion_group!(benches, handler);
criterion_main!(benches);
