//! Test fixtures shared by the tests of several crates (a dev-dependency, and a dependency of
//! the `bench` binary only): a private dockerd (`image`'s interop tests, the docker executor's
//! conformance suite, the shoal acceptance tests), a busybox root filesystem to `docker
//! import`, and the percentile the benchmarks and measurement tests report.

#![allow(clippy::unwrap_used)]

pub mod busybox;
pub mod dockerd;
pub mod stats;
