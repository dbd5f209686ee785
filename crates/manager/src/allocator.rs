//! The allocator: a task leaves NEW once its resources are allocated. Tasks carry no network
//! attachments yet, so every wanted NEW task becomes PENDING at once.

use store::{Op, State, TaskChange, TaskUpdate};
use types::TaskState;

/// Pure: the op moving every wanted NEW task to PENDING.
pub fn allocate(state: &State) -> Option<Op> {
    let updates: Vec<TaskUpdate> = state
        .tasks()
        .filter(|t| t.status.state == TaskState::New && t.desired_state <= TaskState::Complete)
        .map(|t| TaskUpdate {
            id: t.id.clone(),
            change: TaskChange::Pending,
        })
        .collect();
    (!updates.is_empty()).then_some(Op::UpdateTasks(updates))
}
