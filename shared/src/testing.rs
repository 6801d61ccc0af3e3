//! What the tests and benchmarks of every crate set up the same way (feature `testing`, turned
//! on only by dev-dependencies, so never in a Lambda's build): records framed under an inferred
//! schema in a [`MemoryRegistry`], readings, environments, the check of what Lambda is told about a failure, and the
//! benchmarks' generator and input files.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::codec::CompiledSchema;
use crate::failure::Failure;
use crate::infer::{infer, InferOptions};
use crate::registry::MemoryRegistry;
use crate::schema::Record;
use crate::wire::{self, Compression};

/// The Glue frame of `event` under its inferred schema (merged into `previous`, if given) and
/// that version's id; the version is registered in `registry`, unchecked, unless a version
/// with the same definition is there already.
pub fn frame(
    registry: &MemoryRegistry,
    event: &Value,
    previous: Option<&Record>,
    compression: Compression,
) -> (Vec<u8>, Uuid) {
    let schema = infer(event, previous, &InferOptions::default()).expect("the event infers");
    let version = registry
        .versions()
        .into_iter()
        .find(|v| v.definition == schema.definition)
        .unwrap_or_else(|| registry.insert(&schema.definition));
    let body = CompiledSchema::parse(&version.definition)
        .expect("the inferred schema parses")
        .encode_to_vec(event)
        .expect("the event fits its inferred schema");
    (wire::encode(&version.id, compression, &body), version.id)
}

/// An environment of these variables, for `Config::from_lookup`.
pub fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| vars.get(k).cloned()
}

/// A reading with these key fields and the fields of `extra` (an object).
pub fn reading(device_id: &str, timestamp: i64, extra: Value) -> Value {
    let mut event = serde_json::json!({"deviceId": device_id, "timestamp": timestamp});
    let fields = event.as_object_mut().expect("an object");
    fields.extend(
        extra
            .as_object()
            .expect("extra fields are an object")
            .clone(),
    );
    event
}

/// Asserts what Lambda is told of a failure: `reported` is what the function hands the runtime
/// (its `Diagnostic`, serialized as `{"errorType", "errorMessage"}`); `class` must be the
/// `errorType`, and the message must start with the retry hint the class's name gives and
/// contain `cause`.
pub fn assert_reported(reported: &impl Serialize, class: &str, cause: &str) {
    let json = serde_json::to_value(reported).expect("a diagnostic serializes");
    let message = json["errorMessage"].as_str().unwrap_or_default();
    assert_eq!(json["errorType"], class, "{json}");
    let hint = if Failure::class_is_retryable(class) {
        "retryable: "
    } else {
        "not retryable: "
    };
    assert!(
        message.starts_with(hint) && message.contains(cause),
        "{class}: {message}"
    );
}

/// The tags the benchmarks' readings carry (those of `scripts/bench_python_glue.py`).
pub const TAGS: [&str; 6] = [
    "indoor",
    "outdoor",
    "roof",
    "basement",
    "calibrated",
    "battery-low",
];

/// A small deterministic generator (xorshift64*), so every run of a benchmark measures the
/// same records.
pub struct Rng(pub u64);

impl Default for Rng {
    /// The seed every benchmark starts from.
    fn default() -> Self {
        Rng(0x9e37_79b9_7f4a_7c15)
    }
}

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A sensor's value: `null` with probability `p_null`, else uniform in [lo, hi) rounded to
    /// `digits` decimal places.
    pub fn number(&mut self, p_null: f64, lo: f64, hi: f64, digits: i32) -> Value {
        if self.unit() < p_null {
            return Value::Null;
        }
        let p = 10f64.powi(digits);
        Value::from((self.uniform(lo, hi) * p).round() / p)
    }
}

/// The JSON values, one a line, of the file the environment variable `var` names (blank lines
/// skipped); `None` when it is not set. Panics, naming the file, on anything else.
pub fn json_lines(var: &str) -> Option<Vec<Value>> {
    let path = std::env::var_os(var)?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{var} {path:?}: {e}"));
    let values: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{var} {path:?}: {e}: {l}")))
        .collect();
    assert!(!values.is_empty(), "{var} {path:?} holds no values");
    Some(values)
}
