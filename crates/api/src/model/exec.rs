//! `/containers/{id}/exec` and `/exec/*` bodies (moby's `ExecConfig`, `ExecStartConfig`,
//! `ExecInspectResponse`), and the little of a container's inspect that `docker exec` reads.

use serde::{Deserialize, Serialize};

use super::nullable;

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    /// Attach stdin.
    #[serde(default, deserialize_with = "nullable")]
    pub attach_stdin: bool,
    /// Attach stdout.
    #[serde(default, deserialize_with = "nullable")]
    pub attach_stdout: bool,
    /// Attach stderr.
    #[serde(default, deserialize_with = "nullable")]
    pub attach_stderr: bool,
    /// Initial `[height, width]` of the TTY.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub console_size: Option<[u16; 2]>,
    /// Detach keys of a TTY exec (`ctrl-p,ctrl-q` spelling); empty for the default.
    #[serde(default, deserialize_with = "nullable")]
    pub detach_keys: String,
    /// Allocate a pseudo-TTY.
    #[serde(default, deserialize_with = "nullable")]
    pub tty: bool,
    /// Extra environment, `K=V`.
    #[serde(default, deserialize_with = "nullable")]
    pub env: Vec<String>,
    /// Command and arguments.
    #[serde(default, deserialize_with = "nullable")]
    pub cmd: Vec<String>,
    /// Extended privileges (refused).
    #[serde(default, deserialize_with = "nullable")]
    pub privileged: bool,
    /// User (`user`, `user:group`, `uid`, `uid:gid`).
    #[serde(default, deserialize_with = "nullable")]
    pub user: String,
    /// Working directory.
    #[serde(default, deserialize_with = "nullable")]
    pub working_dir: String,
}

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartConfig {
    /// Start and return at once, without streams.
    #[serde(default, deserialize_with = "nullable")]
    pub detach: bool,
    /// The client's view of TTY (the exec's own setting decides).
    #[serde(default, deserialize_with = "nullable")]
    pub tty: bool,
    /// Initial `[height, width]` of the TTY.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub console_size: Option<[u16; 2]>,
}

/// `{"Id": …}`, the answer to an exec create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdResponse {
    /// The new exec instance's ID.
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
}

/// `ProcessConfig` of an exec inspect (moby spells these in lower case).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    /// Always false: privileged execs are refused.
    #[serde(default, deserialize_with = "nullable")]
    pub privileged: bool,
    /// The user asked for.
    #[serde(default, deserialize_with = "nullable")]
    pub user: String,
    /// A TTY was allocated.
    #[serde(default, deserialize_with = "nullable")]
    pub tty: bool,
    /// The program.
    #[serde(default, deserialize_with = "nullable")]
    pub entrypoint: String,
    /// Its arguments.
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: Vec<String>,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    /// Finished instances can go.
    #[serde(default, deserialize_with = "nullable")]
    pub can_remove: bool,
    /// The detach keys asked for at create.
    #[serde(default, deserialize_with = "nullable")]
    pub detach_keys: String,
    /// The exec instance's ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Started and not yet exited.
    #[serde(default, deserialize_with = "nullable")]
    pub running: bool,
    /// Exit code once exited, `null` before.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// What runs.
    #[serde(default, deserialize_with = "nullable")]
    pub process_config: ProcessConfig,
    /// Stdin attached.
    #[serde(default, deserialize_with = "nullable")]
    pub open_stdin: bool,
    /// Stderr attached.
    #[serde(default, deserialize_with = "nullable")]
    pub open_stderr: bool,
    /// Stdout attached.
    #[serde(default, deserialize_with = "nullable")]
    pub open_stdout: bool,
    /// The container (task) it runs in.
    #[serde(rename = "ContainerID", default, deserialize_with = "nullable")]
    pub container_id: String,
    /// Its process ID on the host (0 before start).
    #[serde(default, deserialize_with = "nullable")]
    pub pid: i64,
}
