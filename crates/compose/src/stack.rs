//! What a compose file becomes: the objects a stack deploy creates, in shoal's types.

use types::{ConfigSpec, NetworkSpec, SecretSpec, ServiceSpec};

/// A stack ready to deploy.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// The stack's name.
    pub namespace: String,
    /// Networks the stack makes (names prefixed, labelled).
    pub networks: Vec<NetworkSpec>,
    /// Networks it uses but does not make (must exist).
    pub external_networks: Vec<String>,
    /// Secrets it makes.
    pub secrets: Vec<SecretSpec>,
    /// Secrets it uses but does not make.
    pub external_secrets: Vec<String>,
    /// Configs it makes.
    pub configs: Vec<ConfigSpec>,
    /// Configs it uses but does not make.
    pub external_configs: Vec<String>,
    /// Services, every one after those it depends on.
    pub services: Vec<StackService>,
    /// Keys ignored and variables unset: to be shown loudly.
    pub warnings: Vec<String>,
}

/// One service of the stack.
#[derive(Debug, Clone)]
pub struct StackService {
    /// Its key in the file (`db`).
    pub key: String,
    /// Its spec (named `<stack>_<key>`).
    pub spec: ServiceSpec,
    /// What must hold before it is created or updated.
    pub depends_on: Vec<Dependency>,
}

/// A service another waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Full service name (`<stack>_<key>`).
    pub service: String,
    /// What it must reach.
    pub condition: Condition,
}

/// How far a dependency must have come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Its tasks are running (`service_started`, or a plain list).
    Started,
    /// Its tasks are running and passed their health check (`service_healthy`).
    Healthy,
    /// Its tasks ran to completion with exit code 0 (`service_completed_successfully`).
    CompletedSuccessfully,
}
