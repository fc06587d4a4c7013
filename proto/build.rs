//! Compiles `proto/lookout/v1/*.proto` with protox (pure Rust, no system protoc): prost types,
//! tonic services, and pbjson serde impls (proto3 JSON mapping with the proto field names).
use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "monitor.proto",
        "result.proto",
        "agent.proto",
        "integration.proto",
        "admin.proto",
        "member.proto",
    ]
    .map(|f| format!("proto/lookout/v1/{f}"));
    let fds = protox::compile(&files, ["proto"])?;
    let descriptors = fds.encode_to_vec();
    // Served by gRPC reflection (so grpcurl works without .proto files).
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("lookout_descriptor.bin"), &descriptors)?;
    // Our codec reports undecodable requests as INVALID_ARGUMENT (see src/codec.rs).
    tonic_prost_build::configure()
        .codec_path("crate::codec::LookoutCodec")
        .compile_fds(fds)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .preserve_proto_field_names()
        .build(&[".lookout.v1"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
