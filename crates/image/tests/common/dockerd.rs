//! The private dockerd lives in the shared test kit (the agent's and shoal's tests use it too).

#[allow(unused_imports)] // only the dockerd interop test uses it
pub use testkit::dockerd::Dockerd;
