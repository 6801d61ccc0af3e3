//! Avro binary encoding and decoding of readings, driven by the schema model.
//!
//! A [`CompiledSchema`] is built once per schema version (parse + check) and then encodes JSON
//! events and decodes bodies without touching the definition text again. Decoding is one walk
//! that reports to a [`Visitor`], so the same walk produces `serde_json` values for people and
//! DynamoDB JSON for the consumer, without an intermediate tree.

use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::infer::json_kind;
use crate::schema::{Record, SchemaError, Type};

/// Why an event does not fit a schema. The producer answers it by inferring a new version.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodeError {
    #[error("event must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("`{0}` is not in the schema")]
    UnknownKey(String),
    #[error("`{0}` is required by the schema but missing")]
    Missing(String),
    #[error("`{path}` is {found}, the schema wants {expected}")]
    Mismatch {
        path: String,
        expected: String,
        found: &'static str,
    },
}

/// Why a body could not be decoded with a writer schema. Permanent for the bytes at hand.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body ends early")]
    Truncated,
    #[error("variable-length integer is longer than 10 bytes")]
    VarintOverflow,
    #[error("negative length {0}")]
    NegativeLength(i64),
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("int {0} is outside the 32-bit range")]
    IntOutOfRange(i64),
    #[error("union index {0} out of range")]
    BadUnionIndex(i64),
    #[error("boolean byte {0} is neither 0 nor 1")]
    BadBoolean(u8),
    #[error("collection claims {0} items, more than the body can hold")]
    TooManyItems(i64),
    #[error("{0} bytes left after the record")]
    TrailingBytes(usize),
}

/// A schema version ready for the hot paths.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSchema {
    record: Record,
    definition: String,
}

impl CompiledSchema {
    /// Parses a definition once.
    pub fn parse(definition: &str) -> Result<Self, SchemaError> {
        apache_avro::Schema::parse_str(definition)
            .map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
        Ok(CompiledSchema {
            record: Record::parse(definition)?,
            definition: definition.to_string(),
        })
    }

    /// Wraps a record from the inference together with its canonical text.
    pub fn from_record(record: Record) -> Self {
        let definition = record.to_definition();
        CompiledSchema { record, definition }
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The definition text this schema was built from.
    pub fn definition(&self) -> &str {
        &self.definition
    }

    /// Appends the Avro body of `event` to `out`. On error `out` may hold a partial body: callers
    /// truncate it.
    pub fn encode(&self, event: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let obj = event
            .as_object()
            .ok_or_else(|| EncodeError::NotAnObject(json_kind(event)))?;
        encode_record(&self.record, obj, &Path::Root, out)
    }

    /// Encodes `event` into a new body.
    pub fn encode_to_vec(&self, event: &Value) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        self.encode(event, &mut out)?;
        Ok(out)
    }

    /// Walks a body through `visitor`; the whole body must be one record. On error the visitor
    /// has seen part of the body.
    pub fn visit<V: Visitor>(&self, body: &[u8], visitor: &mut V) -> Result<(), DecodeError> {
        let mut r = Reader { buf: body, pos: 0 };
        decode_record(&self.record, &mut r, visitor)?;
        if r.pos != body.len() {
            return Err(DecodeError::TrailingBytes(body.len() - r.pos));
        }
        Ok(())
    }

    /// Decodes a body to JSON with the original keys restored; `null` fields are kept.
    pub fn decode(&self, body: &[u8]) -> Result<Value, DecodeError> {
        let mut v = ValueVisitor::default();
        self.visit(body, &mut v)?;
        Ok(v.done.take().unwrap_or(Value::Null))
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Where a value sits in the event (`loc.tags[]`), kept as borrowed segments on the stack and
/// rendered only for an error message, so the success path formats nothing.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, s: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write(s);
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(key);
            }
            Path::Item(parent) => {
                parent.write(s);
                s.push_str("[]");
            }
        }
    }
}

#[inline]
fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[inline]
fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

