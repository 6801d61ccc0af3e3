//! The library both accounts use: the Glue Schema Registry wire format, JSON→Avro schema
//! inference, the Avro codec and the registry client. It never depends on the Lambda runtime.

pub mod aws;
pub mod broker_map;
pub mod codec;
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
pub mod wire;

pub use codec::{CompiledSchema, DecodeError, EncodeError, Visitor};
pub use infer::{infer, InferError, InferOptions, Inferred};
pub use item::{Coordinates, Item, ItemWriter, Written};
pub use registry::{RegistryError, SchemaCache, SchemaRegistry, SchemaSource, SchemaVersion};
pub use schema::{
    check_compatibility, Compatibility, Field, Incompatible, Record, SchemaError, TimeUnit, Type,
};
pub use wire::{Compression, Frame, WireError};
