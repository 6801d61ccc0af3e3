//! What the producer would do with some events, against the live registry, doing nothing.
//!
//! Each line of input is one invocation of the producer's own [`Producer::handle`] (key fields
//! added, inference, merge into the latest version, the checks before registering), with a
//! registry that reads the live one and only *plans* registrations, and a sink that sends
//! nothing. Later lines see the versions earlier lines would have registered, as a producer
//! container does. A planned version is checked under the producer's mode (its own check before
//! registering) and under the schema's mode in the registry (which the registry would apply):
//! both are computed here, never left to the registry.

use std::future::Future;
use std::sync::Mutex;

use sensor_producer::sink::MemorySink;
use sensor_producer::{InvocationStats, Producer, ProducerSchemas};
use sensor_shared::aws::{GlueRegistry, GlueRegistryConfig};
use sensor_shared::schema::check_compatibility;
use sensor_shared::wire::Compression;
use sensor_shared::{Compatibility, InferOptions, RegistryError, SchemaRegistry, SchemaVersion};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Read-only access to one schema of a registry.
pub trait RegistryView: Send + Sync {
    /// The schema's compatibility mode, or `None` when the schema does not exist.
    fn mode(&self) -> impl Future<Output = Result<Option<Compatibility>, RegistryError>> + Send;

    /// A version by number (`None` = the latest); `Ok(None)` when there is none.
    fn version(
        &self,
        number: Option<i64>,
    ) -> impl Future<Output = Result<Option<SchemaVersion>, RegistryError>> + Send;

    /// The version registered with exactly this definition.
    fn find(
        &self,
        definition: &str,
    ) -> impl Future<Output = Result<Option<SchemaVersion>, RegistryError>> + Send;
}

/// One schema of a Glue registry, read with GetSchema, GetSchemaVersion and
/// GetSchemaByDefinition only, through the producer's own [`GlueRegistry`] lookups (its register
/// side is never called).
#[derive(Debug)]
pub struct GlueView {
    registry: GlueRegistry,
}

impl GlueView {
    pub fn new(
        client: aws_sdk_glue::Client,
        registry_name: impl Into<String>,
        schema_name: impl Into<String>,
    ) -> Self {
        GlueView {
            registry: GlueRegistry::new(
                client,
                GlueRegistryConfig::new(registry_name, schema_name),
            ),
        }
    }
}

impl RegistryView for GlueView {
    async fn mode(&self) -> Result<Option<Compatibility>, RegistryError> {
        self.registry.registered_compatibility().await
    }

    async fn version(&self, number: Option<i64>) -> Result<Option<SchemaVersion>, RegistryError> {
        self.registry.version_by_number(number).await
    }

    async fn find(&self, definition: &str) -> Result<Option<SchemaVersion>, RegistryError> {
        self.registry.version_by_definition(definition).await
    }
}

/// A schema in memory, for tests: versions 1.. in order.
#[derive(Debug, Default)]
pub struct MemoryView {
    pub mode: Option<Compatibility>,
    pub versions: Vec<SchemaVersion>,
}

impl MemoryView {
    pub fn new(mode: Compatibility, definitions: &[&str]) -> Self {
        MemoryView {
            mode: Some(mode),
            versions: definitions
                .iter()
                .zip(1..)
                .map(|(d, n)| SchemaVersion {
                    id: Uuid::from_u128(1000 + n as u128),
                    number: n,
                    definition: d.to_string(),
                })
                .collect(),
        }
    }
}

impl RegistryView for MemoryView {
    async fn mode(&self) -> Result<Option<Compatibility>, RegistryError> {
        Ok(self.mode.filter(|_| !self.versions.is_empty()))
    }

    async fn version(&self, number: Option<i64>) -> Result<Option<SchemaVersion>, RegistryError> {
        Ok(match number {
            None => self.versions.last().cloned(),
            Some(n) => self.versions.iter().find(|v| v.number == n).cloned(),
        })
    }

    async fn find(&self, definition: &str) -> Result<Option<SchemaVersion>, RegistryError> {
        Ok(self
            .versions
            .iter()
            .find(|v| v.definition == definition)
            .cloned())
    }
}

/// What a registration request would have led to.
#[derive(Debug, Clone)]
enum Decision {
    /// A version with exactly this definition exists (registered, or planned by an earlier line).
    Existing,
    Register(SchemaVersion),
}

/// A [`SchemaRegistry`] that reads `view` and plans registrations instead of making them.
pub struct PlanRegistry<V> {
    view: V,
    /// The mode the producer checks with (and creates the schema with).
    producer_mode: Compatibility,
    planned: Mutex<Vec<SchemaVersion>>,
    decision: Mutex<Option<Decision>>,
}

