//! TEMPORARY: replaced by the scheduler branch's constraint parser.

use types::Node;

/// Placeholder error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConstraintError(String);

/// Placeholder constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    key: String,
    eq: bool,
    value: String,
}

impl Constraint {
    /// Placeholder matcher for node.labels.*, node.hostname, node.role, node.id.
    pub fn matches(&self, node: &Node) -> bool {
        let have = if let Some(l) = self.key.strip_prefix("node.labels.") {
            node.spec.labels.get(l).cloned().unwrap_or_default()
        } else {
            match self.key.as_str() {
                "node.hostname" => node.description.hostname.clone(),
                "node.id" => node.id.clone(),
                "node.role" => node.spec.role.as_str().to_string(),
                _ => String::new(),
            }
        };
        have.eq_ignore_ascii_case(&self.value) == self.eq
    }
}

/// Placeholder parser: accepts `key==value` / `key!=value`.
pub fn parse(exprs: &[String]) -> Result<Vec<Constraint>, ConstraintError> {
    exprs
        .iter()
        .map(|e| {
            if let Some((k, v)) = e.split_once("==") {
                Ok(Constraint { key: k.trim().into(), eq: true, value: v.trim().into() })
            } else if let Some((k, v)) = e.split_once("!=") {
                Ok(Constraint { key: k.trim().into(), eq: false, value: v.trim().into() })
            } else {
                Err(ConstraintError(format!("invalid constraint expression {e:?}")))
            }
        })
        .collect()
}
