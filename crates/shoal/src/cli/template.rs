//! `--format` as the docker CLI reads it: a Go template (through the `gtmpl` crate) over each
//! row or object, with docker's extra functions (`json`, `join`, `split`, `lower`, `upper`,
//! `title`, `pad`, `truncate`), the `json` shortcut, and `table …` formats printed under a
//! header through a tab-aligning writer.
//!
//! ```text
//! "table {{.ID}}\t{{.Name}}"  ─► header: the template over {ID: "ID", Name: "NAME"}
//!                             ─► rows:   the template over each row, tab-aligned like docker's
//! "{{.Name}} {{.Replicas}}"    ─► one line per row, as printed
//! "json"                      ─► {{json .}} per row
//! ```

use std::collections::HashMap;

use gtmpl::{Context, Func, FuncError, Template, Value};

use super::output::table;

/// Why a `--format` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("template parsing error: {0}")]
    Parse(String),
    /// The template failed on a value (unknown function argument, bad index, …).
    #[error("template: {0}")]
    Execute(String),
}

/// A `--format` value, resolved against the command's default table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// No format, or `table` alone: the command's own table.
    Default,
    /// A template; `table` says whether a header goes first and cells are tab-aligned.
    Template {
        /// Starts with `table`.
        table: bool,
        /// The template text, `\t`/`\n` escapes expanded.
        text: String,
    },
}

impl Format {
    /// Reads `--format` as docker does: `json` is `{{json .}}`, `table X` is X under a header.
    pub fn parse(format: Option<&str>) -> Format {
        let Some(format) = format else {
            return Format::Default;
        };
        let trimmed = format.trim();
        if trimmed.is_empty() || trimmed == "table" {
            return Format::Default;
        }
        if trimmed == "json" {
            return Format::Template {
                table: false,
                text: "{{json .}}".into(),
            };
        }
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, format),
        };
        // Docker trims spaces (only) and expands the two escapes a shell user cannot type.
        let text = body.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n");
        Format::Template { table, text }
    }
}

/// Renders `rows` with `text`: one line per row; for a table, the header first (the template
/// over `headers`) and cells aligned as docker's tabwriter aligns them.
pub fn render_rows(
    table_format: bool,
    text: &str,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<String, TemplateError> {
    let mut lines = Vec::with_capacity(rows.len() + 1);
    if table_format {
        let header: HashMap<String, Value> = headers
            .iter()
            .map(|(field, title)| (field.to_string(), Value::from(*title)))
            .collect();
        lines.push(execute(&parsed(text, true)?, Value::Map(header))?);
    }
    let template = parsed(text, false)?;
    for row in rows {
        lines.push(execute(&template, to_value(row))?);
    }
    if !table_format {
        return Ok(lines.iter().map(|l| format!("{l}\n")).collect());
    }
    let cells: Vec<Vec<String>> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    Ok(table(&cells))
}

/// Renders each value (an inspected object) on its own line.
pub fn render_each(text: &str, values: &[serde_json::Value]) -> Result<String, TemplateError> {
    let template = parsed(text, false)?;
    let mut out = String::new();
    for value in values {
        out.push_str(&execute(&template, to_value(value))?);
        out.push('\n');
    }
    Ok(out)
}

/// Renders each inspected object (as its API JSON) on its own line.
pub fn render_objects<T: serde::Serialize>(text: &str, objects: &[T]) -> anyhow::Result<String> {
    let values = objects
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(render_each(text, &values)?)
}

/// The template with docker's functions; for a header they return their first argument, so
/// `{{json .Name}}` heads its column with `NAME`.
fn parsed(text: &str, header: bool) -> Result<Template, TemplateError> {
    let mut template = Template::default();
    let funcs: [(&str, Func); 9] = if header {
        [
            ("index", index),
            ("json", first),
            ("join", first),
            ("split", first),
            ("lower", first),
            ("upper", first),
            ("title", first),
            ("pad", first),
            ("truncate", first),
        ]
    } else {
        [
            ("index", index),
            ("json", json),
            ("join", join),
            ("split", split),
            ("lower", lower),
            ("upper", upper),
            ("title", title),
            ("pad", pad),
            ("truncate", truncate),
        ]
    };
    template.add_funcs(&funcs);
    template
        .parse(text)
        .map_err(|e| TemplateError::Parse(e.to_string()))?;
    Ok(template)
}

fn execute(template: &Template, dot: Value) -> Result<String, TemplateError> {
    template
        .render(&Context::from(dot))
        .map_err(|e| TemplateError::Execute(e.to_string()))
}

/// A JSON value as a template value; objects become maps so that a missing field prints
/// `<no value>` as Go's does for a map.
fn to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (_, Some(i), _) => Value::from(i),
            (_, _, Some(f)) => Value::from(f),
            _ => Value::Nil,
        },
        serde_json::Value::String(s) => Value::from(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        serde_json::Value::Object(map) => {
            Value::Map(map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

/// Back to JSON for `{{json …}}`; map keys come out sorted, as Go marshals a map.
fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into()
            } else if let Some(i) = n.as_i64() {
                i.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        }
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(map) | Value::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings.
fn go_json(value: &Value) -> String {
    let text = to_json(value).to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, count: usize) -> Result<&'a Value, FuncError> {
    if args.len() != count {
        return Err(FuncError::ExactlyXArgs(name.into(), count));
    }
    Ok(&args[i])
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &Value, name: &str) -> Result<usize, FuncError> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| FuncError::Generic(format!("{name}: expected a non-negative integer"))),
        _ => Err(FuncError::Generic(format!("{name}: expected an integer"))),
    }
}

