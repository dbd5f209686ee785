//! The allocator: a task leaves NEW once its resources are allocated. Tasks carry no network
//! attachments yet, so every wanted NEW task becomes PENDING at once.

use state::{Op, State, TaskChange, TaskUpdate};
use types::{Task, TaskState};

/// True for a task waiting on the allocator.
fn waiting(t: &Task) -> bool {
    t.status.state == TaskState::New && t.desired_state <= TaskState::Complete
}

fn pending(t: &Task) -> TaskUpdate {
    TaskUpdate {
        id: t.id.clone(),
        change: TaskChange::Pending,
    }
}

fn op(updates: Vec<TaskUpdate>) -> Option<Op> {
    (!updates.is_empty()).then_some(Op::UpdateTasks(updates))
}

/// Pure: the op moving every wanted NEW task to PENDING.
pub fn allocate(state: &State) -> Option<Op> {
    op(state.tasks().filter(|t| waiting(t)).map(|t| pending(t)).collect())
}

/// Like [`allocate`], looking only at the tasks in `ids` (those that just changed).
pub fn allocate_ids(state: &State, ids: &[String]) -> Option<Op> {
    op(ids
        .iter()
        .filter_map(|id| state.task(id))
        .filter(|t| waiting(t))
        .map(|t| pending(t))
        .collect())
}
