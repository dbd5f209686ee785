//! Compiles the cluster RPC proto without a protoc binary (protox is pure Rust).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/shoal.proto");
    let fds = protox::compile(["proto/shoal.proto"], ["proto"])?;
    // No generated clients: callers go through the typed `Pool::call::<C>` (see `calls.rs`).
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(fds)?;
    Ok(())
}
