//! Schemas written elsewhere, through the consumer's item writer: every Avro type becomes the
//! attribute type the README documents, key fields of other types are refused with a reason,
//! and hostile bodies stay clear errors.

mod avro_fixtures;

use serde_json::{json, Value};
use uuid::Uuid;

use sensor_shared::codec::{CompiledSchema, DecodeError, MAX_RECURSION};
use sensor_shared::item::{self, Coordinates, ItemWriter};
use sensor_shared::wire;

use avro_fixtures::{fixture, hex, varint};

const AT: Coordinates<'static> = Coordinates {
    topic: "readings",
    partition: 2,
    offset: 9,
};

fn item_of(schema: &CompiledSchema, body: &[u8]) -> Result<Value, String> {
    let w = item::write_reading(schema, body, &Uuid::nil(), AT, &mut ItemWriter::new())?;
    Ok(serde_json::from_slice(w.item.json()).unwrap())
}

/// The one attribute type of each wide-schema field (README table).
const TYPES: &[(&str, &str)] = &[
    ("deviceId", "S"),
    ("timestamp", "N"),
    ("b", "BOOL"),
    ("i", "N"),
    ("l", "N"),
    ("f", "N"),
    ("d", "N"),
    ("s", "S"),
    ("y", "B"),
    ("kind", "S"),
    ("kind2", "S"),
    ("md5", "B"),
    ("md5b", "B"),
    ("tags", "L"),
    ("readings", "M"),
    ("home", "M"),
    ("chain", "M"),
    ("price", "N"),
    ("priceFixed", "N"),
    ("huge", "S"),
    ("id", "S"),
    ("idFixed", "S"),
    ("day", "N"),
    ("tMillis", "N"),
    ("tMicros", "N"),
    ("tsMillis", "N"),
    ("tsNanos", "N"),
    ("ltsMillis", "N"),
    ("ltsMicros", "N"),
    ("ltsNanos", "N"),
    ("span", "M"),
    ("other", "S"),
    ("withDefaults", "M"),
];

fn tag_and_value(attr: &Value) -> (&str, &Value) {
    let (k, v) = attr.as_object().unwrap().iter().next().unwrap();
    (k.as_str(), v)
}

