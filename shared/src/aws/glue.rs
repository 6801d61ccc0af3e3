//! The AWS Glue Schema Registry behind the [`SchemaRegistry`] and [`SchemaSource`] traits.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_glue::error::ProvideErrorMetadata;
use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionOutput;
use aws_sdk_glue::types::{
    Compatibility as GlueCompatibility, DataFormat, RegistryId, SchemaId, SchemaVersionNumber,
    SchemaVersionStatus,
};
use aws_sdk_glue::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use uuid::Uuid;

use crate::failure::FailureKind;
use crate::registry::{RegistryError, SchemaRegistry, SchemaSource, SchemaVersion};
use crate::schema::{check_compatibility, Compatibility};

/// Where the schema lives and how new versions are created.
#[derive(Debug, Clone)]
pub struct GlueRegistryConfig {
    pub registry_name: String,
    pub schema_name: String,
    pub compatibility: Compatibility,
    pub description: String,
    /// How long to wait for a PENDING version to settle.
    pub pending_deadline: Duration,
    /// First wait between polls of a PENDING version (doubles up to one second).
    pub pending_initial_backoff: Duration,
}

impl GlueRegistryConfig {
    pub fn new(registry_name: impl Into<String>, schema_name: impl Into<String>) -> Self {
        GlueRegistryConfig {
            registry_name: registry_name.into(),
            schema_name: schema_name.into(),
            compatibility: Compatibility::Backward,
            description: "Sensor readings, schema inferred by the producer".into(),
            pending_deadline: Duration::from_secs(20),
            pending_initial_backoff: Duration::from_millis(50),
        }
    }
}

/// A Glue client bound to one registry and schema. Build one per container and share it.
#[derive(Debug)]
pub struct GlueRegistry {
    client: Client,
    config: GlueRegistryConfig,
    /// Definition → version, for the producer (versions are immutable).
    known: Mutex<HashMap<String, SchemaVersion>>,
}

/// Classifies a failed Glue call with the shared classifier ([`super::classify`]).
fn classify<E>(op: &'static str, err: &SdkError<E, HttpResponse>) -> (FailureKind, String)
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let f = super::classify(op, err);
    (f.kind, f.message)
}

fn to_error(kind: FailureKind, text: String) -> RegistryError {
    match kind {
        FailureKind::NotFound => RegistryError::NotFound(text),
        FailureKind::AccessDenied => RegistryError::AccessDenied(text),
        FailureKind::Invalid | FailureKind::AlreadyExists => RegistryError::Invalid(text),
        FailureKind::Throttled | FailureKind::Unavailable => RegistryError::Unavailable(text),
    }
}

/// A failed Glue call as the registry error its kind is.
fn registry_error<E>(op: &'static str, err: &SdkError<E, HttpResponse>) -> RegistryError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let (kind, text) = classify(op, err);
    to_error(kind, text)
}

/// A call's answer, or `None` when it failed with `kind` (the entity is not there, or is there
/// already); any other failure as the registry error its kind is.
fn unless<T, E>(
    kind: FailureKind,
    op: &'static str,
    out: Result<T, SdkError<E, HttpResponse>>,
) -> Result<Option<T>, RegistryError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match out {
        Ok(o) => Ok(Some(o)),
        Err(e) => match classify(op, &e) {
            (k, _) if k == kind => Ok(None),
            (k, t) => Err(to_error(k, t)),
        },
    }
}

/// The version a GetSchemaVersion answer describes.
fn version_of(o: &GetSchemaVersionOutput) -> Result<SchemaVersion, RegistryError> {
    Ok(SchemaVersion {
        id: parse_id(o.schema_version_id())?,
        number: o.version_number().unwrap_or(0),
        definition: o.schema_definition().unwrap_or_default().to_string(),
    })
}

fn parse_id(id: Option<&str>) -> Result<Uuid, RegistryError> {
    let id = id.ok_or_else(|| {
        RegistryError::Unavailable("registry answered without a version id".into())
    })?;
    Uuid::parse_str(id).map_err(|e| {
        RegistryError::Invalid(format!("registry version id {id:?} is not a UUID: {e}"))
    })
}

fn glue_compatibility(c: Compatibility) -> GlueCompatibility {
    match c {
        Compatibility::None => GlueCompatibility::None,
        Compatibility::Disabled => GlueCompatibility::Disabled,
        Compatibility::Backward => GlueCompatibility::Backward,
        Compatibility::BackwardAll => GlueCompatibility::BackwardAll,
        Compatibility::Forward => GlueCompatibility::Forward,
        Compatibility::ForwardAll => GlueCompatibility::ForwardAll,
        Compatibility::Full => GlueCompatibility::Full,
        Compatibility::FullAll => GlueCompatibility::FullAll,
    }
}

enum Status {
    Available,
    Pending,
    Failed(String),
}

