//! A standalone container's terminal in its create body: `Tty` with `HostConfig.ConsoleSize`
//! (`[height, width]`, which the docker CLI fills from its own terminal) becomes the
//! `ConsoleSize` the oci executor sizes the new pty with.

use serde_json::{Map, Value};

use super::standalone::CreateError;

/// The `ContainerSpec.extra` entry for `HostConfig.ConsoleSize`: `None` when it is absent
/// or zero (the kernel's default size until the first resize).
pub fn console_size(host: &Map<String, Value>) -> Result<Option<Value>, CreateError> {
    let bad = || CreateError::Invalid("HostConfig.ConsoleSize must be [height, width]".into());
    let size = match host.get("ConsoleSize") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(size)) if size.len() == 2 => size,
        Some(_) => return Err(bad()),
    };
    let dims = size
        .iter()
        .map(|v| v.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(bad))
        .collect::<Result<Vec<u16>, _>>()?;
    if dims.contains(&0) {
        return Ok(None);
    }
    Ok(Some(Value::from(dims)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: Value) -> Map<String, Value> {
        match serde_json::json!({ "ConsoleSize": v }) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_console_size_is_kept_unless_zero() {
        assert_eq!(
            console_size(&host(serde_json::json!([24, 80]))).unwrap(),
            Some(serde_json::json!([24, 80]))
        );
        assert_eq!(console_size(&host(serde_json::json!([0, 0]))).unwrap(), None);
        assert_eq!(console_size(&Map::new()).unwrap(), None);
        assert!(console_size(&host(serde_json::json!([24]))).is_err());
        assert!(console_size(&host(serde_json::json!([-1, 80]))).is_err());
    }
}
