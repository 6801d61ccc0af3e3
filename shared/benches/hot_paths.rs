//! The two hot paths on sensor-like readings (string deviceId, timestamp, three nullable doubles,
//! a nested location, a string array), single thread, throughput in records per second:
//!
//! - consumer: Glue-framed bytes → JSON (`wire::decode` + `CompiledSchema::decode`);
//! - producer: JSON text → Glue-framed bytes with a cached schema (`serde_json::from_str` +
//!   `CompiledSchema::encode` + `wire::encode_into`, buffers reused);
//!
//! each without compression and with zlib.
//!
//! The records are generated here, or read from `SENSOR_BENCH_RECORDS` (JSON lines) so that the
//! Python reference library is measured on the very same records (`scripts/bench-core.sh`). The
//! schema is the one inferred from the records, or the definition in `SENSOR_BENCH_SCHEMA`.
//!
//! Criterion measures wall-clock time. With `SENSOR_BENCH_CLOCK=cpu` it measures this thread's
//! CPU time instead (`CLOCK_THREAD_CPUTIME_ID`), which time spent descheduled by other work on a
//! shared machine does not inflate; the figures are then labelled `cpu`.
//!
//! `cargo bench -p sensor-shared --bench hot_paths`

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput};
use serde_json::{json, Value};
use uuid::Uuid;

use sensor_shared::codec::CompiledSchema;
use sensor_shared::infer::{infer, InferOptions};
use sensor_shared::testing::{json_lines, Rng, TAGS};
use sensor_shared::wire::{self, Compression, DEFAULT_MAX_INFLATED};

/// Records generated when `SENSOR_BENCH_RECORDS` is not set.
const GENERATED: usize = 2_000;

/// Readings shaped like the Python benchmark's: some values `null`, tags of 0 to 3 strings.
fn generate(n: usize) -> Vec<Value> {
    let mut rng = Rng::default();
    (0..n)
        .map(|i| {
            let temperature = rng.number(0.1, -20.0, 40.0, 2);
            let humidity = rng.number(0.1, 0.0, 100.0, 2);
            let pressure = rng.number(0.1, 950.0, 1050.0, 1);
            let location = if rng.unit() < 0.2 {
                Value::Null
            } else {
                json!({"lat": rng.uniform(-90.0, 90.0), "lon": rng.uniform(-180.0, 180.0)})
            };
            let tag_list = if rng.unit() < 0.3 {
                Value::Null
            } else {
                let k = rng.below(4) as usize;
                let start = rng.below(TAGS.len() as u64) as usize;
                (0..k)
                    .map(|j| json!(TAGS[(start + j) % TAGS.len()]))
                    .collect()
            };
            json!({
                "deviceId": format!("{:06}", 1 + rng.below(999)),
                "timestamp": 1_700_000_000_000i64 + i as i64 * 1000,
                "temperature": temperature,
                "humidity": humidity,
                "pressure": pressure,
                "location": location,
                "tags": tag_list,
            })
        })
        .collect()
}

fn load_records() -> Vec<Value> {
    json_lines("SENSOR_BENCH_RECORDS").unwrap_or_else(|| generate(GENERATED))
}

/// The schema the producer would have registered for these records (or the given definition).
fn load_schema(records: &[Value]) -> CompiledSchema {
    if let Some(path) = std::env::var_os("SENSOR_BENCH_SCHEMA") {
        let def = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("SENSOR_BENCH_SCHEMA {path:?}: {e}"));
        return CompiledSchema::parse(def.trim()).expect("SENSOR_BENCH_SCHEMA is a valid schema");
    }
    let opts = InferOptions::default();
    let mut record = None;
    for r in records {
        record = Some(
            infer(r, record.as_ref(), &opts)
                .expect("records infer")
                .record,
        );
    }
    CompiledSchema::from_record(record.expect("at least one record"))
}

struct Fixture {
    schema: CompiledSchema,
    id: Uuid,
    texts: Vec<String>,
    framed_none: Vec<Vec<u8>>,
    framed_zlib: Vec<Vec<u8>>,
}

