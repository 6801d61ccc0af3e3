//! The consumer's cache of writer schemas by version id.
//!
//! Versions are immutable, so entries never expire; the cache is bounded (oldest entries leave
//! first). Concurrent lookups of one id share a single fetch, and failed fetches are never cached:
//! the next lookup asks the registry again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{RegistryError, SchemaSource};
use crate::codec::CompiledSchema;

type Slot = Arc<OnceCell<Arc<CompiledSchema>>>;

/// Counters of a [`SchemaCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Fetches sent to the registry.
    pub fetches: u64,
    /// Entries held now.
    pub entries: usize,
}

/// Parsed writer schemas by version id, in front of a [`SchemaSource`].
#[derive(Debug)]
pub struct SchemaCache<S> {
    source: S,
    capacity: usize,
    slots: Mutex<Slots>,
    hits: AtomicU64,
    fetches: AtomicU64,
}

#[derive(Debug, Default)]
struct Slots {
    map: HashMap<Uuid, Slot>,
    order: VecDeque<Uuid>,
}

impl<S: SchemaSource> SchemaCache<S> {
    /// A cache holding at most `capacity` versions (at least one).
    pub fn new(source: S, capacity: usize) -> Self {
        SchemaCache {
            source,
            capacity: capacity.max(1),
            slots: Mutex::new(Slots::default()),
            hits: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            fetches: self.fetches.load(Ordering::Relaxed),
            entries: self.slots.lock().unwrap().map.len(),
        }
    }

    /// The schema of version `id`, fetched and parsed once.
    pub async fn get(&self, id: Uuid) -> Result<Arc<CompiledSchema>, RegistryError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap();
            if let Some(slot) = slots.map.get(&id) {
                if let Some(s) = slot.get() {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(s.clone());
                }
                slot.clone()
            } else {
                let slot: Slot = Arc::default();
                slots.map.insert(id, slot.clone());
                slots.order.push_back(id);
                while slots.map.len() > self.capacity {
                    match slots.order.pop_front() {
                        Some(old) if old != id => {
                            slots.map.remove(&old);
                        }
                        Some(old) => slots.order.push_back(old),
                        None => break,
                    }
                }
                slot
            }
        };
        let result = slot
            .get_or_try_init(|| async {
                self.fetches.fetch_add(1, Ordering::Relaxed);
                let version = self.source.get_version(id).await?;
                CompiledSchema::parse(&version.definition)
                    .map(Arc::new)
                    .map_err(|e| {
                        RegistryError::Invalid(format!("schema version {id} cannot be read: {e}"))
                    })
            })
            .await;
        match result {
            Ok(s) => Ok(s.clone()),
            Err(e) => {
                let mut slots = self.slots.lock().unwrap();
                if slots
                    .map
                    .get(&id)
                    .is_some_and(|s| Arc::ptr_eq(s, &slot) && !s.initialized())
                {
                    slots.map.remove(&id);
                    slots.order.retain(|k| k != &id);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::MemoryRegistry;
    use crate::schema::Compatibility;

    const DEF: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#;

    /// Whether version `id` is held, parsed, without asking the registry.
    fn is_cached<S>(cache: &SchemaCache<S>, id: &Uuid) -> bool {
        let slots = cache.slots.lock().unwrap();
        slots.map.get(id).is_some_and(|s| s.initialized())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_share_one_fetch() {
        let reg = MemoryRegistry::new(Compatibility::None);
        let v = reg.insert(DEF);
        let cache = Arc::new(SchemaCache::new(reg, 10));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let c = cache.clone();
                tokio::spawn(async move { c.get(v.id).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().definition(), DEF);
        }
        assert_eq!(cache.source().get_calls.load(Ordering::SeqCst), 1);
        let stats = cache.stats();
        assert_eq!(stats.fetches, 1);
        // Warm: no further call.
        cache.get(v.id).await.unwrap();
        assert!(is_cached(&cache, &v.id));
        assert_eq!(cache.source().get_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let reg = MemoryRegistry::new(Compatibility::None);
        let v = reg.insert(DEF);
        let cache = SchemaCache::new(reg, 10);
        cache
            .source()
            .fail_with(Some(RegistryError::Unavailable("throttled".into())));
        let e = cache.get(v.id).await.unwrap_err();
        assert!(e.is_retryable());
        assert_eq!(cache.stats().entries, 0);
        cache.source().fail_with(None);
        cache.get(v.id).await.unwrap();
        assert_eq!(cache.source().get_calls.load(Ordering::SeqCst), 2);
        let missing = cache.get(Uuid::new_v4()).await.unwrap_err();
        assert!(matches!(missing, RegistryError::NotFound(_)));
        assert!(!missing.is_retryable());
    }

    #[tokio::test]
    async fn bounded_and_unreadable_definitions_are_typed() {
        let reg = MemoryRegistry::new(Compatibility::None);
        let ids: Vec<_> = (0..5).map(|_| reg.insert(DEF).id).collect();
        let bad = reg.insert("{not avro").id;
        let cache = SchemaCache::new(reg, 3);
        for id in &ids {
            cache.get(*id).await.unwrap();
        }
        assert_eq!(cache.stats().entries, 3);
        assert!(!is_cached(&cache, &ids[0]));
        assert!(is_cached(&cache, &ids[4]));
        assert!(matches!(
            cache.get(bad).await,
            Err(RegistryError::Invalid(_))
        ));
    }
}
