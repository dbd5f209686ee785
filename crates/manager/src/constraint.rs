//! TEMPORARY: replaced by the scheduler branch's constraint parser.

/// Placeholder error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConstraintError(String);

/// Placeholder parser: accepts `key==value` / `key!=value`.
pub fn parse(exprs: &[String]) -> Result<Vec<String>, ConstraintError> {
    for e in exprs {
        if !e.contains("==") && !e.contains("!=") {
            return Err(ConstraintError(format!("invalid constraint expression {e:?}")));
        }
    }
    Ok(exprs.to_vec())
}
