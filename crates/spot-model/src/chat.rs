//! Chat templates: the Jinja `chat_template` of a model directory rendered with minijinja the way
//! transformers' `apply_chat_template` renders it (trim_blocks, lstrip_blocks, loop controls,
//! Python string methods, `raise_exception`, `tojson` as `json.dumps`, the special tokens).
//! Reads the template from tokenizer_config.json or chat_template.jinja; no tokenization.

use std::path::PathBuf;

use minijinja::{Environment, ErrorKind, Value as JinjaValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dir::{read_json, ModelFiles};
use super::ModelError;

const TEMPLATE_NAME: &str = "chat_template";

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// A compiled chat template and the special tokens it may refer to.
pub(super) struct ChatTemplate {
    dir: PathBuf,
    env: Environment<'static>,
    special_tokens: Vec<(String, String)>,
}

impl ChatTemplate {
    /// The template of a model directory: `chat_template.jinja` wins over tokenizer_config.json's
    /// `chat_template` (as in transformers). `None` when neither exists.
    pub fn from_dir(files: &ModelFiles) -> Result<Option<ChatTemplate>, ModelError> {
        let tokenizer_config = files
            .tokenizer_config
            .as_deref()
            .map(read_json)
            .transpose()?;
        let source = match &files.chat_template_jinja {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ModelError::Read {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => tokenizer_config
                .as_ref()
                .and_then(|c| c.get("chat_template"))
                .and_then(template_source),
        };
        let Some(source) = source else {
            return Ok(None);
        };
        let special_tokens = tokenizer_config
            .as_ref()
            .map(special_tokens)
            .unwrap_or_default();
        ChatTemplate::new(files.dir.clone(), source, special_tokens).map(Some)
    }

    fn new(
        dir: PathBuf,
        source: String,
        special_tokens: Vec<(String, String)>,
    ) -> Result<ChatTemplate, ModelError> {
        let mut env = Environment::new();
        // A model dir is untrusted input: a template looping `range(10000)` inside another runs
        // out of fuel with an error instead of hanging the request (real chat templates spend a
        // few hundred to a few thousand instructions).
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, source)
            .map_err(|e| ModelError::ChatTemplate {
                dir: dir.clone(),
                message: e.to_string(),
            })?;
        Ok(ChatTemplate {
            dir,
            env,
            special_tokens,
        })
    }

    /// Renders the conversation; a template that spends its fuel, raises, or writes more than
    /// [`MAX_RENDERED_BYTES`] is an error.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ModelError> {
        let error = |e: minijinja::Error| ModelError::ChatTemplate {
            dir: self.dir.clone(),
            message: format!("{e:#}"),
        };
        let template = self.env.get_template(TEMPLATE_NAME).map_err(error)?;
        let mut ctx: Vec<(&str, JinjaValue)> = vec![
            ("messages", JinjaValue::from_serialize(messages)),
            (
                "add_generation_prompt",
                JinjaValue::from(add_generation_prompt),
            ),
        ];
        for (name, token) in &self.special_tokens {
            ctx.push((name.as_str(), JinjaValue::from(token.as_str())));
        }
        let ctx: JinjaValue = ctx.into_iter().collect();
        let rendered = template.render(ctx).map_err(error)?;
        let input: usize = messages.iter().map(|m| m.content.len()).sum();
        if rendered.len() > MAX_RENDERED_BYTES.max(4 * input) {
            return Err(ModelError::ChatTemplate {
                dir: self.dir.clone(),
                message: format!(
                    "the template wrote {} bytes for {input} bytes of messages",
                    rendered.len()
                ),
            });
        }
        Ok(rendered)
    }
}

/// A template is a string, or a list of `{name, template}` of which `default` (else the first)
/// is the chat template.
fn template_source(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let named = |name: &str| {
                items
                    .iter()
                    .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
            };
            named("default")
                .or_else(|| items.first())
                .and_then(|item| item.get("template"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }
        _ => None,
    }
}

