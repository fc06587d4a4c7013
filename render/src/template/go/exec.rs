//! Execution of a parsed Go template over a [`Value`], into bounded output.

use std::fmt::Write as _;

use super::GoError;
use super::funcs::{call, go_json_string};
use super::parse::{Arg, Cmd, Node, Pipe};
use crate::template::{Bounded, Escape, OVERFLOW_REASON, escape, json_string_content};

/// Steps (nodes run, range iterations, commands) a template may take: far above what any
/// notification template needs, low enough that nested ranges cannot hang a notifier.
const MAX_STEPS: u64 = 1_000_000;

/// Template data: what Go's `text/template` sees of Coroot's structs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    /// Fields in order: Go name, JSON key (`None`: left out of `json`), value. With a text,
    /// `json` prints the struct as that string (Coroot's `application`).
    Struct(Vec<Field>, Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub json: Option<String>,
    pub value: Value,
}

impl Field {
    /// A field whose JSON key is its name in lower case (Coroot's tags).
    pub fn new(name: &str, value: Value) -> Field {
        Field {
            name: name.to_string(),
            json: Some(name.to_ascii_lowercase()),
            value,
        }
    }

    /// A field `json` leaves out.
    pub fn hidden(name: &str, value: Value) -> Field {
        Field {
            name: name.to_string(),
            json: None,
            value,
        }
    }
}

impl Value {
    pub(super) fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Struct(..) => true,
        }
    }

    /// Go's `json.Marshal` of it: compact, `<`, `>`, `&`, U+2028 and U+2029 escaped.
    pub(super) fn json(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("null"),
            Value::Bool(_) | Value::Int(_) => self.print(out),
            Value::Str(s) => go_json_string(out, s),
            Value::Struct(_, Some(text)) => go_json_string(out, text),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.json(out);
                }
                out.push(']');
            }
            Value::Struct(fields, None) => {
                out.push('{');
                let shown = fields
                    .iter()
                    .filter_map(|f| f.json.as_ref().map(|k| (k, &f.value)));
                for (i, (key, v)) in shown.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_json_string(out, key);
                    out.push(':');
                    v.json(out);
                }
                out.push('}');
            }
        }
    }

    /// As `fmt.Sprint` prints it.
    pub(super) fn print(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.print(out);
                }
                out.push(']');
            }
            Value::Struct(fields, _) => {
                out.push('{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    f.value.print(out);
                }
                out.push('}');
            }
        }
    }

    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Struct(..) => "struct",
        }
    }
}

pub fn run(nodes: &[Node], data: &Value, escape: Escape) -> Result<String, GoError> {
    let mut m = Machine {
        out: Bounded::default(),
        vars: vec![("$".to_string(), data.clone())],
        steps: 0,
        json_body: escape == Escape::Json,
        url: escape == Escape::Url,
        in_string: false,
        escaped: false,
    };
    m.list(nodes, data)?;
    String::from_utf8(m.out.bytes).map_err(|_| GoError::new(0, "output is not UTF-8"))
}

struct Machine {
    out: Bounded,
    vars: Vec<(String, Value)>,
    steps: u64,
    json_body: bool,
    /// Values are percent-encoded (the URL).
    url: bool,
    /// Where the output is in its JSON document (with `json_body`).
    in_string: bool,
    escaped: bool,
}

