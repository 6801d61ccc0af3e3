//! Property tests of the shared core: inference → codec round trips checked against
//! apache-avro as an independent oracle, compatibility of merged versions, canonical definitions,
//! and decoders that never panic on arbitrary bytes.
//!
//! Each property runs a few hundred cases so the suite stays quick in debug builds.

mod avro_fixtures;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use sensor_shared::codec::{CompiledSchema, DecodeError};
use sensor_shared::infer::{infer, InferError, InferOptions};
use sensor_shared::schema::{check_compatibility, Compatibility, Record};
use sensor_shared::wire::{self, Compression, WireError, HEADER_LEN};

use avro_fixtures::varint;

// ---------------------------------------------------------------------------------------------
// Generators

/// The type shape of a JSON value: events are generated from shapes so that array items agree
/// with each other (mixed arrays are a type conflict, tested separately in the merge property).
#[derive(Debug, Clone)]
enum Shape {
    Null,
    Bool,
    Long,
    /// Integers and fractions mixed: `[1, 2.5]` infers `double`, and `1` decodes as `1.0`.
    Double,
    Str,
    Obj(Vec<(String, Shape)>),
    Arr(Box<Shape>),
}

/// JSON keys: plain names, names that collide after sanitising, and arbitrary unicode.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-zA-Z0-9_]{0,6}",
        2 => prop::sample::select(vec![
            "a-b", "a_b", "a b", "a_b_2", "1st", "temp °C", "", "_", "Ω", "x.y", "item",
            "Reading", "deviceId", "timestamp", "null", "type", "\"q\"", "a\\b",
        ])
        .prop_map(String::from),
        2 => "\\PC{0,5}",
        1 => ".{0,4}",
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        Just(Shape::Null),
        Just(Shape::Bool),
        Just(Shape::Long),
        Just(Shape::Double),
        Just(Shape::Str),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::btree_map(key(), inner.clone(), 0..5)
                .prop_map(|m| Shape::Obj(m.into_iter().collect())),
            inner.prop_map(|s| Shape::Arr(Box::new(s))),
        ]
    })
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()),
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64 / 8.0),
        Just(-0.0),
    ]
}

fn number_value(f: f64) -> Value {
    Value::Number(serde_json::Number::from_f64(f).expect("finite"))
}

/// A value of `shape`; any value may also be `null`.
fn value(shape: &Shape) -> BoxedStrategy<Value> {
    let v = match shape {
        Shape::Null => Just(Value::Null).boxed(),
        Shape::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Shape::Long => prop_oneof![any::<i64>(), -100i64..100]
            .prop_map(Value::from)
            .boxed(),
        Shape::Double => prop_oneof![
            any::<i64>().prop_map(Value::from),
            (-100i64..100).prop_map(Value::from),
            finite_f64().prop_map(number_value),
            // Beyond i64: serde_json keeps it as u64, inference makes it a double.
            (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::from),
        ]
        .boxed(),
        Shape::Str => prop_oneof!["\\PC{0,8}", ".{0,4}"]
            .prop_map(Value::String)
            .boxed(),
        Shape::Obj(fields) => object(fields).prop_map(Value::Object).boxed(),
        Shape::Arr(item) => prop::collection::vec(value(item), 0..4)
            .prop_map(Value::Array)
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 6 => v].boxed()
}

/// An object with each field of `fields` present or absent.
fn object(fields: &[(String, Shape)]) -> BoxedStrategy<Map<String, Value>> {
    let entries: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|(k, s)| {
            let k = k.clone();
            prop::option::weighted(0.85, value(s))
                .prop_map(move |v| v.map(|v| (k.clone(), v)))
                .boxed()
        })
        .collect();
    entries
        .prop_map(|e| e.into_iter().flatten().collect::<Map<_, _>>())
        .boxed()
}

/// Adds the key fields to `fields`.
fn with_keys(mut fields: Map<String, Value>, device: String, ts: i64) -> Value {
    fields.insert("deviceId".into(), Value::String(device));
    fields.insert("timestamp".into(), Value::from(ts));
    Value::Object(fields)
}

