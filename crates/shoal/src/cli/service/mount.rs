//! `--mount type=bind,source=/data,target=/srv,readonly` in the docker CLI's CSV syntax, as
//! the Docker API's Mount object (JSON, kept verbatim by the daemon in the container spec).

use serde_json::{Map, Value, json};

/// Parses one `--mount` value.
pub fn parse(text: &str) -> Result<Value, String> {
    let invalid = |why: String| format!("invalid mount {text:?}: {why}");
    let mut mount = Map::new();
    let mut kind = "volume".to_string();
    let mut bind = Map::new();
    let mut volume = Map::new();
    let mut tmpfs = Map::new();
    let mut labels = Map::new();
    let mut driver_options = Map::new();
    for field in text.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| {
            v.map(String::from)
                .ok_or_else(|| invalid(format!("{key} needs a value")))
        };
        let flag = |v: Option<&str>| match v {
            None | Some("1" | "true" | "True" | "TRUE") => Ok(true),
            Some("0" | "false" | "False" | "FALSE") => Ok(false),
            Some(other) => Err(invalid(format!("{key}={other} is not a boolean"))),
        };
        match key.as_str() {
            "type" => kind = need(value)?.to_ascii_lowercase(),
            "source" | "src" => {
                mount.insert("Source".into(), need(value)?.into());
            }
            "target" | "dst" | "destination" => {
                mount.insert("Target".into(), need(value)?.into());
            }
            "readonly" | "ro" => {
                mount.insert("ReadOnly".into(), flag(value)?.into());
            }
            "consistency" => {
                mount.insert("Consistency".into(), need(value)?.into());
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), need(value)?.into());
            }
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), flag(value)?.into());
            }
            "volume-label" => {
                let pair = need(value)?;
                let (k, v) = pair.split_once('=').unwrap_or((&pair, ""));
                labels.insert(k.into(), v.into());
            }
            "volume-driver" => {
                volume.insert("DriverConfig".into(), json!({"Name": need(value)?}));
            }
            "volume-opt" => {
                let pair = need(value)?;
                let (k, v) = pair.split_once('=').unwrap_or((&pair, ""));
                driver_options.insert(k.into(), v.into());
            }
            "tmpfs-size" => {
                let bytes = super::values::memory_bytes(&need(value)?)?;
                tmpfs.insert("SizeBytes".into(), bytes.into());
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&need(value)?, 8)
                    .map_err(|_| invalid("tmpfs-mode is an octal file mode".into()))?;
                tmpfs.insert("Mode".into(), mode.into());
            }
            other => return Err(invalid(format!("unknown field {other:?}"))),
        }
    }
    if !matches!(kind.as_str(), "bind" | "volume" | "tmpfs" | "npipe" | "cluster") {
        return Err(invalid(format!("unknown mount type {kind:?}")));
    }
    if !mount.contains_key("Target") {
        return Err(invalid("target is required".into()));
    }
    if kind == "bind" && !mount.contains_key("Source") {
        return Err(invalid("source is required when type is bind".into()));
    }
    if !labels.is_empty() {
        volume.insert("Labels".into(), labels.into());
    }
    if !driver_options.is_empty() {
        let config = volume.entry("DriverConfig").or_insert_with(|| json!({}));
        if let Some(config) = config.as_object_mut() {
            config.insert("Options".into(), driver_options.into());
        }
    }
    let options_for_other_type =
        |options: &Map<String, Value>, wanted: &str| !options.is_empty() && kind != wanted;
    if options_for_other_type(&bind, "bind")
        || options_for_other_type(&volume, "volume")
        || options_for_other_type(&tmpfs, "tmpfs")
    {
        return Err(invalid(format!(
            "options of another mount type given for type {kind}"
        )));
    }
    mount.insert("Type".into(), kind.into());
    for (name, options) in [
        ("BindOptions", bind),
        ("VolumeOptions", volume),
        ("TmpfsOptions", tmpfs),
    ] {
        if !options.is_empty() {
            mount.insert(name.into(), options.into());
        }
    }
    Ok(Value::Object(mount))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mounts_read_like_dockers() {
        assert_eq!(
            parse("type=bind,source=/data,target=/srv,readonly").unwrap(),
            json!({"Type": "bind", "Source": "/data", "Target": "/srv", "ReadOnly": true})
        );
        assert_eq!(
            parse("type=tmpfs,dst=/tmp,tmpfs-size=64m,tmpfs-mode=1770").unwrap(),
            json!({"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 1016}})
        );
        assert_eq!(
            parse("src=vol,target=/v,volume-label=a=b,volume-driver=local,volume-opt=o=1").unwrap(),
            json!({"Type": "volume", "Source": "vol", "Target": "/v",
                   "VolumeOptions": {"Labels": {"a": "b"}, "DriverConfig": {"Name": "local", "Options": {"o": "1"}}}})
        );
        assert!(parse("type=bind,target=/x").is_err());
        assert!(parse("source=/x").is_err());
        assert!(parse("type=tmpfs,target=/x,bind-propagation=rshared").is_err());
        assert!(parse("type=weird,target=/x").is_err());
        assert!(parse("target=/x,colour=blue").is_err());
    }
}
