//! Go templates over Coroot's incident data: the Coroot document's plain-text, JSON,
//! Telegram, Mattermost and Discord incident templates, verbatim, render to the documented
//! shapes; line breaks inside JSON strings are escaped as Coroot does; the engine's limits.

mod webhook_support;

use lookout_proto::v1::{EventKind, EventRegion, TemplateSyntax};
use lookout_render::Variables;
use serde_json::{Value, json};
use webhook_support::*;

const GO: TemplateSyntax = TemplateSyntax::Go;

const PLAIN: &str = r#"{{- if eq .Status `OK` }}
{{ .Application.Name }}@{{ .Application.Namespace }} incident resolved
{{- else }}
{{ .Status }} {{ .Application.Name }}@{{ .Application.Namespace }} is not meeting its SLOs
{{- end }}
{{- range .Reports }}
• *{{ .Name }}* / {{ .Check }}: {{ .Message }}
{{- end }}
{{ .URL }}
"#;

const TELEGRAM: &str = r#"{
"chat_id": "-123456789",
"text": "
{{- if eq .Status `OK` }}
[{{ .Application.Name }}@{{ .Application.Namespace }}]({{ .URL }}) incident resolved
{{- else }}
{{ .Status }} [{{ .Application.Name }}@{{ .Application.Namespace }}]({{ .URL }}) is not meeting its SLOs
{{- end }}
{{- range .Reports }}
• *{{ .Name }}* / {{ .Check }}: {{ .Message }}
{{- end }}",
"parse_mode": "Markdown"
}"#;

const MATTERMOST: &str = r#"{
"text": "
{{- if eq .Status `OK` }}
#### [{{ .Application.Name }}@{{ .Application.Namespace }}]({{ .URL }}) incident resolved
{{- else }}
#### {{ .Status }} [{{ .Application.Name }}@{{ .Application.Namespace }}]({{ .URL }}) is not meeting its SLOs
{{- end }}
{{- range .Reports }}
• **{{ .Name }}** / {{ .Check }}: {{ .Message }}
{{- end }}"
}"#;

const DISCORD: &str = r#"{
"content": "
{{- if eq .Status `OK` }}
### [{{ .Application.Name }}@{{ .Application.Namespace }}]({{ .URL }}) incident resolved
{{- else }}
### {{ .Status }} [{{ .Application.Name }}@{{ .Application.Namespace }}]({{ .URL }}) is not meeting its SLOs
{{- end }}
{{- range .Reports }}
• **{{ .Name }}** / {{ .Check }}: {{ .Message }}
{{- end }}"
}"#;

/// An incident down in two regions (Coroot's sample has two reports).
fn two_region_incident() -> lookout_proto::v1::NotificationEvent {
    let mut ev = event(EventKind::Incident);
    ev.regions.push(EventRegion {
        region: "eu-west-1".into(),
        status: "DOWN".into(),
        consecutive_failures: 4,
        down: true,
    });
    ev
}

fn text(template: &str, json: bool, ev: &lookout_proto::v1::NotificationEvent) -> String {
    let w = templated("https://hooks.example.com/in", GO, template, json);
    body_text(&render_with(&w, ev, &Variables::new()).expect("renders"))
}

#[test]
fn plain_text_template() {
    assert_eq!(
        text(PLAIN, false, &two_region_incident()),
        "\nCRITICAL API Server@prj_default is not meeting its SLOs\n\
         • *us-east-1* / Availability: Connection timeout after 30 seconds\n\
         • *eu-west-1* / Availability: 4 consecutive failed checks\n\
         https://api.example.com/health\n"
    );
    assert_eq!(
        text(PLAIN, false, &event(EventKind::Recovery)),
        "\nAPI Server@prj_default incident resolved\nhttps://api.example.com/health\n"
    );
    let mut degraded = event(EventKind::Degraded);
    degraded.regions[0].status = "DEGRADED".into();
    assert_eq!(
        text(PLAIN, false, &degraded),
        "\nWARNING API Server@prj_default is not meeting its SLOs\n\
         • *us-east-1* / Latency: response time 4200 ms is above 2000 ms\n\
         https://api.example.com/health\n"
    );
}

