//! The documents' own verification snippets, unchanged (examples/webhooks/), accept requests
//! Lookout renders and signs in their mode, and refuse tampered ones: StatusPageOne's Node
//! handler and Checkly's Node handler (both HMAC `JSON.stringify(req.body)`, not the bytes
//! received) and Checkly's Django view (the raw body). Bodies carry odd monitor names and
//! error messages (non-ASCII, control characters, U+2028, `/`, quotes, huge numbers).
//!
//! Needs Node with express and body-parser, and Python with Django, installed as .ci/run does:
//! `npm install --prefix "$HOME/.cache/lookout-npm" express@4 body-parser@1` and
//! `python3 -m pip install --target "$HOME/.cache/lookout-pip" 'django>=4.2,<6'`
//! (`LOOKOUT_NPM_DIR` and `LOOKOUT_PIP_DIR` override the folders).

mod webhook_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use lookout_proto::v1::{BodyFormat, EventKind, NotificationEvent, SignatureMode, TemplateSyntax};
use lookout_render::{Request, Variables};
use webhook_support::*;

const SECRET: &str = "whsec_snippet-test-7f3a";

fn cache_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(default)
    })
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/webhooks")
}

/// A snippet server, killed on drop; its stdout lines arrive on `lines`.
struct Snippet {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
}

impl Drop for Snippet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Snippet {
    fn start(mut cmd: Command) -> Snippet {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{cmd:?} printed no \"listening PORT\" line: {e}"));
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Snippet { child, port, lines }
    }

    fn node(runner: &str, secret_var: &str) -> Snippet {
        let modules = cache_dir("LOOKOUT_NPM_DIR", ".cache/lookout-npm").join("node_modules");
        assert!(
            modules.join("express").is_dir() && modules.join("body-parser").is_dir(),
            "express is not installed in {}: run npm install --prefix \"$HOME/.cache/lookout-npm\" express@4 body-parser@1",
            modules.display()
        );
        let mut cmd = Command::new("node");
        cmd.arg(examples().join("run").join(runner))
            .env("NODE_PATH", modules)
            .env("PORT", "0")
            .env(secret_var, SECRET);
        Snippet::start(cmd)
    }

    fn django() -> Snippet {
        let site = cache_dir("LOOKOUT_PIP_DIR", ".cache/lookout-pip");
        assert!(
            site.join("django").is_dir(),
            "Django is not installed in {}: run python3 -m pip install --target \"$HOME/.cache/lookout-pip\" 'django>=4.2,<6'",
            site.display()
        );
        let mut cmd = Command::new("python3");
        cmd.arg(examples().join("run/checkly_django.py"))
            .env("PYTHONPATH", site)
            .env("PORT", "0")
            .env("CHECKLY_WEBHOOK_SECRET", SECRET);
        Snippet::start(cmd)
    }

    /// Lines printed since the last call, waiting up to 10 s for the first of them.
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line from the snippet")
    }
}

