//! Generates the Rust types of `hub/v1/*.proto` at build time with a vendored `protoc`, so a
//! build needs nothing beyond crates.io.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let protos = ["hub/v1/jobs.proto", "hub/v1/service.proto"];
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &protos, &["."])?;
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