impl<V: RegistryView> PlanRegistry<V> {
    pub fn new(view: V, producer_mode: Compatibility) -> Self {
        PlanRegistry {
            view,
            producer_mode,
            planned: Mutex::new(Vec::new()),
            decision: Mutex::new(None),
        }
    }

    /// A planned version's id: not a real one (the registry assigns those), recognisable.
    fn planned_id(number: i64) -> Uuid {
        Uuid::from_u128(number as u128)
    }

    pub fn is_planned(&self, id: Uuid) -> bool {
        self.planned.lock().unwrap().iter().any(|v| v.id == id)
    }

    async fn number(&self, n: i64) -> Result<Option<SchemaVersion>, RegistryError> {
        if let Some(v) = self.planned.lock().unwrap().iter().find(|v| v.number == n) {
            return Ok(Some(v.clone()));
        }
        self.view.version(Some(n)).await
    }

    /// Checks `definition` as a successor of `latest` under `mode`, against every earlier
    /// version too when the mode says so.
    async fn check(
        &self,
        latest: &SchemaVersion,
        definition: &str,
        mode: Compatibility,
        whose: &str,
    ) -> Result<(), RegistryError> {
        let refuse = |v: &SchemaVersion, e: sensor_shared::schema::Incompatible| {
            RegistryError::Incompatible(format!("{e} (against version {}; {whose})", v.number))
        };
        check_compatibility(&latest.definition, definition, mode).map_err(|e| refuse(latest, e))?;
        if mode.checks_all_versions() {
            for n in 1..latest.number {
                if let Some(v) = self.number(n).await? {
                    check_compatibility(&v.definition, definition, mode)
                        .map_err(|e| refuse(&v, e))?;
                }
            }
        }
        Ok(())
    }
}

impl<V: RegistryView> SchemaRegistry for PlanRegistry<V> {
    async fn latest(&self) -> Result<Option<SchemaVersion>, RegistryError> {
        if let Some(v) = self.planned.lock().unwrap().last() {
            return Ok(Some(v.clone()));
        }
        self.view.version(None).await
    }

    async fn get_or_register(&self, definition: &str) -> Result<SchemaVersion, RegistryError> {
        let planned = self
            .planned
            .lock()
            .unwrap()
            .iter()
            .find(|v| v.definition == definition)
            .cloned();
        let existing = match planned {
            Some(v) => Some(v),
            None => self.view.find(definition).await?,
        };
        if let Some(v) = existing {
            *self.decision.lock().unwrap() = Some(Decision::Existing);
            return Ok(v);
        }
        let next = match self.latest().await? {
            None => 1,
            Some(latest) => {
                self.check(
                    &latest,
                    definition,
                    self.producer_mode,
                    "the producer's SCHEMA_COMPATIBILITY",
                )
                .await?;
                if let Some(mode) = self.view.mode().await? {
                    if mode != self.producer_mode {
                        self.check(
                            &latest,
                            definition,
                            mode,
                            "the schema's mode in the registry",
                        )
                        .await?;
                    }
                }
                latest.number + 1
            }
        };
        let v = SchemaVersion {
            id: Self::planned_id(next),
            number: next,
            definition: definition.to_string(),
        };
        self.planned.lock().unwrap().push(v.clone());
        *self.decision.lock().unwrap() = Some(Decision::Register(v.clone()));
        Ok(v)
    }
}

/// What the producer would do with one line of input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub line: usize,
    /// `reuse` (a version that exists or an earlier line registers), `register` or `refuse`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The id of a version that exists (planned versions have none yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<Uuid>,
    /// The definition of the version the line is written with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// For `register`: the changes from the version before, one per line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
    /// The mode a new version is checked under.
    pub compatibility: String,
    /// For `refuse`: the producer's reason class (`Incompatible`, `Inference`, ...) and answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The producer's settings a plan depends on.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The producer's SCHEMA_COMPATIBILITY.
    pub compatibility: Compatibility,
    pub max_batch: usize,
    pub device_id: String,
    pub topic: String,
    /// The producer's EVENT_ENVELOPE: payloads are publish envelopes.
    pub envelope: bool,
}

