//! A Go `text/template` interpreter for the subset Coroot documents: text and actions with
//! trim markers (`{{-`, `-}}`) and comments, pipelines (`|`), fields (`.A.B`), variables
//! (`$`, `$x := ...`), `if`/`else if`/`else`, `range` (with `$i, $v :=` and `else`), `with`,
//! literals (`"..."`, raw `` `...` ``, numbers, `true`, `false`, `nil`) and the functions
//! `eq ne lt le gt ge and or not len index print printf println json`. Output is bounded
//! (1 MiB) and so is the work (a runaway nest of `range` stops with an error).

mod exec;
mod funcs;
mod lex;
mod parse;

pub use exec::{Field, Value};

use crate::RenderError;
use crate::template::Escape;

/// `source` executed over `data`. With [`Escape::Json`], the output is a JSON document: raw
/// line breaks inside its strings are escaped (as Coroot does before sending) and values
/// printed inside a string are escaped as JSON string content. With [`Escape::Url`], values
/// are percent-encoded. Otherwise values are printed as they are, as Go's `text/template`
/// does.
pub fn render(
    field: &str,
    source: &str,
    data: &Value,
    escape: Escape,
) -> Result<String, RenderError> {
    let nodes = parse::parse(source).map_err(|e| e.at(field, source))?;
    exec::run(&nodes, data, escape).map_err(|e| e.at(field, source))
}

/// An error at a byte offset of the template.
#[derive(Debug)]
pub(crate) struct GoError {
    pub offset: usize,
    pub reason: String,
}

impl GoError {
    pub fn new(offset: usize, reason: impl Into<String>) -> GoError {
        GoError {
            offset,
            reason: reason.into(),
        }
    }

    fn at(self, field: &str, source: &str) -> RenderError {
        let upto = source
            .get(..self.offset.min(source.len()))
            .unwrap_or(source);
        let line = upto.matches('\n').count() + 1;
        let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        crate::template::at(field, line, column, self.reason)
    }
}
