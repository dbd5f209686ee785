//! The tmpfs of a task's secrets and configs, against the real kernel (root only: mounting a
//! tmpfs needs it; without root the tests say so and pass).

use std::os::unix::fs::MetadataExt;

use types::{Payload, PayloadKind, SecretData, Task};

use super::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

fn payload(kind: PayloadKind, id: &str, data: &str) -> Payload {
    Payload {
        kind,
        id: id.into(),
        name: format!("name-{id}"),
        data: SecretData(data.as_bytes().to_vec()),
    }
}

fn task(id: &str) -> Task {
    let mut spec = types::TaskSpec::default();
    spec.container.extra = r#"{"Secrets":[{"File":{"Name":"pw","UID":"1000","GID":"1001","Mode":256},"SecretID":"s1","SecretName":"db"}],
        "Configs":[{"File":{"Name":"/etc/app.conf","UID":"0","GID":"0","Mode":292},"ConfigID":"c1","ConfigName":"app"}]}"#
        .into();
    crate::executor::conformance::task(id, spec)
}

fn mounted(path: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = path.to_string_lossy().to_string();
    text.lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

#[test]
fn files_live_on_a_tmpfs_of_their_own_until_released() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layer = Payloads::new(dir.path().join("payloads")).unwrap();
    layer.apply(
        true,
        vec![
            payload(PayloadKind::Secret, "s1", "hunter2"),
            payload(PayloadKind::Config, "c1", "listen 80;"),
        ],
        &[],
    );
    let files = layer.files_for(&task("t1")).unwrap();
    let root = files.dir.clone().unwrap();
    assert!(mounted(&root), "{} is a mount point", root.display());
    assert!(tmpfs::is_tmpfs(&root).unwrap());
    assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o7777, 0o700);
    let targets: Vec<&str> = files.files.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(targets, ["/run/secrets/pw", "/etc/app.conf"]);
    let secret = &files.files[0].source;
    assert_eq!(std::fs::read(secret).unwrap(), b"hunter2");
    let meta = std::fs::metadata(secret).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1001, 0o400)
    );
    assert_eq!(std::fs::read(&files.files[1].source).unwrap(), b"listen 80;");

    layer.release("t1").unwrap();
    assert!(!mounted(&root) && !root.exists());
    layer.release("t1").unwrap();
}

#[test]
fn a_payload_not_held_refuses_the_task_and_removal_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let layer = Payloads::new(dir.path().join("payloads")).unwrap();
    layer.apply(true, vec![payload(PayloadKind::Secret, "s1", "x")], &[]);
    let err = layer.files_for(&task("t1")).unwrap_err().to_string();
    assert!(
        err.contains("config c1 referenced by task t1 is not on this node"),
        "{err}"
    );
    layer.apply(false, Vec::new(), &[(PayloadKind::Secret, "s1".into())]);
    assert!(layer.held_ids().is_empty());
    layer.apply(false, vec![payload(PayloadKind::Config, "c1", "y")], &[]);
    layer.apply(true, vec![payload(PayloadKind::Secret, "s9", "z")], &[]);
    assert_eq!(
        layer.held_ids(),
        [(PayloadKind::Secret, "s9".to_string())],
        "a full set replaces"
    );
    assert_eq!(
        layer
            .files_for(&crate::executor::conformance::task(
                "t2",
                types::TaskSpec::default()
            ))
            .unwrap(),
        TaskFiles::default()
    );
}

#[test]
fn a_restart_sweeps_what_the_last_run_left() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("payloads");
    let layer = Payloads::new(root.clone()).unwrap();
    layer.apply(
        true,
        vec![
            payload(PayloadKind::Secret, "s1", "a"),
            payload(PayloadKind::Config, "c1", "b"),
        ],
        &[],
    );
    let left = layer.files_for(&task("t1")).unwrap().dir.unwrap();
    assert!(mounted(&left));
    drop(layer);
    let again = Payloads::new(root.clone()).unwrap();
    assert!(!mounted(&left) && !left.exists());
    assert!(again.held_ids().is_empty());
}
