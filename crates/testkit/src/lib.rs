//! Test fixtures shared by the tests of several crates (a dev-dependency only): a private
//! dockerd (`image`'s interop tests, the docker executor's conformance suite, the shoal
//! acceptance tests) and a busybox root filesystem to `docker import`.

#![allow(clippy::unwrap_used)]

pub mod busybox;
pub mod dockerd;