/// Sends `r` to the snippet's `path` as the notifier would (method, headers, body).
async fn send(client: &reqwest::Client, port: u16, path: &str, r: &Request) -> (u16, String) {
    let mut req = client.request(
        reqwest::Method::from_bytes(r.method.as_bytes()).expect("method"),
        format!("http://127.0.0.1:{port}{path}"),
    );
    for (n, v) in &r.headers {
        req = req.header(n, v);
    }
    let resp = req
        .body(r.body.clone())
        .send()
        .await
        .expect("the snippet answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Events whose names and messages exercise every difference between a serialiser and
/// `JSON.stringify`.
fn odd_events() -> Vec<NotificationEvent> {
    let names = [
        "API Server",
        "Zürich ☃ 😀 API — «prod»",
        "line\u{2028}separator\u{2029}paragraph",
        "</script><b>&amp; 'quotes' \"double\"",
        "path/with/slashes \\ and backslash",
        "ctl \u{1}\u{8}\u{c}\u{1f}\u{7f} tab\there\nnew\rline",
        "١٢٣ עברית 日本語 \u{feff}bom \u{fffd}",
    ];
    let mut out = Vec::new();
    for (n, name) in names.iter().enumerate() {
        for kind in [
            EventKind::Incident,
            EventKind::Recovery,
            EventKind::CertRenewed,
            EventKind::Reminder,
        ] {
            let mut ev = event(kind);
            if let Some(m) = ev.monitor.as_mut() {
                m.name = (*name).into();
                m.target = format!("https://api.example.com/health?q={n}&x=/é");
            }
            if let Some(r) = ev.result.as_mut() {
                r.error_message = format!("{name}: {}", names[(n + 1) % names.len()]);
                // Beyond 2^53: JavaScript reads it as a double.
                r.duration_us = u64::MAX - n as u64;
            }
            out.push(ev);
        }
    }
    out
}

/// JSON template bodies where JSON.stringify reorders and reformats: array-index keys,
/// duplicates, floats, exponents, big integers, escapes, whitespace.
const ODD_TEMPLATE: &str = "{ \"b\": 1, \"10\": \"ten\", \"a\": [1.50, -0, 1e21, 1E-7, 123456789012345678901234],\n  \"2\": {\"z\": null, \"y\": true}, \"b\": \"{{CHECK_NAME}}\",\n  \"esc\": \"\\u0041\\/\\u00e9\\ud83d\\ude00\", \"n\": {{RESPONSE_TIME}} }";

fn requests(mode: SignatureMode, url: &str) -> Vec<Request> {
    let mut out = Vec::new();
    for ev in odd_events() {
        for body in [BodyFormat::Native, BodyFormat::Uptinio] {
            let mut w = signed(webhook(url), mode, SECRET);
            w.body = body as i32;
            out.push(render(&w, &ev));
        }
        let w = signed(
            templated(url, TemplateSyntax::Handlebars, ODD_TEMPLATE, true),
            mode,
            SECRET,
        );
        out.push(render_with(&w, &ev, &Variables::new()).expect("renders"));
        let go = templated(url, TemplateSyntax::Go, "{{ json . }}", true);
        out.push(render(&signed(go, mode, SECRET), &ev));
    }
    out
}

fn tampered(r: &Request) -> Vec<Request> {
    let mut wrong_secret = r.clone();
    for (n, v) in wrong_secret.headers.iter_mut() {
        if n.ends_with("-signature") {
            let flipped = if v.ends_with('0') { '1' } else { '0' };
            v.pop();
            v.push(flipped);
        }
    }
    let mut changed_body = r.clone();
    let text = String::from_utf8(changed_body.body.clone()).expect("utf-8");
    changed_body.body = text
        .replacen("API Server", "API Servers", 1)
        .replacen("\"b\"", "\"c\"", 1)
        .into_bytes();
    vec![wrong_secret, changed_body]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuspageone_node_handler_verifies_rendered_requests() {
    let s = Snippet::node("statuspageone.js", "WEBHOOK_SECRET");
    let client = reqwest::Client::new();
    for r in requests(
        SignatureMode::Statuspageone,
        "http://127.0.0.1/webhooks/statuspageone",
    ) {
        let sig = header(&r, "x-statuspageone-signature").expect("signature header");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
        let (status, answer) = send(&client, s.port, "/webhooks/statuspageone", &r).await;
        assert_eq!(
            (status, answer.as_str()),
            (200, r#"{"received":true}"#),
            "{}",
            body_text(&r)
        );
        // What the handler saw is what was sent: the body is its own JSON.stringify form.
        assert_eq!(s.next_line(), format!("verified {}", body_text(&r)));
    }
    let r = render(
        &signed(
            webhook("http://127.0.0.1/x"),
            SignatureMode::Statuspageone,
            SECRET,
        ),
        &event(EventKind::Incident),
    );
    for bad in tampered(&r) {
        let (status, answer) = send(&client, s.port, "/webhooks/statuspageone", &bad).await;
        assert_eq!(
            (status, answer.as_str()),
            (401, r#"{"error":"Invalid signature"}"#)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkly_node_handler_verifies_rendered_requests() {
    let s = Snippet::node("checkly.js", "CHECKLY_WEBHOOK_SECRET");
    let client = reqwest::Client::new();
    for r in requests(SignatureMode::Checkly, "http://127.0.0.1/webhook") {
        assert_eq!(header(&r, "x-checkly-timestamp"), Some("1705314620"));
        let sig = header(&r, "x-checkly-signature").expect("signature header");
        assert_eq!(sig.len(), 64, "bare hex: {sig}");
        let (status, _) = send(&client, s.port, "/webhook", &r).await;
        assert_eq!(status, 200, "{}", body_text(&r));
        assert_eq!(s.next_line(), "Signature is valid");
    }
    let r = render(
        &signed(
            webhook("http://127.0.0.1/x"),
            SignatureMode::Checkly,
            SECRET,
        ),
        &event(EventKind::Incident),
    );
    for bad in tampered(&r) {
        let (status, _) = send(&client, s.port, "/webhook", &bad).await;
        assert_eq!(status, 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkly_django_view_verifies_rendered_requests() {
    let s = Snippet::django();
    let client = reqwest::Client::new();
    for r in requests(SignatureMode::Checkly, "http://127.0.0.1/webhook") {
        let (status, _) = send(&client, s.port, "/webhook", &r).await;
        assert_eq!(status, 200, "{}", body_text(&r));
        // The view prints the digest it computed: the header's.
        assert_eq!(
            Some(s.next_line().as_str()),
            header(&r, "x-checkly-signature")
        );
    }
    // The Django view signs the raw bytes, so a text body verifies too.
    let text = signed(
        templated(
            "http://127.0.0.1/webhook",
            TemplateSyntax::Go,
            "{{ .Title }}\n",
            false,
        ),
        SignatureMode::Checkly,
        SECRET,
    );
    let r = render(&text, &event(EventKind::Incident));
    assert_eq!(send(&client, s.port, "/webhook", &r).await.0, 200);
    s.next_line();
    for bad in tampered(&render(
        &signed(
            webhook("http://127.0.0.1/x"),
            SignatureMode::Checkly,
            SECRET,
        ),
        &event(EventKind::Incident),
    )) {
        let (status, _) = send(&client, s.port, "/webhook", &bad).await;
        assert_eq!(status, 400);
        s.next_line();
    }
}

#[test]
fn the_docs_show_the_tested_snippets() {
    let doc = std::fs::read_to_string(examples().join("../../docs/webhook-formats.md"))
        .expect("docs/webhook-formats.md");
    for file in ["statuspageone.js", "checkly.js", "checkly_django.py"] {
        let code = std::fs::read_to_string(examples().join(file)).expect("snippet file");
        assert!(
            doc.contains(&code),
            "docs/webhook-formats.md must show examples/webhooks/{file} unchanged"
        );
    }
}

/// A random JSON text: nested values, keys that are and are not array indices (some
/// repeated), strings over the whole of Unicode (controls, U+2028, surrogate pairs as escapes,
/// `/`), numbers of every magnitude and spelling, and arbitrary whitespace.
fn random_json(depth: u32, out: &mut String) {
    use rand::Rng as _;
    let mut rng = rand::rng();
    let ws = |out: &mut String, rng: &mut rand::rngs::ThreadRng| {
        for _ in 0..rng.random_range(0..2) {
            out.push([' ', '\t', '\r', '\n'][rng.random_range(0..4)]);
        }
    };
    let string = |out: &mut String, rng: &mut rand::rngs::ThreadRng| {
        out.push('"');
        for _ in 0..rng.random_range(0..8) {
            match rng.random_range(0..10) {
                0 => out.push_str(
                    [
                        "\\n",
                        "\\\"",
                        "\\\\",
                        "\\/",
                        "\\b",
                        "\\u2028",
                        "\\ud83d\\ude00",
                        "\\u0000",
                        "\\u001F",
                        "\\t",
                    ][rng.random_range(0..10)],
                ),
                1 => out.push(char::from_u32(rng.random_range(0x80..0x3000)).unwrap_or('é')),
                2 => out.push(
                    ['\u{2028}', '\u{2029}', '\u{7f}', '😀', '/', '<', '\u{feff}']
                        [rng.random_range(0..7)],
                ),
                _ => match char::from(rng.random_range(b' '..=b'~')) {
                    '"' | '\\' => out.push('x'),
                    c => out.push(c),
                },
            }
        }
        out.push('"');
    };
    ws(out, &mut rng);
    match if depth > 3 {
        rng.random_range(0..5)
    } else {
        rng.random_range(0..7)
    } {
        0 => out.push_str(["true", "false", "null"][rng.random_range(0..3)]),
        1 | 2 => {
            let n = match rng.random_range(0..5) {
                0 => format!("{}", rng.random::<i64>()),
                1 => format!("{}", rng.random::<u64>()),
                2 => format!(
                    "{:e}",
                    rng.random::<f64>() * 10f64.powi(rng.random_range(-30..30))
                ),
                3 => format!(
                    "{}.{}E{}{}",
                    rng.random_range(0..1000),
                    rng.random_range(0..100000),
                    ["", "+", "-"][rng.random_range(0..3)],
                    rng.random_range(0..25)
                ),
                _ => format!(
                    "-{}.{:03}",
                    rng.random_range(0..10),
                    rng.random_range(0..1000)
                ),
            };
            out.push_str(&n);
        }
        3 | 4 => string(out, &mut rng),
        5 => {
            out.push('[');
            for i in 0..rng.random_range(0..4) {
                if i > 0 {
                    out.push(',');
                }
                random_json(depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.random_range(0..5) {
                if i > 0 {
                    out.push(',');
                }
                ws(out, &mut rng);
                match rng.random_range(0..3) {
                    0 => out.push_str(&format!("\"{}\"", rng.random_range(0..12))),
                    1 => out.push_str(
                        ["\"a\"", "\"b\"", "\"01\"", "\"4294967295\"", "\"-1\""]
                            [rng.random_range(0..5)],
                    ),
                    _ => string(out, &mut rng),
                }
                ws(out, &mut rng);
                out.push(':');
                random_json(depth + 1, out);
            }
            out.push('}');
        }
    }
    ws(out, &mut rng);
}

/// Lookout's JSON.stringify form of 3,000 random JSON texts is byte for byte Node's
/// `JSON.stringify(JSON.parse(text))`.
#[test]
fn json_stringify_form_matches_node() {
    let mut inputs = Vec::new();
    while inputs.len() < 3000 {
        let mut t = String::new();
        random_json(0, &mut t);
        // Node would keep a lone surrogate; Lookout refuses such bodies, so skip them here.
        if lookout_render::jsjson::check(t.as_bytes()).is_ok() {
            inputs.push(t);
        }
    }
    let dir = tempfile_dir();
    let input = dir.join("inputs.json");
    std::fs::write(&input, serde_json::to_vec(&inputs).expect("encode")).expect("write");
    let out = Command::new("node")
        .arg("-e")
        .arg("const fs=require('fs');const xs=JSON.parse(fs.readFileSync(process.argv[1],'utf8'));process.stdout.write(JSON.stringify(xs.map(x=>JSON.stringify(JSON.parse(x)))));")
        .arg(&input)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node: Vec<String> = serde_json::from_slice(&out.stdout).expect("node's answers");
    for (text, want) in inputs.iter().zip(&node) {
        let ours =
            String::from_utf8(lookout_render::jsjson::stringify(text.as_bytes()).expect("JSON"))
                .expect("utf-8");
        assert_eq!(&ours, want, "input {text:?}");
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lookout-jsjson-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
