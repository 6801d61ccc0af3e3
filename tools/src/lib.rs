//! Tools around the pipeline that never run in Lambda: `sensorctl` (binary) for people operating
//! or debugging a pipeline, and `local-esm` (binary), the local stand-in for Lambda's event
//! source mapping.
//!
//! - [`esm`]: the pure pieces of `local-esm` (the `KafkaEvent` Lambda sends, offsets to commit,
//!   the ready file).
//! - [`kafka`]: brokers from the broker-map secret, single records read back at their
//!   coordinates.
//! - [`dlq`]: the dead-letter queue as an operator reads it (list, show), selections of letters.
//! - [`redrive`]: letters sent through the consumer's own decoding and writing again.
//! - [`plan`]: what the producer would register for some events, against the live registry.

pub mod dlq;
pub mod esm;
pub mod kafka;
pub mod plan;
pub mod redrive;