/// A complete event: key fields plus arbitrary nested content of a consistent shape.
fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), shape(), 0..8)
        .prop_flat_map(|m| object(&m.into_iter().collect::<Vec<_>>()))
        .prop_flat_map(|fields| {
            ("\\PC{0,12}", any::<i64>()).prop_map(move |(d, t)| with_keys(fields.clone(), d, t))
        })
}

/// Events over a small set of keys with loosely typed values, so that fields recur across a
/// sequence, get widened, become `null`, grow nested fields, or conflict.
fn loose_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::from),
        (-40i64..40).prop_map(|i| number_value(i as f64 / 4.0 + 0.125)),
        prop::sample::select(vec!["a", "b", "é"]).prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["x", "y", "x-y", "1"]).prop_map(String::from),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn loose_event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(vec!["t", "h", "loc", "tags", "a-b", "a_b", "n"])
            .prop_map(String::from),
        loose_value(),
        0..4,
    )
    .prop_map(|m| with_keys(m.into_iter().collect(), "dev".into(), 1_700_000_000_000))
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// `n` cases; failures are not persisted to a file next to the tests (the seed is printed).
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn opts(compatibility: Compatibility) -> InferOptions {
    InferOptions {
        compatibility,
        ..Default::default()
    }
}

/// `decoded` gives back `original`: equal values, numbers compared numerically where one side is
/// not an integer (an integer inside a `double` array decodes as a float), and keys absent from
/// the original present as `null` (the schema's other fields).
fn same_json(original: &Value, decoded: &Value, path: &str) -> Result<(), String> {
    match (original, decoded) {
        (Value::Number(a), Value::Number(b)) => {
            let equal = match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            };
            if equal {
                Ok(())
            } else {
                Err(format!("{path}: {a} decoded as {b}"))
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k:?}");
                let d = b
                    .get(k)
                    .ok_or_else(|| format!("{p}: missing after decoding"))?;
                same_json(v, d, &p)?;
            }
            match b.iter().find(|(k, v)| !a.contains_key(*k) && !v.is_null()) {
                Some((k, v)) => Err(format!("{path}.{k:?}: absent key decoded as {v}")),
                None => Ok(()),
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (x, y))| same_json(x, y, &format!("{path}[{i}]"))),
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{path}: {a} decoded as {b}")),
    }
}

/// Reads `body` with apache-avro and writes it back: the reader must consume every byte and the
/// writer must reproduce them.
fn apache_round_trip(definition: &str, body: &[u8]) -> Result<(), String> {
    let schema = apache_avro::Schema::parse_str(definition).map_err(|e| e.to_string())?;
    let mut slice = body;
    let value = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
        .build()
        .map_err(|e| e.to_string())?
        .read_value(&mut slice)
        .map_err(|e| format!("apache-avro cannot read our body: {e}"))?;
    if !slice.is_empty() {
        return Err(format!("apache-avro left {} bytes unread", slice.len()));
    }
    let again = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .map_err(|e| e.to_string())?
        .write_value_to_vec(value)
        .map_err(|e| format!("apache-avro cannot write back what it read: {e}"))?;
    if again != body {
        return Err(format!(
            "apache-avro writes {again:02x?}, we wrote {body:02x?}"
        ));
    }
    Ok(())
}

