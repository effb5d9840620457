//! Builds the XDP program (`mgm-ebpf`) with the nightly toolchain and bpf-linker, so that the
//! control plane can embed it. With `AYA_BUILD_SKIP=1` it leaves an empty object instead, which
//! the loader refuses with a clear error: that mode is for working on pure userspace code only.
use anyhow::{anyhow, Context as _};
use aya_build::{Package, Toolchain};
use std::{env, fs, path::PathBuf};

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata_root()?;
    let ebpf = Package {
        name: "mgm-ebpf",
        root_dir: &metadata,
        ..Default::default()
    };
    // The toolchain the eBPF crate's rust-toolchain.toml names (`cargo xtask setup` installs it
    // and builds bpf-linker against its LLVM).
    let toolchain_file = PathBuf::from(&metadata).join("rust-toolchain.toml");
    println!("cargo:rerun-if-changed={}", toolchain_file.display());
    let toolchain = fs::read_to_string(&toolchain_file)
        .with_context(|| format!("reading {}", toolchain_file.display()))?;
    let channel = toolchain_channel(&toolchain)
        .with_context(|| format!("{}: no channel", toolchain_file.display()))?;
    aya_build::build_ebpf([ebpf], Toolchain::Custom(&channel))?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| anyhow!("OUT_DIR not set"))?);
    for object in ["mgm-xdp", "mgm-bench-xdp"].map(|name| out_dir.join(name)) {
        if !object.exists() {
            fs::write(&object, []).context("writing an empty eBPF placeholder")?;
        }
    }
    Ok(())
}

/// The eBPF crate's directory, beside this one.
fn cargo_metadata_root() -> anyhow::Result<String> {
    let manifest = env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let root = PathBuf::from(manifest)
        .parent()
        .ok_or_else(|| anyhow!("mgm-user has no parent directory"))?
        .join("mgm-ebpf");
    root.into_os_string()
        .into_string()
        .map_err(|p| anyhow!("non-UTF-8 path {p:?}"))
}

/// The `channel` of a rust-toolchain.toml (the same reading as xtask's setup).
fn toolchain_channel(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("channel")?
            .trim_start()
            .strip_prefix('=')?;
        let value = value.trim().strip_prefix('"')?;
        Some(value[..value.find('"')?].to_owned())
    })
}
