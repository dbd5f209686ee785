#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(template: &str, pairs: &[(&str, &str)]) -> Result<String> {
    let vars = vars(pairs);
    Interpolator::new(&vars).string(template, "x")
}

#[test]
fn every_form_docker_knows() {
    let env = [("A", "a"), ("EMPTY", "")];
    let cases = [
        ("$A", "a"),
        ("${A}", "a"),
        ("x$A.y", "xa.y"),
        ("$A_B", ""),
        ("$$A", "$A"),
        ("$$", "$"),
        ("${A:-d}", "a"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET:-d}", "d"),
        ("${A-d}", "a"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${UNSET:-}", ""),
        ("${A:?boom}", "a"),
        ("${EMPTY?boom}", ""),
        ("${UNSET:-a b c}", "a b c"),
        ("${UNSET:-$}x", "$x"),
        // docker's operator search: the first ":-" anywhere wins, so the name is "A-x".
        ("${A-x:-y}", "y"),
        // a default is not interpolated again; its closing brace ends at the first '}'.
        ("${UNSET:-${A}}", "${A}"),
    ];
    for (template, want) in cases {
        assert_eq!(run(template, &env).unwrap(), want, "{template}");
    }
}

#[test]
fn required_variables_fail_with_the_files_message() {
    let env = [("EMPTY", "")];
    let err = run("${UNSET:?set UNSET first}", &env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "required variable UNSET is missing a value: set UNSET first"
    );
    assert!(run("${EMPTY:?e}", &env).is_err());
    assert_eq!(run("${EMPTY?e}", &env).unwrap(), "");
    let bare = run("${UNSET?}", &env).unwrap_err();
    assert_eq!(bare.to_string(), "required variable UNSET is missing a value");
}

#[test]
fn malformed_dollars_are_errors_naming_the_path() {
    for bad in [
        "$", "a$", "${", "${}", "${A", "${1A}", "$-", "${A:+x}", "${A:}", "${A x}", "$ {A}",
    ] {
        let err = run(bad, &[("A", "a")]).unwrap_err();
        assert!(
            matches!(&err, Error::Interpolation { path, template } if path == "x" && template == bad),
            "{bad}: {err}"
        );
    }
}

#[test]
fn unset_names_are_collected_once() {
    let vars = vars(&[]);
    let mut i = Interpolator::new(&vars);
    assert_eq!(i.string("$X-${X}-$Y", "p").unwrap(), "--");
    assert_eq!(i.unset, ["X", "Y"]);
}

#[test]
fn only_the_sections_values_are_interpolated() {
    let vars = vars(&[("TAG", "1.2")]);
    let mut doc: Value = serde_json::json!({
        "services": {"web": {"image": "nginx:$TAG", "$KEY": "k"}},
        "x-anchors": {"note": "$$not touched ${"},
        "version": "$TAG"
    });
    Interpolator::new(&vars).file(&mut doc).unwrap();
    assert_eq!(doc["services"]["web"]["image"], "nginx:1.2");
    assert_eq!(doc["services"]["web"]["$KEY"], "k");
    assert_eq!(doc["x-anchors"]["note"], "$$not touched ${");
    assert_eq!(doc["version"], "$TAG");
}

proptest! {
    #[test]
    fn never_panics(template in ".{0,40}") {
        let _ = run(&template, &[("A", "a")]);
    }

    #[test]
    fn text_without_dollars_is_unchanged(template in "[^$]{0,40}") {
        prop_assert_eq!(run(&template, &[]).unwrap(), template);
    }

    #[test]
    fn doubled_dollars_give_the_text_back(text in ".{0,40}") {
        let escaped = text.replace('$', "$$");
        prop_assert_eq!(run(&escaped, &[("A", "a")]).unwrap(), text);
    }

    #[test]
    fn defaults_apply_exactly_when_docker_says(
        name in "[_A-Za-z][_A-Za-z0-9]{0,8}",
        value in proptest::option::of("[a-z]{0,3}"),
        default in "[^}$:]{0,10}",
    ) {
        let env: Vec<(&str, &str)> = value.iter().map(|v| (name.as_str(), v.as_str())).collect();
        let soft = run(&format!("${{{name}:-{default}}}"), &env).unwrap();
        let hard = run(&format!("${{{name}-{default}}}"), &env).unwrap();
        match value.as_deref() {
            None => { prop_assert_eq!(&soft, &default); prop_assert_eq!(&hard, &default); }
            Some("") => { prop_assert_eq!(&soft, &default); prop_assert_eq!(hard, ""); }
            Some(v) => { prop_assert_eq!(soft, v); prop_assert_eq!(hard, v); }
        }
        let plain = run(&format!("pre${name}/${{{name}}}"), &env).unwrap();
        let v = value.clone().unwrap_or_default();
        prop_assert_eq!(plain, format!("pre{v}/{v}"));
    }

    #[test]
    fn required_fails_exactly_when_docker_says(
        name in "[_A-Za-z][_A-Za-z0-9]{0,8}",
        value in proptest::option::of("[a-z]{0,3}"),
    ) {
        let env: Vec<(&str, &str)> = value.iter().map(|v| (name.as_str(), v.as_str())).collect();
        let strict = run(&format!("${{{name}:?e}}"), &env);
        let loose = run(&format!("${{{name}?e}}"), &env);
        prop_assert_eq!(strict.is_ok(), value.as_deref().is_some_and(|v| !v.is_empty()));
        prop_assert_eq!(loose.is_ok(), value.is_some());
    }
}