/// Rebuilds `v` with every object's keys inserted in reverse order.
fn reinsert_reversed(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, item) in m.iter().rev() {
                out.insert(k.clone(), reinsert_reversed(item));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reinsert_reversed).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. infer → encode → decode gives back the event; apache-avro agrees

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn inferred_schema_round_trips_the_event(event in event()) {
        let inferred = infer(&event, None, &InferOptions::default())
            .map_err(|e| TestCaseError::fail(format!("inference failed: {e}")))?;
        prop_assert!(inferred.changed);

        // The definition is valid Avro, and canonical: parsing and writing it is a fixed point.
        apache_avro::Schema::parse_str(&inferred.definition)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", inferred.definition)))?;
        let reparsed = Record::parse(&inferred.definition)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&reparsed, &inferred.record);
        prop_assert_eq!(reparsed.to_definition(), inferred.definition.clone());

        let schema = CompiledSchema::from_record(inferred.record);
        prop_assert_eq!(schema.definition(), inferred.definition.as_str());
        let body = schema.encode_to_vec(&event)
            .map_err(|e| TestCaseError::fail(format!("encoding failed: {e}")))?;
        let decoded = schema.decode(&body)
            .map_err(|e| TestCaseError::fail(format!("decoding failed: {e}")))?;
        same_json(&event, &decoded, "$").map_err(TestCaseError::fail)?;
        // Decoding is a fixed point: the decoded JSON encodes to the same body.
        prop_assert_eq!(schema.encode_to_vec(&decoded).unwrap(), body.clone());

        apache_round_trip(&inferred.definition, &body).map_err(TestCaseError::fail)?;
        // The same schema parsed from its text behaves the same.
        let parsed = CompiledSchema::parse(&inferred.definition)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.decode(&body).unwrap(), decoded);
    }

    /// Every strict prefix of a body is truncated and extra bytes are trailing: a body is exactly
    /// one record.
    #[test]
    fn bodies_are_exactly_one_record(event in event(), cut in any::<prop::sample::Index>(), extra in 1usize..4) {
        let inferred = infer(&event, None, &InferOptions::default()).unwrap();
        let schema = CompiledSchema::from_record(inferred.record);
        let body = schema.encode_to_vec(&event).unwrap();
        prop_assert!(!body.is_empty(), "deviceId and timestamp take bytes");
        let n = cut.index(body.len());
        // A count that the rest of the body cannot hold is the other way to see the end early.
        let cut_short = schema.decode(&body[..n]);
        prop_assert!(
            matches!(cut_short, Err(DecodeError::Truncated | DecodeError::TooManyItems(_))),
            "{:?}", cut_short
        );
        let mut longer = body.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(schema.decode(&longer), Err(DecodeError::TrailingBytes(extra)));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. merged versions stay compatible; `{}` never makes a new version

fn check_history(events: &[Value], mode: Compatibility) -> Result<usize, TestCaseError> {
    let o = opts(mode);
    let mut prev: Option<Record> = None;
    let mut accepted: Vec<&Value> = Vec::new();
    let mut versions = 0;
    for e in events {
        match infer(e, prev.as_ref(), &o) {
            Ok(next) => {
                if let Some(p) = &prev {
                    check_compatibility(&p.to_definition(), &next.definition, mode).map_err(
                        |err| {
                            TestCaseError::fail(format!(
                                "{mode}: incompatible version returned: {err}\n{}\n{}",
                                p.to_definition(),
                                next.definition
                            ))
                        },
                    )?;
                    prop_assert_eq!(next.changed, &next.record != p);
                } else {
                    prop_assert!(next.changed);
                }
                if next.changed {
                    versions += 1;
                }
                // Every event accepted so far still fits the latest version.
                accepted.push(e);
                let schema = CompiledSchema::from_record(next.record.clone());
                for old in &accepted {
                    let body = schema.encode_to_vec(old).map_err(|err| {
                        TestCaseError::fail(format!("{old} no longer encodes: {err}"))
                    })?;
                    same_json(old, &schema.decode(&body).unwrap(), "$")
                        .map_err(TestCaseError::fail)?;
                }
                prev = Some(next.record);
            }
            // Under BACKWARD the merge itself must never produce an incompatible version: it
            // only adds nullable fields and widens.
            Err(InferError::Incompatible(err)) if mode == Compatibility::Backward => {
                return Err(TestCaseError::fail(format!(
                    "merge produced an incompatible version: {err}"
                )));
            }
            // A genuine type conflict (or a refused widening) is a typed error naming a path.
            Err(InferError::TypeConflict {
                path,
                existing,
                found,
                ..
            }) => {
                prop_assert!(!existing.is_empty() && !found.is_empty(), "{path}");
            }
            Err(other) => {
                prop_assert!(
                    matches!(other, InferError::Incompatible(_)),
                    "unexpected error {other:?} for {e}"
                );
            }
        }
        // An event with the key fields only maps to the current version.
        if let Some(p) = &prev {
            let empty = json!({"deviceId": "any", "timestamp": 0});
            let same =
                infer(&empty, Some(p), &o).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!same.changed);
            prop_assert_eq!(&same.record, p);
            prop_assert_eq!(same.definition, p.to_definition());
        }
    }
    Ok(versions)
}

