//! Compiles `proto-events/**/*.proto` with a pure-Rust protobuf compiler (no `protoc` needed).
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto-events");
    let files = ["catalog", "order", "payment", "registration"]
        .map(|f| root.join(format!("commerce/v1/{f}.proto")));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&root])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
