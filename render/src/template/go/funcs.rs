//! The functions of Go templates: `eq ne lt le gt ge and or not len index print printf
//! println json`, as Go's `text/template` defines them.

use std::fmt::Write as _;

use super::GoError;
use super::exec::Value;

pub(super) fn go_json_string(out: &mut String, s: &str) {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    for c in quoted.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

fn need(name: &str, args: &[Value], n: usize, at: usize) -> Result<(), GoError> {
    if args.len() < n {
        return Err(GoError::new(
            at,
            format!(
                "wrong number of args for {name}: want at least {n} got {}",
                args.len()
            ),
        ));
    }
    Ok(())
}

fn compare(a: &Value, b: &Value, at: usize) -> Result<std::cmp::Ordering, GoError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        _ => Err(GoError::new(
            at,
            format!(
                "incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            ),
        )),
    }
}

pub(super) fn call(name: &str, args: &[Value], at: usize) -> Result<Value, GoError> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let cmp = |want: &[std::cmp::Ordering]| -> Result<Value, GoError> {
        need(name, args, 2, at)?;
        Ok(Value::Bool(
            want.contains(&compare(&args[0], &args[1], at)?),
        ))
    };
    match name {
        "eq" => {
            need(name, args, 2, at)?;
            for b in &args[1..] {
                if std::mem::discriminant(&args[0]) != std::mem::discriminant(b)
                    && !matches!(b, Value::Nil)
                    && !matches!(args[0], Value::Nil)
                {
                    return Err(GoError::new(
                        at,
                        format!(
                            "incompatible types for comparison: {} and {}",
                            args[0].type_name(),
                            b.type_name()
                        ),
                    ));
                }
            }
            Ok(Value::Bool(args[1..].iter().any(|b| *b == args[0])))
        }
        "ne" => {
            need(name, args, 2, at)?;
            Ok(Value::Bool(args[0] != args[1]))
        }
        "lt" => cmp(&[Less]),
        "le" => cmp(&[Less, Equal]),
        "gt" => cmp(&[Greater]),
        "ge" => cmp(&[Greater, Equal]),
        "and" => {
            need(name, args, 1, at)?;
            Ok(args
                .iter()
                .find(|v| !v.truthy())
                .unwrap_or(&args[args.len() - 1])
                .clone())
        }
        "or" => {
            need(name, args, 1, at)?;
            Ok(args
                .iter()
                .find(|v| v.truthy())
                .unwrap_or(&args[args.len() - 1])
                .clone())
        }
        "not" => {
            need(name, args, 1, at)?;
            Ok(Value::Bool(!args[0].truthy()))
        }
        "len" => match args.first() {
            Some(Value::Str(s)) => Ok(Value::Int(s.len() as i64)),
            Some(Value::List(l)) => Ok(Value::Int(l.len() as i64)),
            _ => Err(GoError::new(at, "len of a value that has no length")),
        },
        "index" => {
            need(name, args, 2, at)?;
            let mut cur = args[0].clone();
            for i in &args[1..] {
                cur = match (&cur, i) {
                    (Value::List(l), Value::Int(n)) => usize::try_from(*n)
                        .ok()
                        .and_then(|n| l.get(n).cloned())
                        .ok_or_else(|| GoError::new(at, format!("index out of range: {n}")))?,
                    _ => return Err(GoError::new(at, "can't index this value")),
                };
            }
            Ok(cur)
        }
        "print" | "println" => {
            let mut s = String::new();
            for (i, v) in args.iter().enumerate() {
                // Sprint spaces operands when neither side is a string; Sprintln always.
                let neither_str =
                    i > 0 && !matches!(v, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_));
                if i > 0 && (name == "println" || neither_str) {
                    s.push(' ');
                }
                v.print(&mut s);
            }
            if name == "println" {
                s.push('\n');
            }
            Ok(Value::Str(s))
        }
        "printf" => {
            need(name, args, 1, at)?;
            let Value::Str(format) = &args[0] else {
                return Err(GoError::new(at, "printf's format must be a string"));
            };
            printf(format, &args[1..], at).map(Value::Str)
        }
        "json" => {
            need(name, args, 1, at)?;
            let mut out = String::new();
            args[0].json(&mut out);
            Ok(Value::Str(out))
        }
        other => Err(GoError::new(at, format!("function {other:?} not defined"))),
    }
}

/// `fmt.Sprintf` for `%s %v %d %q %%`.
fn printf(format: &str, args: &[Value], at: usize) -> Result<String, GoError> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => match next.next() {
                Some(v) if verb == 'q' => {
                    let mut s = String::new();
                    v.print(&mut s);
                    out.push_str(&serde_json::to_string(&s).unwrap_or_default());
                }
                Some(v) => v.print(&mut out),
                None => {
                    let _ = write!(out, "%!{verb}(MISSING)");
                }
            },
            Some(other) => {
                return Err(GoError::new(
                    at,
                    format!("printf verb %{other} is not supported"),
                ));
            }
            None => out.push_str("%!(NOVERB)"),
        }
    }
    Ok(out)
}
