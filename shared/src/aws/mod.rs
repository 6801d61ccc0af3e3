//! The AWS adapters (feature `aws`; the Lambda crates turn it on): everything here needs the
//! SDKs, nothing outside this folder does.
//!
//! - `credentials`: the base config, the cross-account assumed role with self-refreshing
//!   credentials, the Glue client and its call counter;
//! - `glue`: [`GlueRegistry`], the Glue Schema Registry behind the `registry` traits;
//! - `sdk_error`: [`classify`], any SDK error as a [`crate::failure::FailureKind`] and a message;
//! - `tls`: the roots TLS connections trust ([`TrustStore`]) and the SDK's HTTPS client.

mod credentials;
mod glue;
mod sdk_error;
mod tls;

pub use credentials::{assume_role_config, glue_client, load_base_config, AssumeRole, CallCounter};
pub use glue::{GlueRegistry, GlueRegistryConfig};
pub use sdk_error::{classify, SdkFailure};
pub use tls::{https_client, TrustStore, AWS_ROOTS_PEM};
