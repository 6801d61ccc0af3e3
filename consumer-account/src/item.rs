//! The SDK side of stored readings: an [`Item`]'s DynamoDB JSON read back into the SDK's
//! attribute values (as DynamoDB reads it), and attribute values (UnprocessedItems) written back
//! as an item. The item writer itself is `sensor_shared::item`, which the producer uses too.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use sensor_shared::item::{push_base64, push_json_str, ATTR_READING_ID};
use sensor_shared::schema::DEVICE_ID;
use serde_json::Value;

pub use sensor_shared::item::{Item, ItemWriter, Written};

/// A stored reading's attributes.
pub type Attributes = HashMap<String, AttributeValue>;

/// An item's attributes, read back from its JSON as DynamoDB would.
pub fn attributes(item: &Item) -> Result<Attributes, String> {
    let v: Value = serde_json::from_slice(item.json()).map_err(|e| e.to_string())?;
    let Value::Object(m) = v else {
        return Err("item is not a JSON object".into());
    };
    m.iter()
        .map(|(k, v)| Ok((k.clone(), attribute_from_json(v)?)))
        .collect()
}

/// An item from SDK attribute values (such as the UnprocessedItems of a BatchWriteItem
/// response). `Err` when the key attributes are missing.
pub fn item_from_attributes(item: &Attributes) -> Result<Item, String> {
    let mut json = Vec::with_capacity(256);
    json.push(b'{');
    let (mut device_id, mut reading_id) = (None, None);
    for (k, v) in item {
        if json.len() > 1 {
            json.push(b',');
        }
        push_json_str(&mut json, k);
        json.push(b':');
        let start = json.len();
        write_attribute(&mut json, v);
        // `{"S":"` … `"}`
        let text = start + 6..json.len() - 2;
        match (k.as_str(), v) {
            (DEVICE_ID, AttributeValue::S(_)) => device_id = Some(text),
            (ATTR_READING_ID, AttributeValue::S(_)) => reading_id = Some(text),
            _ => {}
        }
    }
    json.push(b'}');
    match (device_id, reading_id) {
        (Some(device_id), Some(reading_id)) => Ok(Item::from_parts(json, device_id, reading_id)),
        _ => Err(format!(
            "item has no {DEVICE_ID} (S) and {ATTR_READING_ID} (S)"
        )),
    }
}

/// The key of a stored reading: `deviceId` and `_readingId`.
pub fn key_of(item: &Attributes) -> Option<(String, String)> {
    match (item.get(DEVICE_ID), item.get(ATTR_READING_ID)) {
        (Some(AttributeValue::S(d)), Some(AttributeValue::S(r))) => Some((d.clone(), r.clone())),
        _ => None,
    }
}