fn fixture() -> Fixture {
    let records = load_records();
    let schema = load_schema(&records);
    let id = Uuid::parse_str("636cb0bb-7243-43f0-b309-7a25a8f19df2").unwrap();
    let frame = |c: Compression| -> Vec<Vec<u8>> {
        records
            .iter()
            .map(|r| wire::encode(&id, c, &schema.encode_to_vec(r).expect("record fits")))
            .collect()
    };
    let framed_none = frame(Compression::None);
    let framed_zlib = frame(Compression::Zlib);
    // The paths under test give the records back before anything is timed.
    for (r, m) in records.iter().zip(&framed_none) {
        let f = wire::decode(m, DEFAULT_MAX_INFLATED).unwrap();
        let back = schema.decode(&f.body).unwrap();
        assert_eq!(back["deviceId"], r["deviceId"]);
        assert_eq!(back["timestamp"], r["timestamp"]);
    }
    let bytes: usize = framed_none.iter().map(Vec::len).sum();
    let zbytes: usize = framed_zlib.iter().map(Vec::len).sum();
    eprintln!(
        "hot_paths: {} records, {:.1} framed bytes each ({:.1} with zlib), schema {} characters",
        records.len(),
        bytes as f64 / records.len() as f64,
        zbytes as f64 / records.len() as f64,
        schema.definition().len()
    );
    Fixture {
        texts: records.iter().map(Value::to_string).collect(),
        schema,
        id,
        framed_none,
        framed_zlib,
    }
}

fn configure<M: Measurement>(g: &mut BenchmarkGroup<'_, M>, n: usize) {
    g.throughput(Throughput::Elements(n as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
}

fn consumer<M: Measurement>(c: &mut Criterion<M>, fx: &Fixture) {
    let mut g = c.benchmark_group("consumer");
    configure(&mut g, fx.framed_none.len());
    for (name, framed) in [
        ("framed_to_json/none", &fx.framed_none),
        ("framed_to_json/zlib", &fx.framed_zlib),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for m in framed {
                    let f = wire::decode(black_box(m), DEFAULT_MAX_INFLATED).unwrap();
                    black_box(fx.schema.decode(&f.body).unwrap());
                }
            })
        });
    }
    g.finish();
}

fn producer<M: Measurement>(c: &mut Criterion<M>, fx: &Fixture) {
    let mut g = c.benchmark_group("producer");
    configure(&mut g, fx.texts.len());
    for (name, compression) in [
        ("json_to_framed/none", Compression::None),
        ("json_to_framed/zlib", Compression::Zlib),
    ] {
        let mut body = Vec::with_capacity(256);
        let mut out = Vec::with_capacity(256);
        g.bench_function(name, |b| {
            b.iter(|| {
                for text in &fx.texts {
                    let event: Value = serde_json::from_str(black_box(text)).unwrap();
                    body.clear();
                    fx.schema.encode(&event, &mut body).unwrap();
                    out.clear();
                    wire::encode_into(&fx.id, compression, &body, &mut out);
                    black_box(&out);
                }
            })
        });
    }
    g.finish();
}

fn hot_paths<M: Measurement>(mut c: Criterion<M>) {
    let fx = fixture();
    consumer(&mut c, &fx);
    producer(&mut c, &fx);
    c.final_summary();
}

fn main() {
    match std::env::var("SENSOR_BENCH_CLOCK").as_deref() {
        Ok("cpu") => hot_paths(
            Criterion::default()
                .with_measurement(ThreadCpuTime)
                .configure_from_args(),
        ),
        Ok("wall") | Err(_) => hot_paths(
            Criterion::default()
                .with_measurement(WallTime)
                .configure_from_args(),
        ),
        Ok(other) => panic!("SENSOR_BENCH_CLOCK={other}: expected wall or cpu"),
    }
}

/// This thread's CPU time in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given, which lives on our stack.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats CPU nanoseconds like criterion formats wall time, with a `cpu` mark.
struct CpuFormatter;

fn scale(values: &mut [f64], factor: f64) {
    values.iter_mut().for_each(|v| *v *= factor);
}

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns cpu"),
            t if t < 1e6 => (1e-3, "µs cpu"),
            t if t < 1e9 => (1e-6, "ms cpu"),
            _ => (1e-9, "s cpu"),
        };
        scale(values, factor);
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let n = match throughput {
            Throughput::Elements(n)
            | Throughput::Bytes(n)
            | Throughput::BytesDecimal(n)
            | Throughput::Bits(n) => *n as f64,
            Throughput::ElementsAndBytes { elements, .. } => *elements as f64,
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
        let (factor, unit) = match n * 1e9 / typical {
            r if r >= 1e6 => (1e-6, "Melem/s cpu"),
            r if r >= 1e3 => (1e-3, "Kelem/s cpu"),
            _ => (1.0, "elem/s cpu"),
        };
        scale(values, factor);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