impl Machine {
    fn step(&mut self, offset: usize) -> Result<(), GoError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(GoError::new(
                offset,
                "takes too many steps (more than 1,000,000)",
            ));
        }
        Ok(())
    }

    fn push(&mut self, s: &str, offset: usize) -> Result<(), GoError> {
        self.out
            .push(s)
            .map_err(|_| GoError::new(offset, OVERFLOW_REASON))
    }

    /// Template text, or a value printed outside a JSON string: in a JSON body, raw line
    /// breaks and control characters inside strings are escaped.
    fn text(&mut self, s: &str, offset: usize) -> Result<(), GoError> {
        if !self.json_body {
            return self.push(s, offset);
        }
        let mut buf = String::with_capacity(s.len());
        for c in s.chars() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == '"' {
                    self.in_string = false;
                } else if (c as u32) < 0x20 {
                    buf.push_str(&json_string_content(&c.to_string()));
                    continue;
                }
            } else if c == '"' {
                self.in_string = true;
            }
            buf.push(c);
        }
        self.push(&buf, offset)
    }

    /// An action's output: percent-encoded in a URL; escaped as JSON string content when it
    /// lands inside a string of a JSON body.
    fn value(&mut self, s: &str, offset: usize) -> Result<(), GoError> {
        if self.url {
            let e = escape(s, Escape::Url);
            return self.push(&e, offset);
        }
        if self.json_body && self.in_string && !self.escaped {
            let e = json_string_content(s);
            self.push(&e, offset)
        } else {
            self.text(s, offset)
        }
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<(), GoError> {
        let depth = self.vars.len();
        for n in nodes {
            self.node(n, dot)?;
        }
        self.vars.truncate(depth);
        Ok(())
    }

    fn node(&mut self, n: &Node, dot: &Value) -> Result<(), GoError> {
        match n {
            Node::Text(t) => {
                self.step(0)?;
                self.text(t, 0)
            }
            Node::Action(p) => {
                self.step(p.offset)?;
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    let mut s = String::new();
                    v.print(&mut s);
                    self.value(&s, p.offset)?;
                }
                Ok(())
            }
            Node::If {
                pipe,
                then,
                otherwise,
            } => {
                self.step(pipe.offset)?;
                let v = self.pipe(pipe, dot)?;
                self.list(if v.truthy() { then } else { otherwise }, dot)
            }
            Node::With {
                pipe,
                body,
                otherwise,
            } => {
                self.step(pipe.offset)?;
                let v = self.pipe(pipe, dot)?;
                if v.truthy() {
                    self.list(body, &v)
                } else {
                    self.list(otherwise, dot)
                }
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                self.step(pipe.offset)?;
                let decl = &pipe.decl;
                let v = self.eval_cmds(&pipe.cmds, dot, pipe.offset)?;
                let items = match v {
                    Value::List(items) => items,
                    Value::Nil => Vec::new(),
                    other => {
                        return Err(GoError::new(
                            pipe.offset,
                            format!("range can't iterate over {}", other.type_name()),
                        ));
                    }
                };
                if items.is_empty() {
                    return self.list(otherwise, dot);
                }
                for (i, item) in items.iter().enumerate() {
                    self.step(pipe.offset)?;
                    let depth = self.vars.len();
                    match decl.as_slice() {
                        [] => {}
                        [v] => self.vars.push((v.clone(), item.clone())),
                        [k, v, ..] => {
                            self.vars.push((k.clone(), Value::Int(i as i64)));
                            self.vars.push((v.clone(), item.clone()));
                        }
                    }
                    self.list(body, item)?;
                    self.vars.truncate(depth);
                }
                Ok(())
            }
        }
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, GoError> {
        let v = self.eval_cmds(&p.cmds, dot, p.offset)?;
        if let Some(name) = p.decl.first() {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(GoError::new(p.offset, format!("undefined variable {name}")));
                    }
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, cmds: &[Cmd], dot: &Value, offset: usize) -> Result<Value, GoError> {
        if cmds.is_empty() {
            return Err(GoError::new(offset, "missing value for command"));
        }
        let mut piped: Option<Value> = None;
        for c in cmds {
            self.step(c.offset)?;
            piped = Some(self.cmd(c, dot, piped)?);
        }
        Ok(piped.unwrap_or(Value::Nil))
    }

    fn cmd(&mut self, c: &Cmd, dot: &Value, piped: Option<Value>) -> Result<Value, GoError> {
        match c.args.first() {
            Some(Arg::Func(name, at)) => {
                let mut args = Vec::with_capacity(c.args.len());
                for a in &c.args[1..] {
                    let v = self.arg(a, dot)?;
                    // `and` and `or` stop at the first argument that decides (Go 1.18+), so
                    // `and .Reports (index .Reports 0)` is safe on an empty list.
                    let decided = (name == "and" && !v.truthy()) || (name == "or" && v.truthy());
                    args.push(v);
                    if decided && piped.is_none() {
                        return Ok(args.pop().unwrap_or(Value::Nil));
                    }
                }
                args.extend(piped);
                call(name, &args, *at)
            }
            Some(first) => {
                if c.args.len() > 1 || piped.is_some() {
                    return Err(GoError::new(
                        c.offset,
                        "can't give arguments to a non-function",
                    ));
                }
                self.arg(first, dot)
            }
            None => Err(GoError::new(c.offset, "missing value for command")),
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, GoError> {
        match a {
            Arg::Field(path, at) => field(dot, path, *at),
            Arg::Var(name, path, at) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| GoError::new(*at, format!("undefined variable {name}")))?;
                field(&v, path, *at)
            }
            Arg::Func(name, at) => call(name, &[], *at),
            Arg::Str(s) => Ok(Value::Str(s.clone())),
            Arg::Int(n) => Ok(Value::Int(*n)),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Ok(Value::Nil),
            Arg::Sub(p, path) => {
                let v = self.pipe(p, dot)?;
                field(&v, path, p.offset)
            }
        }
    }
}

fn field(v: &Value, path: &[String], at: usize) -> Result<Value, GoError> {
    let mut cur = v.clone();
    for name in path {
        cur = match &cur {
            Value::Struct(fields, _) => fields
                .iter()
                .find(|f| f.name == *name)
                .map(|f| f.value.clone())
                .ok_or_else(|| GoError::new(at, format!("unknown field .{name}")))?,
            other => {
                return Err(GoError::new(
                    at,
                    format!("can't evaluate field {name} in type {}", other.type_name()),
                ));
            }
        };
    }
    Ok(cur)
}
