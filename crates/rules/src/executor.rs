//! What a node's executor can run. A node advertises its executor as the engine label
//! [`EXECUTOR_LABEL`] (`oci`, `process`, `sim`); the scheduler keeps a task off a node whose
//! executor cannot run it, and service create/update refuse a spec no node can run.
//!
//! Only one combination fails today: the `process` executor runs `ContainerSpec.Command/Args`
//! and never pulls an image, so a task that names an image and no command cannot start there.
//! A node without the label (an older agent, a hollow node) is taken to run anything, as before.

use types::{Node, TaskSpec};

/// The engine label naming a node's executor (`engine.labels.shoal.executor` in constraints).
pub const EXECUTOR_LABEL: &str = "shoal.executor";

/// The executor `node` advertises, if any.
pub fn of_node(node: &Node) -> Option<&str> {
    node.description
        .engine
        .labels
        .get(EXECUTOR_LABEL)
        .map(String::as_str)
}

/// True when the task names an image and no command: it needs an executor that runs images.
pub fn needs_image_runner(spec: &TaskSpec) -> bool {
    let c = &spec.container;
    !c.image.is_empty() && c.command.is_empty() && c.args.is_empty()
}

/// True when an executor called `executor` (or an unadvertised one) runs images.
pub fn runs_images(executor: Option<&str>) -> bool {
    executor != Some("process")
}

/// True when an executor called `executor` (or an unadvertised one) can run `spec`'s tasks.
pub fn can_run(executor: Option<&str>, spec: &TaskSpec) -> bool {
    runs_images(executor) || !needs_image_runner(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str, args: &[&str]) -> TaskSpec {
        let mut s = TaskSpec::default();
        s.container.image = image.into();
        s.container.args = args.iter().map(|a| a.to_string()).collect();
        s
    }

    #[test]
    fn only_the_process_executor_needs_a_command() {
        let image_only = spec("nginx:latest", &[]);
        let with_command = spec("busybox:latest", &["sleep", "1"]);
        assert!(needs_image_runner(&image_only));
        assert!(!needs_image_runner(&with_command));
        assert!(!can_run(Some("process"), &image_only));
        assert!(can_run(Some("process"), &with_command));
        for other in [Some("oci"), Some("sim"), None] {
            assert!(can_run(other, &image_only), "{other:?}");
        }
        let mut n = types::testing::node("n1").build();
        assert_eq!(of_node(&n), None);
        n.description
            .engine
            .labels
            .insert(EXECUTOR_LABEL.into(), "process".into());
        assert_eq!(of_node(&n), Some("process"));
    }
}
