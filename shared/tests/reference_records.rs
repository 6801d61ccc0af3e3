//! Records written by implementations this project did not write (fastavro and Apache's `avro`
//! package, framed by the reference Glue codec; `scripts/avro_reference.py`) decode to the values
//! they were written with, for Apache's interop schema and a schema with every Avro construct.

mod avro_fixtures;

use serde_json::{Map, Value};

use sensor_shared::codec::{CompiledSchema, Visitor};
use sensor_shared::wire;

use avro_fixtures::{fixture, hex};

/// Builds a `serde_json` value with decimals as strings of their exact digits, as the
/// fixtures write them.
#[derive(Default)]
struct Exact {
    stack: Vec<(Value, Option<String>)>,
    done: Option<Value>,
}

impl Exact {
    fn push(&mut self, v: Value) {
        match self.stack.last_mut() {
            Some((Value::Object(m), key)) => {
                m.insert(key.take().unwrap(), v);
            }
            Some((Value::Array(a), _)) => a.push(v),
            Some(_) => unreachable!(),
            None => self.done = Some(v),
        }
    }
    fn close(&mut self) {
        let (v, _) = self.stack.pop().unwrap();
        self.push(v);
    }
}

impl Visitor for Exact {
    fn null(&mut self) {
        self.push(Value::Null)
    }
    fn boolean(&mut self, v: bool) {
        self.push(Value::Bool(v))
    }
    fn long(&mut self, v: i64) {
        self.push(v.into())
    }
    fn double(&mut self, v: f64) {
        self.push(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn string(&mut self, v: &str) {
        self.push(v.into())
    }
    fn bytes(&mut self, v: &[u8]) {
        self.push(Value::String(v.iter().map(|&b| char::from(b)).collect()))
    }
    fn decimal(&mut self, text: &str, _precision: u32) {
        self.push(Value::String(text.to_string()))
    }
    fn begin_array(&mut self) {
        self.stack.push((Value::Array(vec![]), None))
    }
    fn end_array(&mut self) {
        self.close()
    }
    fn begin_record(&mut self) {
        self.stack.push((Value::Object(Map::new()), None))
    }
    fn end_record(&mut self) {
        self.close()
    }
    fn begin_map(&mut self) {
        self.begin_record()
    }
    fn end_map(&mut self) {
        self.close()
    }
    fn key(&mut self, key: &str) {
        self.stack.last_mut().unwrap().1 = Some(key.to_string())
    }
}

fn check(schema_file: &str, frames_file: &str) -> usize {
    let schema = CompiledSchema::parse(&fixture(schema_file)).unwrap();
    let mut n = 0;
    let mut writers = std::collections::BTreeSet::new();
    for line in fixture(frames_file).lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let raw = hex(row["frame"].as_str().unwrap());
        let frame = wire::decode(&raw, 1 << 20).unwrap();
        assert_eq!(
            frame.schema_version_id.to_string(),
            row["versionId"].as_str().unwrap()
        );
        let mut v = Exact::default();
        schema.visit(&frame.body, &mut v).unwrap();
        let got = v.done.unwrap();
        let want = &row["expected"];
        let obj = want.as_object().unwrap();
        for (k, w) in obj {
            assert_eq!(
                &got[k], w,
                "{} {} field {k}",
                row["writer"], row["compression"]
            );
        }
        assert_eq!(got.as_object().unwrap().len(), obj.len());
        // The JSON text the CLI prints holds every decimal's exact digits.
        let text = schema.decode_to_json(&frame.body, false).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.as_object().unwrap().len(), obj.len());
        for k in ["price", "priceFixed", "huge"] {
            if let Some(digits) = want.get(k).and_then(Value::as_str) {
                assert!(
                    text.contains(&format!("\"{k}\":{digits},")),
                    "{k} {digits} in {text}"
                );
            }
        }
        writers.insert(format!("{} {}", row["writer"], row["compression"]));
        n += 1;
    }
    assert_eq!(
        writers.len(),
        4,
        "fastavro and avro, plain and zlib: {writers:?}"
    );
    n
}

#[test]
fn interop_schema_records_decode_value_by_value() {
    assert_eq!(check("interop.avsc", "interop.frames.jsonl"), 16);
}

#[test]
fn wide_schema_records_decode_value_by_value() {
    assert_eq!(check("wide.avsc", "wide.frames.jsonl"), 16);
}

#[test]
fn the_wide_schema_round_trips_through_its_canonical_text() {
    let text = fixture("wide.avsc");
    let s = CompiledSchema::parse(&text).unwrap();
    let canonical = s.record().to_definition();
    let again = CompiledSchema::parse(&canonical).unwrap();
    assert_eq!(again.record(), s.record());
    assert_eq!(again.record().to_definition(), canonical);
    // Every body decodes the same with the canonical text.
    for line in fixture("wide.frames.jsonl").lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let raw = hex(row["frame"].as_str().unwrap());
        let frame = wire::decode(&raw, 1 << 20).unwrap();
        assert_eq!(
            again.decode_to_json(&frame.body, false).unwrap(),
            s.decode_to_json(&frame.body, false).unwrap()
        );
    }
}
