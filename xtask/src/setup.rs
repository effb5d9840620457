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
    // Owners of the kernel's multicast routes that the mirror's tests and lab run.
    ("frr", "vtysh"),
    ("smcroute", "smcrouted"),
    ("igmpproxy", "igmpproxy"),
];

const BPF_LINKER_VERSION: &str = "0.13.0";
/// The LLVM major versions bpf-linker 0.13.0 can be built against (its `llvm-N` features).
const BPF_LINKER_LLVM: &[u32] = &[21, 22, 23];

/// Runs every setup step. Each one checks first, so on a prepared machine this costs a few
/// `rustc --version` calls and prints nothing.
pub fn run() -> Result<()> {
    packages()?;
    let nightly = Nightly::ensure()?;
    nightly.rust_src()?;
    nightly.bpf_linker()?;
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

/// The toolchain `mgm-ebpf/rust-toolchain.toml` names (the eBPF program's), installed.
struct Nightly {
    /// Its name for rustup: "nightly" or a dated "nightly-YYYY-MM-DD".
    channel: String,
    sysroot: PathBuf,
    /// The major version of the LLVM it ships.
    llvm_major: u32,
}

impl Nightly {
    /// Reads the channel from the toolchain file and installs the toolchain if rustup lacks it.
    fn ensure() -> Result<Self> {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mgm-ebpf/rust-toolchain.toml"
        );
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        let channel = toolchain_channel(&text)
            .with_context(|| format!("{file}: no `channel = \"...\"` line"))?;
        let version = |channel: &str| {
            Command::new("rustc")
                .args([&format!("+{channel}"), "-vV"])
                .output()
                .ok()
                .filter(|o| o.status.success())
        };
        let out = match version(&channel) {
            Some(out) => out,
            None => {
                say(&format!("installing the {channel} toolchain"));
                quiet(Command::new("rustup").args([
                    "toolchain",
                    "install",
                    &channel,
                    "--profile",
                    "minimal",
                ]))?;
                version(&channel).with_context(|| format!("rustc +{channel} does not run"))?
            }
        };
        let verbose = String::from_utf8(out.stdout)?;
        let llvm_major = llvm_major(&verbose)
            .with_context(|| format!("rustc +{channel} -vV names no LLVM version"))?;
        let out = Command::new("rustc")
            .args([&format!("+{channel}"), "--print", "sysroot"])
            .output()
            .with_context(|| format!("running rustc +{channel}"))?;
        let sysroot = PathBuf::from(String::from_utf8(out.stdout)?.trim());
        Ok(Self {
            channel,
            sysroot,
            llvm_major,
        })
    }

    fn rust_src(&self) -> Result<()> {
        if self
            .sysroot
            .join("lib/rustlib/src/rust/library/core")
            .exists()
        {
            return Ok(());
        }
        let channel = &self.channel;
        say(&format!("adding rust-src to the {channel} toolchain"));
        quiet(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", channel]))
            .with_context(|| {
                format!("rustup could not add rust-src for {channel}; the eBPF build needs it")
            })
    }

    /// bpf-linker built against this toolchain's own libLLVM, with the `llvm-N` feature of
    /// its LLVM (mgm-user/docs/toolchain.md steps 2–3). A stamp beside the libLLVM links
    /// records what the installed bpf-linker was built for; any difference rebuilds it.
    fn bpf_linker(&self) -> Result<()> {
        let major = self.llvm_major;
        if !BPF_LINKER_LLVM.contains(&major) {
            bail!(
                "{} ships LLVM {major}, but bpf-linker {BPF_LINKER_VERSION} builds only against \
                 LLVM {BPF_LINKER_LLVM:?}: pin a nightly with one of those in \
                 mgm-ebpf/rust-toolchain.toml, or raise BPF_LINKER_VERSION in xtask/src/setup.rs",
                self.channel
            );
        }
        let libllvm = std::fs::read_dir(self.sysroot.join("lib"))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libLLVM.so."))
            })
            .with_context(|| format!("the {} toolchain ships no libLLVM.so.*", self.channel))?;
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .context("neither CARGO_HOME nor HOME is set")?;
        let prefix = home.join(format!("bpf-llvm-{}", self.channel));
        let lib = prefix.join("lib");
        let name = libllvm.file_name().context("libLLVM has no file name")?;
        let soname_link = lib.join(name);
        let feature = format!("llvm-{major}");
        let stamp = prefix.join("bpf-linker.built-for");
        let wanted = format!("{BPF_LINKER_VERSION} {feature} {}\n", libllvm.display());
        let linked = std::fs::read_link(&soname_link).ok().as_deref() == Some(&libllvm);
        let installed = Command::new("bpf-linker")
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION));
        let built_for = std::fs::read_to_string(&stamp).ok();
        if linked && installed && built_for.as_deref() == Some(&wanted) {
            return Ok(());
        }
        if linked && installed && built_for.is_none() && major == 22 {
            // Set up by an earlier xtask, which always built with llvm-22 against these links.
            return std::fs::write(&stamp, &wanted).context("writing the bpf-linker stamp");
        }
        if !linked {
            say(&format!(
                "linking {} into {}",
                libllvm.display(),
                lib.display()
            ));
            std::fs::create_dir_all(&lib)?;
            for link in [soname_link, lib.join("libLLVM.so")] {
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&libllvm, &link)?;
            }
        }
        say(&format!(
            "installing bpf-linker {BPF_LINKER_VERSION} ({feature}) against {}",
            libllvm.display()
        ));
        let _ = std::fs::remove_file(&stamp);
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
            &feature,
            "--force",
        ])
        .env("LLVM_PREFIX", &prefix);
        quiet(&mut cmd).context("installing bpf-linker")?;
        std::fs::write(&stamp, &wanted).context("writing the bpf-linker stamp")
    }
}

