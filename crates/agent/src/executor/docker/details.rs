//! A task container's details read off dockerd's inspect: the phase, the pid as dockerd sees
//! it (the agent attaches overlay endpoints to `/proc/<pid>/ns/net`, also after a restart),
//! times, argv, env and health. dockerd keeps the cgroups, so none are listed here.

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use types::Timestamp;

use super::{exit_of, status};
use crate::executor::Phase;
use crate::executor::details::Details;

/// What `/containers/*` and the network layer read of a container dockerd inspected.
pub fn of_inspect(inspected: &ContainerInspectResponse) -> Details {
    let state = inspected.state.as_ref();
    let phase = match status(inspected) {
        ContainerStateStatusEnum::CREATED => Phase::Prepared,
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD => {
            Phase::Exited(exit_of(inspected))
        }
        _ => Phase::Running,
    };
    let pid = match phase {
        Phase::Running => state.and_then(|s| s.pid).unwrap_or(0),
        _ => 0,
    };
    let config = inspected.config.as_ref();
    let mut argv: Vec<String> = inspected.path.iter().cloned().collect();
    argv.extend(inspected.args.iter().flatten().cloned());
    Details {
        phase,
        pid,
        started_at: state.and_then(|s| timestamp(s.started_at.as_deref())),
        finished_at: state.and_then(|s| timestamp(s.finished_at.as_deref())),
        argv,
        env: config.and_then(|c| c.env.clone()).unwrap_or_default(),
        health: state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        cgroups: Vec::new(),
        // dockerd keeps the volumes of its containers, and their layers.
        anonymous_volumes: Vec::new(),
        writable_layer: None,
    }
}

/// dockerd's RFC 3339 time; its zero time (`0001-01-01…`, never started or never finished)
/// is none.
fn timestamp(text: Option<&str>) -> Option<Timestamp> {
    let time = chrono::DateTime::parse_from_rfc3339(text?).ok()?;
    let nanos = time.timestamp_nanos_opt()?;
    (nanos > 0).then_some(Timestamp(nanos))
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerConfig, ContainerState};

    use super::*;

    #[test]
    fn a_running_container_shows_its_pid_and_a_stopped_one_none() {
        let mut inspected = ContainerInspectResponse {
            path: Some("/bin/sleep".into()),
            args: Some(vec!["100".into()]),
            config: Some(ContainerConfig {
                env: Some(vec!["A=1".into()]),
                ..Default::default()
            }),
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::RUNNING),
                pid: Some(42),
                started_at: Some("2026-12-06T19:00:00.5Z".into()),
                finished_at: Some("0001-01-01T00:00:00Z".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let d = of_inspect(&inspected);
        assert_eq!((d.phase.clone(), d.pid), (Phase::Running, 42));
        assert_eq!(d.argv, ["/bin/sleep", "100"]);
        assert_eq!(d.env, ["A=1"]);
        assert_eq!(d.started_at, Some(Timestamp(1_796_583_600_500_000_000)));
        assert_eq!(d.finished_at, None);
        assert_eq!(d.health, None);

        let state = inspected.state.as_mut().unwrap();
        state.status = Some(ContainerStateStatusEnum::EXITED);
        state.exit_code = Some(3);
        let d = of_inspect(&inspected);
        assert_eq!(d.pid, 0);
        assert!(
            matches!(d.phase, Phase::Exited(ref e) if e.code == 3),
            "{:?}",
            d.phase
        );
    }
}
