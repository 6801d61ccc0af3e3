//! JSON object → Avro record schema, merged with the previous version so that every new version
//! stays compatible with the one before it.
//!
//! Rules:
//! - `deviceId` (string) and `timestamp` (long, `timestamp-millis`) are required key fields; every
//!   other field is `["null", T]` with default `null` (a field only ever seen as `null` is `"null"`),
//!   so adding or removing a field keeps FULL compatibility.
//! - integers are `long`, other numbers `double`, objects nested records named after their path,
//!   arrays arrays of the merged element type (`null` items for an empty array).
//! - keys that are not Avro names are sanitised; the original key is kept in the `jsonKey`
//!   attribute.
//! - fields of the previous version stay; new fields are added; `long` widens to `double` (and
//!   `null` to `["null", T]`) only where the compatibility mode allows it; any other conflict is an
//!   error naming the field path and both types.
//! - fields are ordered by name (key fields first), so the definition text is canonical.

use std::collections::HashSet;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::schema::{
    check_compatibility, Compatibility, Decimal, Field, Incompatible, Record, Type, DEVICE_ID,
    GLUE_MAX_DEFINITION_LEN, TIMESTAMP,
};

/// Options of the inference; `Default` gives the values the Lambdas use.
#[derive(Debug, Clone)]
pub struct InferOptions {
    /// Name of the top-level record.
    pub record_name: String,
    /// Namespace of the top-level record.
    pub namespace: Option<String>,
    /// Compatibility mode the new version must satisfy against the previous one.
    pub compatibility: Compatibility,
    /// Maximum nesting depth of objects and arrays.
    pub max_depth: usize,
    /// Maximum number of fields, nested records' fields included.
    pub max_fields: usize,
    /// Maximum length of the definition text (Glue's limit by default).
    pub max_definition_len: usize,
}

impl Default for InferOptions {
    fn default() -> Self {
        InferOptions {
            record_name: "Reading".into(),
            namespace: Some("sensor".into()),
            compatibility: Compatibility::Backward,
            max_depth: 32,
            max_fields: 1_000,
            max_definition_len: GLUE_MAX_DEFINITION_LEN,
        }
    }
}

/// Why an event cannot get a schema. Every variant is permanent for the event at hand.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InferError {
    #[error("event must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("event has no `{0}` field")]
    MissingKeyField(&'static str),
    #[error("`{field}` must be {expected}, found {found}")]
    KeyFieldType {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("type conflict at `{path}`: schema has {existing}, event has {found}{note}")]
    TypeConflict {
        path: String,
        existing: String,
        found: String,
        note: String,
    },
    #[error("nesting deeper than {limit} levels at `{path}`")]
    TooDeep { path: String, limit: usize },
    #[error("schema would have {count} fields, more than the limit of {limit}")]
    TooManyFields { count: usize, limit: usize },
    #[error("schema definition would be {len} characters, more than the limit of {limit}")]
    DefinitionTooLong { len: usize, limit: usize },
    #[error("new schema is not compatible with the previous version: {0}")]
    Incompatible(#[from] Incompatible),
}

/// The result of an inference: the merged record, its canonical text and whether it differs from
/// the previous version.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    pub record: Record,
    pub definition: String,
    pub changed: bool,
}

/// Infers the schema of `event` and merges it with `previous` (the latest registered version).
pub fn infer(
    event: &Value,
    previous: Option<&Record>,
    opts: &InferOptions,
) -> Result<Inferred, InferError> {
    let obj = event
        .as_object()
        .ok_or_else(|| InferError::NotAnObject(json_kind(event)))?;
    check_key_fields(obj)?;
    let mut names = HashSet::new();
    names.insert(opts.record_name.clone());
    if let Some(p) = previous {
        collect_record_names(p, &mut names);
    }
    let mut ctx = Ctx {
        opts,
        record_names: names,
    };
    let mut record = match previous {
        Some(p) => p.clone(),
        None => Record::new(
            &opts.record_name,
            opts.namespace.clone(),
            vec![
                Field::new(DEVICE_ID, DEVICE_ID, Type::String, false),
                Field::new(TIMESTAMP, TIMESTAMP, Type::TimestampMillis, false),
            ],
        ),
    };
    let top_name = record.name.clone();
    ctx.absorb_record(&mut record, obj, &top_name, "", 1, false)?;
    let changed = previous != Some(&record);
    let count = record.total_fields();
    if count > opts.max_fields {
        return Err(InferError::TooManyFields {
            count,
            limit: opts.max_fields,
        });
    }
    let definition = record.to_definition();
    if definition.len() > opts.max_definition_len {
        return Err(InferError::DefinitionTooLong {
            len: definition.len(),
            limit: opts.max_definition_len,
        });
    }
    if let (Some(p), true) = (previous, changed) {
        check_compatibility(&p.to_definition(), &definition, opts.compatibility)?;
    }
    Ok(Inferred {
        record,
        definition,
        changed,
    })
}

