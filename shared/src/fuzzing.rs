//! The checks the fuzz targets (`fuzz/`) run on arbitrary bytes, here so that the saved corpus
//! and every crash found replay in the ordinary tests (`tests/fuzz_corpus.rs`) without
//! cargo-fuzz. Each function panics only when an invariant breaks: the parsers under test must
//! return errors, never panic, on any input.

use uuid::Uuid;

use crate::codec::CompiledSchema;
use crate::item::{self, Coordinates, ItemWriter};
use crate::schema::{parse_definition, Record};
use crate::wire;

/// `wire::peek` and `wire::decode` (zip-bomb cap of 64 KiB) on a message.
pub fn wire_decode(data: &[u8]) {
    let peeked = wire::peek(data);
    if let Ok(frame) = wire::decode(data, 64 * 1024) {
        let (id, compression) = peeked.expect("a message that decodes has a header");
        assert_eq!(id, frame.schema_version_id);
        assert_eq!(compression, frame.compression);
        assert!(frame.body.len() <= 64 * 1024);
    }
}

/// A definition: when it parses, its canonical text parses back to the same model and text.
pub fn schema_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if parse_definition(text).is_err() {
        return;
    }
    if let Ok(r) = Record::parse(text) {
        let canonical = r.to_definition();
        let again = Record::parse(&canonical).expect("canonical text parses");
        assert_eq!(again, r);
        assert_eq!(again.to_definition(), canonical);
        let _ = CompiledSchema::parse(&canonical).expect("canonical text compiles");
    }
}

