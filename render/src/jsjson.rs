//! JSON in the exact form JavaScript's `JSON.stringify(JSON.parse(body))` gives: the form a
//! receiver that re-serialises the parsed body (StatusPageOne's and Checkly's Node snippets,
//! `JSON.stringify(req.body)`) computes its HMAC over. Bodies signed in those modes are sent in
//! this form, so the signature verifies.
//!
//! What JavaScript does, and this module copies: whitespace dropped; object keys that are
//! array indices (`"0"`, `"17"`) first in numeric order, then the others in insertion order;
//! a repeated key keeps its first position and its last value; every number is a double,
//! printed by `Number.prototype.toString` (`1e21`, `1.5e-7`, `100`, `-0` as `0`); strings
//! escape `"`, `\`, `\b\f\n\r\t` and other control characters as `\u00xx`, nothing else
//! (non-ASCII, `/`, U+2028 stay as they are).

use std::fmt::Write as _;

/// Why a body is not JSON: where (1-based line and column) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    pub reason: &'static str,
}

/// Nesting deeper than this is refused (a parser without a stack bound can be crashed).
const MAX_DEPTH: usize = 128;

enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// `JSON.stringify(JSON.parse(text))`, or where `text` is not JSON.
pub fn stringify(text: &[u8]) -> Result<Vec<u8>, JsonError> {
    let mut p = Parser { text, pos: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.pos < text.len() {
        return Err(p.error("unexpected text after the JSON value"));
    }
    let mut out = String::with_capacity(text.len());
    write_value(&mut out, &v);
    Ok(out.into_bytes())
}

/// Checks that `text` is one JSON value.
pub fn check(text: &[u8]) -> Result<(), JsonError> {
    stringify(text).map(|_| ())
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        let upto = &self.text[..self.pos.min(self.text.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&upto[line_start..]).chars().count() + 1;
        JsonError {
            line,
            column,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested more than 128 levels deep"));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a JSON value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut entries: Vec<(String, Value)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(entries));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = v,
                None => entries.push((key, v)),
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(entries));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        Ok(digits)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.error("invalid UTF-8"));
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// After `\u`: one character, from a surrogate pair where needed. A lone surrogate is
    /// refused: JavaScript would keep it, and no UTF-8 text can.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.text[self.pos..].starts_with(b"\\u") {
                return Err(self.error("lone surrogate in a \\u escape"));
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error("lone surrogate in a \\u escape"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("lone surrogate in a \\u escape"))
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        // Rust's float parsing rounds correctly, as JavaScript's does; out of range is
        // infinite, which `JSON.stringify` prints as null.
        std::str::from_utf8(&self.text[start..self.pos])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .map(Value::Number)
            .ok_or_else(|| self.error("invalid number"))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

/// An array index in JavaScript's sense: the canonical decimal form of 0..2^32-1.
fn array_index(key: &str) -> Option<u32> {
    let n: u32 = key.parse().ok()?;
    (n != u32::MAX && n.to_string() == key).then_some(n)
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, *n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            let mut indexed: Vec<(u32, &(String, Value))> = entries
                .iter()
                .filter_map(|e| array_index(&e.0).map(|n| (n, e)))
                .collect();
            indexed.sort_by_key(|(n, _)| *n);
            let ordered = indexed
                .into_iter()
                .map(|(_, e)| e)
                .chain(entries.iter().filter(|e| array_index(&e.0).is_none()));
            out.push('{');
            for (i, (k, v)) in ordered.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `Number.prototype.toString()` of `n` (ECMAScript's Number::toString, radix 10).
fn write_number(out: &mut String, n: f64) {
    if !n.is_finite() {
        out.push_str("null");
        return;
    }
    if n == 0.0 {
        out.push('0');
        return;
    }
    if n < 0.0 {
        out.push('-');
    }
    // ECMAScript wants the fewest digits that read back as `n`, and of those the closest to
    // `n`: Ryu's. (Rust's own `{:e}` gives the fewest, not always the closest.)
    let (digits, point) = shortest_digits(n.abs());
    let k = digits.len() as i64;
    if k <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        let (int, frac) = digits.split_at(point as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        let e = point - 1;
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let _ = write!(out, "{}", e.abs());
    }
}

/// The shortest, closest decimal digits of `x` (finite, positive) and the position of the
/// decimal point: `x` = 0.`digits` × 10^`point`.
fn shortest_digits(x: f64) -> (String, i64) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x);
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i64;
    let all: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string();
    (digits, int_len - leading as i64 + exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(text: &str) -> String {
        String::from_utf8(stringify(text.as_bytes()).expect("valid JSON")).expect("utf-8")
    }

    #[test]
    fn numbers_print_as_javascript_does() {
        for (input, want) in [
            ("1", "1"),
            ("-0", "0"),
            ("1.50", "1.5"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678901234", "1.2345678901234569e+23"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("9007199254740993", "9007199254740992"),
            ("18446744073709551615", "18446744073709552000"),
            ("1e400", "null"),
            ("0.1", "0.1"),
            ("123.456e2", "12345.6"),
            ("2.0451808458370913e14", "204518084583709.12"),
            ("0.00012", "0.00012"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ] {
            assert_eq!(js(input), want, "{input}");
        }
    }

    #[test]
    fn keys_strings_and_layout_follow_javascript() {
        assert_eq!(
            js(r#"{ "b": 1, "10": 2, "a": [ true, null ], "2": 3, "b": 4, "01": 5 }"#),
            r#"{"2":3,"10":2,"b":4,"a":[true,null],"01":5}"#
        );
        assert_eq!(
            js(r#""\u0041\/\u2028é\u001F\u007f\ud83d\ude00\b""#),
            "\"A/\u{2028}é\\u001f\u{7f}😀\\b\""
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        for (input, line, column) in [
            ("{\n  \"a\": 1,\n  \"b\" 2\n}", 3, 7),
            ("[1, 2", 1, 6),
            ("\"\\ud800\"", 1, 8),
            ("{} x", 1, 4),
            ("", 1, 1),
        ] {
            let e = stringify(input.as_bytes()).expect_err(input);
            assert_eq!((e.line, e.column), (line, column), "{input}: {e}");
        }
        let deep = "[".repeat(200);
        assert!(stringify(deep.as_bytes()).is_err());
    }
}