proptest! {
    #![proptest_config(cases(250))]

    #[test]
    fn merged_versions_are_backward_compatible(events in prop::collection::vec(loose_event(), 1..7)) {
        check_history(&events, Compatibility::Backward)?;
    }

    #[test]
    fn merged_versions_under_full_are_full_compatible_or_refused(events in prop::collection::vec(loose_event(), 1..7)) {
        check_history(&events, Compatibility::Full)?;
    }

    /// Arbitrary (consistent) events merged one after another are backward compatible too.
    #[test]
    fn arbitrary_histories_are_backward_compatible(events in prop::collection::vec(event(), 1..4)) {
        check_history(&events, Compatibility::Backward)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. canonical definitions

proptest! {
    #![proptest_config(cases(250))]

    #[test]
    fn same_event_same_definition(event in event(), before in loose_event()) {
        let o = InferOptions::default();
        let a = infer(&event, None, &o).unwrap();
        let b = infer(&event, None, &o).unwrap();
        prop_assert_eq!(&a.definition, &b.definition);
        // Independent of the order in which the keys were inserted.
        let reversed = reinsert_reversed(&event);
        prop_assert_eq!(&infer(&reversed, None, &o).unwrap().definition, &a.definition);
        // And of a trip through JSON text.
        let text: Value = serde_json::from_str(&event.to_string()).unwrap();
        prop_assert_eq!(&infer(&text, None, &o).unwrap().definition, &a.definition);
        // Merged into a previous version, too.
        if let Ok(prev) = infer(&before, None, &o) {
            let x = infer(&event, Some(&prev.record), &o);
            let y = infer(&reversed, Some(&prev.record), &o);
            match (x, y) {
                (Ok(x), Ok(y)) => prop_assert_eq!(x.definition, y.definition),
                (Err(x), Err(y)) => prop_assert_eq!(x, y),
                (x, y) => prop_assert!(false, "{x:?} vs {y:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. decoders never panic on arbitrary bytes

/// Bytes that look like Avro: varints of edge values (block counts, lengths, union indices)
/// mixed with raw bytes, so decoders get past the first check.
fn avro_noise() -> impl Strategy<Value = Vec<u8>> {
    let chunk = prop_oneof![
        3 => prop::sample::select(vec![
            0i64, 1, -1, 2, -2, 3, 5, 63, -64, 127, 1 << 20, (1 << 20) + 1, i32::MAX as i64,
            i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1,
        ])
        .prop_map(varint),
        2 => (-3i64..8).prop_map(varint),
        2 => prop::collection::vec(any::<u8>(), 0..6),
        1 => Just(vec![0xff; 10]),
        1 => Just(vec![0x80; 11]),
    ];
    prop::collection::vec(chunk, 0..16).prop_map(|c| c.concat())
}

const EVT: &str = r#"{"type":"record","name":"Evt","namespace":"ex","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;

/// Nested records, arrays of records, maps of arrays, every primitive, `null` items.
const NESTED: &str = r#"{"type":"record","name":"R","namespace":"t","fields":[
    {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"f","type":"float"},
    {"name":"y","type":"bytes"},
    {"name":"o","type":["null",{"type":"record","name":"O","fields":[
        {"name":"x","type":["null","long"],"default":null},
        {"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"s","type":"string"}]}}]}],"default":null},
    {"name":"ar","type":{"type":"array","items":{"type":"record","name":"A","fields":[
        {"name":"d","type":"double"},{"name":"t","type":["null",{"type":"array","items":"string"}]}]}}},
    {"name":"m","type":{"type":"map","values":{"type":"array","items":["null","long"]}}},
    {"name":"n","type":{"type":"array","items":"null"}},
    {"name":"mn","type":{"type":"map","values":"null"}}]}"#;

fn schemas() -> Vec<CompiledSchema> {
    let sensor = infer(
        &json!({"deviceId": "000001", "timestamp": 1, "temperature": 21.5, "humidity": null,
                "location": {"lat": 1.5, "lon": 2.5}, "tags": ["a"], "readings": [{"v": 1}]}),
        None,
        &InferOptions::default(),
    )
    .unwrap();
    let interop = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/avro/interop.avsc"
    ))
    .unwrap();
    vec![
        CompiledSchema::parse(EVT).unwrap(),
        CompiledSchema::parse(NESTED).unwrap(),
        CompiledSchema::from_record(sensor.record),
        // Unions of three without null, an enum, fixed, a map of records, a recursive record.
        CompiledSchema::parse(&interop).unwrap(),
    ]
}

/// The schema with every construct (logical types included), decoded without an oracle
/// (apache-avro does not know every logical type of Avro 1.12).
fn wide() -> CompiledSchema {
    CompiledSchema::parse(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/avro/wide.avsc"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn apache_schema(s: &CompiledSchema) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(s.definition()).unwrap()
}

/// Decodes `bytes` with every schema: never a panic; an accepted body is one apache-avro reads
/// to the same length (we are never more lenient than the reference reader).
fn decode_everywhere(schemas: &[CompiledSchema], bytes: &[u8]) -> Result<(), TestCaseError> {
    for s in schemas {
        match s.decode(bytes) {
            Ok(v) => {
                prop_assert!(v.is_object());
                let avro = apache_schema(s);
                let mut slice = bytes;
                let read = apache_avro::reader::datum::GenericDatumReader::builder(&avro)
                    .build()
                    .unwrap()
                    .read_value(&mut slice);
                prop_assert!(
                    read.is_ok() && slice.is_empty(),
                    "we accepted {bytes:02x?} as {v} for {}, apache-avro: {read:?}, {} left",
                    s.definition(),
                    slice.len()
                );
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(400))]

    /// Generated schemas of every Avro type (recursion, decimals, durations, unions, ...) and
    /// bodies: decoding, the JSON text and the consumer's item writer return values or errors.
    #[test]
    fn every_construct_decodes_or_errs_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        sensor_shared::fuzzing::codec_decode(&bytes);
        sensor_shared::fuzzing::item_writer(&bytes);
        let w = wide();
        match w.decode(&bytes) {
            Ok(v) => prop_assert!(v.is_object()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Wide-schema bodies written by fastavro and Apache avro, damaged at one byte.
    #[test]
    fn damaged_reference_bodies_decode_or_err(line in 0usize..16, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let rows = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/avro/wide.frames.jsonl")).unwrap();
        let row: Value = serde_json::from_str(rows.lines().nth(line).unwrap()).unwrap();
        let hex = row["frame"].as_str().unwrap();
        let raw: Vec<u8> = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        let mut body = wire::decode(&raw, 1 << 20).unwrap().body.into_owned();
        let i = at.index(body.len());
        body[i] = byte;
        let w = wide();
        let json = w.decode_to_json(&body, false);
        prop_assert_eq!(json.is_ok(), w.decode(&body).is_ok());
        if let Ok(text) = json {
            prop_assert!(serde_json::from_str::<Value>(&text).is_ok());
        }
    }

    #[test]
    fn codec_decode_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        decode_everywhere(&schemas(), &bytes)?;
    }

    #[test]
    fn codec_decode_never_panics_on_avro_like_bytes(bytes in avro_noise()) {
        decode_everywhere(&schemas(), &bytes)?;
    }

    #[test]
    fn codec_decode_never_panics_on_mutated_bodies(
        event in event(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let inferred = infer(&event, None, &InferOptions::default()).unwrap();
        let schema = CompiledSchema::from_record(inferred.record);
        let mut body = schema.encode_to_vec(&event).unwrap();
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        decode_everywhere(&[schema], &body)?;
    }

    #[test]
    fn wire_decode_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        cap in prop_oneof![Just(0usize), 1usize..64, Just(wire::DEFAULT_MAX_INFLATED)],
    ) {
        check_wire(&bytes, cap)?;
    }

    #[test]
    fn wire_decode_never_panics_after_a_valid_header(
        zlib in any::<bool>(),
        id in any::<[u8; 16]>(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        cap in prop_oneof![1usize..64, Just(wire::DEFAULT_MAX_INFLATED)],
    ) {
        let mut m = vec![wire::HEADER_VERSION, if zlib { wire::COMPRESSION_ZLIB } else { wire::COMPRESSION_NONE }];
        m.extend_from_slice(&id);
        m.extend_from_slice(&tail);
        check_wire(&m, cap)?;
    }

    /// Frames round trip; a damaged zlib frame is a typed error or an honest body.
    #[test]
    fn wire_round_trips_and_survives_damage(
        id in any::<[u8; 16]>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        zlib in any::<bool>(),
        flip in (any::<prop::sample::Index>(), 1u8..=255),
        cut in any::<prop::sample::Index>(),
    ) {
        let id = Uuid::from_bytes(id);
        let compression = if zlib { Compression::Zlib } else { Compression::None };
        let framed = wire::encode(&id, compression, &body);
        let f = wire::decode(&framed, body.len()).unwrap();
        prop_assert_eq!(f.schema_version_id, id);
        prop_assert_eq!(f.compression, compression);
        prop_assert_eq!(&*f.body, &body[..]);
        prop_assert_eq!(wire::peek(&framed).unwrap(), (id, compression));
        if zlib && !body.is_empty() {
            prop_assert_eq!(
                wire::decode(&framed, body.len() - 1),
                Err(WireError::InflatedTooLarge { limit: body.len() - 1 })
            );
        }
        if framed.len() > HEADER_LEN {
            let mut damaged = framed.clone();
            let (at, x) = flip;
            damaged[HEADER_LEN + at.index(framed.len() - HEADER_LEN)] ^= x;
            check_wire(&damaged, 1024)?;
        }
        let n = cut.index(framed.len());
        check_wire(&framed[..n], 1024)?;
        if zlib && n >= HEADER_LEN {
            // A cut zlib stream never decodes: the Adler-32 trailer is missing.
            prop_assert!(matches!(wire::decode(&framed[..n], 1024), Err(WireError::Zlib(_))));
        }
    }
}

proptest! {
    #![proptest_config(cases(24))]

    /// Bodies far larger than the first output buffer and the 32 KiB zlib window: the inflater
    /// grows its output, stops exactly at the cap, and a reused (per-thread) state gives every
    /// message its own bytes.
    #[test]
    fn wire_round_trips_large_bodies(
        seed in prop::collection::vec(any::<u8>(), 1..64),
        len in 0usize..300_000,
        noise in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..64),
    ) {
        let mut body: Vec<u8> = seed.iter().copied().cycle().take(len).collect();
        if !body.is_empty() {
            for (at, b) in noise {
                let i = at.index(body.len());
                body[i] = b;
            }
        }
        let id = Uuid::from_bytes([7; 16]);
        let framed = wire::encode(&id, Compression::Zlib, &body);
        prop_assert_eq!(&*wire::decode(&framed, body.len()).unwrap().body, &body[..]);
        prop_assert_eq!(&*wire::decode(&framed, usize::MAX).unwrap().body, &body[..]);
        if !body.is_empty() {
            prop_assert_eq!(
                wire::decode(&framed, body.len() - 1),
                Err(WireError::InflatedTooLarge { limit: body.len() - 1 })
            );
        }
        // Another message in between does not disturb the next one.
        let other = wire::encode(&id, Compression::Zlib, b"other");
        prop_assert_eq!(&*wire::decode(&other, 100).unwrap().body, b"other");
        let cut = &framed[..framed.len() - 1];
        prop_assert!(matches!(wire::decode(cut, usize::MAX), Err(WireError::Zlib(_))));
    }
}

fn check_wire(m: &[u8], cap: usize) -> Result<(), TestCaseError> {
    match wire::decode(m, cap) {
        Ok(f) => {
            prop_assert!(m.len() >= HEADER_LEN);
            prop_assert_eq!(m[0], wire::HEADER_VERSION);
            prop_assert_eq!(&f.schema_version_id.as_bytes()[..], &m[2..HEADER_LEN]);
            match f.compression {
                Compression::None => prop_assert_eq!(&*f.body, &m[HEADER_LEN..]),
                Compression::Zlib => prop_assert!(f.body.len() <= cap),
            }
        }
        Err(WireError::TooShort { len }) => {
            prop_assert_eq!(len, m.len());
            prop_assert!(len < HEADER_LEN);
        }
        Err(WireError::UnknownHeaderVersion(b)) => prop_assert_eq!(b, m[0]),
        Err(WireError::UnknownCompression(b)) => prop_assert_eq!(b, m[1]),
        Err(WireError::InflatedTooLarge { limit }) => {
            prop_assert_eq!(limit, cap);
            prop_assert_eq!(m[1], wire::COMPRESSION_ZLIB);
        }
        Err(WireError::Zlib(msg)) => {
            prop_assert!(!msg.is_empty());
            prop_assert_eq!(m[1], wire::COMPRESSION_ZLIB);
        }
    }
    Ok(())
}

/// Block counts that overflow when added up, after a first block, are refused, not summed.
#[test]
fn huge_block_counts_are_refused() {
    let array = CompiledSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"null"}}]}"#,
    )
    .unwrap();
    let map = CompiledSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"null"}}]}"#,
    )
    .unwrap();
    let empty_records = CompiledSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[{"name":"n","type":"null"}]}}}]}"#,
    )
    .unwrap();
    for big in [i64::MAX, i64::MAX - 1, 1 << 62, -i64::MAX] {
        let body = [varint(1), varint(big), vec![0]].concat();
        assert!(
            matches!(array.decode(&body), Err(DecodeError::TooManyItems(_))),
            "{big}"
        );
        assert!(
            matches!(
                empty_records.decode(&body),
                Err(DecodeError::TooManyItems(_))
            ),
            "{big}"
        );
        // One entry with an empty key, then the huge block.
        let body = [varint(1), varint(0), varint(big), vec![0]].concat();
        assert!(
            matches!(map.decode(&body), Err(DecodeError::TooManyItems(_))),
            "{big}"
        );
    }
    // Items that encode to nothing still decode in honest numbers.
    let body = [varint(3), varint(0)].concat();
    assert_eq!(
        array.decode(&body).unwrap(),
        json!({"a": [null, null, null]})
    );
    assert_eq!(
        empty_records.decode(&body).unwrap(),
        json!({"a": [{"n": null}, {"n": null}, {"n": null}]})
    );
}

