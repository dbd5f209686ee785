//! Validation and planning of API writes, one file per object. Pure functions over a store
//! view: they return the store ops to commit or the error to show, and touch nothing.

pub mod attachment;
pub mod client_address;
pub mod cluster;
pub mod config;
pub mod image;
mod names;
pub mod network;
pub mod node;
pub mod payload;
pub mod references;
pub mod rotate;
pub mod secret;
pub mod service;
pub mod supported;
pub mod task;
pub mod task_limit;
