//! Tools around the pipeline that never run in Lambda: `sensorctl` (binary) for people operating
//! or debugging a pipeline, and `local-esm` (binary), the local stand-in for Lambda's event
//! source mapping, with its pure pieces in [`esm`].

pub mod esm;
