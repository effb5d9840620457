//! `cargo xtask package`: a Debian package of mgm (binaries, systemd unit, default
//! configuration, manual pages, shell completions), laid out in a staging root and built with
//! dpkg-deb; `--check` then runs lintian on it, installs it into a scratch root and verifies
//! the unit with systemd-analyze there.
use anyhow::{bail, Context as _, Result};
use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

const NAME: &str = "mgm";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The staging and output directory, under the target directory.
const OUT: &str = "package";

/// Builds the package from the `profile` build ("release" or "debug"); returns its path.
pub fn build(target: &Path, profile: &str) -> Result<PathBuf> {
    let bin = target.join(profile);
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mgm-user/dist");
    let out = target.join(OUT);
    let root = out.join("root");
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
    }
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    let mgmd = bin.join("mgmd");
    let mgmctl = bin.join("mgmctl");
    install_binary(&mgmd, &root.join("usr/sbin/mgmd"))?;
    install_binary(&mgmctl, &root.join("usr/bin/mgmctl"))?;
    copy(
        &dist.join("mgmd.service"),
        &root.join("lib/systemd/system/mgmd.service"),
    )?;
    copy(&dist.join("mgmd.toml"), &root.join("etc/mgm/mgmd.toml"))?;
    let man = root.join("usr/share/man");
    write_gz(&man.join("man8/mgmd.8.gz"), &generated(&mgmd, &["--man"])?)?;
    write_gz(
        &man.join("man8/mgmctl.8.gz"),
        &generated(&mgmctl, &["man"])?,
    )?;
    write_gz(
        &man.join("man5/mgmd.toml.5.gz"),
        &fs::read(dist.join("mgmd.toml.5"))?,
    )?;
    for (program, args) in [(&mgmd, &["--completions"][..]), (&mgmctl, &["completions"])] {
        let name = program.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        for (shell, path) in [
            (
                "bash",
                format!("usr/share/bash-completion/completions/{name}"),
            ),
            ("zsh", format!("usr/share/zsh/vendor-completions/_{name}")),
            (
                "fish",
                format!("usr/share/fish/vendor_completions.d/{name}.fish"),
            ),
        ] {
            let mut args = args.to_vec();
            args.push(shell);
            write(&root.join(path), &generated(program, &args)?, 0o644)?;
        }
    }
    let doc = root.join("usr/share/doc").join(NAME);
    write(&doc.join("copyright"), COPYRIGHT.as_bytes(), 0o644)?;
    write_gz(&doc.join("changelog.Debian.gz"), changelog().as_bytes())?;
    let control = root.join("DEBIAN");
    write(&control.join("conffiles"), b"/etc/mgm/mgmd.toml\n", 0o644)?;
    let installed_kib = du_kib(&root)?;
    write(
        &control.join("control"),
        control_file(&arch, installed_kib).as_bytes(),
        0o644,
    )?;
    let deb = out.join(format!("{NAME}_{VERSION}-1_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&root)
        .arg(&deb))?;
    eprintln!("package: {}", deb.display());
    Ok(deb)
}

/// lintian without errors, an installation into a scratch root, and the unit verified there.
pub fn check(deb: &Path, target: &Path) -> Result<()> {
    run(Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(deb))?;
    let scratch = target.join(OUT).join("scratch-root");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    run(Command::new("dpkg").arg("-x").arg(deb).arg(&scratch))?;
    for file in [
        "usr/sbin/mgmd",
        "usr/bin/mgmctl",
        "lib/systemd/system/mgmd.service",
        "etc/mgm/mgmd.toml",
        "usr/share/man/man8/mgmd.8.gz",
        "usr/share/man/man8/mgmctl.8.gz",
        "usr/share/man/man5/mgmd.toml.5.gz",
        "usr/share/bash-completion/completions/mgmctl",
    ] {
        if !scratch.join(file).is_file() {
            bail!("the package does not install {file}");
        }
    }
    // The packaged default configuration must be one mgmd accepts.
    run(Command::new(scratch.join("usr/sbin/mgmd"))
        .args(["--check", "--config"])
        .arg(scratch.join("etc/mgm/mgmd.toml")))?;
    // systemd-analyze checks that the unit's programs exist, and the scratch root has no
    // /bin/kill or systemd of its own: verify the installed unit against the host, with its
    // mgmd paths pointing into the scratch root (the unit itself is what was installed).
    let unit = fs::read_to_string(scratch.join("lib/systemd/system/mgmd.service"))?
        .replace(
            "/usr/sbin/mgmd",
            &scratch.join("usr/sbin/mgmd").display().to_string(),
        )
        .replace("/etc/mgm/", &scratch.join("etc/mgm/").display().to_string());
    let verify_dir = target.join(OUT).join("verify");
    write(&verify_dir.join("mgmd.service"), unit.as_bytes(), 0o644)?;
    // It exits 0 on directives it ignores: any word from it about the unit is a failure.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(verify_dir.join("mgmd.service"))
        .output()
        .context("running systemd-analyze")?;
    let said = String::from_utf8_lossy(&verify.stderr);
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("mgmd.service"))
        .collect();
    if !verify.status.success() || !about_unit.is_empty() {
        bail!("systemd-analyze verify refuses the unit:\n{said}");
    }
    eprintln!("package: lintian clean, installs, unit verified");
    Ok(())
}

