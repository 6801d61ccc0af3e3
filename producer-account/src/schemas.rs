//! Which schema version a batch of events is written with.
//!
//! Steady traffic of a known shape is encoded with the active version and makes no registry call.
//! A batch that does not fit is merged into the latest registered version; a new version is
//! registered only when the merge changed the schema.

use std::sync::{Arc, RwLock};

use sensor_shared::schema::{TimeUnit, TIMESTAMP};
use sensor_shared::{
    infer, CompiledSchema, EncodeError, InferError, InferOptions, Record, RegistryError,
    SchemaRegistry, SchemaVersion,
};
use serde_json::Value;
use thiserror::Error;

/// The version events are written with now.
#[derive(Debug)]
pub struct Active {
    pub schema: CompiledSchema,
    pub version: SchemaVersion,
}

/// Why a batch could not get a schema version.
#[derive(Debug, Error)]
pub enum SchemaFailure {
    /// Event `index` can never be written (not an object, conflicting types, limits, ...).
    #[error("event {index}: {error}")]
    Event { index: usize, error: InferError },
    /// Event `index` does not fit the registered version, which was written by someone else
    /// with requirements the events lack (a required field, say); merging cannot relax them.
    #[error("event {index} does not fit the registered schema: {error}")]
    Misfit { index: usize, error: EncodeError },
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The latest registered definition is outside what this producer understands.
    #[error("latest registered schema cannot be read: {0}")]
    Unreadable(String),
}

/// The producer's schema state, shared by all invocations of a container.
#[derive(Debug)]
pub struct ProducerSchemas<R> {
    registry: R,
    opts: InferOptions,
    active: RwLock<Option<Arc<Active>>>,
    update: tokio::sync::Mutex<()>,
}

impl<R: SchemaRegistry> ProducerSchemas<R> {
    pub fn new(registry: R, opts: InferOptions) -> Self {
        ProducerSchemas {
            registry,
            opts,
            active: RwLock::new(None),
            update: tokio::sync::Mutex::new(()),
        }
    }

    pub fn registry(&self) -> &R {
        &self.registry
    }

    pub fn active(&self) -> Option<Arc<Active>> {
        self.active.read().unwrap().clone()
    }

    /// Encodes every event with one version that fits them all; returns the version and the
    /// Avro bodies in event order.
    pub async fn encode_batch(
        &self,
        events: &[Value],
    ) -> Result<(Arc<Active>, Vec<Vec<u8>>), SchemaFailure> {
        if let Some(a) = self.active() {
            if let Some(bodies) = encode_all(&a.schema, events) {
                return Ok((a, bodies));
            }
        }
        let _guard = self.update.lock().await;
        // Another invocation may have moved the version on while we waited.
        if let Some(a) = self.active() {
            if let Some(bodies) = encode_all(&a.schema, events) {
                return Ok((a, bodies));
            }
        }
        let latest = self.registry.latest().await?;
        let latest_record = match &latest {
            Some(v) => Some(
                Record::parse(&v.definition)
                    .map_err(|e| SchemaFailure::Unreadable(e.to_string()))?,
            ),
            None => None,
        };
        let mut merged = latest_record.clone();
        for (index, event) in events.iter().enumerate() {
            let inferred = infer(event, merged.as_ref(), &self.opts)
                .map_err(|error| SchemaFailure::Event { index, error })?;
            if inferred.changed {
                merged = Some(inferred.record);
            }
        }
        let record = merged.expect("a non-empty batch yields a schema");
        // The merge fits every event, unless the registered schema was written by someone else
        // with requirements these events lack: then nothing is registered.
        let candidate = CompiledSchema::from_record(record.clone());
        if let Err((index, error)) = encode_all_detailed(&candidate, events) {
            return Err(SchemaFailure::Misfit { index, error });
        }
        let version = match (latest, latest_record) {
            (Some(v), Some(r)) if r == record => v,
            _ => {
                self.registry
                    .get_or_register(&record.to_definition())
                    .await?
            }
        };
        let active = Arc::new(Active {
            schema: CompiledSchema::parse(&version.definition)
                .map_err(|e| SchemaFailure::Unreadable(e.to_string()))?,
            version,
        });
        *self.active.write().unwrap() = Some(active.clone());
        // Checked above with the same record; the registered text is parsed again here.
        match encode_all_detailed(&active.schema, events) {
            Ok(bodies) => Ok((active, bodies)),
            Err((index, error)) => Err(SchemaFailure::Misfit { index, error }),
        }
    }
}

fn encode_all(schema: &CompiledSchema, events: &[Value]) -> Option<Vec<Vec<u8>>> {
    encode_all_detailed(schema, events).ok()
}

fn encode_all_detailed(
    schema: &CompiledSchema,
    events: &[Value],
) -> Result<Vec<Vec<u8>>, (usize, EncodeError)> {
    let unit = schema.timestamp_unit();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            match unit {
                None => schema.encode_to_vec(e),
                Some(unit) => schema.encode_to_vec(&in_unit(e, unit)),
            }
            .map_err(|err| (i, err))
        })
        .collect()
}

