//! AWS configuration shared by the Lambdas and tools: base config, cross-account assumed-role
//! config with self-refreshing credentials, and an interceptor that counts calls per operation
//! (the producer's `RegistryCalls` and `VersionsRegistered` metrics).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::tls::{https_client, TrustStore};

/// The role to assume in another account.
#[derive(Debug, Clone)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    /// Session length; STS allows 15 minutes to the role's maximum.
    pub session_length: Duration,
    /// Region of the other account's resources.
    pub region: Option<String>,
    /// Refresh credentials up to this long before they expire. The SDK's identity cache jitters
    /// it: the refresh comes between half of this and this long before expiry.
    pub refresh_before_expiry: Duration,
}

impl AssumeRole {
    /// `role_arn` assumed as session `session_name` (CloudTrail shows it as the caller), for an
    /// hour, refreshed five minutes before it expires.
    pub fn new(role_arn: impl Into<String>, session_name: impl Into<String>) -> Self {
        AssumeRole {
            role_arn: role_arn.into(),
            external_id: None,
            session_name: session_name.into(),
            session_length: Duration::from_secs(3600),
            region: None,
            refresh_before_expiry: Duration::from_secs(300),
        }
    }
}

/// Loads the default config chain (environment, profile, container/Lambda credentials) with an
/// HTTPS client that trusts `trust`; `AWS_ENDPOINT_URL` points it at a local stand-in.
pub async fn load_base_config(trust: TrustStore) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(trust))
        .load()
        .await
}

/// A config whose credentials come from assuming `role` with `base`'s credentials. The
/// credentials are cached and refreshed before they expire by the SDK's identity cache; build it
/// once per container.
pub async fn assume_role_config(base: &SdkConfig, role: &AssumeRole) -> SdkConfig {
    let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
        .session_name(role.session_name.clone())
        .session_length(role.session_length)
        .configure(base);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id.clone());
    }
    if let Some(region) = &role.region {
        builder = builder.region(Region::new(region.clone()));
    }
    let provider = builder.build().await;
    let mut config = base
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .identity_cache(
            IdentityCache::lazy()
                .buffer_time(role.refresh_before_expiry)
                .build(),
        );
    if let Some(region) = &role.region {
        config = config.region(Region::new(region.clone()));
    }
    config.build()
}

/// Counts operations per `service.operation`, for metrics and tests. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls of one operation, e.g. `("Glue", "GetSchemaVersion")`.
    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(&format!("{service}.{operation}"))
            .copied()
            .unwrap_or(0)
    }

    /// Calls of every operation of one service.
    pub fn service_total(&self, service: &str) -> u64 {
        let prefix = format!("{service}.");
        self.counts
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .sum()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Not `read_before_execution`: for client-level interceptors it runs before the operation's
    // configuration (which holds the `Metadata`) is applied, so nothing would be counted. This
    // hook runs once per operation call (not per retry attempt), after it.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .counts
                .lock()
                .unwrap()
                .entry(format!("{}.{}", m.service(), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// A Glue client from `config`, counting its calls in `counter`.
pub fn glue_client(config: &SdkConfig, counter: Option<&CallCounter>) -> aws_sdk_glue::Client {
    let mut b = aws_sdk_glue::config::Builder::from(config);
    if let Some(c) = counter {
        b = b.interceptor(c.clone());
    }
    aws_sdk_glue::Client::from_conf(b.build())
}
