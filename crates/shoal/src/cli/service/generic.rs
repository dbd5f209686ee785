//! `--generic-resource` (create) and `--generic-resource-add|-rm` (update), as the docker
//! CLI's: `KIND=COUNT` terms become `Resources.Reservations.GenericResources`; an added kind
//! replaces the one reserved before, a removed kind must be reserved. The daemon validates
//! what it receives (counts only, as Swarm).

use api::model::{Reservation, TaskSpec};
use serde_json::Value;

/// The reservation list `terms` describe, in Docker's JSON.
fn parse(terms: &[String]) -> anyhow::Result<Vec<Value>> {
    let list = types::generic::parse(terms)?;
    Ok(types::generic::to_docker_json(&list)
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// The kind of one Docker JSON generic resource.
fn kind_of(item: &Value) -> &str {
    ["DiscreteResourceSpec", "NamedResourceSpec"]
        .iter()
        .find_map(|key| item.get(key)?.get("Kind")?.as_str())
        .unwrap_or_default()
}

fn reservations(task: &mut TaskSpec) -> &mut Reservation {
    task.resources
        .get_or_insert_with(Default::default)
        .reservations
        .get_or_insert_with(Default::default)
}

/// `service create --generic-resource`: sets the reservation (nothing when none given).
pub fn create(task: &mut TaskSpec, terms: &[String]) -> anyhow::Result<()> {
    if terms.is_empty() {
        return Ok(());
    }
    reservations(task).generic_resources = parse(terms)?;
    Ok(())
}

/// `service update --generic-resource-rm KIND --generic-resource-add KIND=N`: removals
/// first, then each added kind replaces what was reserved of it.
pub fn update(task: &mut TaskSpec, add: &[String], rm: &[String]) -> anyhow::Result<()> {
    if add.is_empty() && rm.is_empty() {
        return Ok(());
    }
    let added = parse(add)?;
    let list = &mut reservations(task).generic_resources;
    for kind in rm {
        anyhow::ensure!(
            list.iter().any(|r| kind_of(r) == kind),
            "could not find generic-resource `{kind}` to remove it"
        );
        list.retain(|r| kind_of(r) != kind);
    }
    let kinds: Vec<String> = added.iter().map(|r| kind_of(r).to_string()).collect();
    list.retain(|r| !kinds.iter().any(|k| k == kind_of(r)));
    list.extend(added);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn reserved(task: &TaskSpec) -> String {
        let list = task
            .resources
            .as_ref()
            .and_then(|r| r.reservations.as_ref())
            .map(|r| r.generic_resources.clone())
            .unwrap_or_default();
        Value::Array(list).to_string()
    }

    #[test]
    fn create_and_update_edit_the_reservation_as_the_docker_cli() {
        let mut task = TaskSpec::default();
        create(&mut task, &[]).unwrap();
        assert!(task.resources.is_none(), "no flag, no reservation");
        create(&mut task, &terms(&["gpu=2", "ssd=1"])).unwrap();
        assert_eq!(
            reserved(&task),
            r#"[{"DiscreteResourceSpec":{"Kind":"gpu","Value":2}},{"DiscreteResourceSpec":{"Kind":"ssd","Value":1}}]"#
        );
        update(&mut task, &terms(&["gpu=1", "fpga=3"]), &terms(&["ssd"])).unwrap();
        assert_eq!(
            reserved(&task),
            r#"[{"DiscreteResourceSpec":{"Kind":"fpga","Value":3}},{"DiscreteResourceSpec":{"Kind":"gpu","Value":1}}]"#
        );
        let missing = update(&mut task, &[], &terms(&["ssd"])).unwrap_err().to_string();
        assert!(
            missing.contains("could not find generic-resource `ssd`"),
            "{missing}"
        );
        assert!(create(&mut task, &terms(&["gpu"])).is_err(), "no '='");
    }
}
