//! Restart policy: whether and when a dead task of a slot is replaced.

use types::{RestartCondition, Task, TaskState, Timestamp, service::DEFAULT_RESTART_DELAY_NANOS};

use super::slots::Slot;

/// What to do about the slot's dead current task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Replace it now.
    Now,
    /// Replace it once `at` has passed (the restart delay).
    At(Timestamp),
    /// Leave the slot as it is (policy says no, or attempts are used up).
    Never,
}

/// Decides for `task`, the dead current task of `slot`. Jobs treat `any` as `on-failure`: a
/// completed job task is done.
pub fn decide(slot: &Slot, task: &Task, is_job: bool) -> Restart {
    let policy = task.spec.restart;
    let failed = task.status.state != TaskState::Complete;
    let wanted = match policy.condition {
        RestartCondition::None => false,
        RestartCondition::OnFailure => failed,
        RestartCondition::Any => failed || !is_job,
    };
    if !wanted {
        return Restart::Never;
    }
    if policy.max_attempts > 0 {
        // Attempts are the tasks this slot ran before this one, within the window.
        // No window and a zero window both count every attempt the slot made.
        let since = match policy.window {
            Some(window) if window > 0 => task.status.timestamp.plus_nanos(-window),
            _ => Timestamp(i64::MIN),
        };
        let earlier = slot
            .tasks
            .iter()
            .filter(|t| t.id != task.id && t.meta.created_at >= since)
            .count() as u64;
        if earlier >= policy.max_attempts {
            return Restart::Never;
        }
    }
    let delay = policy.delay.unwrap_or(DEFAULT_RESTART_DELAY_NANOS);
    if delay <= 0 {
        Restart::Now
    } else {
        Restart::At(task.status.timestamp.plus_nanos(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::task_in_slot;
    use crate::orchestrator::slots::SlotKey;
    use types::RestartPolicy;

    fn slot_with(n: usize, policy: RestartPolicy, last: TaskState) -> Slot {
        let mut tasks = Vec::new();
        for i in 0..n {
            let state = if i + 1 == n { last } else { TaskState::Failed };
            tasks.push(task_in_slot(&format!("t{i}"), 1, state, policy, i as i64));
        }
        Slot {
            key: SlotKey::Number(1),
            tasks,
        }
    }

    #[test]
    fn on_failure_with_max_attempts_stops_after_the_attempts() {
        let policy = RestartPolicy {
            condition: RestartCondition::OnFailure,
            delay: Some(0),
            max_attempts: 3,
            window: Some(0),
            given: true,
        };
        for n in 1..=3 {
            let slot = slot_with(n, policy, TaskState::Failed);
            assert_eq!(
                decide(&slot, slot.tasks.last().unwrap(), false),
                Restart::Now,
                "after {n} tasks"
            );
        }
        let slot = slot_with(4, policy, TaskState::Failed);
        assert_eq!(decide(&slot, slot.tasks.last().unwrap(), false), Restart::Never);
        let slot = slot_with(1, policy, TaskState::Complete);
        assert_eq!(
            decide(&slot, &slot.tasks[0], false),
            Restart::Never,
            "exit 0 is not a failure"
        );
    }

    #[test]
    fn delay_and_conditions() {
        let policy = RestartPolicy::default();
        let slot = slot_with(1, policy, TaskState::Complete);
        assert_eq!(
            decide(&slot, &slot.tasks[0], false),
            Restart::At(Timestamp(DEFAULT_RESTART_DELAY_NANOS))
        );
        assert_eq!(
            decide(&slot, &slot.tasks[0], true),
            Restart::Never,
            "a completed job task is done"
        );
        let none = RestartPolicy {
            condition: RestartCondition::None,
            ..policy
        };
        let slot = slot_with(1, none, TaskState::Failed);
        assert_eq!(decide(&slot, &slot.tasks[0], false), Restart::Never);
    }
}