/// An `int` outside the 32-bit range is not an `int`: refused like apache-avro refuses it.
#[test]
fn int_out_of_range_is_refused_like_apache_avro() {
    let def = r#"{"type":"record","name":"R","fields":[{"name":"i","type":"int"}]}"#;
    let s = CompiledSchema::parse(def).unwrap();
    let avro = apache_avro::Schema::parse_str(def).unwrap();
    for (v, ok) in [
        (i32::MAX as i64, true),
        (i32::MIN as i64, true),
        (i32::MAX as i64 + 1, false),
        (i32::MIN as i64 - 1, false),
        (i64::MAX, false),
    ] {
        let body = varint(v);
        let mut slice = &body[..];
        let theirs = apache_avro::reader::datum::GenericDatumReader::builder(&avro)
            .build()
            .unwrap()
            .read_value(&mut slice);
        assert_eq!(theirs.is_ok(), ok, "apache-avro on {v}");
        match s.decode(&body) {
            Ok(j) => {
                assert!(ok, "accepted {v} as an int");
                assert_eq!(j, json!({ "i": v }));
            }
            Err(e) => {
                assert!(!ok, "refused {v}: {e}");
                assert_eq!(e, DecodeError::IntOutOfRange(v));
            }
        }
    }
}

/// Two fields standing for the same JSON key make encoding ambiguous: such a schema is refused
/// when it is read, instead of failing (or panicking) on the first event.
#[test]
fn duplicate_json_keys_are_refused() {
    for def in [
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long","jsonKey":"x"},{"name":"x","type":"long"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"a","type":"long","jsonKey":"k"},{"name":"b","type":"long","jsonKey":"k"}]}}]}"#,
    ] {
        assert!(matches!(
            Record::parse(def),
            Err(sensor_shared::schema::SchemaError::Unsupported { .. })
        ));
        assert!(CompiledSchema::parse(def).is_err());
    }
}

