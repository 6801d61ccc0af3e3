//! The definition texts the producer infers are pinned: Glue matches definitions as exact
//! strings, so any change to the text of an inferred schema would register needless versions.
//!
//! `fixtures/inferred-definitions.txt` holds, for a fixed list of event histories, the text of
//! every version the inference yields, one per line after a `# history` line. The file was
//! written by the inference before the schema model grew to the whole Avro specification; with
//! `SENSOR_WRITE_PINNED=1` the test writes it anew instead of comparing.

use serde_json::{json, Value};

use sensor_shared::infer::{infer, InferOptions};
use sensor_shared::schema::{Compatibility, Record};
use sensor_shared::testing::reading;

fn ev(extra: Value) -> Value {
    reading("000001", 1_700_000_000_000, extra)
}

/// A small deterministic generator (64-bit LCG), so the list needs no fixture of its own.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: &[&str] = &[
    "a", "b", "temp", "a-b", "a_b", "a b", "1st", "temp °C", "", "_", "Ω", "x.y", "item",
    "Reading", "null", "type", "\"q\"", "a\\b", "location", "tags",
];

fn random_value(g: &mut Lcg, depth: u32) -> Value {
    let kinds = if depth >= 3 { 5 } else { 7 };
    match g.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(g.below(2) == 1),
        2 => json!(g.below(1000) as i64 - 500),
        3 => json!((g.below(10_000) as f64) / 8.0 + 0.5),
        4 => json!(format!("s{}", g.below(100))),
        5 => {
            let n = g.below(3);
            let item = random_value(g, depth + 1);
            Value::Array((0..n).map(|_| item.clone()).collect())
        }
        _ => Value::Object(random_object(g, depth + 1)),
    }
}

fn random_object(g: &mut Lcg, depth: u32) -> serde_json::Map<String, Value> {
    let n = g.below(4);
    (0..n)
        .map(|_| {
            let k = KEYS[g.below(KEYS.len() as u64) as usize].to_string();
            (k, random_value(g, depth))
        })
        .collect()
}

/// Event histories: each is merged in order, one version after another.
fn histories() -> Vec<(Compatibility, Vec<Value>)> {
    let b = Compatibility::Backward;
    let mut out = vec![
        (
            b,
            vec![ev(json!({})), ev(json!({"temperature": 30})), ev(json!({}))],
        ),
        (
            b,
            vec![ev(json!({
                "n": null, "b": true, "i": 3, "d": 2.5, "s": "x",
                "o": {"x": 1, "y": {"z": "deep"}},
                "a": [1, 2.5], "e": [], "ao": [{"p": 1}, {"q": "w"}], "an": [null, 1]
            }))],
        ),
        (
            b,
            vec![ev(
                json!({"a-b": 1, "a_b": 2, "a b": 3, "": 4, "1st": 5, "temp °C": 6.5}),
            )],
        ),
        (
            b,
            vec![
                ev(json!({"t": 30})),
                ev(json!({"t": 30.5})),
                ev(json!({"t": 1})),
            ],
        ),
        (
            b,
            vec![ev(json!({"a-b": {"x": 1}})), ev(json!({"a_b": {"y": 1}}))],
        ),
        (b, vec![ev(json!({"x": null})), ev(json!({"x": 5}))]),
        (
            Compatibility::Full,
            vec![ev(json!({"a": 1})), ev(json!({"b": "x", "c": [true]}))],
        ),
        (
            b,
            vec![
                ev(json!({"temperature": 21.5, "humidity": 0.4})),
                ev(json!({"location": {"lat": 57.7, "lon": 11.9}})),
                ev(json!({"tags": ["roof", "north"]})),
                ev(json!({"location": {"lat": 57.7, "lon": 11.9, "alt": null}})),
            ],
        ),
    ];
    for name in [
        "empty",
        "temperature",
        "humidity",
        "location",
        "tags",
        "batch",
    ] {
        let path = format!(
            "{}/../producer-account/events/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let events = match v {
            Value::Array(items) => items,
            other => vec![other],
        };
        out.push((b, events.into_iter().map(ev).collect()));
    }
    let mut g = Lcg(7);
    for _ in 0..120 {
        let n = 1 + g.below(4);
        let events = (0..n)
            .map(|_| ev(Value::Object(random_object(&mut g, 0))))
            .collect();
        out.push((b, events));
    }
    out
}

/// Every version's text, history by history, with the previous version parsed from its text as
/// the producer does with the registry's latest.
fn render() -> String {
    let mut out = String::new();
    for (i, (mode, events)) in histories().into_iter().enumerate() {
        out.push_str(&format!("# history {i} {mode}\n"));
        let opts = InferOptions {
            compatibility: mode,
            ..Default::default()
        };
        let mut previous: Option<Record> = None;
        for e in &events {
            match infer(e, previous.as_ref(), &opts) {
                Ok(inferred) => {
                    out.push_str(&inferred.definition);
                    out.push('\n');
                    previous = Some(Record::parse(&inferred.definition).unwrap());
                }
                Err(err) => out.push_str(&format!("! {err}\n")),
            }
        }
    }
    out
}

const PINNED: &str = "tests/fixtures/inferred-definitions.txt";

#[test]
fn inferred_definitions_are_byte_identical_to_the_pinned_texts() {
    let now = render();
    let path = format!("{}/{PINNED}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("SENSOR_WRITE_PINNED").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap();
    assert!(pinned.lines().count() > 150, "the pinned file is complete");
    for (n, (a, b)) in pinned.lines().zip(now.lines()).enumerate() {
        assert_eq!(a, b, "line {} of {PINNED}", n + 1);
    }
    assert_eq!(pinned.lines().count(), now.lines().count());
}

#[test]
fn pinned_texts_parse_back_to_the_same_text() {
    let path = format!("{}/{PINNED}", env!("CARGO_MANIFEST_DIR"));
    let pinned = std::fs::read_to_string(path).unwrap();
    let mut checked = 0;
    for line in pinned.lines().filter(|l| l.starts_with('{')) {
        let r = Record::parse(line).unwrap();
        assert_eq!(r.to_definition(), line);
        apache_avro::Schema::parse_str(line).unwrap();
        checked += 1;
    }
    assert!(checked > 150, "{checked}");
}