/// Writes an SDK attribute value as DynamoDB JSON.
pub fn write_attribute(buf: &mut Vec<u8>, v: &AttributeValue) {
    let strings = |buf: &mut Vec<u8>, tag: &str, items: &[String]| {
        buf.extend_from_slice(format!("{{\"{tag}\":[").as_bytes());
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            push_json_str(buf, s);
        }
        buf.extend_from_slice(b"]}");
    };
    match v {
        AttributeValue::S(s) => {
            buf.extend_from_slice(br#"{"S":"#);
            push_json_str(buf, s);
            buf.push(b'}');
        }
        AttributeValue::N(n) => {
            buf.extend_from_slice(br#"{"N":"#);
            push_json_str(buf, n);
            buf.push(b'}');
        }
        AttributeValue::B(b) => {
            buf.extend_from_slice(br#"{"B":""#);
            push_base64(buf, b.as_ref());
            buf.extend_from_slice(br#""}"#);
        }
        AttributeValue::Bool(b) => buf.extend_from_slice(if *b {
            br#"{"BOOL":true}"#
        } else {
            br#"{"BOOL":false}"#
        }),
        AttributeValue::M(m) => {
            buf.extend_from_slice(br#"{"M":{"#);
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                push_json_str(buf, k);
                buf.push(b':');
                write_attribute(buf, x);
            }
            buf.extend_from_slice(b"}}");
        }
        AttributeValue::L(l) => {
            buf.extend_from_slice(br#"{"L":["#);
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_attribute(buf, x);
            }
            buf.extend_from_slice(b"]}");
        }
        AttributeValue::Ss(s) => strings(buf, "SS", s),
        AttributeValue::Ns(s) => strings(buf, "NS", s),
        AttributeValue::Bs(bs) => {
            buf.extend_from_slice(br#"{"BS":["#);
            for (i, b) in bs.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.push(b'"');
                push_base64(buf, b.as_ref());
                buf.push(b'"');
            }
            buf.extend_from_slice(b"]}");
        }
        // NULL, and any type a later SDK adds (never in our own items).
        _ => buf.extend_from_slice(br#"{"NULL":true}"#),
    }
}

/// Reads one DynamoDB JSON attribute value (`{"S":"x"}`, `{"M":{…}}`, …).
pub fn attribute_from_json(v: &Value) -> Result<AttributeValue, String> {
    let bad = || format!("not a DynamoDB attribute value: {v}");
    let Some((tag, x)) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(bad());
    };
    let text = |x: &Value| x.as_str().map(str::to_owned).ok_or_else(bad);
    let blob = |x: &Value| {
        let s = x.as_str().ok_or_else(bad)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Blob::new)
            .map_err(|e| format!("B is not base64: {e}"))
    };
    fn list(x: &Value, bad: impl Fn() -> String) -> Result<&Vec<Value>, String> {
        x.as_array().ok_or_else(bad)
    }
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(text(x)?),
        "N" => AttributeValue::N(text(x)?),
        "B" => AttributeValue::B(blob(x)?),
        "BOOL" => AttributeValue::Bool(x.as_bool().ok_or_else(bad)?),
        "NULL" if x == &Value::Bool(true) => AttributeValue::Null(true),
        "M" => AttributeValue::M(
            x.as_object()
                .ok_or_else(bad)?
                .iter()
                .map(|(k, x)| Ok((k.clone(), attribute_from_json(x)?)))
                .collect::<Result<_, String>>()?,
        ),
        "L" => AttributeValue::L(
            list(x, bad)?
                .iter()
                .map(attribute_from_json)
                .collect::<Result<_, _>>()?,
        ),
        "SS" => AttributeValue::Ss(list(x, bad)?.iter().map(text).collect::<Result<_, _>>()?),
        "NS" => AttributeValue::Ns(list(x, bad)?.iter().map(text).collect::<Result<_, _>>()?),
        "BS" => AttributeValue::Bs(list(x, bad)?.iter().map(blob).collect::<Result<_, _>>()?),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_shared::item::{number_size, write_reading, Coordinates, MAX_NESTING};
    use sensor_shared::CompiledSchema;
    use uuid::Uuid;

    const AT: Coordinates<'static> = Coordinates {
        topic: "t",
        partition: 1,
        offset: 2,
    };

    /// Stored size of an item by DynamoDB's rules (names plus values), from its attributes: what
    /// the writer adds up on the way must agree with it.
    fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
        item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
    }

    /// Stored size of one attribute value.
    fn value_size(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number_size(n.as_bytes()),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, x)| 1 + k.len() + value_size(x))
                    .sum::<usize>()
            }
            _ => 0,
        }
    }

    fn write(def: &str, event: serde_json::Value) -> Result<Written, String> {
        let s = CompiledSchema::parse(def).unwrap();
        let body = s.encode_to_vec(&event).unwrap();
        write_reading(&s, &body, &Uuid::nil(), AT, &mut ItemWriter::new())
    }

    const ALL: &str = r#"{"type":"record","name":"R","fields":[
        {"name":"deviceId","type":"string"},{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"d","type":["null","double"],"default":null},{"name":"n","type":["null","long"],"default":null},
        {"name":"b","type":"boolean"},{"name":"l","type":{"type":"array","items":["null","long"]}},
        {"name":"o","type":{"type":"record","name":"O","fields":[{"name":"x","type":"string"},{"name":"z","type":["null","string"],"default":null}]}},
        {"name":"e","type":{"type":"array","items":"string"}},
        {"name":"m","type":{"type":"map","values":"int"}},
        {"name":"y","type":"bytes"},{"name":"temp__C","type":["null","double"],"default":null,"jsonKey":"temp °C"}]}"#;

    #[test]
    fn maps_every_type() {
        let w = write(
            ALL,
            serde_json::json!({"deviceId": "d\"1", "timestamp": 5, "d": 1.5, "n": null,
                "b": true, "l": [1, null], "o": {"x": "in\n", "z": null}, "e": [], "m": {"k": -3},
                "y": "\u{0001}\u{00ff}", "temp °C": 30.0}),
        )
        .unwrap();
        let item = attributes(&w.item).unwrap();
        assert_eq!(item["deviceId"], AttributeValue::S("d\"1".into()));
        assert_eq!(item["timestamp"], AttributeValue::N("5".into()));
        assert_eq!(item["d"], AttributeValue::N("1.5".into()));
        assert!(!item.contains_key("n"), "nulls are omitted in records");
        assert_eq!(item["b"], AttributeValue::Bool(true));
        assert_eq!(
            item["l"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::Null(true)
            ])
        );
        assert_eq!(
            item["o"],
            AttributeValue::M(HashMap::from([(
                "x".to_string(),
                AttributeValue::S("in\n".into())
            )]))
        );
        assert_eq!(item["e"], AttributeValue::L(vec![]));
        assert_eq!(
            item["m"],
            AttributeValue::M(HashMap::from([(
                "k".to_string(),
                AttributeValue::N("-3".into())
            )]))
        );
        assert_eq!(item["y"], AttributeValue::B(Blob::new(vec![1u8, 255])));
        assert_eq!(item["temp °C"], AttributeValue::N("30".into()));
        assert_eq!(
            item[ATTR_READING_ID],
            AttributeValue::S("0000000000005#t#1#2".into())
        );
        assert_eq!(item["_kafkaOffset"], AttributeValue::N("2".into()));
        assert_eq!(item.len(), 15);
        assert_eq!(w.size, item_size(&item));
        assert_eq!(w.item.key(), (&br#"d\"1"#[..], &b"0000000000005#t#1#2"[..]));
        assert_eq!((w.device_id_len, w.timestamp_ms), (3, 5));
        // The SDK's values written back give the same item.
        let again = item_from_attributes(&item).unwrap();
        assert_eq!(attributes(&again).unwrap(), item);
        assert_eq!(again.key(), w.item.key());
    }

    #[test]
    fn the_writer_is_reused_without_leftovers() {
        let def = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"t","type":["null","double"],"default":null}]}"#;
        let s = CompiledSchema::parse(def).unwrap();
        let mut w = ItemWriter::new();
        for (i, t) in [Some(1.25), None, Some(-7.0)].into_iter().enumerate() {
            let body = s
                .encode_to_vec(&serde_json::json!({"deviceId": "d", "timestamp": i, "t": t}))
                .unwrap();
            let at = Coordinates {
                topic: "topic",
                partition: -1,
                offset: i as i64,
            };
            let out = write_reading(&s, &body, &Uuid::from_u128(9), at, &mut w).unwrap();
            let item = attributes(&out.item).unwrap();
            assert_eq!(item["timestamp"], AttributeValue::N(i.to_string()));
            assert_eq!(
                item.get("t"),
                t.map(|t| AttributeValue::N(t.to_string())).as_ref()
            );
            assert_eq!(
                item["_schemaVersionId"],
                AttributeValue::S(Uuid::from_u128(9).to_string())
            );
            assert_eq!(item["_kafkaPartition"], AttributeValue::N("-1".into()));
            assert_eq!(
                item[ATTR_READING_ID],
                AttributeValue::S(format!("000000000000{i}#topic#-1#{i}"))
            );
            assert_eq!(out.size, item_size(&item));
        }
    }

    #[test]
    fn records_that_cannot_be_items() {
        let keyless = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":["null","string"],"default":null},
            {"name":"timestamp","type":"long"},{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"deviceId","type":"string"}]}}]}"#;
        let e = write(
            keyless,
            serde_json::json!({"timestamp": 1, "o": {"deviceId": "x"}}),
        )
        .unwrap_err();
        assert!(e.contains("missing key fields"), "{e}");
        let reserved = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"_readingId","type":"string"}]}"#;
        let e = write(
            reserved,
            serde_json::json!({"deviceId": "d", "timestamp": 1, "_readingId": "x"}),
        )
        .unwrap_err();
        assert!(e.contains("`_readingId` is reserved"), "{e}");
        // A map whose body repeats a key: DynamoDB cannot hold both, and keeping one would drop
        // data silently.
        let map = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"m","type":{"type":"map","values":"long"}}]}"#;
        let s = CompiledSchema::parse(map).unwrap();
        let mut body = s
            .encode_to_vec(&serde_json::json!({"deviceId": "d", "timestamp": 1, "m": {}}))
            .unwrap();
        body.pop();
        body.extend_from_slice(&[4, 2, b'k', 2, 2, b'k', 4, 0]);
        let e = write_reading(&s, &body, &Uuid::nil(), AT, &mut ItemWriter::new()).unwrap_err();
        assert!(e.contains(r#"map key "k" appears twice"#), "{e}");
        // Empty attribute names, at the top or in a map.
        let empty = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"e","type":"long","jsonKey":""}]}"#;
        let e = write(
            empty,
            serde_json::json!({"deviceId": "d", "timestamp": 1, "": 2}),
        )
        .unwrap_err();
        assert!(e.contains("attribute name is empty"), "{e}");
        let e = write(
            map,
            serde_json::json!({"deviceId": "d", "timestamp": 1, "m": {"": 1}}),
        )
        .unwrap_err();
        assert!(e.contains("attribute name is empty"), "{e}");
    }

    #[test]
    fn nesting_stops_at_dynamodbs_32_levels() {
        let nested = |levels: usize| {
            let mut ty = r#""long""#.to_string();
            let mut value = serde_json::json!(1);
            for _ in 0..levels {
                ty = format!(r#"{{"type":"array","items":{ty}}}"#);
                value = serde_json::json!([value]);
            }
            let def = format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"deviceId","type":"string"}},
                {{"name":"timestamp","type":"long"}},{{"name":"a","type":{ty}}}]}}"#
            );
            write(
                &def,
                serde_json::json!({"deviceId": "d", "timestamp": 1, "a": value}),
            )
        };
        let item = attributes(&nested(MAX_NESTING).unwrap().item).unwrap();
        let mut depth = 0;
        let mut v = &item["a"];
        while let AttributeValue::L(l) = v {
            depth += 1;
            v = &l[0];
        }
        assert_eq!((depth, v), (MAX_NESTING, &AttributeValue::N("1".into())));
        let e = nested(MAX_NESTING + 1).unwrap_err();
        assert!(e.contains("nested deeper than DynamoDB's 32 levels"), "{e}");
    }

    #[test]
    fn doubles_dynamodb_cannot_hold_are_left_out() {
        let def = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"l","type":{"type":"array","items":"double"}},
            {"name":"t","type":"double"}]}"#;
        let s = CompiledSchema::parse(def).unwrap();
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e126,
            -1e300,
            f64::MAX,
        ] {
            let mut body = s
                .encode_to_vec(
                    &serde_json::json!({"deviceId": "d", "timestamp": 0, "l": [0.0], "t": 0.0}),
                )
                .unwrap();
            // Patch both doubles (the last 16 bytes but the array's end) with `v`.
            let n = body.len();
            body[n - 17..n - 9].copy_from_slice(&v.to_le_bytes());
            body[n - 8..].copy_from_slice(&v.to_le_bytes());
            let w = write_reading(&s, &body, &Uuid::nil(), AT, &mut ItemWriter::new()).unwrap();
            let item = attributes(&w.item).unwrap();
            assert_eq!(item["timestamp"], AttributeValue::N("0".into()));
            assert_eq!(
                item["l"],
                AttributeValue::L(vec![AttributeValue::Null(true)]),
                "{v}"
            );
            assert!(!item.contains_key("t"), "{v}");
        }
    }

    #[test]
    fn reads_every_dynamodb_json_type() {
        let v: Value = serde_json::from_str(
            r#"{"M":{"s":{"S":"x"},"n":{"N":"1"},"b":{"B":"AQI="},"t":{"BOOL":false},"z":{"NULL":true},
                "l":{"L":[{"SS":["a"]},{"NS":["2"]},{"BS":["AA=="]}]}}}"#,
        )
        .unwrap();
        let a = attribute_from_json(&v).unwrap();
        let mut buf = Vec::new();
        write_attribute(&mut buf, &a);
        let back: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, v);
        for bad in [
            r#"{"S":1}"#,
            r#"{"X":"1"}"#,
            r#"{"S":"a","N":"1"}"#,
            r#"{"NULL":false}"#,
            r#"{"B":"!"}"#,
        ] {
            assert!(
                attribute_from_json(&serde_json::from_str(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