/// Encoding errors name the JSON path of the value, as inference does (`loc.tags[]`).
#[test]
fn encode_errors_name_the_path() {
    use sensor_shared::codec::EncodeError;
    let base = json!({"deviceId": "d", "timestamp": 1,
        "loc": {"tags": ["a"], "pts": [{"x": 1}], "a-b": {"c": true}}});
    let schema =
        CompiledSchema::from_record(infer(&base, None, &InferOptions::default()).unwrap().record);
    let with = |loc: Value| json!({"deviceId": "d", "timestamp": 1, "loc": loc});
    let mismatch = |e: Result<Vec<u8>, EncodeError>| match e {
        Err(EncodeError::Mismatch { path, .. }) => path,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        mismatch(schema.encode_to_vec(&with(json!({"tags": [1]})))),
        "loc.tags[]"
    );
    assert_eq!(
        mismatch(schema.encode_to_vec(&with(json!({"pts": [{"x": "s"}]})))),
        "loc.pts[].x"
    );
    assert_eq!(
        mismatch(schema.encode_to_vec(&with(json!({"a-b": {"c": 2}})))),
        "loc.a-b.c"
    );
    assert_eq!(mismatch(schema.encode_to_vec(&with(json!(3)))), "loc");
    assert_eq!(
        schema.encode_to_vec(&with(json!({"pts": [{"x": 1}, {"y": 1}]}))),
        Err(EncodeError::UnknownKey("loc.pts[].y".into()))
    );
    assert_eq!(
        schema.encode_to_vec(&json!({"deviceId": "d", "loc": null})),
        Err(EncodeError::Missing("timestamp".into()))
    );
    assert_eq!(
        schema.encode_to_vec(&json!({"deviceId": "d", "timestamp": 1, "other": 1})),
        Err(EncodeError::UnknownKey("other".into()))
    );
}

