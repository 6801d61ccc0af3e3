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

/// Builds DynamoDB attribute values while the codec decodes, adding up their stored size on the
/// way (by [`item_size`]'s rules), so that the item need not be walked again. Use one builder
/// per item.
#[derive(Debug, Default, Clone, Copy)]
pub struct ItemBuilder {
    /// Size of everything built so far, every record counted as a nested map (3 bytes, and one
    /// byte per entry besides its name and value); NULLs are counted where they are kept (lists).
    size: usize,
}

impl ItemBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored size of `item`, the top-level record this builder has just built: as
    /// [`item_size`] gives, except that a key repeated in an Avro map counts twice.
    pub fn item_size(&self, item: &Item) -> usize {
        // The top level is no nested map: no 3 bytes, no byte per entry.
        self.size.saturating_sub(3 + item.len())
    }
}

impl Builder for ItemBuilder {
    type Out = AttributeValue;
    type Obj = Item;
    fn null(&mut self) -> AttributeValue {
        AttributeValue::Null(true)
    }
    fn boolean(&mut self, v: bool) -> AttributeValue {
        self.size += 1;
        AttributeValue::Bool(v)
    }
    fn long(&mut self, v: i64) -> AttributeValue {
        let n = serde_json::Number::from(v).to_string();
        self.size += number_size(&n);
        AttributeValue::N(n)
    }
    fn double(&mut self, v: f64) -> AttributeValue {
        match format_double(v) {
            Some(n) => {
                self.size += number_size(&n);
                AttributeValue::N(n)
            }
            // DynamoDB numbers have no NaN or infinity, nor magnitudes of 1e126 and more.
            None => AttributeValue::Null(true),
        }
    }
    fn string(&mut self, v: &str) -> AttributeValue {
        self.size += v.len();
        AttributeValue::S(v.to_string())
    }
    fn bytes(&mut self, v: &[u8]) -> AttributeValue {
        self.size += v.len();
        AttributeValue::B(Blob::new(v))
    }
    fn array(&mut self, items: Vec<AttributeValue>) -> AttributeValue {
        let nulls = items
            .iter()
            .filter(|x| matches!(x, AttributeValue::Null(_)))
            .count();
        self.size += 3 + items.len() + nulls;
        AttributeValue::L(items)
    }
    fn object(&mut self, len: usize) -> Item {
        HashMap::with_capacity(len + 4)
    }
    fn insert(&mut self, obj: &mut Item, key: &str, v: AttributeValue) {
        if !matches!(v, AttributeValue::Null(_)) {
            self.size += 1 + key.len();
            obj.insert(key.to_string(), v);
        }
    }
    fn finish(&mut self, obj: Item) -> AttributeValue {
        self.size += 3;
        AttributeValue::M(obj)
    }
}

fn number_size(n: &str) -> usize {
    n.len().div_ceil(2) + 1
}

/// Shortest text that reads back as the same double (at most 17 digits, exponent notation for
/// very large and small values), or `None` when DynamoDB cannot store the number: NaN,
/// infinities and magnitudes from 1e126 on. Magnitudes below 1e-130 become 0 (DynamoDB refuses
/// them as well, and 0 is the nearest number it holds). A value DynamoDB refuses would fail the
/// whole BatchWriteItem call and block the partition.
fn format_double(v: f64) -> Option<String> {
    if !v.is_finite() || v.abs() >= 1e126 {
        return None;
    }
    if v.abs() < 1e-130 {
        return Some("0".into());
    }
    // serde_json writes floats with a shortest round-trip algorithm (much faster than `Display`).
    let mut s = serde_json::Number::from_f64(v)?.to_string();
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    Some(s)
}

/// Approximate stored size of an item, by DynamoDB's rules (names plus values).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Stored size of one attribute value.
pub fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
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
        let mut builder = ItemBuilder::new();
        let AttributeValue::M(item) = s.decode_with(&body, &mut builder).unwrap() else {
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
        assert_eq!(builder.item_size(&item), item_size(&item));
    }

    #[test]
    fn doubles_fit_dynamodb() {
        let f = |v: f64| format_double(v).unwrap();
        assert_eq!(f(30.0), "30");
        assert_eq!(f(-2.0), "-2");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-273.15), "-273.15");
        assert_eq!(f(1e125), "1e+125");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(1e-200), "0");
        assert_eq!(f(0.0), "0");
        for v in [0.1, 1.0 / 3.0, 123456.789, 9.999e125, -1e-129, f64::EPSILON] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v, "{v} round-trips");
            assert!(f(v).len() <= 38);
        }
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e126,
            -1e300,
            f64::MAX,
        ] {
            assert_eq!(format_double(v), None, "{v}");
            assert_eq!(ItemBuilder::new().double(v), AttributeValue::Null(true));
        }
        assert_eq!(
            ItemBuilder::new().long(i64::MIN),
            AttributeValue::N(i64::MIN.to_string())
        );
        assert_eq!(ItemBuilder::new().long(42), AttributeValue::N("42".into()));
    }
}
