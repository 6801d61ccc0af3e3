//! Avro body → DynamoDB item, straight from the bytes (no intermediate JSON).
//!
//! string → S, long/double → N, boolean → BOOL, null → omitted in records (NULL in lists),
//! record → M, array → L, bytes → B.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use sensor_shared::Builder;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Builds DynamoDB attribute values while the codec decodes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ItemBuilder;

impl Builder for ItemBuilder {
    type Out = AttributeValue;
    type Obj = Item;
    fn null(&mut self) -> AttributeValue {
        AttributeValue::Null(true)
    }
    fn boolean(&mut self, v: bool) -> AttributeValue {
        AttributeValue::Bool(v)
    }
    fn long(&mut self, v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }
    fn double(&mut self, v: f64) -> AttributeValue {
        if v.is_finite() {
            AttributeValue::N(format_double(v))
        } else {
            // DynamoDB numbers have no NaN or infinity.
            AttributeValue::Null(true)
        }
    }
    fn string(&mut self, v: &str) -> AttributeValue {
        AttributeValue::S(v.to_string())
    }
    fn bytes(&mut self, v: &[u8]) -> AttributeValue {
        AttributeValue::B(Blob::new(v))
    }
    fn array(&mut self, items: Vec<AttributeValue>) -> AttributeValue {
        AttributeValue::L(items)
    }
    fn object(&mut self, len: usize) -> Item {
        HashMap::with_capacity(len + 4)
    }
    fn insert(&mut self, obj: &mut Item, key: &str, v: AttributeValue) {
        if !matches!(v, AttributeValue::Null(_)) {
            obj.insert(key.to_string(), v);
        }
    }
    fn finish(&mut self, obj: Item) -> AttributeValue {
        AttributeValue::M(obj)
    }
}

/// Shortest text that reads back as the same double; DynamoDB keeps up to 38 digits.
fn format_double(v: f64) -> String {
    let s = v.to_string();
    // Rust prints 1e300 as "1000…0" (301 digits), longer than DynamoDB allows; use exponents.
    if s.len() > 38 {
        format!("{v:e}")
    } else {
        s
    }
}

/// Approximate stored size of an item, by DynamoDB's rules (names plus values).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_shared::CompiledSchema;

    #[test]
    fn maps_every_type() {
        let def = r#"{"type":"record","name":"R","fields":[
            {"name":"deviceId","type":"string"},{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"d","type":["null","double"],"default":null},{"name":"n","type":["null","long"],"default":null},
            {"name":"b","type":"boolean"},{"name":"l","type":{"type":"array","items":["null","long"]}},
            {"name":"o","type":{"type":"record","name":"O","fields":[{"name":"x","type":"string"}]}},
            {"name":"y","type":"bytes"},{"name":"temp__C","type":["null","double"],"default":null,"jsonKey":"temp °C"}]}"#;
        let s = CompiledSchema::parse(def).unwrap();
        let body = s
            .encode_to_vec(&serde_json::json!({"deviceId": "d1", "timestamp": 5, "d": 1.5, "n": null,
                "b": true, "l": [1, null], "o": {"x": "in"}, "y": "\u{0001}\u{00ff}", "temp °C": 30.0}))
            .unwrap();
        let AttributeValue::M(item) = s.decode_with(&body, &mut ItemBuilder).unwrap() else {
            panic!()
        };
        assert_eq!(item["deviceId"], AttributeValue::S("d1".into()));
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
        let AttributeValue::M(o) = &item["o"] else {
            panic!()
        };
        assert_eq!(o["x"], AttributeValue::S("in".into()));
        assert_eq!(item["y"], AttributeValue::B(Blob::new(vec![1u8, 255])));
        assert_eq!(item["temp °C"], AttributeValue::N("30".into()));
        assert!(item_size(&item) > 20);
    }

    #[test]
    fn doubles_fit_dynamodb() {
        assert_eq!(format_double(30.0), "30");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1e300), "1e300");
        assert_eq!(ItemBuilder.double(f64::NAN), AttributeValue::Null(true));
    }
}
