use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Sample {
    #[serde(default)]
    name: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    tokens: BTreeMap<String, String>,
}

fn env(name: &str) -> Option<String> {
    match name {
        "NAME" => Some("shop".into()),
        "MULTILINE" => Some("x\nenabled: true\nport: 1".into()),
        "PORT" => Some("8080".into()),
        "YES" => Some("true".into()),
        "SECRET" => Some("hunter2".into()),
        _ => None,
    }
}

fn sample(text: &str) -> Result<Sample, ConfigFileError> {
    parse(text, "test.yaml", &env)
}

#[test]
fn expands_variables_inside_scalars() {
    let s = sample(
        "name: \"${NAME}-eu\"\ntoken: ${SECRET}\nport: ${PORT}\nenabled: ${YES}\n\
         tags: [a, '${NAME}']\ntokens: {agent: '${SECRET}'}\n",
    )
    .expect("parses");
    assert_eq!(s.name, "shop-eu");
    assert_eq!(s.token.as_deref(), Some("hunter2"));
    assert_eq!((s.port, s.enabled), (8080, true));
    assert_eq!(s.tags, ["a", "shop"]);
    assert_eq!(s.tokens["agent"], "hunter2");
}

#[test]
fn a_value_with_line_breaks_stays_one_scalar() {
    let s = sample("name: ${MULTILINE}\n").expect("parses");
    assert_eq!(s.name, "x\nenabled: true\nport: 1");
    assert_eq!((s.enabled, s.port), (false, 0), "no keys were added");
}

#[test]
fn comments_and_escapes_are_left_alone() {
    let s = sample("# token: ${UNSET}\nname: cost $${NAME} and $5\n").expect("parses");
    assert_eq!(s.name, "cost ${NAME} and $5");
}

#[test]
fn expansion_errors_name_the_field_and_variable() {
    let cases = [
        (
            "name: ${UNSET}",
            "name: environment variable UNSET (used as ${UNSET}) is not set",
        ),
        ("name: ${OPEN", "name: unterminated ${"),
        ("name: ${not a name}", "is not a variable name"),
        (
            "port: ${NAME}",
            "port: the expanded value is invalid, must be a number",
        ),
        (
            "enabled: ${PORT}",
            "enabled: the expanded value is invalid, must be true or false",
        ),
    ];
    for (yaml, want) in cases {
        let e = sample(yaml).expect_err(yaml).to_string();
        assert!(e.starts_with("config test.yaml: "), "{e}");
        assert!(e.contains(want), "{yaml}: {e}");
    }
    let e = sample("port: ${SECRET}")
        .expect_err("not a number")
        .to_string();
    assert!(
        !e.contains("hunter2"),
        "an expanded value is not repeated: {e}"
    );
}

#[test]
fn ordinary_errors_keep_field_and_line() {
    let e = sample("name: a\nprot: 1\n")
        .expect_err("unknown field")
        .to_string();
    assert!(e.contains("prot") && e.contains("line 2"), "{e}");
    let e = sample("port: 70000\n")
        .expect_err("out of range")
        .to_string();
    assert!(e.contains("port"), "{e}");
}

#[test]
fn ordinary_aliases_still_work() {
    let s = sample("tags: [&t shared, *t]\nname: *t\n").expect("small aliases are fine");
    assert_eq!(s.tags, ["shared", "shared"]);
    assert_eq!(s.name, "shared");
}

#[test]
fn an_alias_bomb_is_refused_before_it_expands() {
    // Nine levels of ten aliases each: a few hundred bytes that would expand to 10^9 strings.
    let mut text = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let started = std::time::Instant::now();
    let e = parse::<BTreeMap<String, serde_yaml_ng::Value>>(&text, "bomb.yaml", &env)
        .expect_err("refused")
        .to_string();
    // serde_yaml_ng's own replay limit may stop this shape first; either way it is refused.
    assert!(
        e.contains("aliases expand to more than") || e.contains("repetition limit exceeded"),
        "{e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // One large string repeated through aliases: few nodes, many bytes.
    let big = "x".repeat(500_000);
    let text = format!("a: &a \"{big}\"\nb: [{}]\n", vec!["*a"; 100].join(", "));
    let e = parse::<BTreeMap<String, serde_yaml_ng::Value>>(&text, "big.yaml", &env)
        .expect_err("refused");
    assert!(matches!(e, ConfigFileError::TooManyAliases { .. }), "{e}");
}

#[test]
fn file_size_is_capped() {
    let dir = std::env::temp_dir().join(format!("lookout-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("big.yaml");
    std::fs::write(
        &path,
        format!("name: {}\n", "x".repeat(MAX_FILE_BYTES as usize)),
    )
    .expect("write");
    let e = load::<Sample>(&path).expect_err("too large");
    assert!(matches!(e, ConfigFileError::TooLarge { .. }), "{e}");
    let missing = load::<Sample>(&dir.join("missing.yaml")).expect_err("missing");
    assert!(
        missing.to_string().starts_with("cannot read config"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn untagged_number_errors_say_what_is_valid() {
    assert_eq!(
        clarify(
            "monitors[0].interval_secs: data did not match any variant of untagged enum Content at line 4 column 20"
        ),
        "monitors[0].interval_secs: value is invalid, must be a whole number 0..=4294967295 at line 4 column 20"
    );
    assert_eq!(clarify("port: invalid type"), "port: invalid type");
}

#[test]
fn the_tracked_path_replaces_a_shorter_one() {
    assert_eq!(
        with_path(
            "monitors[0].interval_secs",
            "monitors[0]: value is invalid at line 5 column 5"
        ),
        "monitors[0].interval_secs: value is invalid at line 5 column 5"
    );
    assert_eq!(
        with_path("port", "port: invalid value"),
        "port: invalid value"
    );
    assert_eq!(with_path(".", "invalid type: map"), "invalid type: map");
    assert_eq!(
        with_path("name", "invalid type: map"),
        "name: invalid type: map"
    );
}

/// Like pbjson's numbers: untagged, so a refusal comes after the value was read.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(untagged)]
enum Either {
    Number(u32),
    Text(Vec<u8>),
}

#[derive(Debug, Deserialize)]
struct Outer {
    items: Vec<BTreeMap<String, Either>>,
}

#[test]
fn an_error_after_the_value_was_read_names_the_field() {
    let ok = parse::<Outer>("items:\n  - a: 1\n", "t.yaml", &env).expect("a number");
    assert_eq!(ok.items[0]["a"], Either::Number(1));
    let e = parse::<Outer>("items:\n  - a: 1\n    b: -5\n", "t.yaml", &env)
        .expect_err("negative")
        .to_string();
    assert!(e.contains("items[0].b: "), "{e}");
}
