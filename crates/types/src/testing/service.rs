//! Service fixtures: `service("web").replicas(3).image("busybox:latest").build()`.

use std::sync::Arc;

use crate::{
    EndpointSpec, JobStatus, Meta, PortConfig, Service, ServiceMode, ServiceSpec, TaskSpec, UpdateConfig,
};

/// Starts a service named `name` (its ID too): one replica, an empty task spec, spec version
/// 1, no update, rollback or endpoint settings.
pub fn service(name: &str) -> ServiceBuilder {
    ServiceBuilder {
        id: name.into(),
        spec: ServiceSpec {
            name: name.into(),
            labels: Default::default(),
            task: Arc::default(),
            mode: ServiceMode::Replicated { replicas: 1 },
            update: None,
            rollback: None,
            endpoint: None,
        },
        spec_version: 1,
    }
}

/// A service (or only its spec) under construction.
#[derive(Debug, Clone)]
pub struct ServiceBuilder {
    id: String,
    spec: ServiceSpec,
    spec_version: u64,
}

impl ServiceBuilder {
    /// Its ID, when it differs from its name.
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.into();
        self
    }

    /// How many tasks it runs, where.
    pub fn mode(mut self, mode: ServiceMode) -> Self {
        self.spec.mode = mode;
        self
    }

    /// Replicated with `replicas` slots.
    pub fn replicas(self, replicas: u64) -> Self {
        self.mode(ServiceMode::Replicated { replicas })
    }

    /// The template of its tasks.
    pub fn task(mut self, task: impl Into<Arc<TaskSpec>>) -> Self {
        self.spec.task = task.into();
        self
    }

    /// The image its tasks run.
    pub fn image(mut self, image: &str) -> Self {
        Arc::make_mut(&mut self.spec.task).container.image = image.into();
        self
    }

    /// The arguments its tasks run with.
    pub fn args(mut self, args: &[&str]) -> Self {
        Arc::make_mut(&mut self.spec.task).container.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Its endpoint settings.
    pub fn endpoint(mut self, endpoint: EndpointSpec) -> Self {
        self.spec.endpoint = Some(endpoint);
        self
    }

    /// Publishes `ports` through a VIP endpoint.
    pub fn ports(self, ports: Vec<PortConfig>) -> Self {
        self.endpoint(EndpointSpec {
            mode: "vip".into(),
            ports,
        })
    }

    /// Its rolling update settings.
    pub fn update(mut self, update: UpdateConfig) -> Self {
        self.spec.update = Some(update);
        self
    }

    /// Its spec version.
    pub fn spec_version(mut self, version: u64) -> Self {
        self.spec_version = version;
        self
    }

    /// Only the spec (what a create or update request carries).
    pub fn spec(self) -> ServiceSpec {
        self.spec
    }

    /// The finished service as the store keeps it (a job at its first iteration).
    pub fn build(self) -> Service {
        let job = self.spec.mode.is_job();
        Service {
            id: self.id,
            meta: Meta::default(),
            spec: self.spec,
            spec_version: self.spec_version,
            spec_changed_at: 0,
            previous_spec: None,
            endpoint: Default::default(),
            update_status: None,
            job_status: job.then_some(JobStatus {
                job_iteration: 0,
                last_execution: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_service_is_one_replica_of_an_empty_task_named_by_its_id() {
        let s = service("web").build();
        assert_eq!((s.id.as_str(), s.spec.name.as_str()), ("web", "web"));
        assert_eq!(s.spec.mode, ServiceMode::Replicated { replicas: 1 });
        assert_eq!(*s.spec.task, TaskSpec::default());
        assert_eq!((s.spec_version, s.job_status), (1, None));
        let job = service("j")
            .id("svc-j")
            .mode(ServiceMode::GlobalJob)
            .image("busybox")
            .args(&["true"])
            .build();
        assert_eq!(job.id, "svc-j");
        assert_eq!(job.job_status.map(|j| j.job_iteration), Some(0));
        assert_eq!(job.spec.task.container.image, "busybox");
        assert_eq!(job.spec.task.container.args, ["true"]);
    }
}
