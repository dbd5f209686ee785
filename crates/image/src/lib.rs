//! Container images for the `oci` executor: pulled from registries, kept content-addressed
//! under `<data-dir>/images`, unpacked once per layer stack and shared.
//!
//! Place in the data flow: the agent's executor asks [`ImageStore::pull`] for a task's image,
//! then [`ImageStore::rootfs_layers`] and [`ImageStore::run_config`] to build the container's
//! runtime spec; the Engine API's `/images/*` routes call the rest.
//!
//! - `name`, `auth`, `platform`: what to pull and how (pure).
//! - `blobs`, `index`: what is stored; `unpack`, `tree`, `layers`: layer directories.
//! - `pull`, `import`, `load`: how images arrive; `store`: list, inspect, tag, remove, gc.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
mod blobs;
mod config;
mod digest;
mod error;
mod import;
mod index;
mod layers;
mod load;
mod name;
mod platform;
mod progress;
mod pull;
mod remote;
mod store;
mod tree;
mod unpack;

pub use auth::Credentials;
pub use blobs::Blobs;
pub use config::{Healthcheck, ImageConfig, RootFs, RunConfig};
pub use digest::Digest;
pub use error::{Error, Result};
pub use index::{ImageRecord, LayerRecord};
pub use load::Loaded;
pub use name::Name;
pub use platform::Platform;
pub use progress::{Progress, ProgressDetail, ProgressFn};
pub use pull::Pulled;
pub use store::{GcReport, ImageDetails, ImageStore, ImageSummary, Removed};
pub use unpack::Layout;