/// The event with its `timestamp` (epoch milliseconds) in the unit of a schema written
/// elsewhere (`timestamp-micros`, `-nanos`); a value the unit cannot hold is left for the
/// encoder to refuse.
fn in_unit(event: &Value, unit: TimeUnit) -> Value {
    let mut e = event.clone();
    let scale = match unit {
        TimeUnit::Millis => 1,
        TimeUnit::Micros => 1_000,
        TimeUnit::Nanos => 1_000_000,
    };
    if let Some(ts) = e.get_mut(TIMESTAMP) {
        if let Some(scaled) = ts.as_i64().and_then(|ms| ms.checked_mul(scale)) {
            *ts = Value::from(scaled);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_shared::registry::MemoryRegistry;
    use sensor_shared::Compatibility;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    fn ev(extra: Value) -> Value {
        let mut e = json!({"deviceId": "000001", "timestamp": 1});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    }

    #[tokio::test]
    async fn demo_sequence_registers_two_versions() {
        let s = ProducerSchemas::new(
            MemoryRegistry::new(Compatibility::Backward),
            InferOptions::default(),
        );
        let (a1, _) = s.encode_batch(&[ev(json!({}))]).await.unwrap();
        let (a2, _) = s
            .encode_batch(&[ev(json!({"temperature": 30}))])
            .await
            .unwrap();
        let (a3, _) = s.encode_batch(&[ev(json!({}))]).await.unwrap();
        assert_eq!(a1.version.number, 1);
        assert_eq!(a2.version.number, 2);
        assert_eq!(a3.version.id, a2.version.id);
        assert_eq!(s.registry().versions().len(), 2);
        // Steady traffic: no registry call at all.
        let before = s.registry().latest_calls.load(Ordering::SeqCst);
        for t in 0..100 {
            s.encode_batch(&[ev(json!({"temperature": t}))])
                .await
                .unwrap();
        }
        assert_eq!(s.registry().latest_calls.load(Ordering::SeqCst), before);
    }

    #[tokio::test]
    async fn batch_of_shapes_gets_one_new_version() {
        let s = ProducerSchemas::new(
            MemoryRegistry::new(Compatibility::Backward),
            InferOptions::default(),
        );
        let batch = [
            ev(json!({"a": 1})),
            ev(json!({"b": "x"})),
            ev(json!({"c": [1.5]})),
        ];
        let (a, bodies) = s.encode_batch(&batch).await.unwrap();
        assert_eq!(bodies.len(), 3);
        assert_eq!(a.version.number, 1);
        for (body, e) in bodies.iter().zip(&batch) {
            let back = a.schema.decode(body).unwrap();
            for (k, v) in e.as_object().unwrap() {
                assert_eq!(&back[k], v);
            }
        }
    }

    #[tokio::test]
    async fn picks_up_versions_registered_elsewhere() {
        let reg = MemoryRegistry::new(Compatibility::Backward);
        let s = ProducerSchemas::new(reg, InferOptions::default());
        s.encode_batch(&[ev(json!({"a": 1}))]).await.unwrap();
        // Another producer adds field b.
        let other = ProducerSchemas::new(
            MemoryRegistry::new(Compatibility::Backward),
            InferOptions::default(),
        );
        let (ob, _) = other
            .encode_batch(&[ev(json!({"a": 1, "b": true}))])
            .await
            .unwrap();
        s.registry().insert(ob.schema.definition());
        // Our producer sees a shape needing b: it merges into the latest, which already has it.
        let (a, _) = s.encode_batch(&[ev(json!({"b": false}))]).await.unwrap();
        assert_eq!(a.version.number, 2);
        assert_eq!(s.registry().versions().len(), 2);
    }

    #[tokio::test]
    async fn bad_events_and_registry_failures_are_typed() {
        let s = ProducerSchemas::new(
            MemoryRegistry::new(Compatibility::Backward),
            InferOptions::default(),
        );
        s.encode_batch(&[ev(json!({"t": 1}))]).await.unwrap();
        match s
            .encode_batch(&[ev(json!({})), ev(json!({"t": "hot"}))])
            .await
        {
            Err(SchemaFailure::Event { index: 1, error }) => {
                assert!(error.to_string().contains("`t`"), "{error}")
            }
            other => panic!("unexpected {other:?}"),
        }
        s.registry()
            .fail_with(Some(RegistryError::Unavailable("down".into())));
        match s.encode_batch(&[ev(json!({"new": 1}))]).await {
            Err(SchemaFailure::Registry(e)) => assert!(e.is_retryable()),
            other => panic!("unexpected {other:?}"),
        }
        // Known shapes keep flowing while the registry is down.
        s.encode_batch(&[ev(json!({"t": 2}))]).await.unwrap();
    }

    #[tokio::test]
    async fn events_lacking_what_a_foreign_schema_requires_are_misfits() {
        let reg = MemoryRegistry::new(Compatibility::Backward);
        reg.insert(
            r#"{"type":"record","name":"SensorReading","fields":[{"name":"deviceId","type":"string"},
            {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"site","type":"string"}]}"#,
        );
        let s = ProducerSchemas::new(reg, InferOptions::default());
        let (a, _) = s
            .encode_batch(&[ev(json!({"site": "roof"}))])
            .await
            .unwrap();
        assert_eq!(a.version.number, 1);
        match s
            .encode_batch(&[ev(json!({"site": "roof"})), ev(json!({"t": 1}))])
            .await
        {
            Err(e @ SchemaFailure::Misfit { index: 1, .. }) => assert_eq!(
                e.to_string(),
                "event 1 does not fit the registered schema: `site` is required by the schema but missing"
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(s.registry().versions().len(), 1, "nothing registered");
    }
}