fn encode_record(
    r: &Record,
    obj: &Map<String, Value>,
    path: &Path<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut matched = 0usize;
    for f in &r.fields {
        match obj.get(f.json_key.as_str()) {
            Some(v) => {
                matched += 1;
                encode_value(&f.ty, v, &Path::Key(path, &f.json_key), out)?;
            }
            None => match &f.ty {
                Type::Optional(_) => out.push(0),
                Type::Null => {}
                _ => return Err(EncodeError::Missing(Path::Key(path, &f.json_key).render())),
            },
        }
    }
    if matched != obj.len() {
        let unknown = obj
            .keys()
            .find(|k| r.field_by_key(k).is_none())
            .expect("a key without a field exists");
        return Err(EncodeError::UnknownKey(Path::Key(path, unknown).render()));
    }
    Ok(())
}

fn mismatch(t: &Type, v: &Value, path: &Path<'_>) -> EncodeError {
    EncodeError::Mismatch {
        path: path.render(),
        expected: t.describe(),
        found: json_kind(v),
    }
}

fn encode_value(
    t: &Type,
    v: &Value,
    path: &Path<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match (t, v) {
        (Type::Optional(_), Value::Null) => out.push(0),
        (Type::Optional(inner), v) => {
            out.push(2); // union index 1, zigzag
            encode_value(inner, v, path, out)?;
        }
        (Type::Null, Value::Null) => {}
        (Type::Boolean, Value::Bool(b)) => out.push(*b as u8),
        (Type::Long | Type::TimestampMillis, Value::Number(n)) => match n.as_i64() {
            Some(i) => write_long(out, i),
            None => return Err(mismatch(t, v, path)),
        },
        (Type::Int, Value::Number(n)) => match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
            Some(i) => write_long(out, i),
            None => return Err(mismatch(t, v, path)),
        },
        (Type::Double, Value::Number(n)) => {
            let f = n.as_f64().expect("JSON numbers convert to f64");
            out.extend_from_slice(&f.to_le_bytes());
        }
        (Type::Float, Value::Number(n)) => {
            let f = n.as_f64().expect("JSON numbers convert to f64") as f32;
            out.extend_from_slice(&f.to_le_bytes());
        }
        (Type::String, Value::String(s)) => write_bytes(out, s.as_bytes()),
        (Type::Bytes, Value::String(s)) => {
            // Avro's JSON encoding of bytes: one character per byte (ISO-8859-1).
            let mut raw = Vec::with_capacity(s.len());
            for c in s.chars() {
                match u8::try_from(u32::from(c)) {
                    Ok(b) => raw.push(b),
                    Err(_) => return Err(mismatch(t, v, path)),
                }
            }
            write_bytes(out, &raw);
        }
        (Type::Record(r), Value::Object(obj)) => {
            encode_record(r, obj, path, out)?;
        }
        (Type::Array(items), Value::Array(values)) => {
            if !values.is_empty() {
                write_long(out, values.len() as i64);
                let p = Path::Item(path);
                for item in values {
                    encode_value(items, item, &p, out)?;
                }
            }
            out.push(0);
        }
        (Type::Map(values), Value::Object(obj)) => {
            if !obj.is_empty() {
                write_long(out, obj.len() as i64);
                for (k, item) in obj {
                    write_bytes(out, k.as_bytes());
                    encode_value(values, item, &Path::Key(path, k), out)?;
                }
            }
            out.push(0);
        }
        _ => return Err(mismatch(t, v, path)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Receives a decoded body as a stream of events in the order of the bytes, keys before their
/// values, so that text can be written straight away without building a tree. [`CompiledSchema::decode`]
/// builds `serde_json` values through one; the consumer writes DynamoDB JSON through another.
///
/// A body is one record: `begin_record`, then `key` and one value per field, then `end_record`.
/// A value is a scalar call, an array (`begin_array`, values, `end_array`), a record, or an Avro
/// map (`begin_map`, then `key` and value per entry in the body's order, then `end_map`; a map's
/// keys come from the data and may repeat).
pub trait Visitor {
    fn null(&mut self);
    fn boolean(&mut self, v: bool);
    fn long(&mut self, v: i64);
    fn double(&mut self, v: f64);
    fn string(&mut self, v: &str);
    /// Avro `bytes`.
    fn bytes(&mut self, v: &[u8]);
    fn begin_array(&mut self);
    fn end_array(&mut self);
    fn begin_record(&mut self);
    fn end_record(&mut self);
    fn begin_map(&mut self);
    fn end_map(&mut self);
    /// The next value's key in the innermost record or map.
    fn key(&mut self, key: &str);
}

/// Builds a `serde_json` value; bytes become ISO-8859-1 strings as in Avro's JSON encoding, a
/// key repeated in an Avro map keeps its last value.
#[derive(Debug, Default)]
struct ValueVisitor {
    stack: Vec<Open>,
    done: Option<Value>,
}

#[derive(Debug)]
enum Open {
    Object(Map<String, Value>, Option<String>),
    Array(Vec<Value>),
}

impl ValueVisitor {
    fn push(&mut self, v: Value) {
        match self.stack.last_mut() {
            Some(Open::Object(m, key)) => {
                m.insert(key.take().unwrap_or_default(), v);
            }
            Some(Open::Array(a)) => a.push(v),
            None => self.done = Some(v),
        }
    }

    fn close(&mut self) {
        match self.stack.pop() {
            Some(Open::Object(m, _)) => self.push(Value::Object(m)),
            Some(Open::Array(a)) => self.push(Value::Array(a)),
            None => {}
        }
    }
}

impl Visitor for ValueVisitor {
    fn null(&mut self) {
        self.push(Value::Null);
    }
    fn boolean(&mut self, v: bool) {
        self.push(Value::Bool(v));
    }
    fn long(&mut self, v: i64) {
        self.push(Value::Number(v.into()));
    }
    fn double(&mut self, v: f64) {
        self.push(Number::from_f64(v).map_or(Value::Null, Value::Number));
    }
    fn string(&mut self, v: &str) {
        self.push(Value::String(v.to_string()));
    }
    fn bytes(&mut self, v: &[u8]) {
        self.push(Value::String(v.iter().map(|&b| char::from(b)).collect()));
    }
    fn begin_array(&mut self) {
        self.stack.push(Open::Array(Vec::new()));
    }
    fn end_array(&mut self) {
        self.close();
    }
    fn begin_record(&mut self) {
        self.stack.push(Open::Object(Map::new(), None));
    }
    fn end_record(&mut self) {
        self.close();
    }
    fn begin_map(&mut self) {
        self.begin_record();
    }
    fn end_map(&mut self) {
        self.close();
    }
    fn key(&mut self, key: &str) {
        if let Some(Open::Object(_, k)) = self.stack.last_mut() {
            *k = Some(key.to_string());
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn long(&mut self) -> Result<i64, DecodeError> {
        // One byte (union indices, short lengths, small numbers) is the common case.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        let mut z: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::VarintOverflow);
            }
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.long()?;
        if len < 0 {
            return Err(DecodeError::NegativeLength(len));
        }
        self.take(len as usize)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads a block count; a negative count is followed by the block's byte size.
    fn block_count(&mut self) -> Result<i64, DecodeError> {
        let n = self.long()?;
        if n < 0 {
            let _size = self.long()?;
            n.checked_neg().ok_or(DecodeError::TooManyItems(n))
        } else {
            Ok(n)
        }
    }
}

/// Items with an empty encoding (`null`, a record of `null`s) could be claimed in any number;
/// cap them.
const MAX_EMPTY_ITEMS: i64 = 1 << 20;

/// Whether a value of `t` can take no bytes at all.
fn encodes_empty(t: &Type) -> bool {
    match t {
        Type::Null => true,
        Type::Record(r) => r.fields.iter().all(|f| encodes_empty(&f.ty)),
        _ => false,
    }
}

/// A block of `block` items, `total` with the blocks before it: items that take bytes cannot
/// outnumber the bytes left; empty ones are capped in all.
fn check_count(block: i64, total: i64, item: &Type, r: &Reader<'_>) -> Result<(), DecodeError> {
    if encodes_empty(item) {
        if total > MAX_EMPTY_ITEMS {
            return Err(DecodeError::TooManyItems(total));
        }
    } else if block > r.remaining() as i64 {
        return Err(DecodeError::TooManyItems(block));
    }
    Ok(())
}

fn decode_record<V: Visitor>(
    rec: &Record,
    r: &mut Reader<'_>,
    v: &mut V,
) -> Result<(), DecodeError> {
    v.begin_record();
    for f in &rec.fields {
        v.key(&f.json_key);
        decode_value(&f.ty, r, v)?;
    }
    v.end_record();
    Ok(())
}

fn decode_value<V: Visitor>(t: &Type, r: &mut Reader<'_>, v: &mut V) -> Result<(), DecodeError> {
    match t {
        Type::Null => v.null(),
        Type::Boolean => match r.byte()? {
            0 => v.boolean(false),
            1 => v.boolean(true),
            other => return Err(DecodeError::BadBoolean(other)),
        },
        Type::Int => {
            let n = r.long()?;
            if i32::try_from(n).is_err() {
                return Err(DecodeError::IntOutOfRange(n));
            }
            v.long(n)
        }
        Type::Long | Type::TimestampMillis => v.long(r.long()?),
        Type::Float => {
            let raw = r.take(4)?;
            v.double(f64::from(f32::from_le_bytes(
                raw.try_into().expect("4 bytes"),
            )))
        }
        Type::Double => {
            let raw = r.take(8)?;
            v.double(f64::from_le_bytes(raw.try_into().expect("8 bytes")))
        }
        Type::String => {
            let raw = r.bytes()?;
            v.string(std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8)?)
        }
        Type::Bytes => v.bytes(r.bytes()?),
        Type::Record(rec) => decode_record(rec, r, v)?,
        Type::Optional(inner) => match r.long()? {
            0 => v.null(),
            1 => decode_value(inner, r, v)?,
            other => return Err(DecodeError::BadUnionIndex(other)),
        },
        Type::Array(item) => {
            v.begin_array();
            let mut total = 0i64;
            loop {
                let n = r.block_count()?;
                if n == 0 {
                    break;
                }
                total = total.saturating_add(n);
                check_count(n, total, item, r)?;
                for _ in 0..n {
                    decode_value(item, r, v)?;
                }
            }
            v.end_array();
        }
        Type::Map(values) => {
            v.begin_map();
            loop {
                let n = r.block_count()?;
                if n == 0 {
                    break;
                }
                // Every entry holds at least its key's length byte.
                if n > r.remaining() as i64 {
                    return Err(DecodeError::TooManyItems(n));
                }
                for _ in 0..n {
                    let k = r.bytes()?;
                    v.key(std::str::from_utf8(k).map_err(|_| DecodeError::InvalidUtf8)?);
                    decode_value(values, r, v)?;
                }
            }
            v.end_map();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVT: &str = r#"{"type":"record","name":"Evt","namespace":"ex","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;

    #[test]
    fn reference_body() {
        let s = CompiledSchema::parse(EVT).unwrap();
        let body = s.encode_to_vec(&json!({"id": "abc", "n": 42})).unwrap();
        assert_eq!(body, [0x06, 0x61, 0x62, 0x63, 0x54]);
        assert_eq!(s.decode(&body).unwrap(), json!({"id": "abc", "n": 42}));
    }

    #[test]
    fn fit_errors() {
        let s = CompiledSchema::parse(EVT).unwrap();
        assert_eq!(
            s.encode_to_vec(&json!({"id": "a", "n": 1, "x": 2})),
            Err(EncodeError::UnknownKey("x".into()))
        );
        assert_eq!(
            s.encode_to_vec(&json!({"id": "a"})),
            Err(EncodeError::Missing("n".into()))
        );
        assert_eq!(
            s.encode_to_vec(&json!({"id": "a", "n": 1.5})),
            Err(EncodeError::Mismatch {
                path: "n".into(),
                expected: "long".into(),
                found: "number"
            })
        );
        assert_eq!(
            s.encode_to_vec(&json!([])),
            Err(EncodeError::NotAnObject("array"))
        );
    }

    #[test]
    fn decode_errors() {
        let s = CompiledSchema::parse(EVT).unwrap();
        assert_eq!(s.decode(&[0x06, 0x61]), Err(DecodeError::Truncated));
        assert_eq!(s.decode(&[0x01]), Err(DecodeError::NegativeLength(-1)));
        assert_eq!(s.decode(&[0x02, 0xff, 0x02]), Err(DecodeError::InvalidUtf8));
        assert_eq!(
            s.decode(&[0x00, 0x02, 0x00]),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            s.decode(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(DecodeError::VarintOverflow)
        );
        let opt = CompiledSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null",{"type":"array","items":"null"}]}]}"#,
        )
        .unwrap();
        assert_eq!(opt.decode(&[0x04]), Err(DecodeError::BadUnionIndex(2)));
        // Arrays and maps written in several blocks (as blocking encoders write them), one with
        // a negative count followed by its byte size.
        let blocks = CompiledSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"long"}},
            {"name":"a","type":{"type":"array","items":"long"}}]}"#,
        )
        .unwrap();
        // By the second array block, more items have come than bytes are left: only each
        // block's own count is checked against the bytes.
        let body = [
            0x02, 0x02, b'x', 0x0c, // map block of 1: x → 6
            0x02, 0x02, b'y', 0x0e, // map block of 1: y → 7
            0x00, // end of the map
            0x06, 0x02, 0x04, 0x06, // array block of 3: 1, 2, 3
            0x03, 0x04, 0x08, 0x0a, // block of -2 (2 items, 2 bytes): 4, 5
            0x00, // end of the array
        ];
        assert_eq!(
            blocks.decode(&body).unwrap(),
            json!({"a": [1, 2, 3, 4, 5], "m": {"x": 6, "y": 7}})
        );
        // A billion null items in a few bytes is refused, not allocated.
        assert!(matches!(
            opt.decode(&[0x02, 0x80, 0xa8, 0xd6, 0xb9, 0x07, 0x00]),
            Err(DecodeError::TooManyItems(_))
        ));
    }

    #[test]
    fn agrees_with_apache_avro_both_ways() {
        let def = r#"{"type":"record","name":"R","fields":[
            {"name":"s","type":"string"},{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"d","type":["null","double"],"default":null},{"name":"b","type":["null","boolean"],"default":null},
            {"name":"a","type":["null",{"type":"array","items":"string"}],"default":null},
            {"name":"o","type":["null",{"type":"record","name":"O","fields":[{"name":"x","type":["null","long"],"default":null}]}],"default":null},
            {"name":"m","type":{"type":"map","values":"int"}},{"name":"f","type":"float"},{"name":"y","type":"bytes"}]}"#;
        let s = CompiledSchema::parse(def).unwrap();
        let event = json!({"s": "dev", "t": 1_700_000_000_000i64, "d": -2.5, "b": null,
            "a": ["x", "yz"], "o": {"x": -7}, "m": {"k": 3}, "f": 1.5, "y": "\u{00ff}\u{0001}"});
        let body = s.encode_to_vec(&event).unwrap();
        let avro = apache_avro::Schema::parse_str(def).unwrap();
        let mut slice = &body[..];
        let theirs = apache_avro::reader::datum::GenericDatumReader::builder(&avro)
            .build()
            .unwrap()
            .read_value(&mut slice)
            .unwrap();
        assert!(slice.is_empty());
        let reencoded = apache_avro::writer::datum::GenericDatumWriter::builder(&avro)
            .build()
            .unwrap()
            .write_value_to_vec(theirs)
            .unwrap();
        assert_eq!(reencoded, body);
        assert_eq!(s.decode(&body).unwrap(), event);
    }
}
