//! The library both accounts use. Its core is pure (no AWS SDK): the Glue Schema Registry wire
//! format, the Avro schema model, JSON→Avro inference, the codec, decimals, the DynamoDB item
//! writer and its limits, the registry traits with their cache and in-memory implementation,
//! failure classes, logging, metrics and the broker map's JSON. The AWS adapters (Glue registry
//! client, STS credentials, SDK error classification) live in [`aws`], behind the feature `aws`.
//! It never depends on the Lambda runtime.

#[cfg(feature = "aws")]
pub mod aws;
pub mod broker_map;
pub mod codec;
pub mod config;
pub mod decimal;
pub mod failure;
#[doc(hidden)]
pub mod fuzzing;
pub mod infer;
pub mod item;
pub mod logging;
pub mod metrics;
pub mod registry;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;

pub use codec::{CompiledSchema, DecodeError, EncodeError, Visitor};
pub use infer::{infer, InferError, InferOptions, Inferred};
pub use item::{Coordinates, Item, ItemWriter, Written};
pub use registry::{RegistryError, SchemaCache, SchemaRegistry, SchemaSource, SchemaVersion};
pub use schema::{
    check_compatibility, Compatibility, Field, Incompatible, Record, SchemaError, TimeUnit, Type,
};
pub use wire::{Compression, Frame, WireError};