/// Plans `lines` (each an event or an array of events, as one invocation) against `view`. An
/// outage or a line that is not JSON stops the plan (`Err`); refusals are steps.
pub async fn plan<V: RegistryView>(
    view: V,
    lines: &[(usize, Value)],
    opts: &PlanOptions,
) -> Result<Vec<Step>, String> {
    let mode = view
        .mode()
        .await
        .map_err(|e| format!("reading the schema: {e}"))?
        .unwrap_or(opts.compatibility);
    let producer = Producer {
        schemas: ProducerSchemas::new(
            PlanRegistry::new(view, opts.compatibility),
            InferOptions {
                compatibility: opts.compatibility,
                ..InferOptions::default()
            },
        ),
        sink: MemorySink::default(),
        device_id: opts.device_id.clone(),
        compression: Compression::None,
        max_batch: opts.max_batch,
        topic: opts.topic.clone(),
        envelope: opts.envelope,
        clock: sensor_producer::now_ms,
    };
    let registry = producer.schemas.registry();
    let mut steps = Vec::new();
    let mut previous: Option<SchemaVersion> = registry
        .latest()
        .await
        .map_err(|e| format!("reading the latest version: {e}"))?;
    for (line, payload) in lines {
        *registry.decision.lock().unwrap() = None;
        let mut stats = InvocationStats::default();
        let answer = producer
            .handle_counted(payload.clone(), &mut stats)
            .await
            .map_err(|e| format!("line {line}: {e}"))?;
        let mut step = Step {
            line: *line,
            action: "reuse",
            version: answer.schema_version_number,
            version_id: None,
            definition: None,
            diff: Vec::new(),
            compatibility: mode.to_string(),
            refusal: None,
            reason: None,
        };
        if answer.status_code != 200 {
            step.action = "refuse";
            step.refusal = stats.refused.map(str::to_string);
            step.reason = Some(answer.message);
            steps.push(step);
            continue;
        }
        let active = producer
            .schemas
            .active()
            .expect("a 200 answer has a version");
        step.definition = Some(active.version.definition.clone());
        if !registry.is_planned(active.version.id) {
            step.version_id = Some(active.version.id);
        }
        let decision = registry.decision.lock().unwrap().take();
        if let Some(Decision::Register(v)) = decision {
            step.action = "register";
            step.diff = diff(
                previous.as_ref().map(|p| p.definition.as_str()),
                &v.definition,
            );
            previous = Some(v);
        }
        steps.push(step);
    }
    Ok(steps)
}

/// The changes between two record definitions, one line each: `+ field: type`, `- field`,
/// `~ field: old → new`, and `~ name`, `namespace`, `doc` of the record.
pub fn diff(old: Option<&str>, new: &str) -> Vec<String> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let (old, new) = (old.map(parse).unwrap_or(Value::Null), parse(new));
    let mut out = Vec::new();
    for attr in ["name", "namespace", "doc"] {
        if old.get(attr) != new.get(attr) && !old.is_null() {
            out.push(format!(
                "~ {attr}: {} → {}",
                old.get(attr).unwrap_or(&Value::Null),
                new.get(attr).unwrap_or(&Value::Null)
            ));
        }
    }
    let fields = |v: &Value| -> Vec<Value> {
        v.get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (before, after) = (fields(&old), fields(&new));
    let name = |f: &Value| {
        f.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let shape = |f: &Value| {
        let mut f = f.clone();
        if let Some(o) = f.as_object_mut() {
            o.remove("name");
        }
        f
    };
    let describe = |f: &Value| {
        let mut s = f.get("type").map_or("?".into(), Value::to_string);
        if let Some(d) = f.get("default") {
            s.push_str(&format!(" (default {d})"));
        }
        s
    };
    for f in &after {
        match before.iter().find(|b| name(b) == name(f)) {
            None => out.push(format!("+ {}: {}", name(f), describe(f))),
            Some(b) if shape(b) != shape(f) => {
                out.push(format!("~ {}: {} → {}", name(f), describe(b), describe(f)))
            }
            Some(_) => {}
        }
    }
    for b in &before {
        if !after.iter().any(|f| name(f) == name(b)) {
            out.push(format!("- {}", name(b)));
        }
    }
    out
}

/// The plan as text for people.
pub fn plan_text(steps: &[Step]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for st in steps {
        let v = st.version.map_or(String::new(), |n| format!("v{n}"));
        match st.action {
            "register" => {
                let _ = writeln!(
                    s,
                    "line {}: register {v} ({}){}",
                    st.line,
                    st.compatibility,
                    if st.version == Some(1) {
                        ", creating the schema"
                    } else {
                        ""
                    }
                );
                for d in &st.diff {
                    let _ = writeln!(s, "    {d}");
                }
            }
            "reuse" => {
                let id = st
                    .version_id
                    .map_or("planned above".into(), |i| i.to_string());
                let _ = writeln!(s, "line {}: reuse {v} ({id})", st.line);
            }
            _ => {
                let _ = writeln!(
                    s,
                    "line {}: refuse ({}): {}",
                    st.line,
                    st.refusal.as_deref().unwrap_or("?"),
                    st.reason.as_deref().unwrap_or_default()
                );
            }
        }
    }
    s
}