fn check_key_fields(obj: &Map<String, Value>) -> Result<(), InferError> {
    match obj.get(DEVICE_ID) {
        None => return Err(InferError::MissingKeyField(DEVICE_ID)),
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(InferError::KeyFieldType {
                field: DEVICE_ID,
                expected: "a string",
                found: json_kind(other).into(),
            })
        }
    }
    match obj.get(TIMESTAMP) {
        None => Err(InferError::MissingKeyField(TIMESTAMP)),
        Some(v) if v.as_i64().is_some() => Ok(()),
        Some(other) => Err(InferError::KeyFieldType {
            field: TIMESTAMP,
            expected: "an integer (epoch milliseconds)",
            found: json_kind(other).into(),
        }),
    }
}

/// The JSON kind of a value, for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Maps a JSON key to a valid Avro name: characters outside `[A-Za-z0-9_]` become `_`, a leading
/// digit (or an empty key) gets a `_` prefix.
pub fn sanitize_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    if key.is_empty() || key.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

fn unique(base: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken(n))
        .expect("an unused suffix exists")
}

fn collect_record_names(r: &Record, out: &mut HashSet<String>) {
    out.insert(r.name.clone());
    for f in &r.fields {
        collect_type_names(&f.ty, out);
    }
}

fn collect_type_names(t: &Type, out: &mut HashSet<String>) {
    match t {
        Type::Record(r) => collect_record_names(r, out),
        Type::Array(t) | Type::Map(t) | Type::Optional(t) => collect_type_names(t, out),
        Type::Union(ts) => ts.iter().for_each(|t| collect_type_names(t, out)),
        Type::Enum(e) => {
            out.insert(e.name.clone());
        }
        Type::Fixed(f)
        | Type::Duration(f)
        | Type::Uuid(Some(f))
        | Type::Decimal(Decimal { fixed: Some(f), .. }) => {
            out.insert(f.name.clone());
        }
        _ => {}
    }
}

/// The order of fields the inference writes: key fields first at the top, then by name.
fn field_rank(top: bool, f: &Field) -> (u8, &str) {
    let rank = match (top, f.name.as_str()) {
        (true, DEVICE_ID) => 0,
        (true, TIMESTAMP) => 1,
        _ => 2,
    };
    (rank, f.name.as_str())
}

/// Where a new field goes: in order when the record's fields are in the inference's order (so
/// the text stays canonical), else at the end (a schema written by someone else keeps its order,
/// and a named type keeps coming before its uses).
fn insert_position(r: &Record, top: bool, new: &Field) -> usize {
    let sorted = r
        .fields
        .windows(2)
        .all(|w| field_rank(top, &w[0]) < field_rank(top, &w[1]));
    if sorted {
        r.fields
            .partition_point(|f| field_rank(top, f) < field_rank(top, new))
    } else {
        r.fields.len()
    }
}

