//! Flag values in the docker CLI's syntax: CPUs (`0.5`), memory (`512m`, `1GiB`), ports
//! (`8080:80/udp`, `published=8080,target=80,mode=host`), labels (`k=v`), placement
//! preferences (`spread=node.labels.zone`).

use api::model::{PortConfig, ServiceMode};

/// `--limit-cpu 1.5` → 1 500 000 000 nano-CPUs.
pub fn nano_cpus(text: &str) -> Result<i64, String> {
    let cpus: f64 = text
        .parse()
        .map_err(|_| format!("invalid CPU value {text:?}: expected a number like 0.5"))?;
    if !cpus.is_finite() || cpus < 0.0 {
        return Err(format!("invalid CPU value {text:?}: must not be negative"));
    }
    Ok((cpus * 1e9).round() as i64)
}

/// go-units' `RAMInBytes`: a number with an optional binary unit (`b`, `k`, `m`, `g`, `t`,
/// `p`, any case, optionally followed by `b` or `ib`).
pub fn memory_bytes(text: &str) -> Result<i64, String> {
    let invalid =
        || format!("invalid size {text:?}: expected a number with an optional unit (b, k, m, g, t, p)");
    let lower = text.trim().to_ascii_lowercase();
    let number_len = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_len);
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let unit = unit.trim_start();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(invalid()),
    };
    Ok((value * scale) as i64)
}

/// `-p 8080:80`, `-p 80/udp`, or the long form `published=8080,target=80,protocol=udp,mode=host`.
pub fn port(text: &str) -> Result<PortConfig, String> {
    let invalid = |why: &str| format!("invalid publish value {text:?}: {why}");
    let number = |value: &str| value.parse::<u32>().map_err(|_| invalid("ports are numbers"));
    let mut port = PortConfig {
        protocol: "tcp".into(),
        publish_mode: "ingress".into(),
        ..Default::default()
    };
    if text.contains('=') {
        for field in text.split(',') {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| invalid("expected key=value fields"))?;
            match key.trim().to_ascii_lowercase().as_str() {
                "published" => port.published_port = number(value)?,
                "target" => port.target_port = number(value)?,
                "protocol" => port.protocol = value.to_ascii_lowercase(),
                "mode" => port.publish_mode = value.to_ascii_lowercase(),
                "name" => port.name = value.to_string(),
                other => return Err(invalid(&format!("unknown field {other:?}"))),
            }
        }
    } else {
        let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
        port.protocol = protocol.to_ascii_lowercase();
        match ports.split_once(':') {
            Some((published, target)) => {
                port.published_port = if published.is_empty() {
                    0
                } else {
                    number(published)?
                };
                port.target_port = number(target)?;
            }
            None => port.target_port = number(ports)?,
        }
    }
    if port.target_port == 0 {
        return Err(invalid("a target port is required"));
    }
    Ok(port)
}

/// `--args`/`--entrypoint` split into words as a POSIX shell does (quotes group, backslashes
/// escape), as the docker CLI does: `sh -c 'echo a b'` is three words.
pub fn shell_words(text: &str) -> anyhow::Result<Vec<String>> {
    shlex::split(text)
        .ok_or_else(|| anyhow::anyhow!("invalid command line {text:?}: unterminated quote or escape"))
}

/// `key=value` (or `key` alone, with an empty value).
pub fn label(text: &str) -> (String, String) {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    (key.to_string(), value.to_string())
}

/// `spread=node.labels.zone` → `node.labels.zone`; spread is the only strategy.
pub fn placement_pref(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some(("spread", descriptor)) if !descriptor.is_empty() => Ok(descriptor.to_string()),
        Some((strategy, _)) if strategy != "spread" => Err(format!(
            "invalid placement preference {text:?}: only the \"spread\" strategy is supported"
        )),
        _ => Err(format!(
            "invalid placement preference {text:?}: expected spread=<label>"
        )),
    }
}

/// The docker CLI's mode names.
pub fn mode(text: &str, replicas: Option<u64>, max_concurrent: Option<u64>) -> anyhow::Result<ServiceMode> {
    let mut mode = ServiceMode::default();
    match text {
        "replicated" => {
            if max_concurrent.is_some() {
                anyhow::bail!("max-concurrent can only be used with replicated-job mode");
            }
            mode.replicated = Some(api::model::ReplicatedService { replicas });
        }
        "global" | "global-job" => {
            if replicas.is_some() {
                anyhow::bail!("replicas can only be used with replicated or replicated-job mode");
            }
            if max_concurrent.is_some() {
                anyhow::bail!("max-concurrent can only be used with replicated-job mode");
            }
            if text == "global" {
                mode.global = Some(api::model::Empty {});
            } else {
                mode.global_job = Some(api::model::Empty {});
            }
        }
        "replicated-job" => {
            mode.replicated_job = Some(api::model::ReplicatedJob {
                max_concurrent: max_concurrent.or(replicas),
                total_completions: replicas,
            });
        }
        other => anyhow::bail!(
            "unknown mode: {other}, only replicated, global, replicated-job and global-job are supported"
        ),
    }
    Ok(mode)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(nano_cpus("2"), Ok(2_000_000_000));
        assert!(nano_cpus("lots").is_err());
        assert_eq!(memory_bytes("512m"), Ok(512 << 20));
        assert_eq!(memory_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(memory_bytes("1.5k"), Ok(1536));
        assert_eq!(memory_bytes("100"), Ok(100));
        assert_eq!(memory_bytes("64 MB"), Ok(64 << 20));
        assert!(memory_bytes("12q").is_err());
    }

    #[test]
    fn ports_short_and_long() {
        let p = port("8080:80").unwrap();
        assert_eq!(
            (p.published_port, p.target_port, p.protocol.as_str()),
            (8080, 80, "tcp")
        );
        let p = port("53/udp").unwrap();
        assert_eq!(
            (p.published_port, p.target_port, p.protocol.as_str()),
            (0, 53, "udp")
        );
        let p = port("published=8443,target=443,mode=host").unwrap();
        assert_eq!(
            (p.published_port, p.target_port, p.publish_mode.as_str()),
            (8443, 443, "host")
        );
        assert!(port("x:80").is_err());
        assert!(port("published=1").is_err());
    }

    #[test]
    fn modes_and_prefs() {
        assert_eq!(
            placement_pref("spread=node.labels.zone").unwrap(),
            "node.labels.zone"
        );
        assert!(placement_pref("pack=x").is_err());
        assert!(placement_pref("spread=").is_err());
        let job = mode("replicated-job", Some(4), None)
            .unwrap()
            .replicated_job
            .unwrap();
        assert_eq!((job.max_concurrent, job.total_completions), (Some(4), Some(4)));
        assert!(mode("global", Some(2), None).is_err());
        assert!(mode("sideways", None, None).is_err());
        assert_eq!(label("a=b=c"), ("a".into(), "b=c".into()));
        assert_eq!(shell_words("sh -c 'echo a b'").unwrap(), ["sh", "-c", "echo a b"]);
        assert_eq!(shell_words(r#"a "b c" d\ e"#).unwrap(), ["a", "b c", "d e"]);
        assert!(shell_words("sh -c 'echo").is_err());
    }
}