fn status_of(s: Option<&SchemaVersionStatus>) -> Status {
    match s {
        Some(SchemaVersionStatus::Available) | None => Status::Available,
        Some(SchemaVersionStatus::Pending) => Status::Pending,
        Some(other) => Status::Failed(other.as_str().to_string()),
    }
}

impl GlueRegistry {
    pub fn new(client: Client, config: GlueRegistryConfig) -> Self {
        GlueRegistry {
            client,
            config,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// A registry for lookups of versions by id only (the consumer's [`SchemaSource`]):
    /// GetSchemaVersion by id names neither registry nor schema, so none is configured, and the
    /// [`SchemaRegistry`] side is not for use.
    pub fn versions_by_id(client: Client) -> Self {
        GlueRegistry::new(client, GlueRegistryConfig::new("", ""))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn config(&self) -> &GlueRegistryConfig {
        &self.config
    }

    fn schema_id(&self) -> SchemaId {
        SchemaId::builder()
            .registry_name(&self.config.registry_name)
            .schema_name(&self.config.schema_name)
            .build()
    }

    /// The schema's compatibility mode in the registry (GetSchema); `Ok(None)` when the schema
    /// does not exist.
    pub async fn registered_compatibility(&self) -> Result<Option<Compatibility>, RegistryError> {
        let out = self
            .client
            .get_schema()
            .schema_id(self.schema_id())
            .send()
            .await;
        let Some(o) = unless(FailureKind::NotFound, "GetSchema", out)? else {
            return Ok(None);
        };
        let mode = o.compatibility().map(|c| c.as_str()).unwrap_or("NONE");
        mode.parse()
            .map(Some)
            .map_err(|e| RegistryError::Invalid(format!("schema compatibility {mode:?}: {e}")))
    }

    /// A version by its number (`None` = latest); `Ok(None)` when the schema does not exist.
    pub async fn version_by_number(
        &self,
        number: Option<i64>,
    ) -> Result<Option<SchemaVersion>, RegistryError> {
        let n = match number {
            Some(n) => SchemaVersionNumber::builder().version_number(n).build(),
            None => SchemaVersionNumber::builder().latest_version(true).build(),
        };
        let out = self
            .client
            .get_schema_version()
            .schema_id(self.schema_id())
            .schema_version_number(n)
            .send()
            .await;
        match unless(FailureKind::NotFound, "GetSchemaVersion", out)? {
            Some(o) => version_of(&o).map(Some),
            None => Ok(None),
        }
    }

    /// The version registered with exactly this definition, if any.
    pub async fn version_by_definition(
        &self,
        definition: &str,
    ) -> Result<Option<SchemaVersion>, RegistryError> {
        let out = self
            .client
            .get_schema_by_definition()
            .schema_id(self.schema_id())
            .schema_definition(definition)
            .send()
            .await;
        match unless(FailureKind::NotFound, "GetSchemaByDefinition", out)? {
            Some(o) => {
                let id = parse_id(o.schema_version_id())?;
                self.settle(id, status_of(o.status())).await.map(Some)
            }
            None => Ok(None),
        }
    }

    /// Waits until a version is AVAILABLE; FAILURE means the registry found it incompatible.
    async fn settle(&self, id: Uuid, mut status: Status) -> Result<SchemaVersion, RegistryError> {
        let deadline = tokio::time::Instant::now() + self.config.pending_deadline;
        let mut backoff = self.config.pending_initial_backoff;
        loop {
            match status {
                Status::Failed(s) => {
                    return Err(RegistryError::Incompatible(format!(
                        "the registry marked schema version {id} {s}"
                    )))
                }
                Status::Pending => {
                    if tokio::time::Instant::now() + backoff > deadline {
                        return Err(RegistryError::Unavailable(format!(
                            "schema version {id} still PENDING after {:?}",
                            self.config.pending_deadline
                        )));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    let v = self.fetch(id).await?;
                    status = v.1;
                    if matches!(status, Status::Available) {
                        return Ok(v.0);
                    }
                }
                Status::Available => return Ok(self.fetch(id).await?.0),
            }
        }
    }

    async fn fetch(&self, id: Uuid) -> Result<(SchemaVersion, Status), RegistryError> {
        let o = self
            .client
            .get_schema_version()
            .schema_version_id(id.to_string())
            .send()
            .await
            .map_err(|e| registry_error("GetSchemaVersion", &e))?;
        Ok((version_of(&o)?, status_of(o.status())))
    }

    async fn create_registry(&self) -> Result<(), RegistryError> {
        let out = self
            .client
            .create_registry()
            .registry_name(&self.config.registry_name)
            .description("Schemas of the sensor pipeline")
            .send()
            .await;
        unless(FailureKind::AlreadyExists, "CreateRegistry", out).map(drop)
    }

    /// Creates the schema with `definition` as version 1; `Ok(None)` when someone else created
    /// the schema first.
    async fn create_schema(
        &self,
        definition: &str,
    ) -> Result<Option<SchemaVersion>, RegistryError> {
        for attempt in 0..2 {
            let out = self
                .client
                .create_schema()
                .registry_id(
                    RegistryId::builder()
                        .registry_name(&self.config.registry_name)
                        .build(),
                )
                .schema_name(&self.config.schema_name)
                .data_format(DataFormat::Avro)
                .compatibility(glue_compatibility(self.config.compatibility))
                .description(&self.config.description)
                .schema_definition(definition)
                .send()
                .await;
            match out {
                Ok(o) => {
                    let id = parse_id(o.schema_version_id())?;
                    return self
                        .settle(id, status_of(o.schema_version_status()))
                        .await
                        .map(Some);
                }
                Err(e) => match classify("CreateSchema", &e) {
                    (FailureKind::AlreadyExists, _) => return Ok(None),
                    (FailureKind::NotFound, _) if attempt == 0 => self.create_registry().await?,
                    (k, t) => return Err(to_error(k, t)),
                },
            }
        }
        Err(RegistryError::Unavailable(
            "registry vanished while creating the schema".into(),
        ))
    }

    /// Checks `definition` locally against the versions the mode names (the registry may not).
    async fn check_locally(
        &self,
        latest: &SchemaVersion,
        definition: &str,
    ) -> Result<(), RegistryError> {
        let mode = self.config.compatibility;
        check_compatibility(&latest.definition, definition, mode)?;
        if mode.checks_all_versions() {
            for n in 1..latest.number {
                if let Some(v) = self.version_by_number(Some(n)).await? {
                    check_compatibility(&v.definition, definition, mode)?;
                }
            }
        }
        Ok(())
    }

    async fn register(&self, definition: &str) -> Result<SchemaVersion, RegistryError> {
        let out = self
            .client
            .register_schema_version()
            .schema_id(self.schema_id())
            .schema_definition(definition)
            .send()
            .await
            .map_err(|e| registry_error("RegisterSchemaVersion", &e))?;
        let id = parse_id(out.schema_version_id())?;
        self.settle(id, status_of(out.status())).await
    }

    fn remember(&self, definition: &str, v: &SchemaVersion) {
        self.known
            .lock()
            .unwrap()
            .insert(definition.to_string(), v.clone());
    }
}

impl SchemaRegistry for GlueRegistry {
    async fn latest(&self) -> Result<Option<SchemaVersion>, RegistryError> {
        self.version_by_number(None).await
    }

    async fn get_or_register(&self, definition: &str) -> Result<SchemaVersion, RegistryError> {
        if let Some(v) = self.known.lock().unwrap().get(definition) {
            return Ok(v.clone());
        }
        // Racing producers: every branch that loses a race falls back to a lookup.
        for _ in 0..3 {
            if let Some(v) = self.version_by_definition(definition).await? {
                self.remember(definition, &v);
                return Ok(v);
            }
            let version = match self.version_by_number(None).await? {
                None => match self.create_schema(definition).await? {
                    Some(v) => v,
                    None => continue,
                },
                Some(latest) => {
                    self.check_locally(&latest, definition).await?;
                    self.register(definition).await?
                }
            };
            self.remember(definition, &version);
            return Ok(version);
        }
        Err(RegistryError::Unavailable(format!(
            "schema {} kept changing while registering",
            self.config.schema_name
        )))
    }
}

impl SchemaSource for GlueRegistry {
    async fn get_version(&self, id: Uuid) -> Result<SchemaVersion, RegistryError> {
        let (v, status) = self.fetch(id).await?;
        match status {
            Status::Available => Ok(v),
            Status::Pending => self.settle(id, Status::Pending).await,
            Status::Failed(s) => Err(RegistryError::NotFound(format!(
                "schema version {id} is {s}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sdk_error::service_error;
    use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;

    #[test]
    fn sdk_failures_become_registry_errors() {
        let e = |code, status| registry_error("GetSchemaVersion", &service_error(code, status));
        assert!(matches!(
            e("EntityNotFoundException", 400),
            RegistryError::NotFound(_)
        ));
        assert!(matches!(
            e("AccessDeniedException", 400),
            RegistryError::AccessDenied(_)
        ));
        assert!(matches!(e("", 403), RegistryError::AccessDenied(_)));
        assert!(e("ThrottlingException", 400).is_retryable());
        assert!(e("InternalServiceException", 500).is_retryable());
        assert!(matches!(
            e("InvalidInputException", 400),
            RegistryError::Invalid(_)
        ));
        assert!(matches!(
            e("AlreadyExistsException", 400),
            RegistryError::Invalid(_)
        ));
        let t: SdkError<GetSchemaVersionError, HttpResponse> = SdkError::timeout_error("slow");
        assert!(registry_error("GetSchemaVersion", &t).is_retryable());
    }
}
