//! Idempotent installation of everything the build, the tests and the demo need.
//! Each step checks first and only acts on what is missing, saying what it did.
use anyhow::{bail, Context as _, Result};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// Debian packages used by the lab, the tests, the demo and the benchmarks, with the command
/// each provides (checked on PATH before asking apt).
const PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "ip"),
    ("ethtool", "ethtool"),
    ("iputils-ping", "ping"),
    ("procps", "sysctl"),
    // `cargo xtask package --check` (and so `test`).
    ("lintian", "lintian"),
    ("systemd", "systemd-analyze"),
    // promtool, which checks the metrics endpoint's exposition in the tests.
    ("prometheus", "promtool"),
];

const BPF_LINKER_VERSION: &str = "0.13.0";

/// Runs every setup step.
pub fn run() -> Result<()> {
    packages()?;
    rust_src()?;
    bpf_linker()?;
    bpffs()?;
    Ok(())
}

fn packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, cmd)| which(cmd).is_none())
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    say(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    let install = |update: bool| -> Result<bool> {
        if update {
            quiet(Command::new("apt-get").args(["update", "-qq"]))?;
        }
        Ok(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("running apt-get (are you root?)")?
            .success())
    };
    if !install(false)? && !install(true)? {
        bail!("apt-get could not install {}", missing.join(" "));
    }
    Ok(())
}

fn nightly_sysroot() -> Result<PathBuf> {
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output();
    let ok = matches!(&out, Ok(o) if o.status.success());
    if !ok {
        say("installing the nightly toolchain");
        quiet(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .context("running rustc +nightly")?;
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

fn rust_src() -> Result<()> {
    let sysroot = nightly_sysroot()?;
    if sysroot.join("lib/rustlib/src/rust/library/core").exists() {
        return Ok(());
    }
    say("adding rust-src to the nightly toolchain");
    quiet(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
        .context("rustup could not add rust-src for nightly; the eBPF build needs it")
}

/// bpf-linker linked against the nightly's own libLLVM (TOOLCHAIN.md steps 2–3).
fn bpf_linker() -> Result<()> {
    let sysroot = nightly_sysroot()?;
    let libllvm = std::fs::read_dir(sysroot.join("lib"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so."))
        })
        .context("the nightly toolchain ships no libLLVM.so.*")?;
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let prefix = home.join("bpf-llvm-nightly");
    let lib = prefix.join("lib");
    let name = libllvm.file_name().context("libLLVM has no file name")?;
    let soname_link = lib.join(name);
    let fresh_prefix = std::fs::read_link(&soname_link).ok().as_deref() != Some(&libllvm);
    if fresh_prefix {
        say(&format!(
            "linking {} into {}",
            libllvm.display(),
            lib.display()
        ));
        std::fs::create_dir_all(&lib)?;
        for link in [soname_link.clone(), lib.join("libLLVM.so")] {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&libllvm, &link)?;
        }
    }
    let current = Command::new("bpf-linker").arg("--version").output();
    let up_to_date = matches!(&current, Ok(o) if String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION));
    if up_to_date && !fresh_prefix {
        return Ok(());
    }
    say(&format!(
        "installing bpf-linker {BPF_LINKER_VERSION} against {}",
        libllvm.display()
    ));
    let mut cmd = Command::new("cargo");
    cmd.args([
        "+stable",
        "install",
        "bpf-linker",
        "--version",
        BPF_LINKER_VERSION,
    ])
    .args([
        "--locked",
        "--no-default-features",
        "--features",
        "llvm-22",
        "--force",
    ])
    .env("LLVM_PREFIX", &prefix);
    quiet(&mut cmd).context("installing bpf-linker")
}

/// bpffs at /sys/fs/bpf, where mgmd pins its maps and programs.
fn bpffs() -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("bpf"))
    {
        return Ok(());
    }
    if !is_root() {
        return Ok(());
    }
    say("mounting bpffs at /sys/fs/bpf");
    quiet(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(cmd))
        .find(|p| Path::new(p).is_file())
}

fn quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn say(what: &str) {
    eprintln!("setup: {what}");
}
