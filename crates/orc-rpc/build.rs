fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/orc.proto");
    tonic_prost_build::configure().compile_protos(&["proto/orc.proto"], &["proto"])?;
    Ok(())
}
