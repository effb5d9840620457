//! Developer tasks. Every task first runs `setup`, so a fresh machine needs no other command.
mod package;
mod quiet_build;
mod setup;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use std::process::Command;

#[derive(Parser)]
#[command(about = "mgm developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what is missing: Debian packages, nightly rust-src, bpf-linker, bpffs.
    Setup,
    /// Build everything (the XDP program included), in release mode with --release.
    Build {
        /// Build in release mode.
        #[arg(long)]
        release: bool,
    },
    /// Run mgmd on real interfaces: `cargo xtask run -- --iface eth0 --iface eth1`.
    Run {
        /// Arguments for mgmd.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The demo: a lab of network namespaces, mgmd forwarding, and a readable report.
    Demo {
        /// The PIM-SM chain instead of one router: source, r1, r2 (the RP), r3 and receivers,
        /// FRR's zebra and pimd running the protocol on each router and mgmd under each
        /// forwarding FRR's routes in XDP; 500 numbered packets, then per receiver what arrived
        /// (duplicates too) and per router `mgmctl show mfe` and how many packets the kernel
        /// forwarded (the mirror's samples).
        #[arg(long)]
        pim: bool,
        /// Extra arguments for the demo: --receivers N, --packets N, --group G, --group6 G (see
        /// `mgm-lab demo --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Bring a standing lab up or down, or show it.
    Lab {
        /// up, down or status (and options, see `mgm-lab --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Everything CI runs: fmt check, clippy -D warnings, unit and root integration tests.
    Test,
    /// A Debian package (binaries, systemd unit, configuration, manuals, completions).
    Package {
        /// Package the debug build (faster to build; what `test` checks).
        #[arg(long)]
        debug: bool,
        /// Then run lintian on it, install it into a scratch root and verify the unit there.
        #[arg(long)]
        check: bool,
    },
    /// Benchmarks against the kernel's multicast routing (`--quick` for a short smoke run).
    Bench {
        /// Arguments for the bench binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    setup::run()?;
    match cli.task {
        Task::Setup => Ok(()),
        Task::Build { release } => cargo_build(release),
        Task::Run { args } => run_bin("mgmd", &args, true),
        Task::Demo { pim, args } => {
            let mut all = vec!["demo".to_owned()];
            if pim {
                all.push("--pim".to_owned());
            }
            all.extend(args);
            run_bin("mgm-lab", &all, true)
        }
        Task::Lab { args } => run_bin("mgm-lab", &args, true),
        Task::Test => test(),
        Task::Package { debug, check } => {
            cargo_build(!debug)?;
            let target = target_dir()?;
            let deb = package::build(&target, if debug { "debug" } else { "release" })?;
            if check {
                package::check(&deb, &target)?;
            }
            Ok(())
        }
        Task::Bench { args } => {
            cargo(&[
                "build",
                "--release",
                "-p",
                "bench",
                "-p",
                "mgm-user",
                "--bins",
            ])?;
            exec(Command::new(target_dir()?.join("release/bench")).args(&args))
        }
    }
}

fn test() -> Result<()> {
    step("cargo fmt --check");
    cargo(&["fmt", "--all", "--", "--check"])?;
    step("the sans-IO crate (mgm-core) depends on nothing that does I/O");
    sans_io_check()?;
    step("cargo clippy -D warnings");
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    step("cargo test (unit, BPF_PROG_TEST_RUN and network-namespace integration tests)");
    cargo(&["build", "-p", "mgm-user", "--bins"])?;
    // Tests that need root are `#[ignore]`d, so that without root they show as ignored,
    // never as passed; as root (always under CI) every one of them runs.
    let mut args = vec!["test", "--workspace", "--", "--test-threads=2"];
    if is_root() {
        args.push("--include-ignored");
    } else if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        bail!("CI=true: the tests must run as root (root tests would only be ignored)");
    } else {
        eprintln!("not root: tests that need root are listed as ignored");
    }
    cargo(&args)?;
    step("Debian package: lintian, installation into a scratch root, systemd unit");
    let target = target_dir()?;
    package::check(&package::build(&target, "debug")?, &target)?;
    step("fuzz targets build (their corpora ran above, in mgm-user/tests/fuzz_corpora.rs)");
    fuzz_check()?;
    step("all tests passed");
    Ok(())
}

/// Crates that do I/O (or bind a library that does), which the sans-IO crate must not use.
const IO_CRATES: &[&str] = &[
    "aya",
    "aya-obj",
    "libc",
    "mio",
    "netlink-sys",
    "nix",
    "rtnetlink",
    "socket2",
    "tokio",
];

/// Fails if `mgm-core` (the MGM core, IGMP, wire views) depends, even indirectly, on a crate
/// of [`IO_CRATES`]: a reader of those modules can rely on their doing no I/O.
fn sans_io_check() -> Result<()> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "-p", "mgm-core", "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .context("starting cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let mut found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| IO_CRATES.contains(name))
        .collect();
    found.sort_unstable();
    found.dedup();
    if !found.is_empty() {
        bail!(
            "mgm-core must stay sans-IO but depends on {}",
            found.join(", ")
        );
    }
    Ok(())
}

/// Checks that the cargo-fuzz crate still builds: it is outside the workspace (cargo-fuzz
/// builds it with its own flags), so nothing else would notice it rot. A fuzzing build plus a
/// bounded run of each target takes longer than CI allows; the deep run is
/// `cargo +nightly fuzz run <target>` in `mgm-user/fuzz`.
fn fuzz_check() -> Result<()> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../mgm-user/fuzz/Cargo.toml");
    exec(
        Command::new(env!("CARGO"))
            .args(["check", "--locked", "--bins", "--manifest-path", manifest])
            // The targets need no eBPF object.
            .env("AYA_BUILD_SKIP", "1"),
    )
}

fn cargo_build(release: bool) -> Result<()> {
    let mut args = vec!["build"];
    args.extend(build_args(release));
    cargo(&args)
}

/// `cargo build`'s arguments for every binary of the workspace.
fn build_args(release: bool) -> Vec<&'static str> {
    let mut args = vec!["--workspace", "--bins"];
    if release {
        args.push("--release");
    }
    args
}

/// Builds the binaries (showing the build's output only when it fails) and runs one of them.
fn run_bin(bin: &str, args: &[String], release: bool) -> Result<()> {
    quiet_build::cargo_build(&build_args(release))?;
    let profile = if release { "release" } else { "debug" };
    exec(Command::new(target_dir()?.join(profile).join(bin)).args(args))
}

fn target_dir() -> Result<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?;
    Ok(std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| root.join("target")))
}

fn cargo(args: &[&str]) -> Result<()> {
    exec(Command::new(env!("CARGO")).args(args))
}

fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn is_root() -> bool {
    // `id -u` rather than libc: xtask keeps no dependency for one call.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}