/// The `channel` of a rust-toolchain.toml's `[toolchain]` table.
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

/// The LLVM major version in `rustc -vV` output ("LLVM version: 22.1.4" → 22).
fn llvm_major(verbose: &str) -> Option<u32> {
    verbose
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))?
        .split('.')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Where mgmd pins by default (under `mgm/`), also when run with `ip netns exec`: it reaches
/// this host's /sys/fs/bpf from there (see `mgm_user::dataplane::bpffs`).
const BPFFS: &str = "/sys/fs/bpf";

/// A bpffs at [`BPFFS`]. One mounted elsewhere (such as the lab's /run/mgm/bpffs) does not
/// count: mgmd's default pins go to /sys/fs/bpf.
fn bpffs() -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if fs_type_at(&mounts, BPFFS) == Some("bpf") {
        return Ok(());
    }
    if !is_root() {
        return Ok(());
    }
    say("mounting bpffs at /sys/fs/bpf");
    quiet(Command::new("mount").args(["-t", "bpf", "bpf", BPFFS]))
}

/// The type of the file system mounted at `path` according to `mounts` (the format of
/// /proc/mounts), the last of several mounts there (the one on top); `None` if none is.
fn fs_type_at<'a>(mounts: &'a str, path: &str) -> Option<&'a str> {
    mounts.lines().rev().find_map(|l| {
        let mut fields = l.split_whitespace();
        let at = fields.nth(1)?;
        (at == path).then(|| fields.next()).flatten()
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bpffs_at_sys_fs_bpf_counts() {
        let elsewhere = "sysfs /sys sysfs rw 0 0\nbpf /run/mgm/bpffs bpf rw 0 0\n";
        assert_eq!(fs_type_at(elsewhere, BPFFS), None);
        let there = format!("{elsewhere}bpf /sys/fs/bpf bpf rw,relatime 0 0\n");
        assert_eq!(fs_type_at(&there, BPFFS), Some("bpf"));
        let covered = format!("{there}tmpfs /sys/fs/bpf tmpfs rw 0 0\n");
        assert_eq!(fs_type_at(&covered, BPFFS), Some("tmpfs"));
    }

    #[test]
    fn the_channel_and_the_llvm_major_are_read() {
        let file = "# comment\n[toolchain]\nchannel = \"nightly-2026-05-20\" # dated\n";
        assert_eq!(
            toolchain_channel(file).as_deref(),
            Some("nightly-2026-05-20")
        );
        assert_eq!(toolchain_channel("[toolchain]\n"), None);
        let verbose = "rustc 1.97.0-nightly\nrelease: 1.97.0-nightly\nLLVM version: 22.1.4\n";
        assert_eq!(llvm_major(verbose), Some(22));
        assert_eq!(llvm_major("rustc 1.0\n"), None);
    }

    #[test]
    fn the_ebpf_crates_toolchain_file_names_a_channel() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mgm-ebpf/rust-toolchain.toml"
        );
        let text = std::fs::read_to_string(file).expect("toolchain file");
        assert!(toolchain_channel(&text).is_some_and(|c| c.starts_with("nightly")));
    }
}
