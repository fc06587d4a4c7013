//! Lexing and parsing of Go templates into a tree of [`Node`]s.

use super::GoError;
use super::lex::{Item, Tok, lex};

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

/// The `end` or `else` that closed a list of nodes, and its offset.
type Terminator = (String, usize);

struct Parser {
    items: Vec<Item>,
    pos: usize,
    /// The tokens after an `else` (`if ...` for `else if`), for the block that reads it.
    stash: Option<Vec<(Tok, usize)>>,
}

impl Parser {
    /// Nodes up to an `end` or `else` (returned with its offset and, for `else`, the rest of
    /// the action's tokens), or the end of input (`None`).
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Option<Terminator>), GoError> {
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