#[test]
fn wide_schema_records_become_items_with_the_documented_types() {
    let schema = CompiledSchema::parse(&fixture("wide.avsc")).unwrap();
    let mut seen = 0;
    for line in fixture("wide.frames.jsonl").lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let expected = &row["expected"];
        let raw = hex(row["frame"].as_str().unwrap());
        let frame = wire::decode(&raw, 1 << 20).unwrap();
        if expected["timestamp"].as_i64().unwrap() < 0 {
            // Before 1970: no key holds it, the record is poison.
            let e = item_of(&schema, &frame.body).unwrap_err();
            assert!(e.contains("timestamp must be epoch milliseconds"), "{e}");
            seen += 1;
            continue;
        }
        let item = item_of(&schema, &frame.body).unwrap();
        for (field, tag) in TYPES {
            // DynamoDB holds no magnitude of 1e126 or more: such a double is left out as a null.
            if expected[*field].as_f64().is_some_and(|f| f.abs() >= 1e126) {
                assert!(item.get(field).is_none(), "{field}");
                continue;
            }
            assert!(item.get(field).is_some(), "{field} in {item}");
            let (t, v) = tag_and_value(&item[field]);
            assert_eq!(t, *tag, "{field}");
            let want = &expected[*field];
            match *tag {
                // Numbers keep the exact text: integers and decimals digit for digit.
                "N" if want.is_i64() || want.is_string() => {
                    let text = want
                        .as_str()
                        .map_or_else(|| want.to_string(), str::to_string);
                    assert_eq!(v.as_str().unwrap(), text, "{field}");
                }
                // Magnitudes below 1e-130 (DynamoDB's smallest) are stored as 0.
                "N" => assert_eq!(
                    v.as_str().unwrap().parse::<f64>().unwrap(),
                    Some(want.as_f64().unwrap())
                        .filter(|f| f.abs() >= 1e-130)
                        .unwrap_or(0.0),
                    "{field}"
                ),
                "S" => assert_eq!(v, want, "{field}"),
                "BOOL" => assert_eq!(v, want, "{field}"),
                _ => {}
            }
        }
        // Unions are untagged: the branch's own type; null is left out of the record.
        for field in ["u3", "u4", "optLast", "location"] {
            match &expected[field] {
                Value::Null => assert!(item.get(field).is_none(), "{field}"),
                Value::String(s) => assert_eq!(item[field], json!({"S": s}), "{field}"),
                Value::Number(n) => assert_eq!(
                    item[field]["N"].as_str().unwrap().parse::<f64>().unwrap(),
                    n.as_f64().unwrap()
                ),
                Value::Bool(b) => assert_eq!(item[field], json!({"BOOL": b})),
                Value::Array(a) => assert_eq!(item[field]["L"].as_array().unwrap().len(), a.len()),
                Value::Object(_) => assert!(item[field]["M"].is_object()),
            }
        }
        assert!(item.get("n").is_none(), "a null field is left out");
        assert_eq!(
            item["span"],
            json!({"M": {
                "months": {"N": expected["span"]["months"].to_string()},
                "days": {"N": expected["span"]["days"].to_string()},
                "milliseconds": {"N": expected["span"]["milliseconds"].to_string()}}})
        );
        // Null in a map is left out too.
        for (k, v) in expected["readings"].as_object().unwrap() {
            assert_eq!(
                item["readings"]["M"].get(k).is_some(),
                !v.is_null(),
                "readings.{k}"
            );
        }
        // The sort key holds the timestamp-micros value in milliseconds, rounded down.
        let micros = expected["timestamp"].as_i64().unwrap();
        let reading_id = item[item::ATTR_READING_ID]["S"].as_str().unwrap();
        let ms: i64 = reading_id.split('#').next().unwrap().parse().unwrap();
        assert_eq!(ms, micros.div_euclid(1000), "{reading_id}");
        seen += 1;
    }
    assert_eq!(seen, 16);
}

#[test]
fn interop_records_are_poison_for_want_of_key_fields() {
    let schema = CompiledSchema::parse(&fixture("interop.avsc")).unwrap();
    let line = fixture("interop.frames.jsonl");
    let row: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let raw = hex(row["frame"].as_str().unwrap());
    let frame = wire::decode(&raw, 1 << 20).unwrap();
    let e = item_of(&schema, &frame.body).unwrap_err();
    assert!(e.contains("missing key fields"), "{e}");
}

fn keyed(ts: &str, device: &str) -> CompiledSchema {
    CompiledSchema::parse(&format!(
        r#"{{"type":"record","name":"R","fields":[{{"name":"deviceId","type":{device}}},{{"name":"timestamp","type":{ts}}}]}}"#
    ))
    .unwrap()
}

