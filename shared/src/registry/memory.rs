//! An in-memory registry with Glue's behaviour (exact-definition lookup, compatibility check
//! before registering) and call counters, for tests and benchmarks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use uuid::Uuid;

use super::{RegistryError, SchemaRegistry, SchemaSource, SchemaVersion};
use crate::schema::{check_compatibility, Compatibility};

/// A registry held in memory.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    versions: Mutex<Vec<SchemaVersion>>,
    compatibility: Compatibility,
    failure: Mutex<Option<RegistryError>>,
    pub latest_calls: AtomicUsize,
    pub register_calls: AtomicUsize,
    pub get_calls: AtomicUsize,
}

impl MemoryRegistry {
    pub fn new(compatibility: Compatibility) -> Self {
        MemoryRegistry {
            compatibility,
            ..Default::default()
        }
    }

    /// Every version so far, oldest first.
    pub fn versions(&self) -> Vec<SchemaVersion> {
        self.versions.lock().unwrap().clone()
    }

    /// Registers a definition as is, skipping checks (to set up a test).
    pub fn insert(&self, definition: &str) -> SchemaVersion {
        let mut v = self.versions.lock().unwrap();
        let version = SchemaVersion {
            id: Uuid::new_v4(),
            number: v.len() as i64 + 1,
            definition: definition.to_string(),
        };
        v.push(version.clone());
        version
    }

    /// Makes every later call fail with `err` (or succeed again with `None`).
    pub fn fail_with(&self, err: Option<RegistryError>) {
        *self.failure.lock().unwrap() = err;
    }

    fn check_failure(&self) -> Result<(), RegistryError> {
        match &*self.failure.lock().unwrap() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl SchemaRegistry for MemoryRegistry {
    async fn latest(&self) -> Result<Option<SchemaVersion>, RegistryError> {
        self.latest_calls.fetch_add(1, Ordering::SeqCst);
        self.check_failure()?;
        Ok(self.versions.lock().unwrap().last().cloned())
    }

    async fn get_or_register(&self, definition: &str) -> Result<SchemaVersion, RegistryError> {
        self.register_calls.fetch_add(1, Ordering::SeqCst);
        self.check_failure()?;
        let mut versions = self.versions.lock().unwrap();
        if let Some(v) = versions.iter().find(|v| v.definition == definition) {
            return Ok(v.clone());
        }
        let earlier: Vec<&SchemaVersion> = if self.compatibility.checks_all_versions() {
            versions.iter().collect()
        } else {
            versions.last().into_iter().collect()
        };
        for prev in earlier {
            check_compatibility(&prev.definition, definition, self.compatibility)?;
        }
        let version = SchemaVersion {
            id: Uuid::new_v4(),
            number: versions.len() as i64 + 1,
            definition: definition.to_string(),
        };
        versions.push(version.clone());
        Ok(version)
    }
}

impl SchemaSource for MemoryRegistry {
    async fn get_version(&self, id: Uuid) -> Result<SchemaVersion, RegistryError> {
        self.get_calls.fetch_add(1, Ordering::SeqCst);
        self.check_failure()?;
        self.versions
            .lock()
            .unwrap()
            .iter()
            .find(|v| v.id == id)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("schema version {id}")))
    }
}
