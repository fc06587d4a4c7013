//! The small JSON path subset that HTTP assertions use: `$`, dotted keys and `[index]` steps
//! (`$.status`, `$.checks[0].name`, `$["odd key"]`), parsed once when a monitor is validated.

use std::fmt;

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A parsed path; `steps` is empty for `$` (the whole document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    pub steps: Vec<Step>,
}

/// Why a path does not parse; the message names the offending position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonPathError(String);

const MAX_STEPS: usize = 32;

impl JsonPath {
    /// Parses `raw`; a leading `$` is optional (`status` means `$.status`).
    pub fn parse(raw: &str) -> Result<JsonPath, JsonPathError> {
        let fail = |at: usize, what: &str| {
            JsonPathError(format!(
                "{} at byte {at}: {what}",
                crate::bounds::quote(raw)
            ))
        };
        let s = raw.trim();
        let mut rest = s.strip_prefix('$').unwrap_or(s);
        let mut steps = Vec::new();
        if !s.starts_with('$') && !rest.is_empty() && !rest.starts_with(['.', '[']) {
            rest = s;
            steps.push(Step::Key(
                take_key(&mut rest).ok_or_else(|| fail(0, "expected a key"))?,
            ));
        }
        while !rest.is_empty() {
            let at = s.len() - rest.len();
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
                steps.push(Step::Key(
                    take_key(&mut rest).ok_or_else(|| fail(at + 1, "expected a key after '.'"))?,
                ));
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| fail(at, "missing ']'"))?;
                let inner = r[..end].trim();
                rest = &r[end + 1..];
                if let Some(q) = inner.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
                    steps.push(Step::Key(q.to_string()));
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|q| q.strip_suffix('\''))
                {
                    steps.push(Step::Key(q.to_string()));
                } else {
                    let i = inner
                        .parse::<usize>()
                        .map_err(|_| fail(at + 1, "expected an index or a quoted key"))?;
                    steps.push(Step::Index(i));
                }
            } else {
                return Err(fail(at, "expected '.' or '['"));
            }
            if steps.len() > MAX_STEPS {
                return Err(fail(at, "path is deeper than 32 steps"));
            }
        }
        Ok(JsonPath { steps })
    }
}

fn take_key(rest: &mut &str) -> Option<String> {
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    let key = rest[..end].trim();
    if key.is_empty() {
        return None;
    }
    *rest = &rest[end..];
    Some(key.to_string())
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for s in &self.steps {
            match s {
                Step::Key(k)
                    if k.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
                {
                    write!(f, ".{k}")?
                }
                Step::Key(k) => write!(f, "[{k:?}]")?,
                Step::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset() {
        let k = |s: &str| Step::Key(s.into());
        let cases: Vec<(&str, Vec<Step>)> = vec![
            ("$", vec![]),
            ("$.status", vec![k("status")]),
            ("status", vec![k("status")]),
            (
                "$.checks[0].name",
                vec![k("checks"), Step::Index(0), k("name")],
            ),
            ("$[\"odd key\"][2]", vec![k("odd key"), Step::Index(2)]),
            ("$['a.b']", vec![k("a.b")]),
        ];
        for (raw, steps) in cases {
            assert_eq!(JsonPath::parse(raw).expect(raw).steps, steps, "{raw}");
        }
        assert_eq!(
            JsonPath::parse("$.checks[0].name")
                .expect("valid")
                .to_string(),
            "$.checks[0].name"
        );
    }

    #[test]
    fn refuses_malformed_paths() {
        for raw in ["$.", "$..a", "$[x]", "$[0", "$a", "$.a[-1]"] {
            assert!(JsonPath::parse(raw).is_err(), "{raw} should be refused");
        }
    }
}