#[test]
fn key_fields_of_every_timestamp_type_and_refusals_of_others() {
    let ms = 1_767_225_600_123i64;
    for (ts, value, expect_ms) in [
        (r#""long""#, json!(ms), ms),
        (r#""int""#, json!(1_000_000), 1_000_000),
        (
            r#"{"type":"long","logicalType":"timestamp-millis"}"#,
            json!(ms),
            ms,
        ),
        (
            r#"{"type":"long","logicalType":"timestamp-micros"}"#,
            json!(ms * 1000 + 999),
            ms,
        ),
        (
            r#"{"type":"long","logicalType":"timestamp-nanos"}"#,
            json!(ms * 1_000_000 + 5),
            ms,
        ),
        (
            r#"{"type":"long","logicalType":"local-timestamp-micros"}"#,
            json!(ms * 1000),
            ms,
        ),
        (
            r#"["null",{"type":"long","logicalType":"timestamp-micros"}]"#,
            json!(ms * 1000),
            ms,
        ),
    ] {
        let s = keyed(ts, r#""string""#);
        let body = s
            .encode_to_vec(&json!({"deviceId": "d", "timestamp": value}))
            .unwrap();
        let item = item_of(&s, &body).unwrap_or_else(|e| panic!("{ts}: {e}"));
        let id = item[item::ATTR_READING_ID]["S"].as_str().unwrap();
        assert_eq!(id, format!("{expect_ms:013}#readings#2#9"), "{ts}");
        // The attribute itself keeps the value as written.
        assert_eq!(item["timestamp"]["N"], value.to_string(), "{ts}");
    }
    for (ts, value, why) in [
        (
            r#""double""#,
            json!(1.5),
            "timestamp is a floating-point number",
        ),
        (r#""string""#, json!("2026-01-01"), "timestamp is a string"),
        (
            r#"{"type":"int","logicalType":"date"}"#,
            json!(20454),
            "timestamp is a date",
        ),
        (
            r#"{"type":"bytes","logicalType":"decimal","precision":5,"scale":0}"#,
            json!(5),
            "timestamp is a decimal",
        ),
        (
            r#"{"type":"array","items":"long"}"#,
            json!([1]),
            "timestamp is an array",
        ),
    ] {
        let s = keyed(ts, r#""string""#);
        let body = s
            .encode_to_vec(&json!({"deviceId": "d", "timestamp": value}))
            .unwrap();
        let e = item_of(&s, &body).unwrap_err();
        assert!(e.contains(why), "{ts}: {e}");
        assert!(
            e.contains("the key needs a long, an int or a timestamp"),
            "{e}"
        );
    }
    for (device, value, why) in [
        (r#""long""#, json!(7), "deviceId is a number"),
        (r#""bytes""#, json!("ab"), "deviceId is bytes"),
    ] {
        let s = keyed(r#""long""#, device);
        let body = s
            .encode_to_vec(&json!({"deviceId": value, "timestamp": 1}))
            .unwrap();
        let e = item_of(&s, &body).unwrap_err();
        assert!(e.contains(why), "{device}: {e}");
    }
    // An enum or a uuid is a string key.
    let s = keyed(
        r#""long""#,
        r#"{"type":"enum","name":"D","symbols":["roof"]}"#,
    );
    let body = s
        .encode_to_vec(&json!({"deviceId": "roof", "timestamp": 1}))
        .unwrap();
    assert_eq!(
        item_of(&s, &body).unwrap()["deviceId"],
        json!({"S": "roof"})
    );
}

#[test]
fn hostile_bodies_are_clear_errors() {
    let tree = CompiledSchema::parse(
        r#"{"type":"record","name":"Node","fields":[{"name":"label","type":"string"},
        {"name":"children","type":{"type":"array","items":"Node"}}]}"#,
    )
    .unwrap();
    // Every level: an empty label, then a block of one child; a million levels in 3 MB.
    let mut body = Vec::new();
    for _ in 0..1_000_000 {
        body.extend_from_slice(&[0x00, 0x02]);
    }
    assert_eq!(tree.decode(&body), Err(DecodeError::TooDeep(MAX_RECURSION)));
    let mut w = ItemWriter::new();
    let e = item::write_reading(&tree, &body, &Uuid::nil(), AT, &mut w).unwrap_err();
    assert!(e.contains("nest deeper than 64"), "{e}");
    // Exactly as deep as the limit allows decodes.
    let mut ok = Vec::new();
    for _ in 0..MAX_RECURSION {
        ok.extend_from_slice(&[0x00, 0x02]);
    }
    ok.extend_from_slice(&[0x00, 0x00]);
    ok.extend(std::iter::repeat_n(0x00, MAX_RECURSION));
    assert!(tree.decode(&ok).is_ok());

    let s = CompiledSchema::parse(
        r#"{"type":"record","name":"R","fields":[
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
        {"name":"u","type":["int","string","null"]},
        {"name":"x","type":{"type":"fixed","name":"F","size":4}},
        {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}"#,
    )
    .unwrap();
    let good = [0x02, 0x02, 0x02, b'a', 1, 2, 3, 4, 0x02, 0x01];
    assert_eq!(
        s.decode(&good).unwrap(),
        json!({"e": "B", "u": "a", "x": "\u{1}\u{2}\u{3}\u{4}", "d": 0.01})
    );
    let mut bad = good;
    bad[0] = 0x04;
    assert_eq!(
        s.decode(&bad),
        Err(DecodeError::BadEnumIndex {
            index: 2,
            symbols: 2
        })
    );
    let mut bad = good;
    bad[1] = 0x06;
    assert_eq!(s.decode(&bad), Err(DecodeError::BadUnionIndex(3)));
    assert_eq!(
        s.decode(&good[..6]),
        Err(DecodeError::Truncated),
        "fixed cut short"
    );
    // A decimal with more digits than its precision, and one longer than any limit.
    let mut too_precise = good[..8].to_vec();
    too_precise.extend_from_slice(&[0x04, 0x27, 0x10]); // 10000: 5 digits
    assert!(
        matches!(s.decode(&too_precise), Err(DecodeError::Decimal(m)) if m.contains("exceeds its precision of 4"))
    );
    let mut too_long = good[..8].to_vec();
    too_long.extend_from_slice(&[0x80, 0x04]); // 256 bytes
    too_long.extend(std::iter::repeat_n(0x11, 256));
    assert!(
        matches!(s.decode(&too_long), Err(DecodeError::Decimal(m)) if m.contains("longer than the limit"))
    );
}

#[test]
fn nan_and_infinity_are_left_out_and_big_decimals_are_strings() {
    let s = CompiledSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
        {"name":"timestamp","type":"long"},{"name":"v","type":"double"},
        {"name":"l","type":{"type":"array","items":"float"}},
        {"name":"big","type":{"type":"bytes","logicalType":"decimal","precision":39,"scale":1}},
        {"name":"small","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":38}}]}"#,
    )
    .unwrap();
    let mut body = s
        .encode_to_vec(&json!({"deviceId": "d", "timestamp": 1, "v": 0.0, "l": [0.0],
            "big": "-12345678901234567890123456789012345678.9", "small": "0.00000000000000000000000000000000000001"}))
        .unwrap();
    let v_at = 1 + 1 + 1; // deviceId (length, "d"), timestamp
    body[v_at..v_at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
    body[v_at + 9..v_at + 13].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let item = item_of(&s, &body).unwrap();
    assert!(item.get("v").is_none());
    assert_eq!(item["l"], json!({"L": [{"NULL": true}]}));
    assert_eq!(
        item["big"],
        json!({"S": "-12345678901234567890123456789012345678.9"})
    );
    assert_eq!(
        item["small"],
        json!({"N": "0.00000000000000000000000000000000000001"})
    );
    let text = s.decode_to_json(&body, false).unwrap();
    assert!(
        text.contains(r#""v":null,"l":[null],"big":-12345678901234567890123456789012345678.9"#),
        "{text}"
    );
}

#[test]
fn items_of_no_bytes_are_capped_over_the_whole_body() {
    use sensor_shared::codec::MAX_EMPTY_ITEMS;
    let s = CompiledSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":{"type":"array","items":"null"}}}]}"#,
    )
    .unwrap();
    // Inner arrays of MAX_EMPTY_ITEMS / 2 nulls each: two fit, three do not.
    let inner = [varint(MAX_EMPTY_ITEMS / 2), vec![0]].concat();
    let body = |n: i64| [varint(n), inner.repeat(n as usize), vec![0]].concat();
    let two = s.decode(&body(2)).unwrap();
    assert_eq!(
        two["a"][1].as_array().unwrap().len(),
        (MAX_EMPTY_ITEMS / 2) as usize
    );
    assert!(matches!(
        s.decode(&body(3)),
        Err(DecodeError::TooManyItems(_))
    ));
}