/// Bytes → a schema definition: the first bytes choose a record's types (every kind the model
/// has, recursion included), the rest is left for a body.
pub fn generated_schema(data: &[u8]) -> (String, &[u8]) {
    let mut g = Gen {
        data,
        pos: 0,
        names: 0,
    };
    let n = 1 + g.byte() % 5;
    let mut fields = vec![
        r#"{"name":"deviceId","type":"string"}"#.to_string(),
        format!(r#"{{"name":"timestamp","type":{}}}"#, g.key_type()),
    ];
    for i in 0..n {
        fields.push(format!(r#"{{"name":"f{i}","type":{}}}"#, g.ty(0)));
    }
    let def = format!(
        r#"{{"type":"record","name":"Root","namespace":"fz","fields":[{}]}}"#,
        fields.join(",")
    );
    let rest = &data[g.pos.min(data.len())..];
    (def, rest)
}

struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
    names: usize,
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn name(&mut self) -> String {
        self.names += 1;
        format!("N{}", self.names)
    }

    fn key_type(&mut self) -> &'static str {
        [
            r#""long""#,
            r#""int""#,
            r#"{"type":"long","logicalType":"timestamp-micros"}"#,
            r#"{"type":"long","logicalType":"timestamp-nanos"}"#,
            r#"{"type":"long","logicalType":"local-timestamp-millis"}"#,
            r#""double""#,
            r#"{"type":"int","logicalType":"date"}"#,
        ][usize::from(self.byte() % 7)]
    }

    fn ty(&mut self, depth: u32) -> String {
        let k = self.byte() % if depth > 3 { 20 } else { 27 };
        match k {
            0 => r#""null""#.into(),
            1 => r#""boolean""#.into(),
            2 => r#""int""#.into(),
            3 => r#""long""#.into(),
            4 => r#""float""#.into(),
            5 => r#""double""#.into(),
            6 => r#""string""#.into(),
            7 => r#""bytes""#.into(),
            8 => {
                let n = 1 + self.byte() % 4;
                let syms: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
                format!(
                    r#"{{"type":"enum","name":"{}","symbols":[{}]}}"#,
                    self.name(),
                    syms.join(",")
                )
            }
            9 => format!(
                r#"{{"type":"fixed","name":"{}","size":{}}}"#,
                self.name(),
                self.byte() % 20
            ),
            10 => {
                let p = 1 + u32::from(self.byte() % 60);
                let s = u32::from(self.byte()) % (p + 1);
                format!(r#"{{"type":"bytes","logicalType":"decimal","precision":{p},"scale":{s}}}"#)
            }
            11 => {
                let size = 1 + self.byte() % 20;
                format!(
                    r#"{{"type":"fixed","name":"{}","size":{size},"logicalType":"decimal","precision":{},"scale":1}}"#,
                    self.name(),
                    1 + u32::from(size) * 2
                )
            }
            12 => r#"{"type":"string","logicalType":"uuid"}"#.into(),
            13 => format!(
                r#"{{"type":"fixed","name":"{}","size":16,"logicalType":"uuid"}}"#,
                self.name()
            ),
            14 => r#"{"type":"int","logicalType":"date"}"#.into(),
            15 => r#"{"type":"int","logicalType":"time-millis"}"#.into(),
            16 => r#"{"type":"long","logicalType":"time-micros"}"#.into(),
            17 => r#"{"type":"long","logicalType":"timestamp-nanos"}"#.into(),
            18 => format!(
                r#"{{"type":"fixed","name":"{}","size":12,"logicalType":"duration"}}"#,
                self.name()
            ),
            19 => r#"{"type":"long","logicalType":"local-timestamp-micros"}"#.into(),
            20 => format!(r#"{{"type":"array","items":{}}}"#, self.ty(depth + 1)),
            21 => format!(r#"{{"type":"map","values":{}}}"#, self.ty(depth + 1)),
            22 => format!(r#"["null",{}]"#, self.non_null(depth + 1)),
            23 => format!(
                r#"[{},"null","string"]"#,
                self.non_null_non_string(depth + 1)
            ),
            24 => {
                let n = 1 + self.byte() % 3;
                let fields: Vec<String> = (0..n)
                    .map(|i| format!(r#"{{"name":"g{i}","type":{}}}"#, self.ty(depth + 1)))
                    .collect();
                format!(
                    r#"{{"type":"record","name":"{}","fields":[{}]}}"#,
                    self.name(),
                    fields.join(",")
                )
            }
            25 => {
                // A recursive list, as deep as the body says.
                let name = self.name();
                format!(
                    r#"{{"type":"record","name":"{name}","fields":[{{"name":"v","type":"int"}},{{"name":"next","type":["null","{name}"]}}]}}"#
                )
            }
            _ => {
                let name = self.name();
                format!(
                    r#"{{"type":"record","name":"{name}","fields":[{{"name":"label","type":"string"}},{{"name":"children","type":{{"type":"array","items":"{name}"}}}}]}}"#
                )
            }
        }
    }

    /// A type that may stand in a union: not null, not a union (`long` when the bytes run out).
    fn non_null(&mut self, depth: u32) -> String {
        for _ in 0..4 {
            let t = self.ty(depth);
            if t != r#""null""# && !t.starts_with('[') {
                return t;
            }
        }
        r#""long""#.into()
    }

    /// A union branch beside `null` and `string`: not a string type either.
    fn non_null_non_string(&mut self, depth: u32) -> String {
        let t = self.non_null(depth);
        if t.starts_with(r#""string""#) || t.starts_with(r#"{"type":"string""#) {
            r#""double""#.into()
        } else {
            t
        }
    }
}

/// A generated schema and a body: decoding returns a value or an error; a decoded body gives
/// JSON text that parses, and the same walk fails or succeeds for every visitor.
pub fn codec_decode(data: &[u8]) {
    let (def, body) = generated_schema(data);
    let schema = CompiledSchema::parse(&def).expect("generated schemas are valid");
    let value = schema.decode(body);
    let text = schema.decode_to_json(body, false);
    assert_eq!(value.is_ok(), text.is_ok());
    if let Ok(text) = text {
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("decoded JSON parses");
        assert!(parsed.is_object());
    }
}

/// A generated schema and a body through the consumer's item writer: an item is valid DynamoDB
/// JSON keyed as the writer says, or the record is refused with a reason.
pub fn item_writer(data: &[u8]) {
    let (def, body) = generated_schema(data);
    let schema = CompiledSchema::parse(&def).expect("generated schemas are valid");
    let mut writer = ItemWriter::new();
    let at = Coordinates {
        topic: "fuzz",
        partition: 1,
        offset: 2,
    };
    match item::write_reading(&schema, body, &Uuid::nil(), at, &mut writer) {
        Ok(w) => {
            let attrs: serde_json::Value =
                serde_json::from_slice(w.item.json()).expect("item JSON parses");
            let obj = attrs.as_object().expect("an item is an object");
            assert!(obj.contains_key("deviceId") && obj.contains_key(item::ATTR_READING_ID));
            assert!(w.size <= item::MAX_ITEM_BYTES);
        }
        Err(reason) => assert!(!reason.is_empty()),
    }
    // The writer is reused without leftovers: the same input gives the same outcome.
    let again = item::write_reading(&schema, body, &Uuid::nil(), at, &mut writer);
    let first = item::write_reading(&schema, body, &Uuid::nil(), at, &mut ItemWriter::new());
    assert_eq!(
        again.map(|w| w.item.json().to_vec()),
        first.map(|w| w.item.json().to_vec())
    );
}