/// Whether `v` is a JSON value a union branch of type `t` may take.
fn branch_fits(t: &Type, v: &Value) -> bool {
    match (t, v) {
        (Type::Null, Value::Null) | (Type::Boolean, Value::Bool(_)) => true,
        (Type::Int | Type::Date | Type::TimeMillis, Value::Number(n)) => {
            n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
        }
        (
            Type::Long
            | Type::TimestampMillis
            | Type::TimeMicros
            | Type::Timestamp(_)
            | Type::LocalTimestamp(_),
            Value::Number(n),
        ) => n.is_i64(),
        (Type::Float | Type::Double | Type::Decimal(_), Value::Number(_)) => true,
        (
            Type::String
            | Type::Bytes
            | Type::Enum(_)
            | Type::Fixed(_)
            | Type::Uuid(_)
            | Type::Decimal(_),
            Value::String(_),
        ) => true,
        (Type::Record(_) | Type::Map(_) | Type::Duration(_), Value::Object(_)) => true,
        (Type::Array(_), Value::Array(_)) => true,
        (Type::Ref(_), v) => !v.is_null(),
        _ => false,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Ctx<'a> {
    opts: &'a InferOptions,
    record_names: HashSet<String>,
}

impl Ctx<'_> {
    fn check_depth(&self, depth: usize, path: &str) -> Result<(), InferError> {
        if depth > self.opts.max_depth {
            Err(InferError::TooDeep {
                path: path.to_string(),
                limit: self.opts.max_depth,
            })
        } else {
            Ok(())
        }
    }

    fn record_name(&mut self, name_path: &str) -> String {
        let name = unique(sanitize_name(name_path), |n| self.record_names.contains(n));
        self.record_names.insert(name.clone());
        name
    }

    /// The type of a value seen for the first time (no reader depends on it yet).
    fn fresh(
        &mut self,
        v: &Value,
        name_path: &str,
        path: &str,
        depth: usize,
    ) -> Result<Type, InferError> {
        Ok(match v {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Boolean,
            Value::Number(n) if n.is_i64() => Type::Long,
            Value::Number(_) => Type::Double,
            Value::String(_) => Type::String,
            Value::Array(items) => {
                self.check_depth(depth + 1, path)?;
                let item_name = format!("{name_path}_item");
                let item_path = format!("{path}[]");
                let mut ty: Option<Type> = None;
                for item in items {
                    match &mut ty {
                        None => ty = Some(self.fresh(item, &item_name, &item_path, depth + 1)?),
                        Some(t) => self.absorb(t, item, &item_name, &item_path, depth + 1, true)?,
                    }
                }
                Type::Array(Box::new(ty.unwrap_or(Type::Null)))
            }
            Value::Object(obj) => {
                self.check_depth(depth + 1, path)?;
                let mut r = Record::new(&self.record_name(name_path), None, Vec::new());
                self.absorb_record(&mut r, obj, name_path, path, depth + 1, true)?;
                Type::Record(r)
            }
        })
    }

    fn widen(&self, fresh: bool, t: &Type, v: &Value, path: &str) -> Result<(), InferError> {
        if fresh || self.opts.compatibility.allows_widening() {
            Ok(())
        } else {
            Err(InferError::TypeConflict {
                path: path.to_string(),
                existing: t.describe(),
                found: json_kind(v).into(),
                note: format!(
                    " (widening is not allowed under {})",
                    self.opts.compatibility
                ),
            })
        }
    }

    /// Makes `t` accept `v`. `fresh` says that `t` was made for this event, so it may widen freely.
    fn absorb(
        &mut self,
        t: &mut Type,
        v: &Value,
        name_path: &str,
        path: &str,
        depth: usize,
        fresh: bool,
    ) -> Result<(), InferError> {
        match (&mut *t, v) {
            (Type::Optional(_), Value::Null) | (Type::Null, Value::Null) => Ok(()),
            (Type::Union(branches), Value::Null) => {
                if !branches.contains(&Type::Null) {
                    self.widen(fresh, t, v, path)?;
                    let Type::Union(branches) = t else {
                        unreachable!("matched a union")
                    };
                    branches.insert(0, Type::Null);
                    if branches.len() == 2 {
                        *t = Type::Optional(Box::new(branches.pop().expect("two branches")));
                    }
                }
                Ok(())
            }
            (Type::Optional(inner), v) => self.absorb(inner, v, name_path, path, depth, fresh),
            (Type::Null, v) => {
                self.widen(fresh, t, v, path)?;
                let inner = self.fresh(v, name_path, path, depth)?;
                *t = Type::Optional(Box::new(inner));
                Ok(())
            }
            (_, Value::Null) => {
                self.widen(fresh, t, v, path)?;
                *t = Type::Optional(Box::new(t.clone()));
                Ok(())
            }
            (Type::Boolean, Value::Bool(_)) => Ok(()),
            (Type::Long, Value::Number(n)) => {
                if !n.is_i64() {
                    self.widen(fresh, t, v, path)?;
                    *t = Type::Double;
                }
                Ok(())
            }
            (Type::TimestampMillis, Value::Number(n)) if n.is_i64() => Ok(()),
            (Type::Int, Value::Number(n)) => {
                let fits = n.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
                if !fits {
                    self.widen(fresh, t, v, path)?;
                    *t = if n.is_i64() { Type::Long } else { Type::Double };
                }
                Ok(())
            }
            (Type::Float | Type::Double, Value::Number(_)) => Ok(()),
            (Type::String | Type::Bytes, Value::String(_)) => Ok(()),
            (Type::Record(r), Value::Object(obj)) => {
                self.check_depth(depth + 1, path)?;
                let name_path = r.name.clone();
                self.absorb_record(r, obj, &name_path, path, depth + 1, fresh)
            }
            (Type::Map(values), Value::Object(obj)) => {
                self.check_depth(depth + 1, path)?;
                for (k, item) in obj {
                    let p = join(path, k);
                    self.absorb(values, item, name_path, &p, depth + 1, fresh)?;
                }
                Ok(())
            }
            (Type::Array(items), Value::Array(values)) => {
                self.check_depth(depth + 1, path)?;
                let item_name = format!("{name_path}_item");
                let item_path = format!("{path}[]");
                for item in values {
                    self.absorb(items, item, &item_name, &item_path, depth + 1, fresh)?;
                }
                Ok(())
            }
            (Type::Union(branches), v) => match branches.iter().position(|b| branch_fits(b, v)) {
                Some(i) => self.absorb(&mut branches[i], v, name_path, path, depth, fresh),
                None => Err(InferError::TypeConflict {
                    path: path.to_string(),
                    existing: t.describe(),
                    found: json_kind(v).into(),
                    note: " (no branch of the union takes it)".into(),
                }),
            },
            // Types of schemas written elsewhere: the encoder checks the value itself (a
            // symbol, a uuid, a decimal's digits) and names the field when it does not fit.
            (t, v)
                if !matches!(t, Type::Record(_) | Type::Map(_) | Type::Array(_))
                    && branch_fits(t, v) =>
            {
                Ok(())
            }
            (t, v) => Err(InferError::TypeConflict {
                path: path.to_string(),
                existing: t.describe(),
                found: json_kind(v).into(),
                note: String::new(),
            }),
        }
    }

    fn absorb_record(
        &mut self,
        r: &mut Record,
        obj: &Map<String, Value>,
        name_path: &str,
        path: &str,
        depth: usize,
        fresh: bool,
    ) -> Result<(), InferError> {
        // The top-level record is the only one at depth 1.
        let top = depth == 1;
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        for key in keys {
            let v = &obj[key];
            let field_path = join(path, key);
            if let Some(i) = r.fields.iter().position(|f| &f.json_key == key) {
                let field_name_path = format!("{name_path}_{}", r.fields[i].name);
                let mut ty = std::mem::replace(&mut r.fields[i].ty, Type::Null);
                let res = self.absorb(&mut ty, v, &field_name_path, &field_path, depth, fresh);
                r.fields[i].ty = ty;
                res?;
            } else {
                let name = unique(sanitize_name(key), |n| r.fields.iter().any(|f| f.name == n));
                let field_name_path = format!("{name_path}_{name}");
                let ty = match self.fresh(v, &field_name_path, &field_path, depth)? {
                    Type::Null => Type::Null,
                    t => Type::Optional(Box::new(t)),
                };
                let field = Field::new(&name, key, ty, true);
                let at = insert_position(r, top, &field);
                r.fields.insert(at, field);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(extra: Value) -> Value {
        crate::testing::reading("000001", 1_700_000_000_000, extra)
    }

    fn opts(c: Compatibility) -> InferOptions {
        InferOptions {
            compatibility: c,
            ..Default::default()
        }
    }

    #[test]
    fn empty_event_gives_key_fields_only() {
        let i = infer(&ev(json!({})), None, &InferOptions::default()).unwrap();
        assert_eq!(
            i.definition,
            r#"{"type":"record","name":"Reading","namespace":"sensor","fields":[{"name":"deviceId","type":"string"},{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#
        );
        assert!(i.changed);
        apache_avro::Schema::parse_str(&i.definition).unwrap();
    }

    #[test]
    fn every_json_type() {
        let e = ev(json!({
            "n": null, "b": true, "i": 3, "d": 2.5, "s": "x",
            "o": {"x": 1, "y": {"z": "deep"}},
            "a": [1, 2.5], "e": [], "ao": [{"p": 1}, {"q": "w"}], "an": [null, 1]
        }));
        let i = infer(&e, None, &InferOptions::default()).unwrap();
        let r = &i.record;
        let ty = |k: &str| r.field_by_key(k).unwrap().ty.clone();
        assert_eq!(ty("n"), Type::Null);
        assert_eq!(ty("b"), Type::Optional(Box::new(Type::Boolean)));
        assert_eq!(ty("i"), Type::Optional(Box::new(Type::Long)));
        assert_eq!(ty("d"), Type::Optional(Box::new(Type::Double)));
        assert_eq!(ty("s"), Type::Optional(Box::new(Type::String)));
        assert_eq!(
            ty("a"),
            Type::Optional(Box::new(Type::Array(Box::new(Type::Double))))
        );
        assert_eq!(
            ty("e"),
            Type::Optional(Box::new(Type::Array(Box::new(Type::Null))))
        );
        assert_eq!(
            ty("an"),
            Type::Optional(Box::new(Type::Array(Box::new(Type::Optional(Box::new(
                Type::Long
            ))))))
        );
        let Type::Optional(o) = ty("ao") else {
            panic!()
        };
        let Type::Array(item) = *o else { panic!() };
        let Type::Record(item) = *item else { panic!() };
        assert_eq!(item.name, "Reading_ao_item");
        let keys: Vec<_> = item.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(keys, ["p", "q"]);
        assert!(i.definition.contains(r#""name":"Reading_o_y""#));
        let names: Vec<_> = r.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "deviceId",
                "timestamp",
                "a",
                "an",
                "ao",
                "b",
                "d",
                "e",
                "i",
                "n",
                "o",
                "s"
            ]
        );
        apache_avro::Schema::parse_str(&i.definition).unwrap();
    }

    #[test]
    fn sanitises_keys_deterministically() {
        assert_eq!(sanitize_name("a-b"), "a_b");
        assert_eq!(sanitize_name("1st"), "_1st");
        assert_eq!(sanitize_name("temp °C"), "temp__C");
        assert_eq!(sanitize_name(""), "_");
        let e = ev(json!({"a-b": 1, "a_b": 2, "a b": 3, "": 4, "1st": 5, "temp °C": 6.5}));
        let i = infer(&e, None, &InferOptions::default()).unwrap();
        let again = infer(&e, None, &InferOptions::default()).unwrap();
        assert_eq!(i.definition, again.definition);
        let by_key = |k: &str| i.record.field_by_key(k).unwrap().name.clone();
        // Sorted keys: "a b" < "a-b" < "a_b", so the first takes the base name.
        assert_eq!(by_key("a b"), "a_b");
        assert_eq!(by_key("a-b"), "a_b_2");
        assert_eq!(by_key("a_b"), "a_b_3");
        assert_eq!(by_key(""), "_");
        assert_eq!(by_key("1st"), "_1st");
        assert_eq!(by_key("temp °C"), "temp__C");
        assert!(i.definition.contains(r#""jsonKey":"temp °C""#));
        apache_avro::Schema::parse_str(&i.definition).unwrap();
    }

    #[test]
    fn merge_keeps_old_fields_and_maps_empty_event_to_existing_version() {
        let o = InferOptions::default();
        let v1 = infer(&ev(json!({})), None, &o).unwrap();
        let v2 = infer(&ev(json!({"temperature": 30})), Some(&v1.record), &o).unwrap();
        assert!(v2.changed);
        assert!(v2
            .definition
            .contains(r#"{"name":"temperature","type":["null","long"],"default":null}"#));
        let v3 = infer(&ev(json!({})), Some(&v2.record), &o).unwrap();
        assert!(!v3.changed);
        assert_eq!(v3.definition, v2.definition);
    }

    #[test]
    fn widening_follows_the_mode() {
        let v1 = infer(&ev(json!({"t": 30})), None, &InferOptions::default()).unwrap();
        let wide = infer(
            &ev(json!({"t": 30.5})),
            Some(&v1.record),
            &opts(Compatibility::Backward),
        )
        .unwrap();
        assert_eq!(
            wide.record.field_by_key("t").unwrap().ty,
            Type::Optional(Box::new(Type::Double))
        );
        // A long still fits a double field.
        let same = infer(
            &ev(json!({"t": 1})),
            Some(&wide.record),
            &InferOptions::default(),
        )
        .unwrap();
        assert!(!same.changed);
        let err = infer(
            &ev(json!({"t": 30.5})),
            Some(&v1.record),
            &opts(Compatibility::Full),
        )
        .unwrap_err();
        match err {
            InferError::TypeConflict {
                path,
                existing,
                found,
                ..
            } => {
                assert_eq!(path, "t");
                assert_eq!(existing, "long");
                assert_eq!(found, "number");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn conflicts_name_the_path_and_both_types() {
        let v1 = infer(
            &ev(json!({"loc": {"lat": 1.5, "tags": ["a"]}})),
            None,
            &InferOptions::default(),
        )
        .unwrap();
        let err = infer(
            &ev(json!({"loc": {"lat": "north"}})),
            Some(&v1.record),
            &InferOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "type conflict at `loc.lat`: schema has double, event has string"
        );
        let err = infer(
            &ev(json!({"loc": {"tags": [1]}})),
            Some(&v1.record),
            &InferOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, InferError::TypeConflict { ref path, .. } if path == "loc.tags[]"));
        let err = infer(
            &ev(json!({"loc": 3})),
            Some(&v1.record),
            &InferOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("record Reading_loc"), "{err}");
    }

    #[test]
    fn key_fields_are_checked() {
        let o = InferOptions::default();
        assert_eq!(
            infer(&json!([1]), None, &o),
            Err(InferError::NotAnObject("array"))
        );
        assert_eq!(
            infer(&json!({"timestamp": 1}), None, &o),
            Err(InferError::MissingKeyField(DEVICE_ID))
        );
        assert!(matches!(
            infer(&json!({"deviceId": 1, "timestamp": 1}), None, &o),
            Err(InferError::KeyFieldType {
                field: DEVICE_ID,
                ..
            })
        ));
        assert!(matches!(
            infer(&json!({"deviceId": "d", "timestamp": "now"}), None, &o),
            Err(InferError::KeyFieldType {
                field: TIMESTAMP,
                ..
            })
        ));
    }

    #[test]
    fn limits() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "x": deep });
        }
        assert!(matches!(
            infer(&ev(json!({ "d": deep })), None, &InferOptions::default()),
            Err(InferError::TooDeep { .. })
        ));
        let many: Map<String, Value> = (0..50).map(|i| (format!("f{i}"), json!(i))).collect();
        let o = InferOptions {
            max_fields: 20,
            ..Default::default()
        };
        assert!(matches!(
            infer(&ev(Value::Object(many.clone())), None, &o),
            Err(InferError::TooManyFields {
                count: 52,
                limit: 20
            })
        ));
        let o = InferOptions {
            max_definition_len: 500,
            ..Default::default()
        };
        assert!(matches!(
            infer(&ev(Value::Object(many)), None, &o),
            Err(InferError::DefinitionTooLong { limit: 500, .. })
        ));
    }

    #[test]
    fn nested_record_names_stay_unique() {
        let v1 = infer(
            &ev(json!({"a-b": {"x": 1}})),
            None,
            &InferOptions::default(),
        )
        .unwrap();
        let v2 = infer(
            &ev(json!({"a_b": {"y": 1}})),
            Some(&v1.record),
            &InferOptions::default(),
        )
        .unwrap();
        assert!(v2.definition.contains(r#""name":"Reading_a_b""#));
        assert!(v2.definition.contains(r#""name":"Reading_a_b_2""#));
        apache_avro::Schema::parse_str(&v2.definition).unwrap();
        check_compatibility(&v1.definition, &v2.definition, Compatibility::Full).unwrap();
    }

    #[test]
    fn null_only_field_becomes_nullable_later() {
        let v1 = infer(&ev(json!({"x": null})), None, &InferOptions::default()).unwrap();
        assert_eq!(v1.record.field_by_key("x").unwrap().ty, Type::Null);
        let v2 = infer(
            &ev(json!({"x": 5})),
            Some(&v1.record),
            &InferOptions::default(),
        )
        .unwrap();
        assert_eq!(
            v2.record.field_by_key("x").unwrap().ty,
            Type::Optional(Box::new(Type::Long))
        );
        assert!(infer(
            &ev(json!({"x": 5})),
            Some(&v1.record),
            &opts(Compatibility::Forward)
        )
        .is_err());
    }
}
