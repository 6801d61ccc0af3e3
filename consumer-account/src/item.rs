//! Avro body → DynamoDB item, straight from the bytes: the codec's walk writes the item as
//! DynamoDB JSON, the very text BatchWriteItem sends, with no tree in between.
//!
//! string → S, long/double → N, boolean → BOOL, null → omitted in records and maps (NULL in
//! lists), record and map → M, array → L, bytes → B (base64 in the JSON).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use sensor_shared::Visitor;
use serde_json::Value;

/// The partition and sort key of a reading.
pub const KEY_DEVICE: &str = "deviceId";
pub const KEY_TIMESTAMP: &str = "timestamp";

/// One reading as DynamoDB JSON (`{"deviceId":{"S":"d1"},"timestamp":{"N":"5"},…}`), with its
/// key located in the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Item {
    json: Box<[u8]>,
    device_id: Range<usize>,
    timestamp: Range<usize>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.json))
    }
}

impl Item {
    /// The item's DynamoDB JSON.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// The key as it stands in the JSON: `deviceId` JSON-escaped and `timestamp`'s number text.
    /// Two items have the same DynamoDB key exactly when these are equal.
    pub fn key(&self) -> (&[u8], &[u8]) {
        (
            &self.json[self.device_id.clone()],
            &self.json[self.timestamp.clone()],
        )
    }

    /// The item's attributes, read back from its JSON as DynamoDB would.
    pub fn attributes(&self) -> Result<HashMap<String, AttributeValue>, String> {
        let v: Value = serde_json::from_slice(&self.json).map_err(|e| e.to_string())?;
        let Value::Object(m) = v else {
            return Err("item is not a JSON object".into());
        };
        m.iter()
            .map(|(k, v)| Ok((k.clone(), attribute_from_json(v)?)))
            .collect()
    }

    /// An item from SDK attribute values (such as the UnprocessedItems of a BatchWriteItem
    /// response). `Err` when the key attributes are missing.
    pub fn from_attributes(item: &HashMap<String, AttributeValue>) -> Result<Item, String> {
        let mut json = Vec::with_capacity(256);
        json.push(b'{');
        let (mut device_id, mut timestamp) = (None, None);
        for (k, v) in item {
            if json.len() > 1 {
                json.push(b',');
            }
            push_json_str(&mut json, k);
            json.push(b':');
            let start = json.len();
            write_attribute(&mut json, v);
            match (k.as_str(), v) {
                (KEY_DEVICE, AttributeValue::S(_)) => device_id = Some(start + 6..json.len() - 2),
                (KEY_TIMESTAMP, AttributeValue::N(_)) => {
                    timestamp = Some(start + 6..json.len() - 2)
                }
                _ => {}
            }
        }
        json.push(b'}');
        match (device_id, timestamp) {
            (Some(device_id), Some(timestamp)) => Ok(Item {
                json: json.into(),
                device_id,
                timestamp,
            }),
            _ => Err(format!(
                "item has no {KEY_DEVICE} (S) and {KEY_TIMESTAMP} (N)"
            )),
        }
    }
}

/// Writes one reading's DynamoDB JSON while the codec walks its body, adding up its stored size
/// by DynamoDB's rules on the way (attribute names plus values; a nested map or list costs 3
/// bytes and one byte per element besides its name and value). Reuse one writer for many items:
/// its buffers stay allocated.
#[derive(Debug, Default)]
pub struct ItemWriter {
    buf: Vec<u8>,
    stack: Vec<Level>,
    size: usize,
    /// Where the last key began (before its comma) and what its entry costs, so that a null
    /// value can take the key back out.
    key_start: usize,
    key_size: usize,
    top_key: TopKey,
    /// The last key, when it is a reserved top-level name: refused if a value follows (a null
    /// leaves nothing to refuse).
    key_reserved: Option<&'static str>,
    device_id: Option<Range<usize>>,
    device_id_len: usize,
    timestamp: Option<Range<usize>>,
    /// Keys of the Avro maps being written, one set per open map (kept for reuse), to refuse a
    /// key a map repeats.
    map_keys: Vec<HashSet<String>>,
    maps_open: usize,
    reserved: &'static [&'static str],
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Record,
    Map,
    List,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum TopKey {
    #[default]
    Other,
    Device,
    Timestamp,
}

