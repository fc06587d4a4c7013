//! Webhook integrations as they are saved: each bad setting or template is refused with the
//! field, and for templates the line and column; good ones are accepted.

mod webhook_support;

use lookout_proto::v1::{BodyFormat, Header, TemplateSyntax, WebhookIntegration};
use lookout_render::{Variables, validate};
use webhook_support::*;

const HB: TemplateSyntax = TemplateSyntax::Handlebars;
const GO: TemplateSyntax = TemplateSyntax::Go;
const URL: &str = "https://hooks.example.com/in";

fn project_variables() -> Variables {
    let mut v = Variables::new();
    v.insert("JIRA_TOKEN", "jt-secret-value", true);
    v.insert("TEAM", "platform", false);
    v
}

fn with_header(value: &str) -> WebhookIntegration {
    let mut w = webhook(URL);
    w.headers = vec![Header {
        name: "X-Team".into(),
        value: value.into(),
    }];
    w
}

#[test]
fn bad_webhooks_are_refused_naming_field_line_and_column() {
    let cases: Vec<(&str, WebhookIntegration, &str)> = vec![
        (
            "unknown variable in a JSON body",
            templated(
                URL,
                HB,
                "{\n  \"summary\": \"{{ALERT_TITLE}}\",\n  \"check\": \"{{CHECK_NAM}}\"\n}",
                true,
            ),
            "webhook.template: line 3, column 13: unknown variable CHECK_NAM",
        ),
        (
            "Handlebars syntax error",
            templated(URL, HB, "{{#if CHECK_NAME}}\nup\n{{/each}}", false),
            "webhook.template: line 3, column 1: syntax error: ",
        ),
        (
            "unknown variable in the URL",
            webhook("https://example.atlassian.net/{{JIRA_TOKN}}/issue"),
            "webhook.url: line 1, column 31: unknown variable JIRA_TOKN",
        ),
        (
            "unknown variable in a header",
            with_header("team {{TAEM}}"),
            "webhook.headers[0].value: line 1, column 6: unknown variable TAEM",
        ),
        (
            "body declared JSON that is not",
            templated(URL, HB, "{\n  \"name\": {{CHECK_NAME}}\n}", true),
            "webhook.template: the rendered body is not JSON: line 2, column 11: expected a JSON value",
        ),
        (
            "Go template: unknown field",
            templated(
                URL,
                GO,
                "{{ .Status }}\n{{ range .Reports }}{{ .Mesage }}{{ end }}",
                false,
            ),
            "webhook.template: line 2, column 24: unknown field .Mesage",
        ),
        (
            "Go template: syntax error",
            templated(URL, GO, "{{ if eq .Status `OK` }}\nok", false),
            "webhook.template: line 1, column 1: unclosed if: no {{end}}",
        ),
        (
            "Go template: body declared JSON that is not",
            templated(URL, GO, "{\"text\": \"{{ .Status }}\",}", true),
            "webhook.template: the rendered body is not JSON: line 1, column 21: expected a string key",
        ),
        (
            "URL that renders to something that is not http(s)",
            webhook("{{{TEAM}}}://example.com/x"),
            "webhook.url: renders to a URL that is not http(s) with a host",
        ),
        (
            "URL without a template, not http",
            webhook("ftp://example.com/x"),
            "webhook.url: must be an http or https URL",
        ),
        (
            "unknown body format",
            WebhookIntegration {
                body: 9,
                ..webhook(URL)
            },
            "webhook.body: 9 is not a body format",
        ),
        (
            "unknown syntax",
            WebhookIntegration {
                syntax: 5,
                ..webhook(URL)
            },
            "webhook.syntax: 5 is not a template syntax",
        ),
        (
            "template with the native body",
            WebhookIntegration {
                template: "{{CHECK_NAME}}".into(),
                ..webhook(URL)
            },
            "webhook.template: is set, but webhook.body is not BODY_FORMAT_TEMPLATE",
        ),
        (
            "JSON flag with the Uptinio body",
            WebhookIntegration {
                body: BodyFormat::Uptinio as i32,
                template_is_json: true,
                ..webhook(URL)
            },
            "webhook.template_is_json: applies to BODY_FORMAT_TEMPLATE only",
        ),
        (
            "template over 64 KiB",
            templated(URL, HB, &"x".repeat(64 * 1024 + 1), false),
            "webhook.template: is longer than 65536 bytes",
        ),
        (
            "partials",
            templated(URL, HB, "{{> other}}", false),
            "webhook.template: partials and decorators are not supported",
        ),
    ];
    for (what, w, want) in cases {
        let e = validate(integration(w), &project_variables()).expect_err(what);
        let got = e.to_string();
        assert!(
            got.starts_with(want),
            "{what}:\n  got  {got}\n  want {want}"
        );
        assert!(!got.contains("jt-secret-value"), "{what}: {got}");
    }
}

#[test]
fn good_webhooks_are_accepted() {
    let mut headers = with_header("{{TEAM}}");
    headers.headers.push(Header {
        name: "Authorization".into(),
        value: "Bearer {{JIRA_TOKEN}}".into(),
    });
    let cases: Vec<(&str, WebhookIntegration)> = vec![
        ("native", webhook(URL)),
        (
            "uptinio",
            WebhookIntegration {
                body: BodyFormat::Uptinio as i32,
                ..webhook(URL)
            },
        ),
        (
            "secret in the URL",
            webhook("https://example.atlassian.net/rest?token={{JIRA_TOKEN}}"),
        ),
        ("headers with variables", headers),
        (
            "Handlebars JSON",
            templated(
                URL,
                HB,
                r#"{"t":"{{ALERT_TITLE}}","n":{{RESPONSE_TIME}}}"#,
                true,
            ),
        ),
        (
            "Handlebars text",
            templated(
                URL,
                HB,
                "{{CHECK_NAME}} is {{#eq ALERT_TYPE 'ALERT_FAILURE'}}down{{/eq}}",
                false,
            ),
        ),
        ("empty template: no body", templated(URL, HB, "", false)),
        ("Go JSON", templated(URL, GO, "{{ json . }}", true)),
        (
            "Go text",
            templated(URL, GO, "{{ .Status }} {{ .Vars.TEAM }}", false),
        ),
    ];
    for (what, w) in cases {
        let i = validate(integration(w), &project_variables())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(i.rate_limit_per_minute, 100, "{what}");
    }
}

#[test]
fn deeply_nested_templates_are_refused_not_crashing() {
    let n = 2500;
    let blocks = "{{#if CHECK_NAME}}".repeat(n) + &"{{/if}}".repeat(n);
    let subexpressions = format!(
        "{{{{eq {}CHECK_NAME{} 'x'}}}}",
        "(eq ".repeat(n),
        " 'x')".repeat(n)
    );
    let go = "{{ if 1 }}".repeat(n) + &"{{ end }}".repeat(n);
    let go_parens = format!("{{{{ {}1{} }}}}", "(not ".repeat(n), ")".repeat(n));
    for (what, w) in [
        ("Handlebars blocks", templated(URL, HB, &blocks, false)),
        (
            "Handlebars subexpressions",
            templated(URL, HB, &subexpressions, false),
        ),
        ("Go blocks", templated(URL, GO, &go, false)),
        ("Go parentheses", templated(URL, GO, &go_parens, false)),
    ] {
        let e = validate(integration(w), &Variables::new()).expect_err(what);
        assert!(e.to_string().contains("nested too deeply"), "{what}: {e}");
    }
}
