//! Webhook templates: the URL, header values and body of a webhook rendered with Handlebars
//! (Checkly's variables and helpers) or Go templates (Coroot's incident data), escaped for
//! where the value lands, with bounded output and errors that name the line and column.

mod checkly;
mod coroot;
pub mod go;
mod handlebars;

use lookout_proto::v1::TemplateSyntax;

use crate::{Context, RenderError};

pub use checkly::{alert_type, variables as checkly_variables};
pub use coroot::data as coroot_data;

/// The largest output a template may produce: the notifier's payload cap.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// How a value inserted by `{{VAR}}` (Handlebars) or an action (Go, inside a JSON string) is
/// escaped; Handlebars' `{{{VAR}}}` always inserts the value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Percent-encoded as `encodeURIComponent` does, so a value is one URL component.
    Url,
    /// As it is (header values; CR and LF are refused afterwards).
    Raw,
    /// The content of a JSON string: `"`, `\` and control characters escaped.
    Json,
    /// Handlebars' HTML escaping (`&`, `<`, `>`, `"`, `'`, `` ` ``, `=`), as Checkly does for
    /// bodies that are not JSON.
    Html,
}

/// A template error at a place in the template: shown as `line L, column C: reason`.
pub(crate) fn at(
    field: &str,
    line: usize,
    column: usize,
    reason: impl std::fmt::Display,
) -> RenderError {
    RenderError::new(field, format!("line {line}, column {column}: {reason}"))
}

/// `source` rendered with `syntax` for `ctx`; `field` names it in errors.
pub fn render(
    syntax: TemplateSyntax,
    field: &str,
    source: &str,
    ctx: &Context<'_>,
    escape: Escape,
) -> Result<String, RenderError> {
    match syntax {
        TemplateSyntax::Unspecified | TemplateSyntax::Handlebars => {
            handlebars::render(field, source, ctx, escape)
        }
        TemplateSyntax::Go => {
            let data = coroot::data(ctx);
            go::render(field, source, &data, escape)
        }
    }
}

/// `text` escaped as `escape` says.
pub fn escape(text: &str, escape: Escape) -> String {
    match escape {
        Escape::Raw => text.to_string(),
        Escape::Url => percent_encoding::utf8_percent_encode(text, URI_COMPONENT).to_string(),
        Escape::Json => json_string_content(text),
        Escape::Html => ::handlebars::html_escape(text),
    }
}

/// Everything `encodeURIComponent` encodes: all but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `text` as the inside of a JSON string (without the quotes).
pub fn json_string_content(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// A byte sink that refuses to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
pub(crate) struct Bounded {
    pub bytes: Vec<u8>,
    pub overflowed: bool,
}

impl Bounded {
    pub fn push(&mut self, s: &str) -> Result<(), Overflow> {
        if self.bytes.len() + s.len() > MAX_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(Overflow);
        }
        self.bytes.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The output cap was reached.
#[derive(Debug)]
pub(crate) struct Overflow;

pub(crate) const OVERFLOW_REASON: &str = "renders to more than 1 MiB (the payload cap)";
