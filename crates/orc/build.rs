//! Links `orc` as a position-dependent executable on glibc targets.
//!
//! containerd's shim starts this binary once per container as its log driver
//! (`orc __logger`). A position-independent executable has every pointer in its
//! read-only data (vtables, panic locations, string tables: ~1.4 MB in a debug build,
//! several hundred KB in a release one) relocated by the dynamic loader at each start,
//! which dirties those pages privately in every process: that was most of each log
//! driver's ~1.3-2.4 MiB. Linked at a fixed address, those pages stay clean and shared
//! with every other orc process. The boards' static musl binary is position-dependent
//! already (Rust's aarch64/armv7 musl targets have no static-pie), so this makes the
//! glibc builds (development, tests, x86_64 installs) behave like the boards' binary.
//! The cost: no address-space randomisation of the orc binary itself (libraries,
//! stack, heap and mmap stay randomised).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
