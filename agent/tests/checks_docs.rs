//! Every YAML example in docs/checks.md parses as a monitor, passes validation and builds into
//! a runnable check, so the reference cannot drift from the code.

use lookout_agent::checks::{self, Targets};
use lookout_proto::Monitor;
use lookout_proto::validate;

const DOC: &str = include_str!("../../docs/checks.md");

fn yaml_blocks(doc: &str) -> Vec<&str> {
    doc.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .collect()
}

#[test]
fn documented_examples_validate_and_build() {
    let blocks = yaml_blocks(DOC);
    let mut kinds = Vec::new();
    for block in &blocks {
        let m: Monitor = serde_yaml_ng::from_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let m =
            validate::monitor(m, &["local".to_string()]).unwrap_or_else(|e| panic!("{e}\n{block}"));
        if let Err(e) = checks::build(&m, Targets::AnyAddress) {
            panic!("{e}\n{block}");
        }
        kinds.push(m.kind());
    }
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["dns", "grpc", "http", "icmp", "tcp", "tls"],
        "one example per check kind"
    );
}
