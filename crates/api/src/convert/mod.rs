//! Conversions between shoal's object model (`types`, `backend`) and Docker's JSON shapes
//! (`model`), one file per object. Pure functions: no I/O, no clock.

pub mod addr;
pub mod cluster;
pub mod console;
pub mod container;
pub mod events;
pub mod filters;
pub mod image;
pub mod logs;
pub mod mounts;
pub mod network;
pub mod node;
pub mod secret;
pub mod service;
pub mod standalone;
pub mod swarm_request;
pub mod system;
pub mod task;
pub mod task_spec;
pub mod time;
pub mod volume;
