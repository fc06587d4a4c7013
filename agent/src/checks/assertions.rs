//! HTTP response assertions, compiled once when the check is built (regexes, JSON paths,
//! header names) and evaluated against each response head and bounded body. A failure quotes
//! at most an excerpt of what the target sent (`lookout_proto::bounds`), never a body.

use std::borrow::Cow;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName};
use lookout_proto::FailureClass;
use lookout_proto::bounds::{MAX_EXCERPT_CHARS, excerpt, quote};
use lookout_proto::json_path::{JsonPath, Step};
use lookout_proto::v1::{Comparison, HttpAssertion, header_assertion, http_assertion};
use lookout_proto::validate::{MAX_ASSERTIONS, compile_regex};
use regex::Regex;
use serde_json::Value;

use super::Failure;

enum Assertion {
    BodyContains(String),
    BodyNotContains(String),
    BodyRegex(Regex),
    Json {
        path: JsonPath,
        comparison: Comparison,
        expected: Value,
        raw: String,
        regex: Option<Regex>,
    },
    HeaderEquals(HeaderName, String),
    HeaderRegex(HeaderName, Regex),
}

/// The compiled assertion set of one HTTP check.
#[derive(Default)]
pub(crate) struct Assertions {
    items: Vec<Assertion>,
    /// Over this response time the result is DEGRADED.
    pub response_time: Option<Duration>,
    /// The server certificate must stay valid for at least this many days.
    pub cert_days: Option<u32>,
}