/// What [`ItemWriter::finish`] hands back: the item and its stored size.
#[derive(Debug)]
pub struct Written {
    pub item: Item,
    pub size: usize,
    /// The `deviceId` in UTF-8 bytes.
    pub device_id_len: usize,
}

impl ItemWriter {
    /// A writer that refuses records with top-level fields named as in `reserved` (attributes
    /// the caller adds itself).
    pub fn new(reserved: &'static [&'static str]) -> Self {
        ItemWriter {
            buf: Vec::with_capacity(1024),
            reserved,
            ..ItemWriter::default()
        }
    }

    /// Starts a new item, forgetting anything written before.
    pub fn start(&mut self) {
        self.buf.clear();
        self.stack.clear();
        self.maps_open = 0;
        self.size = 0;
        self.top_key = TopKey::Other;
        self.device_id = None;
        self.timestamp = None;
        self.error = None;
        self.key_reserved = None;
    }

    /// Adds a string attribute at the top level, after the record.
    pub fn add_string(&mut self, name: &str, value: &str) {
        self.top_attribute(name);
        self.string(value);
    }

    /// Adds a number attribute at the top level, after the record.
    pub fn add_number(&mut self, name: &str, value: i64) {
        self.top_attribute(name);
        self.long(value);
    }

    fn top_attribute(&mut self, name: &str) {
        self.sep();
        push_json_str(&mut self.buf, name);
        self.buf.push(b':');
        self.key_size = name.len();
        self.key_reserved = None;
        self.top_key = TopKey::Other;
    }

    /// Marks the record as one that cannot be an item (the first reason stays).
    fn fail(&mut self, why: impl FnOnce() -> String) {
        if self.error.is_none() {
            self.error = Some(why());
        }
    }

    /// The item written since [`start`](Self::start), or why the record cannot be one.
    pub fn finish(&mut self) -> Result<Written, String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (Some(device_id), Some(timestamp)) = (self.device_id.clone(), self.timestamp.clone())
        else {
            return Err(format!(
                "missing key fields {KEY_DEVICE} (string) and {KEY_TIMESTAMP}"
            ));
        };
        self.buf.push(b'}');
        Ok(Written {
            item: Item {
                json: self.buf.as_slice().into(),
                device_id,
                timestamp,
            },
            size: self.size,
            device_id_len: self.device_id_len,
        })
    }

    fn sep(&mut self) {
        if self.buf.last() == Some(&b'}') {
            self.buf.push(b',');
        }
    }

    /// Opens a value: its separator in a list, its entry's size.
    fn entry(&mut self) {
        match self.stack.last() {
            Some(Level::List) => {
                self.sep();
                self.size += 1;
            }
            Some(_) => {
                if let Some(name) = self.key_reserved.take() {
                    self.fail(|| {
                        format!("field `{name}` is reserved for the attributes the consumer adds")
                    });
                }
                self.size += self.key_size;
            }
            None => {}
        }
    }

    fn at_top(&self) -> bool {
        self.stack.len() == 1
    }

    fn number(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.entry();
        self.buf.extend_from_slice(br#"{"N":""#);
        let start = self.buf.len();
        write(&mut self.buf);
        let end = self.buf.len();
        self.buf.extend_from_slice(br#""}"#);
        self.size += number_size(&self.buf[start..end]);
        if self.at_top() && self.top_key == TopKey::Timestamp {
            self.timestamp = Some(start..end);
        }
    }

    fn open(&mut self, text: &[u8], level: Level) {
        self.entry();
        // The top level is not nested; DynamoDB takes 32 levels below it.
        if self.stack.len() > MAX_NESTING {
            self.fail(|| format!("nested deeper than DynamoDB's {MAX_NESTING} levels"));
        }
        if self.stack.is_empty() {
            self.buf.push(b'{');
            self.stack.push(Level::Top);
        } else {
            self.buf.extend_from_slice(text);
            self.size += 3;
            self.stack.push(level);
        }
    }

    fn close(&mut self, text: &[u8]) {
        // The top level stays open for the attributes added after the record; `finish` closes it.
        match self.stack.last() {
            None | Some(Level::Top) => return,
            Some(Level::Map) => self.maps_open -= 1,
            Some(_) => {}
        }
        self.stack.pop();
        self.buf.extend_from_slice(text);
    }
}

impl Visitor for ItemWriter {
    fn null(&mut self) {
        match self.stack.last() {
            Some(Level::List) => {
                self.entry();
                self.size += 1;
                self.buf.extend_from_slice(br#"{"NULL":true}"#);
            }
            // Left out: the key goes again.
            _ => self.buf.truncate(self.key_start),
        }
    }

    fn boolean(&mut self, v: bool) {
        self.entry();
        self.size += 1;
        self.buf.extend_from_slice(if v {
            br#"{"BOOL":true}"#
        } else {
            br#"{"BOOL":false}"#
        });
    }

    fn long(&mut self, v: i64) {
        self.number(|buf| buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()));
    }

    fn double(&mut self, v: f64) {
        // DynamoDB numbers have no NaN or infinity, nor magnitudes of 1e126 and more: such a
        // value would fail the whole BatchWriteItem call and block the partition.
        if !v.is_finite() || v.abs() >= 1e126 {
            return self.null();
        }
        self.number(|buf| push_double(buf, v));
    }

    fn string(&mut self, v: &str) {
        self.entry();
        self.size += v.len();
        self.buf.extend_from_slice(br#"{"S":"#);
        let start = self.buf.len();
        push_json_str(&mut self.buf, v);
        let end = self.buf.len();
        self.buf.push(b'}');
        if self.at_top() && self.top_key == TopKey::Device {
            self.device_id = Some(start + 1..end - 1);
            self.device_id_len = v.len();
        }
    }

    fn bytes(&mut self, v: &[u8]) {
        self.entry();
        self.size += v.len();
        self.buf.extend_from_slice(br#"{"B":""#);
        push_base64(&mut self.buf, v);
        self.buf.extend_from_slice(br#""}"#);
    }

    fn begin_array(&mut self) {
        self.open(br#"{"L":["#, Level::List);
    }

    fn end_array(&mut self) {
        self.close(b"]}");
    }

    fn begin_record(&mut self) {
        self.open(br#"{"M":{"#, Level::Record);
    }

    fn end_record(&mut self) {
        self.close(b"}}");
    }

    fn begin_map(&mut self) {
        if self.map_keys.len() == self.maps_open {
            self.map_keys.push(HashSet::new());
        }
        self.map_keys[self.maps_open].clear();
        self.maps_open += 1;
        self.open(br#"{"M":{"#, Level::Map);
    }

    fn end_map(&mut self) {
        self.close(b"}}");
    }

    fn key(&mut self, key: &str) {
        self.key_start = self.buf.len();
        match self.stack.last() {
            Some(Level::Top) => {
                self.key_size = key.len();
                self.top_key = match key {
                    KEY_DEVICE => TopKey::Device,
                    KEY_TIMESTAMP => TopKey::Timestamp,
                    _ => TopKey::Other,
                };
                self.key_reserved = self.reserved.iter().copied().find(|r| *r == key);
            }
            Some(Level::Map) => {
                self.key_size = 1 + key.len();
                if !self.map_keys[self.maps_open - 1].insert(key.to_owned()) {
                    // The key is data: quoted with escapes, and cut short.
                    self.fail(|| format!("map key {:?} appears twice", short(key)));
                }
            }
            _ => self.key_size = 1 + key.len(),
        }
        if key.is_empty() {
            self.fail(|| "an attribute name is empty, which DynamoDB refuses".into());
        }
        self.sep();
        push_json_str(&mut self.buf, key);
        self.buf.push(b':');
    }
}

/// DynamoDB's nesting limit for maps and lists.
pub const MAX_NESTING: usize = 32;

/// DynamoDB's size of a number: about one byte per two significant digits, plus one, plus one
/// for a sign (from the text, which never undercounts the digits).
fn number_size(text: &[u8]) -> usize {
    text.len().div_ceil(2) + 1 + usize::from(text.first() == Some(&b'-'))
}

/// At most 64 characters of `s`.
fn short(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(i, _)| &s[..i])
}

/// The shortest text that reads back as the same double (exponent notation for very large and
/// small values, no `.0` on whole numbers). Magnitudes below 1e-130 become 0: DynamoDB refuses
/// them and 0 is the nearest number it holds. The caller has ruled out non-finite values.
fn push_double(buf: &mut Vec<u8>, v: f64) {
    if v.abs() < 1e-130 {
        buf.push(b'0');
        return;
    }
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(v);
    buf.extend_from_slice(s.strip_suffix(".0").unwrap_or(s).as_bytes());
}

/// Appends `s` as a JSON string, quotes included.
pub(crate) fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    // Without an early exit, so that the check runs over whole vectors.
    let plain = !s.bytes().fold(false, |bad, b| {
        bad | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, s).expect("writing to a Vec cannot fail");
    }
}

fn push_base64(buf: &mut Vec<u8>, v: &[u8]) {
    let start = buf.len();
    buf.resize(
        start + base64::encoded_len(v.len(), true).expect("small"),
        0,
    );
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(v, &mut buf[start..])
        .expect("sized above");
    buf.truncate(start + n);
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
    use sensor_shared::CompiledSchema;

    const RESERVED: &[&str] = &["_mine"];

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
        let mut w = ItemWriter::new(RESERVED);
        w.start();
        s.visit(&body, &mut w).unwrap();
        w.finish()
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
        let item = w.item.attributes().unwrap();
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
        assert_eq!(item.len(), 10);
        assert_eq!(w.size, item_size(&item));
        assert_eq!(w.item.key(), (&br#"d\"1"#[..], &b"5"[..]));
        assert_eq!(w.device_id_len, 3);
        // The SDK's values written back give the same item.
        let again = Item::from_attributes(&item).unwrap();
        assert_eq!(again.attributes().unwrap(), item);
        assert_eq!(again.key(), w.item.key());
    }

    #[test]
    fn the_writer_is_reused_without_leftovers() {
        let def = r#"{"type":"record","name":"R","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"t","type":["null","double"],"default":null}]}"#;
        let s = CompiledSchema::parse(def).unwrap();
        let mut w = ItemWriter::new(RESERVED);
        for (i, t) in [Some(1.25), None, Some(-7.0)].into_iter().enumerate() {
            let body = s
                .encode_to_vec(&serde_json::json!({"deviceId": "d", "timestamp": i, "t": t}))
                .unwrap();
            w.start();
            s.visit(&body, &mut w).unwrap();
            w.add_string("_s", "x");
            w.add_number("_n", -1);
            let out = w.finish().unwrap();
            let item = out.item.attributes().unwrap();
            assert_eq!(item["timestamp"], AttributeValue::N(i.to_string()));
            assert_eq!(
                item.get("t"),
                t.map(|t| AttributeValue::N(t.to_string())).as_ref()
            );
            assert_eq!(item["_s"], AttributeValue::S("x".into()));
            assert_eq!(item["_n"], AttributeValue::N("-1".into()));
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
            {"name":"timestamp","type":"long"},{"name":"_mine","type":"long"}]}"#;
        let e = write(
            reserved,
            serde_json::json!({"deviceId": "d", "timestamp": 1, "_mine": 2}),
        )
        .unwrap_err();
        assert!(e.contains("`_mine` is reserved"), "{e}");
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
        let mut w = ItemWriter::new(RESERVED);
        w.start();
        s.visit(&body, &mut w).unwrap();
        let e = w.finish().unwrap_err();
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
        let item = nested(MAX_NESTING).unwrap().item.attributes().unwrap();
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
    fn doubles_fit_dynamodb() {
        let f = |v: f64| {
            let mut b = Vec::new();
            push_double(&mut b, v);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(30.0), "30");
        assert_eq!(f(-2.0), "-2");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-273.15), "-273.15");
        assert_eq!(f(1e125), "1e125");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(1e-200), "0");
        assert_eq!(f(0.0), "0");
        for v in [0.1, 1.0 / 3.0, 123456.789, 9.999e125, -1e-129, f64::EPSILON] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v, "{v} round-trips");
            assert!(f(v).len() <= 38);
        }
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
                    &serde_json::json!({"deviceId": "d", "timestamp": i64::MIN, "l": [0.0], "t": 0.0}),
                )
                .unwrap();
            // Patch both doubles (the last 16 bytes but the array's end) with `v`.
            let n = body.len();
            body[n - 17..n - 9].copy_from_slice(&v.to_le_bytes());
            body[n - 8..].copy_from_slice(&v.to_le_bytes());
            let mut w = ItemWriter::new(RESERVED);
            w.start();
            s.visit(&body, &mut w).unwrap();
            let item = w.finish().unwrap().item.attributes().unwrap();
            assert_eq!(item["timestamp"], AttributeValue::N(i64::MIN.to_string()));
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
