//! Test fixtures: a real registry process (Debian's `docker-registry`) on loopback, and
//! images built from busybox-static pushed to it with oci-client.

#![allow(dead_code, clippy::unwrap_used)]

pub mod build;
pub mod dockerd;
pub mod registry;
