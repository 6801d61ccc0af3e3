//! Schema registry access: one small trait per side, an in-memory implementation for tests and
//! benchmarks, and the consumer's cache of parsed writer schemas. The Glue implementation is an
//! AWS adapter: `aws::GlueRegistry` (feature `aws`).
//!
//! Errors say whether a retry can help ([`RegistryError::is_retryable`]) and tell a bad record
//! ([`RegistryError::NotFound`]) from an outage or a misconfiguration.

use std::future::Future;

use thiserror::Error;
use uuid::Uuid;

use crate::schema::Incompatible;

pub mod cache;
pub mod memory;

pub use cache::{CacheStats, SchemaCache};
pub use memory::MemoryRegistry;

/// One registered version of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    pub id: Uuid,
    pub number: i64,
    pub definition: String,
}

/// What went wrong talking to a registry.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The schema, version or registry does not exist. Retrying does not help.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller may not do this (IAM, trust policy, external id). Retrying does not help until
    /// someone fixes the permissions, but the record itself is not at fault.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The definition is not compatible with earlier versions; nothing was registered.
    #[error("incompatible schema: {0}")]
    Incompatible(String),
    /// The registry refused the input (bad definition, limits). Retrying does not help.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Throttling, timeouts, 5xx, connection failures, credentials that could not be fetched.
    /// A retry may help.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

impl RegistryError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Unavailable(_))
    }
}

impl From<Incompatible> for RegistryError {
    fn from(e: Incompatible) -> Self {
        RegistryError::Incompatible(e.to_string())
    }
}

/// The producer's view of the registry: one schema, read and extended.
pub trait SchemaRegistry: Send + Sync {
    /// The latest version of the schema, or `None` when the schema does not exist yet.
    fn latest(&self) -> impl Future<Output = Result<Option<SchemaVersion>, RegistryError>> + Send;

    /// Returns the version with exactly this definition, registering it (and creating the
    /// registry and schema) when needed. An incompatible definition is refused before anything is
    /// registered.
    fn get_or_register(
        &self,
        definition: &str,
    ) -> impl Future<Output = Result<SchemaVersion, RegistryError>> + Send;
}

/// The consumer's view of the registry: versions by id.
pub trait SchemaSource: Send + Sync {
    /// Fetches one version by its id.
    fn get_version(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<SchemaVersion, RegistryError>> + Send;
}