fn first(args: &[Value]) -> Result<Value, FuncError> {
    args.first()
        .cloned()
        .ok_or_else(|| FuncError::AtLeastXArgs("header function".into(), 1))
}

/// Go's `index` over docker's typed objects: their maps hold strings, so a missing key (or a
/// map that is absent) gives the empty string, not `<no value>`.
fn index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((target, keys)) = args.split_first() else {
        return Err(FuncError::AtLeastXArgs("index".into(), 1));
    };
    let mut current = target.clone();
    for key in keys {
        current = match (&current, key) {
            (Value::Map(map) | Value::Object(map), key) => {
                map.get(&text(key)).cloned().unwrap_or_else(|| Value::from(""))
            }
            (Value::Array(items), Value::Number(n)) => {
                let i = n
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|i| *i < items.len())
                    .ok_or_else(|| FuncError::Generic(format!("index out of range: {n}")))?;
                items[i].clone()
            }
            (Value::Nil | Value::NoValue, _) => Value::from(""),
            _ => return Err(FuncError::Generic("can't index item".into())),
        };
    }
    Ok(current)
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(go_json(arg(args, 0, "json", 1)?)))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let separator = text(arg(args, 1, "join", 2)?);
    match &args[0] {
        Value::Array(items) => Ok(Value::from(
            items.iter().map(text).collect::<Vec<_>>().join(&separator),
        )),
        other => Ok(Value::from(text(other))),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let separator = text(arg(args, 1, "split", 2)?);
    let whole = text(&args[0]);
    Ok(Value::Array(
        whole
            .split(separator.as_str())
            .map(|part| Value::from(part.to_string()))
            .collect(),
    ))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(text(arg(args, 0, "lower", 1)?).to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(text(arg(args, 0, "upper", 1)?).to_uppercase()))
}

/// Each word's first letter in upper case.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let whole = text(arg(args, 0, "title", 1)?);
    let mut out = String::with_capacity(whole.len());
    let mut start = true;
    for c in whole.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    Ok(Value::from(out))
}

/// `pad VALUE LEFT RIGHT`: spaces around the value.
fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let whole = text(arg(args, 0, "pad", 3)?);
    let (left, right) = (number(&args[1], "pad")?, number(&args[2], "pad")?);
    // Bounded so a template cannot ask for unbounded memory.
    if left > 4096 || right > 4096 {
        return Err(FuncError::Generic("pad: at most 4096 spaces".into()));
    }
    Ok(Value::from(format!(
        "{}{whole}{}",
        " ".repeat(left),
        " ".repeat(right)
    )))
}

/// `truncate VALUE N`: at most N characters.
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let whole = text(arg(args, 0, "truncate", 2)?);
    let n = number(&args[1], "truncate")?;
    Ok(Value::from(whole.chars().take(n).collect::<String>()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const HEADERS: &[(&str, &str)] = &[("ID", "ID"), ("Name", "NAME"), ("Replicas", "REPLICAS")];

    fn rows() -> Vec<serde_json::Value> {
        vec![
            json!({"ID": "abc", "Name": "web", "Replicas": "2/2", "Ports": "*:80->80/tcp"}),
            json!({"ID": "defghijklmno", "Name": "db", "Replicas": "0/1", "Ports": ""}),
        ]
    }

    fn render(format: &str) -> String {
        match Format::parse(Some(format)) {
            Format::Template { table, text } => render_rows(table, &text, HEADERS, &rows()).unwrap(),
            Format::Default => "default".into(),
        }
    }

    #[test]
    fn plain_templates_print_one_line_per_row() {
        assert_eq!(render("{{.Name}} {{.Replicas}}"), "web 2/2\ndb 0/1\n");
        assert_eq!(render("{{.Missing}}"), "<no value>\n<no value>\n");
        assert_eq!(
            render("{{index . \"Name\"}}|{{index . \"Nope\"}}|"),
            "web||\ndb||\n"
        );
        assert_eq!(
            render("{{upper .Name}}|{{truncate .ID 3}}|{{pad .Name 1 1}}"),
            "WEB|abc| web \nDB|def| db \n"
        );
    }

    #[test]
    fn json_sorts_keys_and_escapes_like_go() {
        assert_eq!(
            render("json").lines().next().unwrap(),
            r#"{"ID":"abc","Name":"web","Ports":"*:80-\u003e80/tcp","Replicas":"2/2"}"#
        );
        assert_eq!(render("{{json .Name}}"), "\"web\"\n\"db\"\n");
    }

    #[test]
    fn tables_have_headers_and_aligned_cells() {
        assert_eq!(
            render("table {{.ID}}\\t{{.Name}}"),
            "ID             NAME\nabc            web\ndefghijklmno   db\n"
        );
        // Functions leave the header's words alone.
        assert_eq!(render("table {{lower .Name}}"), "NAME\nweb\ndb\n");
        assert_eq!(Format::parse(Some("table")), Format::Default);
        assert_eq!(Format::parse(None), Format::Default);
    }

    #[test]
    fn bad_templates_are_errors() {
        assert!(matches!(
            render_rows(false, "{{.Name", HEADERS, &rows()),
            Err(TemplateError::Parse(_))
        ));
        assert_eq!(
            render_each(
                "{{.Spec.Name}} {{json .Spec.Labels}}",
                &[json!({"Spec": {"Name": "x", "Labels": {"b": "1", "a": "2"}}})]
            )
            .unwrap(),
            "x {\"a\":\"2\",\"b\":\"1\"}\n"
        );
    }
}
