//! Compiles `proto/lookout/v1/*.proto` with protox (pure Rust, no system protoc).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["monitor.proto", "result.proto", "agent.proto", "admin.proto"]
        .map(|f| format!("proto/lookout/v1/{f}"));
    let fds = protox::compile(&files, ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
