//! Lexing and parsing of Go templates into a tree of [`Node`]s.

use super::GoError;

/// Blocks and parentheses nested deeper than this are refused (stack bound).
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug)]
pub struct Pipe {
    pub offset: usize,
    /// `$x :=` (one name) or `$i, $v :=` (range); `=` assigns an existing variable.
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug)]
pub struct Cmd {
    pub offset: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub enum Arg {
    /// `.A.B` from dot; empty: dot itself.
    Field(Vec<String>, usize),
    /// `$x.A.B`.
    Var(String, Vec<String>, usize),
    Func(String, usize),
    Str(String),
    Int(i64),
    Bool(bool),
    Nil,
    /// `( pipeline )`, optionally followed by `.A.B`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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
struct Action {
    offset: usize,
    toks: Vec<(Tok, usize)>,
}

enum Item {
    Text(String),
    Action(Action),
}

pub fn parse(source: &str) -> Result<Vec<Node>, GoError> {
    let items = lex(source)?;
    let mut p = Parser {
        items,
        pos: 0,
        stash: None,
    };
    let (nodes, end) = p.list(0)?;
    match end {
        None => Ok(nodes),
        Some((word, offset)) => Err(GoError::new(offset, format!("unexpected {{{{{word}}}}}"))),
    }
}

fn lex(source: &str) -> Result<Vec<Item>, GoError> {
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
            None if source[i..].starts_with("}}") => {
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

struct Parser {
    items: Vec<Item>,
    pos: usize,
    /// The tokens after an `else` (`if ...` for `else if`), for the block that reads it.
    stash: Option<Vec<(Tok, usize)>>,
}

impl Parser {
    /// Nodes up to an `end` or `else` (returned with its offset and, for `else`, the rest of
    /// the action's tokens), or the end of input (`None`).
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Option<(String, usize)>), GoError> {
        if depth > MAX_DEPTH {
            return Err(GoError::new(0, "blocks nested too deeply"));
        }
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let idx = self.pos;
            self.pos += 1;
            let (offset, toks) = match &mut self.items[idx] {
                Item::Text(t) => {
                    nodes.push(Node::Text(std::mem::take(t)));
                    continue;
                }
                Item::Action(a) => (a.offset, std::mem::take(&mut a.toks)),
            };
            let keyword = match toks.first() {
                Some((Tok::Ident(w), _)) => w.clone(),
                None => return Err(GoError::new(offset, "missing value for command")),
                _ => String::new(),
            };
            match keyword.as_str() {
                "end" if toks.len() == 1 => return Ok((nodes, Some(("end".into(), offset)))),
                "else" => {
                    // `else if ...`: the rest of the tokens start a nested `if`.
                    self.stash = Some(toks[1..].to_vec());
                    return Ok((nodes, Some(("else".into(), offset))));
                }
                "if" | "range" | "with" => {
                    nodes.push(self.block(&keyword, offset, &toks[1..], depth)?);
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(GoError::new(offset, format!("{keyword} is not supported")));
                }
                _ => nodes.push(Node::Action(pipe(&toks, offset, 0)?)),
            }
        }
        Ok((nodes, None))
    }

    fn block(
        &mut self,
        keyword: &str,
        offset: usize,
        toks: &[(Tok, usize)],
        depth: usize,
    ) -> Result<Node, GoError> {
        let p = pipe(toks, offset, 0)?;
        if toks.is_empty() {
            return Err(GoError::new(offset, format!("missing value for {keyword}")));
        }
        let (body, end) = self.list(depth + 1)?;
        let otherwise = match end {
            Some((w, _)) if w == "end" => Vec::new(),
            Some((_, else_at)) => {
                let rest = self.stash.take().unwrap_or_default();
                match rest.first() {
                    Some((Tok::Ident(w), _)) if w == "if" && keyword == "if" => {
                        // `else if` shares the outer block's `end`.
                        vec![self.block("if", else_at, &rest[1..], depth + 1)?]
                    }
                    Some((_, at)) => return Err(GoError::new(*at, "unexpected tokens after else")),
                    None => {
                        let (otherwise, end) = self.list(depth + 1)?;
                        match end {
                            Some((w, _)) if w == "end" => otherwise,
                            Some((w, at)) => {
                                return Err(GoError::new(at, format!("unexpected {{{{{w}}}}}")));
                            }
                            None => {
                                return Err(GoError::new(
                                    offset,
                                    format!("unclosed {keyword}: no {{{{end}}}}"),
                                ));
                            }
                        }
                    }
                }
            }
            None => {
                return Err(GoError::new(
                    offset,
                    format!("unclosed {keyword}: no {{{{end}}}}"),
                ));
            }
        };
        Ok(match keyword {
            "if" => Node::If {
                pipe: p,
                then: body,
                otherwise,
            },
            "range" => Node::Range {
                pipe: p,
                body,
                otherwise,
            },
            _ => Node::With {
                pipe: p,
                body,
                otherwise,
            },
        })
    }
}

/// A pipeline from tokens: optional declaration, then commands separated by `|`.
fn pipe(toks: &[(Tok, usize)], offset: usize, depth: usize) -> Result<Pipe, GoError> {
    if depth > MAX_DEPTH {
        return Err(GoError::new(offset, "parentheses nested too deeply"));
    }
    let mut decl = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    // `$x :=`, `$i, $v :=` or `$x =`.
    let decl_end = toks
        .iter()
        .position(|(t, _)| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(end) = decl_end {
        let names: Vec<&(Tok, usize)> = toks[..end].iter().collect();
        let valid = names.iter().enumerate().all(|(n, (t, _))| match t {
            Tok::Var(_, f) => n % 2 == 0 && f.is_empty(),
            Tok::Comma => n % 2 == 1,
            _ => false,
        });
        if valid && !names.is_empty() {
            decl = names
                .iter()
                .filter_map(|(t, _)| match t {
                    Tok::Var(v, _) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            assign = matches!(toks[end].0, Tok::Assign);
            rest = &toks[end + 1..];
        }
    }
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    let mut cmd_at = rest.first().map_or(offset, |(_, at)| *at);
    let mut i = 0;
    while i < rest.len() {
        let (tok, at) = &rest[i];
        match tok {
            Tok::Pipe => {
                if args.is_empty() {
                    return Err(GoError::new(*at, "missing command before |"));
                }
                cmds.push(Cmd {
                    offset: cmd_at,
                    args: std::mem::take(&mut args),
                });
                cmd_at = rest.get(i + 1).map_or(*at, |(_, a)| *a);
            }
            Tok::Open => {
                let mut level = 0usize;
                let close = rest[i..].iter().position(|(t, _)| {
                    match t {
                        Tok::Open => level += 1,
                        Tok::Close(_) => level -= 1,
                        _ => {}
                    }
                    level == 0
                });
                let Some(close) = close.map(|c| i + c) else {
                    return Err(GoError::new(*at, "unclosed ("));
                };
                let inner = pipe(&rest[i + 1..close], *at, depth + 1)?;
                let after = match &rest[close].0 {
                    Tok::Close(f) => f.clone(),
                    _ => Vec::new(),
                };
                args.push(Arg::Sub(Box::new(inner), after));
                i = close;
            }
            Tok::Close(_) => return Err(GoError::new(*at, "unexpected )")),
            Tok::Field(f) => args.push(Arg::Field(f.clone(), *at)),
            Tok::Var(v, f) => args.push(Arg::Var(v.clone(), f.clone(), *at)),
            Tok::Str(s) => args.push(Arg::Str(s.clone())),
            Tok::Int(n) => args.push(Arg::Int(*n)),
            Tok::Ident(w) => args.push(match w.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Func(w.clone(), *at),
            }),
            Tok::Declare | Tok::Assign | Tok::Comma => {
                return Err(GoError::new(*at, "unexpected := , or = in pipeline"));
            }
        }
        i += 1;
    }
    if args.is_empty() {
        if !cmds.is_empty() {
            return Err(GoError::new(offset, "missing command after |"));
        }
        if !toks.is_empty() || depth > 0 {
            return Err(GoError::new(offset, "missing value for command"));
        }
    } else {
        cmds.push(Cmd {
            offset: cmd_at,
            args,
        });
    }
    Ok(Pipe {
        offset,
        decl,
        assign,
        cmds,
    })
}