/// The generators reach what they are meant to reach (guards against a property that passes
/// because its inputs are trivial).
#[test]
fn generators_cover_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..300 {
        let e = event().new_tree(&mut runner).unwrap().current();
        let text = e.to_string();
        let i = infer(&e, None, &InferOptions::default()).unwrap();
        for (what, hit) in [
            (
                "nested record",
                i.definition.matches("\"type\":\"record\"").count() > 1,
            ),
            ("array", text.contains('[')),
            ("json key kept", i.definition.contains("\"jsonKey\"")),
            ("double", i.definition.contains("\"double\"")),
            ("null field", text.contains(":null")),
            (
                "non-ascii key",
                e.as_object().unwrap().keys().any(|k| !k.is_ascii()),
            ),
        ] {
            *seen.entry(what).or_default() += usize::from(hit);
        }
    }
    for (what, n) in &seen {
        assert!(*n >= 10, "only {n} of 300 events have a {what}: {seen:?}");
    }
    let loose: Vec<_> = (0..200)
        .map(|_| loose_event().new_tree(&mut runner).unwrap().current())
        .collect();
    let mut conflicts = 0;
    let mut prev = infer(&loose[0], None, &InferOptions::default())
        .unwrap()
        .record;
    for e in &loose[1..] {
        match infer(e, Some(&prev), &InferOptions::default()) {
            Ok(i) => prev = i.record,
            Err(InferError::TypeConflict { .. }) => conflicts += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        conflicts >= 5,
        "loose events should conflict now and then: {conflicts}"
    );
}
