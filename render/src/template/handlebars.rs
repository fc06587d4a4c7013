//! Handlebars templates with Checkly's variables and helpers: `{{$UUID}}` (a random UUID v4),
//! `{{RANDOM_NUMBER}}` (0..=1000), the block `{{#eq A B}}..{{else}}..{{/eq}}` (and `(eq A B)`
//! as a value), `{{json VAR}}` (the value as a JSON literal, quotes included), `{{{VAR}}}`
//! unescaped. Strict: an unknown variable is an error. Partials and
//! decorators are refused (a partial can call itself forever).

use std::io;

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext,
    RenderError as HbError, RenderErrorReason, Renderable, ScopedJson, TemplateError,
};
use serde_json::Value;

use super::{Bounded, Escape, OVERFLOW_REASON, at, escape};
use crate::{Context, RenderError};

const NAME: &str = "t";

pub fn render(
    field: &str,
    source: &str,
    ctx: &Context<'_>,
    esc: Escape,
) -> Result<String, RenderError> {
    check_nesting(field, source)?;
    let tpl = Template::compile(source).map_err(|e| template_error(field, &e))?;
    refuse_partials(field, &tpl.elements)?;
    let mut reg = Handlebars::new();
    reg.set_strict_mode(true);
    reg.register_escape_fn(move |s| escape(s, esc));
    reg.register_helper("$UUID", Box::new(UuidHelper));
    reg.register_helper("RANDOM_NUMBER", Box::new(RandomHelper));
    reg.register_helper("eq", Box::new(EqHelper));
    reg.register_helper("json", Box::new(JsonHelper));
    reg.register_template(NAME, tpl);
    let data = Value::Object(super::checkly_variables(ctx));
    let mut out = Writer(Bounded::default());
    match reg.render_to_write(NAME, &data, &mut out) {
        Ok(()) => String::from_utf8(out.0.bytes)
            .map_err(|_| RenderError::new(field, "renders to text that is not UTF-8")),
        Err(_) if out.0.overflowed => Err(RenderError::new(field, OVERFLOW_REASON)),
        Err(e) => Err(render_error(field, &e)),
    }
}

struct Writer(Bounded);

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s = std::str::from_utf8(buf).map_err(|_| io::Error::other("not UTF-8"))?;
        self.0
            .push(s)
            .map_err(|_| io::Error::other(OVERFLOW_REASON))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Blocks and subexpressions nested deeper than this are refused before parsing: the parser
/// and the renderer recurse once per level.
const MAX_DEPTH: usize = 64;

fn check_nesting(field: &str, source: &str) -> Result<(), RenderError> {
    let mut blocks = 0usize;
    for (offset, _) in source.match_indices("{{") {
        let rest = source[offset + 2..].trim_start_matches(['~', '{']);
        match rest.chars().next() {
            Some('#') => blocks += 1,
            Some('^')
                if !rest[1..]
                    .trim_start_matches('~')
                    .trim_start()
                    .starts_with("}}") =>
            {
                blocks += 1;
            }
            Some('/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        let inner = rest.split("}}").next().unwrap_or_default();
        let mut parens = 0usize;
        let mut deepest = 0usize;
        for c in inner.chars() {
            match c {
                '(' => parens += 1,
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(parens);
        }
        if blocks > MAX_DEPTH || deepest > MAX_DEPTH {
            let line = source[..offset].matches('\n').count() + 1;
            let column = source[..offset]
                .rsplit('\n')
                .next()
                .map_or(0, |l| l.chars().count())
                + 1;
            return Err(at(
                field,
                line,
                column,
                "blocks or subexpressions nested too deeply (more than 64)",
            ));
        }
    }
    Ok(())
}

fn template_error(field: &str, e: &TemplateError) -> RenderError {
    let reason = e.reason().to_string();
    match e.pos() {
        Some((line, column)) => at(field, line, column, format!("syntax error: {reason}")),
        None => RenderError::new(field, format!("syntax error: {reason}")),
    }
}

fn render_error(field: &str, e: &HbError) -> RenderError {
    let reason = match e.reason() {
        RenderErrorReason::MissingVariable(Some(name)) => format!("unknown variable {name}"),
        RenderErrorReason::MissingVariable(None) => "unknown variable".to_string(),
        RenderErrorReason::HelperNotFound(name) => format!("unknown helper {name}"),
        other => other.to_string(),
    };
    match (e.line_no, e.column_no) {
        (Some(line), Some(column)) => at(field, line, column, reason),
        _ => RenderError::new(field, reason),
    }
}

fn refuse_partials(field: &str, elements: &[TemplateElement]) -> Result<(), RenderError> {
    for el in elements {
        match el {
            TemplateElement::PartialExpression(_)
            | TemplateElement::PartialBlock(_)
            | TemplateElement::DecoratorExpression(_)
            | TemplateElement::DecoratorBlock(_) => {
                return Err(RenderError::new(
                    field,
                    "partials and decorators are not supported",
                ));
            }
            TemplateElement::HelperBlock(h) => {
                for t in [&h.template, &h.inverse].into_iter().flatten() {
                    refuse_partials(field, &t.elements)?;
                }
                for p in h.params.iter().chain(h.hash.values()) {
                    if let Parameter::Subexpression(s) = p {
                        refuse_partials(field, std::slice::from_ref(&s.element))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `{{$UUID}}`: a random UUID v4.
struct UuidHelper;

impl HelperDef for UuidHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, HbError> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        Ok(ScopedJson::Derived(Value::String(id.to_string())))
    }
}

/// `{{RANDOM_NUMBER}}`: a random whole number, 0..=1000.
struct RandomHelper;

impl HelperDef for RandomHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, HbError> {
        Ok(ScopedJson::Derived(Value::from(rand::random_range(
            0..=1000u32,
        ))))
    }
}

/// `eq`: as a block, renders its body when both parameters are equal (its `else` when not);
/// as a value (`(eq A B)`), true or false. Numbers and their text compare equal, as in
/// Checkly's `{{#eq RESPONSE_TIME '200'}}`.
struct EqHelper;

fn equal(h: &Helper<'_>) -> Result<bool, HbError> {
    let a = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("eq", 0))?;
    let b = h
        .param(1)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("eq", 1))?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(a.value() == b.value() || text(a.value()) == text(b.value()))
}

impl HelperDef for EqHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, HbError> {
        Ok(ScopedJson::Derived(Value::Bool(equal(h)?)))
    }

    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc HbContext,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let same = equal(h)?;
        if !h.is_block() {
            return out
                .write(if same { "true" } else { "false" })
                .map_err(HbError::from);
        }
        match if same { h.template() } else { h.inverse() } {
            Some(t) => t.render(r, ctx, rc, out),
            None => Ok(()),
        }
    }
}

/// `{{json VAR}}`: the value as JSON (a quoted, escaped string; a number), written as it is:
/// for JSON bodies, outside quotes (`"name": {{json CHECK_NAME}}`).
struct JsonHelper;

impl HelperDef for JsonHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let v = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
        let text = serde_json::to_string(v.value()).map_err(RenderErrorReason::from)?;
        out.write(&text).map_err(HbError::from)
    }
}
