//! `lookout-coordinator bench-assign` at a small size: agents joining at once end with every
//! (monitor, region) pair on exactly one agent, and one leaving moves only its own share.

use std::process::Command;

#[test]
fn bench_assign_completes_and_moves_only_the_leavers_share() {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout-coordinator"))
        .args([
            "bench-assign",
            "--monitors",
            "3000",
            "--regions",
            "3",
            "--agents",
            "9",
        ])
        .output()
        .expect("run the bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("3000 monitors x 3 regions = 9000 pairs over 9 agents"),
        "{stdout}"
    );
    let moved_line = stdout
        .lines()
        .find(|l| l.starts_with("one agent left:"))
        .unwrap_or_else(|| panic!("no leave figure: {stdout}"));
    let moved: f64 = moved_line
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {moved_line:?}"));
    // A third of the pairs are in the leaver's region; it had about a third of those.
    assert!(
        (700.0..=1300.0).contains(&moved),
        "{moved} of 9000 moved: {stdout}"
    );
    assert!(stdout.contains("[met]"), "{stdout}");
}

#[test]
fn bench_assign_refuses_a_shape_it_cannot_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout-coordinator"))
        .args([
            "bench-assign",
            "--monitors",
            "10",
            "--regions",
            "3",
            "--agents",
            "2",
        ])
        .output()
        .expect("run the bench");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least one agent per region"), "{stderr}");
}
