//! The producer as the tests and benchmarks of this crate and of the consumer set it up (feature
//! `testing`, turned on only by dev-dependencies, so never in the Lambda's build).

use sensor_shared::registry::MemoryRegistry;
use sensor_shared::wire::Compression;
use sensor_shared::{Compatibility, InferOptions};

use crate::sink::MemorySink;
use crate::{Producer, ProducerSchemas};

/// The clock of [`producer`]: every event it stamps gets this `timestamp` (epoch milliseconds).
pub const CLOCK_MS: i64 = 1_767_225_600_000;

/// A producer of device `000001` on the topic `sensor-readings`, with an in-memory registry
/// and sink, inferring under `mode`, without compression or envelopes, at most 100 events an
/// invocation, its clock stopped at [`CLOCK_MS`].
pub fn producer(mode: Compatibility) -> Producer<MemoryRegistry, MemorySink> {
    Producer {
        schemas: ProducerSchemas::new(
            MemoryRegistry::new(mode),
            InferOptions {
                compatibility: mode,
                ..Default::default()
            },
        ),
        sink: MemorySink::default(),
        device_id: "000001".into(),
        compression: Compression::None,
        max_batch: 100,
        topic: "sensor-readings".into(),
        envelope: false,
        clock: || CLOCK_MS,
    }
}