impl Assertions {
    /// No assertion at all: the status code alone decides.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty() && self.response_time.is_none() && self.cert_days.is_none()
    }

    pub(crate) fn compile(list: &[HttpAssertion]) -> Result<Assertions, String> {
        use http_assertion::Assertion as A;
        if list.len() > MAX_ASSERTIONS {
            return Err(format!(
                "http.assertions: at most {MAX_ASSERTIONS} assertions"
            ));
        }
        let mut out = Assertions::default();
        for (i, a) in list.iter().enumerate() {
            let field = format!("http.assertions[{i}]");
            let item = match &a.assertion {
                None => return Err(format!("{field}: must set one assertion kind")),
                Some(A::BodyContains(s)) => Assertion::BodyContains(s.clone()),
                Some(A::BodyNotContains(s)) => Assertion::BodyNotContains(s.clone()),
                Some(A::BodyRegex(r)) => Assertion::BodyRegex(
                    compile_regex(r).map_err(|e| format!("{field}.body_regex: {e}"))?,
                ),
                Some(A::JsonPath(j)) => {
                    let path = JsonPath::parse(&j.path)
                        .map_err(|e| format!("{field}.json_path.path: {e}"))?;
                    let comparison = match Comparison::try_from(j.comparison) {
                        Ok(Comparison::Unspecified) => Comparison::Equals,
                        Ok(c) => c,
                        Err(_) => {
                            return Err(format!(
                                "{field}.json_path.comparison: unknown comparison"
                            ));
                        }
                    };
                    let regex = match comparison {
                        Comparison::Matches => Some(
                            compile_regex(&j.value)
                                .map_err(|e| format!("{field}.json_path.value: {e}"))?,
                        ),
                        _ => None,
                    };
                    let expected = serde_json::from_str(&j.value)
                        .unwrap_or_else(|_| Value::String(j.value.clone()));
                    Assertion::Json {
                        path,
                        comparison,
                        expected,
                        raw: j.value.clone(),
                        regex,
                    }
                }
                Some(A::Header(h)) => {
                    let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                        format!(
                            "{field}.header.name: {:?} is not a valid header name",
                            h.name
                        )
                    })?;
                    match &h.expect {
                        None => return Err(format!("{field}.header: must set equals or regex")),
                        Some(header_assertion::Expect::Equals(v)) => {
                            Assertion::HeaderEquals(name, v.clone())
                        }
                        Some(header_assertion::Expect::Regex(r)) => Assertion::HeaderRegex(
                            name,
                            compile_regex(r).map_err(|e| format!("{field}.header.regex: {e}"))?,
                        ),
                    }
                }
                Some(A::ResponseTimeMs(ms)) => {
                    out.response_time = Some(Duration::from_millis(u64::from(*ms)));
                    continue;
                }
                Some(A::CertExpiresInDays(d)) => {
                    out.cert_days = Some(*d);
                    continue;
                }
            };
            out.items.push(item);
        }
        Ok(out)
    }

    /// Whether any assertion reads the body (otherwise it is drained, not kept).
    pub(crate) fn needs_body(&self) -> bool {
        self.items
            .iter()
            .any(|a| !matches!(a, Assertion::HeaderEquals(..) | Assertion::HeaderRegex(..)))
    }

    /// The first failing assertion, in the order they were given. `truncated` says the body
    /// is only the first part of the response's, so a failure says what was judged.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        truncated: bool,
    ) -> Result<(), Failure> {
        let fail = |m: String| Err(Failure::new(FailureClass::Assertion, m));
        let (judged, within) = if truncated {
            (
                "the first 1 MiB of the response body",
                "the first 1 MiB of the response body",
            )
        } else {
            ("response body", "the response body")
        };
        let text: Cow<'_, str> = String::from_utf8_lossy(body);
        let mut json: Option<Result<Value, String>> = None;
        for a in &self.items {
            match a {
                Assertion::BodyContains(s) if !text.contains(s.as_str()) => {
                    return fail(format!("{judged} does not contain {}", quote(s)));
                }
                Assertion::BodyNotContains(s) if text.contains(s.as_str()) => {
                    return fail(format!("{judged} contains {}", quote(s)));
                }
                Assertion::BodyRegex(r) if !r.is_match(&text) => {
                    return fail(format!("{judged} does not match /{}/", excerpt(r.as_str())));
                }
                Assertion::Json {
                    path,
                    comparison,
                    expected,
                    raw,
                    regex,
                } => {
                    let doc = json.get_or_insert_with(|| {
                        serde_json::from_slice(body)
                            .map_err(|e| format!("{judged} is not JSON: {e}"))
                    });
                    let doc = match doc {
                        Ok(d) => d,
                        Err(e) => return fail(e.clone()),
                    };
                    let shown_path = excerpt(&path.to_string()).into_owned();
                    let Some(actual) = lookup(doc, &path.steps) else {
                        return fail(format!("{shown_path} not found in {within}"));
                    };
                    if let Err(m) = compare(actual, *comparison, expected, raw, regex.as_ref()) {
                        return fail(format!(
                            "{shown_path} is {}, expected {}",
                            json_excerpt(actual),
                            excerpt(&m)
                        ));
                    }
                }
                Assertion::HeaderEquals(name, want) => {
                    let mut values = headers.get_all(name).iter().peekable();
                    if values.peek().is_none() {
                        return fail(format!("header {name} is missing"));
                    }
                    if !values.any(|v| v.as_bytes() == want.as_bytes()) {
                        return fail(format!(
                            "header {name} is {}, expected {}",
                            shown(headers, name),
                            quote(want)
                        ));
                    }
                }
                Assertion::HeaderRegex(name, r) => {
                    let mut values = headers.get_all(name).iter().peekable();
                    if values.peek().is_none() {
                        return fail(format!("header {name} is missing"));
                    }
                    if !values.any(|v| r.is_match(&String::from_utf8_lossy(v.as_bytes()))) {
                        return fail(format!(
                            "header {name} is {}, expected to match /{}/",
                            shown(headers, name),
                            excerpt(r.as_str())
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The first value of a header, quoted and cut to an excerpt.
fn shown(headers: &HeaderMap, name: &HeaderName) -> String {
    headers
        .get(name)
        .map(|v| quote(&String::from_utf8_lossy(v.as_bytes())))
        .unwrap_or_default()
}

/// A JSON value as it appears in a message: JSON text, at most an excerpt long. Serialising
/// stops soon after the excerpt is full, so a 1 MB value costs no more than a short one.
fn json_excerpt(v: &Value) -> String {
    if let Value::String(s) = v {
        return Value::String(excerpt(s).into_owned()).to_string();
    }
    /// Collects bytes until it holds enough for an excerpt, then refuses more.
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            // Four bytes per character at most, plus one so a cut can be seen.
            let room = (MAX_EXCERPT_CHARS * 4 + 1).saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("excerpt is full"));
            }
            let take = buf.len().min(room);
            self.0.extend_from_slice(&buf[..take]);
            Ok(take)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new());
    // An error only means the excerpt filled up; what was written is kept.
    let _ = serde_json::to_writer(&mut out, v);
    // More bytes than an excerpt's characters can hold, so a cut value is always marked.
    excerpt(&String::from_utf8_lossy(&out.0)).into_owned()
}

fn lookup<'a>(mut v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for s in steps {
        v = match s {
            Step::Key(k) => v.get(k.as_str())?,
            Step::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Ok when `actual` satisfies the comparison; otherwise the expectation, for the message.
fn compare(
    actual: &Value,
    c: Comparison,
    expected: &Value,
    raw: &str,
    regex: Option<&Regex>,
) -> Result<(), String> {
    let equal = || match (as_number(actual), expected) {
        (Some(a), Value::Number(e)) if actual.is_number() => e.as_f64() == Some(a),
        _ => actual == expected,
    };
    let numbers = || as_number(actual).zip(as_number(expected));
    let ok = match c {
        Comparison::Equals | Comparison::Unspecified => equal(),
        Comparison::NotEquals => !equal(),
        Comparison::LessThan => numbers().is_some_and(|(a, e)| a < e),
        Comparison::GreaterThan => numbers().is_some_and(|(a, e)| a > e),
        Comparison::Contains => as_text(actual).contains(raw),
        Comparison::Matches => regex.is_some_and(|r| r.is_match(&as_text(actual))),
    };
    if ok {
        return Ok(());
    }
    Err(match c {
        Comparison::Equals | Comparison::Unspecified => format!("== {expected}"),
        Comparison::NotEquals => format!("!= {expected}"),
        Comparison::LessThan => format!("< {raw}"),
        Comparison::GreaterThan => format!("> {raw}"),
        Comparison::Contains => format!("to contain {raw:?}"),
        Comparison::Matches => format!("to match /{raw}/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::{HeaderAssertion, JsonPathAssertion};

    fn json(path: &str, comparison: Comparison, value: &str) -> HttpAssertion {
        HttpAssertion {
            assertion: Some(http_assertion::Assertion::JsonPath(JsonPathAssertion {
                path: path.into(),
                comparison: comparison as i32,
                value: value.into(),
            })),
        }
    }

    #[test]
    fn json_comparisons() {
        let body = br#"{"status":"UP","load":0.5,"checks":[{"name":"db","ms":12}],"ok":true}"#;
        let cases = [
            (json("$.status", Comparison::Equals, "UP"), None),
            (json("$.status", Comparison::Equals, "\"UP\""), None),
            (
                json("$.status", Comparison::Equals, "DOWN"),
                Some("$.status is \"UP\", expected == \"DOWN\""),
            ),
            (json("$.load", Comparison::LessThan, "0.8"), None),
            (
                json("$.load", Comparison::GreaterThan, "0.8"),
                Some("$.load is 0.5, expected > 0.8"),
            ),
            (json("$.checks[0].ms", Comparison::Equals, "12.0"), None),
            (json("$.checks[0].name", Comparison::Matches, "^d"), None),
            (json("$.ok", Comparison::Equals, "true"), None),
            (
                json("$.ok", Comparison::NotEquals, "true"),
                Some("$.ok is true, expected != true"),
            ),
            (
                json("$.missing", Comparison::Equals, "1"),
                Some("$.missing not found in the response body"),
            ),
        ];
        for (a, want) in cases {
            let set = Assertions::compile(std::slice::from_ref(&a)).expect("compiles");
            let got = set
                .check(&HeaderMap::new(), body, false)
                .err()
                .map(|f| f.message);
            assert_eq!(got.as_deref(), want, "{a:?}");
        }
    }

    #[test]
    fn body_and_header_assertions() {
        use http_assertion::Assertion as A;
        let list = vec![
            HttpAssertion {
                assertion: Some(A::BodyContains("hello".into())),
            },
            HttpAssertion {
                assertion: Some(A::BodyNotContains("error".into())),
            },
            HttpAssertion {
                assertion: Some(A::BodyRegex("wor.d".into())),
            },
            HttpAssertion {
                assertion: Some(A::Header(HeaderAssertion {
                    name: "Content-Type".into(),
                    expect: Some(header_assertion::Expect::Regex("^text/".into())),
                })),
            },
        ];
        let set = Assertions::compile(&list).expect("compiles");
        assert!(set.needs_body());
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().expect("value"));
        assert!(set.check(&headers, b"hello world", false).is_ok());
        assert_eq!(
            set.check(&headers, b"hello error world", false)
                .expect_err("error")
                .message,
            "response body contains \"error\""
        );
        assert_eq!(
            set.check(&HeaderMap::new(), b"hello world", false)
                .expect_err("no header")
                .message,
            "header content-type is missing"
        );
        assert_eq!(
            set.check(&headers, b"hello", false)
                .expect_err("no match")
                .message,
            "response body does not match /wor.d/"
        );
    }

    #[test]
    fn messages_quote_excerpts_never_whole_values() {
        let huge = "x".repeat(1_000_000);
        let body = format!(r#"{{"s":"{huge}","a":["{huge}"],"n":1}}"#);
        let cases = [
            (json("$.s", Comparison::Equals, "y"), "$.s is \""),
            (json("$.a", Comparison::Equals, "[]"), "$.a is [\""),
        ];
        for (a, start) in cases {
            let set = Assertions::compile(std::slice::from_ref(&a)).expect("compiles");
            let m = set
                .check(&HeaderMap::new(), body.as_bytes(), false)
                .expect_err("differs")
                .message;
            assert!(m.starts_with(start), "{m}");
            assert!(m.len() < 300 && m.contains('…'), "{} bytes: {m}", m.len());
        }
        let header = HttpAssertion {
            assertion: Some(http_assertion::Assertion::Header(HeaderAssertion {
                name: "x-big".into(),
                expect: Some(header_assertion::Expect::Equals("small".into())),
            })),
        };
        let set = Assertions::compile(&[header]).expect("compiles");
        let mut headers = HeaderMap::new();
        headers.insert("x-big", "v".repeat(10_000).parse().expect("value"));
        let m = set
            .check(&headers, b"", false)
            .expect_err("differs")
            .message;
        assert!(
            m.starts_with("header x-big is \"vvv") && m.len() < 300,
            "{m}"
        );
    }

    #[test]
    fn a_cut_body_says_what_was_judged() {
        use http_assertion::Assertion as A;
        let cases = [
            (
                A::BodyContains("END".into()),
                "the first 1 MiB of the response body does not contain \"END\"",
            ),
            (
                A::BodyRegex("E.D".into()),
                "the first 1 MiB of the response body does not match /E.D/",
            ),
        ];
        for (a, want) in cases {
            let set = Assertions::compile(&[HttpAssertion { assertion: Some(a) }]).expect("ok");
            let got = set.check(&HeaderMap::new(), b"aaaa", true).expect_err("no");
            assert_eq!(got.message, want);
        }
        let set = Assertions::compile(&[json("$.x", Comparison::Equals, "1")]).expect("ok");
        let got = set
            .check(&HeaderMap::new(), br#"{"y":"#, true)
            .expect_err("cut");
        assert!(
            got.message
                .starts_with("the first 1 MiB of the response body is not JSON: "),
            "{}",
            got.message
        );
    }

    #[test]
    fn assertion_sets_are_bounded() {
        let one = HttpAssertion {
            assertion: Some(http_assertion::Assertion::BodyContains("x".into())),
        };
        assert!(Assertions::compile(&vec![one.clone(); MAX_ASSERTIONS]).is_ok());
        let e = Assertions::compile(&vec![one; MAX_ASSERTIONS + 1])
            .err()
            .expect("17 are refused");
        assert!(e.starts_with("http.assertions:"), "{e}");
    }

    #[test]
    fn invalid_regex_names_the_field() {
        let a = HttpAssertion {
            assertion: Some(http_assertion::Assertion::BodyRegex("(".into())),
        };
        let e = Assertions::compile(&[HttpAssertion::default(), a])
            .err()
            .expect("an empty assertion is refused");
        assert!(e.starts_with("http.assertions[0]"), "{e}");
    }
}