/// `bos_token`, `eos_token`, `unk_token`, `pad_token` of tokenizer_config.json (a string or an
/// added-token object with `content`).
fn special_tokens(config: &Value) -> Vec<(String, String)> {
    ["bos_token", "eos_token", "unk_token", "pad_token"]
        .into_iter()
        .filter_map(|name| {
            let value = config.get(name)?;
            let token = match value {
                Value::String(s) => s.clone(),
                Value::Object(_) => value.get("content")?.as_str()?.to_owned(),
                _ => return None,
            };
            Some((name.to_owned(), token))
        })
        .collect()
}

fn raise_exception(message: String) -> Result<JinjaValue, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)` of transformers' templates: the current UTC date, supporting the
/// `%Y %m %d %b %B %H %M %S %%` directives (others are kept verbatim).
fn strftime_now(format: String) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    let month_name = usize::try_from(month)
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("January");
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('b') => out.push_str(month_name.get(..3).unwrap_or(month_name)),
            Some('B') => out.push_str(month_name),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem % 3600 / 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `tojson` as transformers defines it: `json.dumps(value, ensure_ascii=False, indent=indent)`,
/// so `", "` and `": "` separators, insertion order and no HTML escaping (minijinja's own filter
/// escapes `<`, `>`, `&` and `'`).
fn tojson(
    value: JinjaValue,
    kwargs: minijinja::value::Kwargs,
) -> Result<JinjaValue, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_py_json(&value, indent, 0, &mut out)?;
    Ok(JinjaValue::from_safe_string(out))
}

fn write_py_json(
    value: &JinjaValue,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&value.to_string()),
        ValueKind::String => out.push_str(&quote(value.as_str().unwrap_or_default())),
        ValueKind::Map => {
            let keys: Vec<JinjaValue> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                out.push_str(&quote(&key.to_string()));
                out.push_str(": ");
                write_py_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<JinjaValue> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_py_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        _ => out.push_str(&quote(&value.to_string())),
    }
    Ok(())
}

/// Instructions a chat template may run per rendering (minijinja's fuel).
const TEMPLATE_FUEL: u64 = 2_000_000;
/// Most bytes a rendering may add around the messages' own text.
const MAX_RENDERED_BYTES: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: a model dir is untrusted; its chat template cannot hang or flood spot.
    #[test]
    fn issue_19_a_template_that_loops_for_ever_runs_out_of_fuel() {
        let t = template(
            "{% for a in range(10000) %}{% for b in range(10000) %}{{ a }}{% endfor %}{% endfor %}",
        );
        let err = t
            .render(&[ChatMessage::user("hi")], true)
            .expect_err("must fail");
        assert!(err.to_string().contains("fuel"), "{err}");
        let t = template("{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}");
        assert!(t.render(&[ChatMessage::user("hi")], true).is_err());
    }

    fn template(source: &str) -> ChatTemplate {
        ChatTemplate::new(
            PathBuf::from("/test"),
            source.to_owned(),
            vec![("eos_token".into(), "</s>".into())],
        )
        .expect("template compiles")
    }

    #[test]
    fn renders_python_methods_loop_controls_and_tokens() {
        let t = template(
            "{% for m in messages %}{% if m.role == 'skip' %}{% continue %}{% endif %}\
             [{{ m.role.upper() }}] {{ m.content.strip() }}{{ eos_token }}\n{% endfor %}\
             {% if add_generation_prompt %}[ASSISTANT]{% endif %}",
        );
        let messages = [ChatMessage::new("skip", "x"), ChatMessage::user("  hi  ")];
        let text = t.render(&messages, true).expect("renders");
        assert_eq!(text, "[USER] hi</s>\n[ASSISTANT]");
    }

    #[test]
    fn raise_exception_is_an_error_not_a_panic() {
        let t = template("{{ raise_exception('only user turns') }}");
        let err = t.render(&[], false).expect_err("must fail");
        assert!(err.to_string().contains("only user turns"), "{err}");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let t = template("{{ {'a': [1, 'é<'], 'b': none} | tojson }}|{{ [1] | tojson(indent=2) }}");
        assert_eq!(
            t.render(&[], false).expect("renders"),
            "{\"a\": [1, \"é<\"], \"b\": null}|[\n  1\n]"
        );
    }

    #[test]
    fn template_list_prefers_default() {
        let value = serde_json::json!([
            {"name": "tool_use", "template": "T"},
            {"name": "default", "template": "D"}
        ]);
        assert_eq!(template_source(&value).as_deref(), Some("D"));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