fn control_file(arch: &str, installed_kib: u64) -> String {
    format!(
        "Package: {NAME}\n\
         Version: {VERSION}-1\n\
         Architecture: {arch}\n\
         Maintainer: mgm developers <maintainers@mgm-router.org>\n\
         Installed-Size: {installed_kib}\n\
         Depends: libc6 (>= 2.34), libgcc-s1\n\
         Recommends: iproute2\n\
         Section: net\n\
         Priority: optional\n\
         Description: XDP multicast router with a Multicast Group Manager\n \
         mgm routes IPv4 and IPv6 multicast: an XDP program forwards each (S,G) in\n \
         the driver, and the daemon mgmd runs the Multicast Group Manager (protocol\n \
         registration, interface ownership, memberships, forwarding entries with\n \
         lifetimes), IGMPv1/v2/v3, MLDv1/v2, static routes, the IGMP/MLD proxy and\n \
         the mirror of the kernel's multicast routes, and serves an API for routing\n \
         protocols. Restarts are hitless.\n"
    )
}

fn changelog() -> String {
    format!(
        "{NAME} ({VERSION}-1) unstable; urgency=medium\n\n  \
         * Package built by cargo xtask package.\n\n \
         -- mgm developers <maintainers@mgm-router.org>  Tue, 01 Dec 2026 00:00:00 +0000\n"
    )
}

const COPYRIGHT: &str =
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: mgm\n\
\n\
Files: *\n\
Copyright: 2026 mgm developers\n\
License: MIT or Apache-2.0\n \
 On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.\n \
 .\n \
 Permission is hereby granted, free of charge, to any person obtaining a copy of this\n \
 software, to deal in the Software without restriction, subject to the conditions of\n \
 the MIT license.\n";

/// A copy of `from`'s binary with debugging symbols removed.
fn install_binary(from: &Path, to: &Path) -> Result<()> {
    mkdir_for(to)?;
    run(Command::new("strip")
        .args(["--strip-unneeded", "-o"])
        .arg(to)
        .arg(from))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    write(
        to,
        &fs::read(from).with_context(|| format!("reading {}", from.display()))?,
        0o644,
    )
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    mkdir_for(path)?;
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Writes `bytes` gzip-compressed at maximum level without a timestamp (as Debian wants).
fn write_gz(path: &Path, bytes: &[u8]) -> Result<()> {
    let plain = path.with_extension("");
    write(&plain, bytes, 0o644)?;
    run(Command::new("gzip").args(["-9nf"]).arg(&plain))
}

fn mkdir_for(path: &Path) -> Result<()> {
    let dir = path.parent().context("a path without a parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for d in dir.ancestors() {
        if d.file_name().is_some() {
            let _ = fs::set_permissions(d, fs::Permissions::from_mode(0o755));
        }
    }
    Ok(())
}

fn generated(program: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() || out.stdout.is_empty() {
        bail!(
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

fn du_kib(dir: &Path) -> Result<u64> {
    let out = output(
        Command::new("du")
            .args(["-sk", "--exclude=DEBIAN"])
            .arg(dir),
    )?;
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("reading du's output")
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