#[test]
fn json_function_gives_the_documents_sample_shape() {
    let mut vars = Variables::new();
    vars.insert("LOOKOUT_URL", "http://127.0.0.1:8080", false);
    let w = templated("https://hooks.example.com/in", GO, "{{ json . }}", true);
    let r = render_with(&w, &two_region_incident(), &vars).expect("renders");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        v,
        json!({
            "status": "CRITICAL",
            "application": "prj_default:http:API Server",
            "reports": [
                {"name": "us-east-1", "check": "Availability", "message": "Connection timeout after 30 seconds"},
                {"name": "eu-west-1", "check": "Availability", "message": "4 consecutive failed checks"}
            ],
            "url": "http://127.0.0.1:8080/monitors/mon_abc123xyz789/results/res_0001"
        })
    );
    // In the document's key order, compact as Go's json.Marshal.
    let t = body_text(&r);
    assert!(t.starts_with(r#"{"status":"CRITICAL","application":"prj_default:http:API Server","reports":[{"name":"us-east-1","check""#), "{t}");
}

fn chat(template: &str, key: &str, ev: &lookout_proto::v1::NotificationEvent) -> Value {
    let raw = text(template, true, ev);
    let v: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert!(v[key].is_string(), "{raw}");
    v
}

#[test]
fn telegram_template_gives_a_send_message_body() {
    let v = chat(TELEGRAM, "text", &two_region_incident());
    assert_eq!(v["chat_id"], "-123456789");
    assert_eq!(v["parse_mode"], "Markdown");
    assert_eq!(
        v["text"],
        "\nCRITICAL [API Server@prj_default](https://api.example.com/health) is not meeting its SLOs\n\
         • *us-east-1* / Availability: Connection timeout after 30 seconds\n\
         • *eu-west-1* / Availability: 4 consecutive failed checks"
    );
    let v = chat(TELEGRAM, "text", &event(EventKind::Recovery));
    assert_eq!(
        v["text"],
        "\n[API Server@prj_default](https://api.example.com/health) incident resolved"
    );
}

#[test]
fn mattermost_and_discord_templates() {
    let v = chat(MATTERMOST, "text", &event(EventKind::Incident));
    assert_eq!(
        v["text"],
        "\n#### CRITICAL [API Server@prj_default](https://api.example.com/health) is not meeting its SLOs\n\
         • **us-east-1** / Availability: Connection timeout after 30 seconds"
    );
    let v = chat(DISCORD, "content", &event(EventKind::Recovery));
    assert_eq!(
        v["content"],
        "\n### [API Server@prj_default](https://api.example.com/health) incident resolved"
    );
    assert_eq!(v.as_object().map(|o| o.len()), Some(1));
}

#[test]
fn values_inside_json_strings_are_escaped() {
    let mut ev = event(EventKind::Incident);
    if let Some(r) = ev.result.as_mut() {
        r.error_message = "got \"502\"\nfrom <upstream> \\ tab\there".into();
    }
    let v = chat(DISCORD, "content", &ev);
    assert_eq!(
        v["content"],
        "\n### CRITICAL [API Server@prj_default](https://api.example.com/health) is not meeting its SLOs\n\
         • **us-east-1** / Availability: got \"502\"\nfrom <upstream> \\ tab\there"
    );
    // Outside strings, values are printed as they are (numbers, json).
    let v: Value = serde_json::from_str(&text(
        r#"{"n": {{ len .Reports }}, "all": {{ json . }}, "s": {{ printf "%q" .Status }}}"#,
        true,
        &ev,
    ))
    .expect("JSON");
    assert_eq!(v["n"], 1);
    assert_eq!(v["all"]["status"], "CRITICAL");
    assert_eq!(v["s"], "CRITICAL");
}

#[test]
fn url_values_are_percent_encoded_and_headers_raw() {
    let mut vars = Variables::new();
    vars.insert("TOKEN", "t/k+n=1", true);
    let mut w = templated(
        "https://hooks.example.com/{{ .Vars.TOKEN }}?app={{ .Application.Name }}&s={{ .Status }}",
        GO,
        "",
        false,
    );
    w.headers = vec![lookout_proto::v1::Header {
        name: "X-App".into(),
        value: "{{ .Application.Name }} & co".into(),
    }];
    let r = render_with(&w, &event(EventKind::Incident), &vars).expect("renders");
    assert_eq!(
        r.url,
        "https://hooks.example.com/t%2Fk%2Bn%3D1?app=API%20Server&s=CRITICAL"
    );
    assert_eq!(header(&r, "x-app"), Some("API Server & co"));
}

#[test]
fn language_subset() {
    let ev = two_region_incident();
    for (template, want) in [
        ("{{ .Status }}", "CRITICAL"),
        ("{{ $.Application.Kind }}", "http"),
        ("{{ with .Application }}{{ .Name }}{{ end }}", "API Server"),
        ("{{ with .Vars }}x{{ else }}y{{ end }}", "x"),
        (
            "{{ range $i, $r := .Reports }}{{ $i }}={{ $r.Name }};{{ end }}",
            "0=us-east-1;1=eu-west-1;",
        ),
        ("{{ range .Reports }}{{ else }}none{{ end }}", ""),
        (
            "{{ if ne .Status `OK` }}a{{ else if eq .Status `OK` }}b{{ end }}",
            "a",
        ),
        (
            "{{ if eq .Status `WARNING` }}w{{ else if eq .Status `CRITICAL` }}c{{ else }}o{{ end }}",
            "c",
        ),
        ("{{ if and .URL (not .Vars) }}1{{ else }}2{{ end }}", "2"),
        ("{{ if or false .Status }}yes{{ end }}", "yes"),
        (
            "{{ if and false (index .Reports 9) }}x{{ else }}short{{ end }}",
            "short",
        ),
        ("{{ or .Status (index .Reports 9) }}", "CRITICAL"),
        (
            "{{ $n := len .Reports }}{{ if gt $n 1 }}many{{ end }}",
            "many",
        ),
        ("{{ .Status | printf \"%s!\" }}", "CRITICAL!"),
        ("{{ (index .Reports 1).Name }}", "eu-west-1"),
        ("{{ printf \"%d%% %v\" 5 .Event }}", "5% incident"),
        ("{{ print \"a\" \"b\" 1 2 }}", "ab1 2"),
        ("a {{- /* a comment */ -}} b", "ab"),
        ("{{ eq .Status \"CRITICAL\" \"OK\" }}", "true"),
        ("{{ .Title }}", "Check “API Server” has failed"),
    ] {
        assert_eq!(text(template, false, &ev), want, "{template}");
    }
}

#[test]
fn errors_name_line_and_column() {
    for (template, want) in [
        (
            "{{ .Status }}\n{{ if .URL }}",
            "webhook.template: line 2, column 1: unclosed if: no {{end}}",
        ),
        (
            "ok\n  {{ .Stauts }}",
            "webhook.template: line 2, column 6: unknown field .Stauts",
        ),
        (
            "{{ nope .Status }}",
            "webhook.template: line 1, column 4: function \"nope\" not defined",
        ),
        (
            "{{ end }}",
            "webhook.template: line 1, column 1: unexpected {{end}}",
        ),
        (
            "{{ .Status ",
            "webhook.template: line 1, column 1: unclosed action: no matching }}",
        ),
        (
            "{{ template \"x\" }}",
            "webhook.template: line 1, column 1: template is not supported",
        ),
        (
            "{{ range .Status }}{{ end }}",
            "webhook.template: line 1, column 1: range can't iterate over string",
        ),
    ] {
        let w = templated("https://hooks.example.com/in", GO, template, false);
        let e =
            render_with(&w, &event(EventKind::Incident), &Variables::new()).expect_err(template);
        assert_eq!(e.to_string(), want, "{template}");
    }
}

#[test]
fn runaway_templates_stop() {
    // 40 nested ranges over two reports: 2^40 iterations, refused by the step budget.
    let nested = "{{ range $.Reports }}".repeat(40) + &"{{ end }}".repeat(40);
    let w = templated("https://hooks.example.com/in", GO, &nested, false);
    let started = std::time::Instant::now();
    let e = render_with(&w, &two_region_incident(), &Variables::new()).expect_err("too many steps");
    assert!(e.to_string().contains("takes too many steps"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // Output past 1 MiB.
    let big = "{{ range $.Reports }}".repeat(12) + &"x".repeat(1000) + &"{{ end }}".repeat(12);
    let w = templated("https://hooks.example.com/in", GO, &big, false);
    let e = render_with(&w, &two_region_incident(), &Variables::new()).expect_err("over 1 MiB");
    assert!(
        e.to_string()
            .ends_with("renders to more than 1 MiB (the payload cap)"),
        "{e}"
    );
    // Nesting deeper than the parser's bound.
    let deep = "{{ if 1 }}".repeat(100) + &"{{ end }}".repeat(100);
    let w = templated("https://hooks.example.com/in", GO, &deep, false);
    let e = render_with(&w, &two_region_incident(), &Variables::new()).expect_err("too deep");
    assert!(e.to_string().contains("nested too deeply"), "{e}");
}

/// Random templates built from the languages' own pieces never panic either engine: they
/// render or are refused.
#[test]
fn random_templates_never_panic() {
    const PIECES: [&str; 40] = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        "{{ ",
        " }}",
        " ",
        ".",
        "$",
        "é",
        "😀",
        "\"",
        "`",
        "(",
        ")",
        "|",
        "if",
        "range",
        "end",
        "else",
        "with",
        ":=",
        "=",
        ",",
        "1",
        "-",
        "json",
        "eq",
        ".Status",
        ".Reports",
        "\n",
        "/*",
        "*/",
        "#eq",
        "/eq",
        "{{{",
        "}}}",
        "CHECK_NAME",
        "~",
        "'x'",
    ];
    let ev = two_region_incident();
    for _ in 0..5_000 {
        let len = rand::random_range(1..30);
        let t: String = (0..len)
            .map(|_| PIECES[rand::random_range(0..PIECES.len())])
            .collect();
        for syntax in [GO, TemplateSyntax::Handlebars] {
            for json in [false, true] {
                let w = templated("https://hooks.example.com/{{ .Status }}", syntax, &t, json);
                let _ = render_with(&w, &ev, &Variables::new());
            }
        }
    }
}
