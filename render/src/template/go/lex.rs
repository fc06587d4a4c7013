//! Lexing of Go templates: text and `{{ ... }}` actions (trim markers, comments), and the
//! tokens of an action.

use super::GoError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close(Vec<String>),
    Declare,
    Assign,
    Comma,
}

/// One `{{ ... }}` action: its tokens with their offsets.
pub(super) struct Action {
    pub offset: usize,
    pub toks: Vec<(Tok, usize)>,
}

pub(super) enum Item {
    Text(String),
    Action(Action),
}

pub(super) fn lex(source: &str) -> Result<Vec<Item>, GoError> {
    let mut items = Vec::new();
    let mut rest = 0;
    let mut trim_next = false;
    while rest < source.len() {
        let Some(open) = source[rest..].find("{{").map(|i| rest + i) else {
            push_text(&mut items, &source[rest..], trim_next, false);
            break;
        };
        let inner_start = open + 2;
        let trim_left = source[inner_start..].starts_with("- ")
            || source[inner_start..].starts_with("-\n")
            || source[inner_start..].starts_with("-\t");
        push_text(&mut items, &source[rest..open], trim_next, trim_left);
        let body_start = if trim_left {
            inner_start + 1
        } else {
            inner_start
        };
        let (close, body_end, trim_right) = find_close(source, body_start)
            .ok_or_else(|| GoError::new(open, "unclosed action: no matching }}"))?;
        let body = &source[body_start..body_end];
        let trimmed = body.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err(GoError::new(open, "unclosed comment"));
            }
        } else {
            items.push(Item::Action(Action {
                offset: open,
                toks: tokens(body, body_start)?,
            }));
        }
        trim_next = trim_right;
        rest = close;
    }
    Ok(items)
}

/// The end of the action whose body starts at `from`: (offset after `}}`, end of the body,
/// right trim marker). Quotes are skipped, so `"}}"` inside a string does not close it.
fn find_close(source: &str, from: usize) -> Option<(usize, usize, bool)> {
    let bytes = source.as_bytes();
    let mut i = from;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if bytes[i..].starts_with(b"}}") => {
                let trim =
                    i >= from + 2 && bytes[i - 1] == b'-' && bytes[i - 2].is_ascii_whitespace();
                return Some((i + 2, if trim { i - 1 } else { i }, trim));
            }
            None => {}
        }
        i += 1;
    }
    None
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_string()));
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `.A.B` continuing at `i` (after an operand): the field names.
fn fields(body: &str, mut i: usize, base: usize) -> Result<(Vec<String>, usize), GoError> {
    let mut names = Vec::new();
    while body[i..].starts_with('.') {
        let start = i + 1;
        let end = body[start..]
            .find(|c: char| !is_ident_char(c))
            .map_or(body.len(), |n| start + n);
        if end == start {
            if names.is_empty() && !body[start..].starts_with('.') {
                return Ok((names, start));
            }
            return Err(GoError::new(base + i, "bad field name"));
        }
        names.push(body[start..end].to_string());
        i = end;
    }
    Ok((names, i))
}

fn tokens(body: &str, base: usize) -> Result<Vec<(Tok, usize)>, GoError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let c = body[i..].chars().next().unwrap_or(' ');
        let at = base + i;
        match c {
            c if c.is_whitespace() => i += c.len_utf8(),
            '|' => {
                out.push((Tok::Pipe, at));
                i += 1;
            }
            '(' => {
                out.push((Tok::Open, at));
                i += 1;
            }
            ')' => {
                let (names, next) = fields(body, i + 1, base)?;
                out.push((Tok::Close(names), at));
                i = next;
            }
            ',' => {
                out.push((Tok::Comma, at));
                i += 1;
            }
            ':' if body[i..].starts_with(":=") => {
                out.push((Tok::Declare, at));
                i += 2;
            }
            '=' => {
                out.push((Tok::Assign, at));
                i += 1;
            }
            '.' => {
                let (names, next) = fields(body, i, base)?;
                out.push((Tok::Field(names), at));
                i = next;
            }
            '$' => {
                let start = i + 1;
                let end = body[start..]
                    .find(|c: char| !is_ident_char(c))
                    .map_or(body.len(), |n| start + n);
                let (names, next) = fields(body, end, base)?;
                out.push((Tok::Var(format!("${}", &body[start..end]), names), at));
                i = next;
            }
            '"' => {
                let (s, next) = quoted(body, i, base)?;
                out.push((Tok::Str(s), at));
                i = next;
            }
            '`' => {
                let end = body[i + 1..]
                    .find('`')
                    .ok_or_else(|| GoError::new(at, "unterminated raw string"))?;
                out.push((Tok::Str(body[i + 1..i + 1 + end].to_string()), at));
                i += end + 2;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let end = body[i + 1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(body.len(), |n| i + 1 + n);
                let n = body[i..end]
                    .parse::<i64>()
                    .map_err(|_| GoError::new(at, format!("bad number {}", &body[i..end])))?;
                out.push((Tok::Int(n), at));
                i = end;
            }
            c if is_ident_char(c) => {
                let end = body[i..]
                    .find(|c: char| !is_ident_char(c))
                    .map_or(body.len(), |n| i + n);
                out.push((Tok::Ident(body[i..end].to_string()), at));
                i = end;
            }
            c => return Err(GoError::new(at, format!("unexpected {c:?} in action"))),
        }
    }
    Ok(out)
}

/// A double-quoted Go string starting at `i`: its value and the offset after it.
fn quoted(body: &str, i: usize, base: usize) -> Result<(String, usize), GoError> {
    let mut out = String::new();
    let mut chars = body[i + 1..].char_indices();
    while let Some((n, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1 + n + 1)),
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                _ => {
                    return Err(GoError::new(
                        base + i + 1 + n,
                        "unsupported escape in string",
                    ));
                }
            },
            c => out.push(c),
        }
    }
    Err(GoError::new(base + i, "unterminated string"))
}
