//! The command lines without a running daemon (no root needed): `mgmd --check` refuses a bad
//! configuration file with its path, line and key and a non-zero exit, passes a good one (and
//! one with a prefix written with host bits, warning of it), and without a file is bad usage;
//! mgmctl exits 2 on bad usage and 3 when mgmd cannot be reached, warns of a route's words
//! that are accepted but likely not meant, and ends quietly when the reader of its output has
//! gone.
mod support;

use anyhow::{ensure, Result};
use std::{
    io::{Read, Write},
    os::unix::{net::UnixListener, process::ExitStatusExt},
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};
use support::{path_str, MGMCTL, MGMD};

/// A configuration file that is removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> Result<Self> {
        let path =
            std::env::temp_dir().join(format!("mgm-check-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text)?;
        Ok(Self(path))
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `mgmd --check -c FILE`: (exit code, stdout and stderr).
fn check(file: &ConfigFile) -> Result<(Option<i32>, String)> {
    let out = Command::new(MGMD)
        .args(["--check", "-c", path_str(&file.0)?])
        .env("RUST_BACKTRACE", "1")
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code(), text))
}

#[test]
fn check_names_the_line_and_key_of_a_bad_configuration() -> Result<()> {
    let cases = [
        (
            "version",
            "[[interface]]\nname = \"eth0\"\nigmp_version = 4\n",
            ":3: interface.igmp_version:",
        ),
        (
            "group",
            "[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth1\"\n\n[[route]]\nfrom = \"eth0\"\ngroup = \"10.1.1.1\"\nto = [\"eth1\"]\n",
            ":9: route.group:",
        ),
        (
            "unknown",
            "[[interface]]\nname = \"eth0\"\ncolour = \"blue\"\n",
            ":3: interface.colour:",
        ),
        (
            "type",
            "[[interface]]\nname = \"eth0\"\nmtu = \"big\"\n",
            ":3: interface.mtu:",
        ),
        (
            "variant",
            "[[interface]]\nname = \"eth0\"\nxdp_mode = \"native\"\n",
            ":3: interface.xdp_mode:",
        ),
        (
            "range",
            "[[interface]]\nname = \"eth0\"\nttl_threshold = 300\n",
            ":3: interface.ttl_threshold:",
        ),
        (
            "syntax",
            "[[interface]]\nname = \"eth0\"\nmtu = \"1500\n",
            ":3: interface.mtu:",
        ),
        (
            "to-self",
            "[[interface]]\nname = \"eth0\"\n\n[[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.1\"\nto = [\"eth0\"]\n",
            ":7: route.to:",
        ),
        (
            "external",
            "[[interface]]\nname = \"wan0\"\n\n[[interface]]\nname = \"lan0\"\nowner = \"external\"\n\n[proxy]\nupstream = \"wan0\"\ndownstream = [\"lan0\"]\n",
            ":10: proxy.downstream:",
        ),
    ];
    for (name, text, expected) in cases {
        let file = ConfigFile::new(name, text)?;
        let (code, output) = check(&file)?;
        ensure!(
            output.trim_end().lines().count() == 1,
            "{name}: one line, even with RUST_BACKTRACE set: {output}"
        );
        ensure!(
            code.is_some_and(|c| c != 0),
            "{name}: accepted ({code:?}): {output}"
        );
        let location = format!("{}{expected}", file.0.display());
        ensure!(
            output.contains(&location),
            "{name}: the error should name {location:?}: {output}"
        );
    }
    let missing = ConfigFile(std::env::temp_dir().join("mgm-check-no-such-file.toml"));
    let (code, output) = check(&missing)?;
    ensure!(
        code.is_some_and(|c| c != 0) && output.contains("mgm-check-no-such-file.toml"),
        "missing file: {code:?} {output}"
    );

    let good = ConfigFile::new(
        "good",
        "[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth1\"\nowner = \"external\"\n",
    )?;
    let (code, output) = check(&good)?;
    ensure!(
        code == Some(0) && output.contains("configuration OK"),
        "{output}"
    );
    Ok(())
}

#[test]
fn check_warns_of_a_prefix_with_bits_beyond_its_length_and_passes_it() -> Result<()> {
    let file = ConfigFile::new(
        "host-bits",
        "[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth1\"\n\n[[route]]\n\
         from = \"eth0\"\nsource = \"10.1.0.2/8\"\ngroup = \"239.1.1.1\"\nto = [\"eth1\"]\n",
    )?;
    let (code, output) = check(&file)?;
    let warning = format!(
        "{}:9: route.source: 10.1.0.2/8 has bits set beyond its /8 prefix: it is read as \
         10.0.0.0/8, not the host 10.1.0.2",
        file.0.display()
    );
    ensure!(
        code == Some(0) && output.contains(&warning) && output.contains("configuration OK"),
        "{code:?}: {output}"
    );
    Ok(())
}

#[test]
fn check_without_a_configuration_file_is_bad_usage() -> Result<()> {
    let out = Command::new(MGMD).arg("--check").output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2) && stderr.contains("--config"),
        "mgmd --check: {:?} {stderr}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}

#[test]
fn mgmctl_exit_codes_tell_bad_usage_from_an_unreachable_daemon() -> Result<()> {
    let socket = std::env::temp_dir().join(format!("mgm-cli-{}-none.sock", std::process::id()));
    let mgmctl = |args: &[&str]| -> Result<(Option<i32>, String)> {
        let out = Command::new(MGMCTL)
            .args(["--socket", path_str(&socket)?])
            .args(args)
            .output()?;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    for bad in [
        &["show", "everything"][..],
        &["add", "eth0", "239.1.1.1"],
        &["join"],
        &["show", "mfe", "--interval", "1"],
        &["show", "mfe", "--watch", "--interval", "0"],
        &["show", "mfe", "--watch", "--interval", "soon"],
        &["show", "mfe", "--watch", "--count", "0"],
    ] {
        let (code, stderr) = mgmctl(bad)?;
        ensure!(code == Some(2), "mgmctl {bad:?}: {code:?} {stderr}");
    }
    let (code, stderr) = mgmctl(&["show", "status"])?;
    ensure!(
        code == Some(3) && stderr.contains("cannot reach mgmd"),
        "no daemon: {code:?} {stderr}"
    );
    Ok(())
}

#[test]
fn mgmctl_add_and_remove_warn_of_host_bits_and_a_repeated_interface() -> Result<()> {
    let socket = std::env::temp_dir().join(format!("mgm-cli-{}-warn.sock", std::process::id()));
    for command in ["add", "remove"] {
        let out = Command::new(MGMCTL)
            .args(["--socket", path_str(&socket)?, command])
            .args(["eth0", "10.1.0.2/8", "239.1.1.1", "eth1", "eth2", "eth1"])
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The words are sent as they are (here to no daemon: exit 3), after the warnings.
        ensure!(
            out.status.code() == Some(3)
                && stderr.contains(
                    "mgmctl: warning: 10.1.0.2/8 has bits set beyond its /8 prefix: it is read \
                     as 10.0.0.0/8, not the host 10.1.0.2"
                )
                && stderr.contains("mgmctl: warning: eth1 named more than once"),
            "mgmctl {command}: {:?} {stderr}",
            out.status
        );
    }
    Ok(())
}

#[test]
fn mgmctl_gives_up_on_a_silent_mgmd_after_its_timeout_monitor_included() -> Result<()> {
    // A stand-in for a stuck mgmd: its socket takes connections (the backlog) and never
    // answers.
    let socket = std::env::temp_dir().join(format!("mgm-cli-{}-stuck.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let result = (|| -> Result<()> {
        for command in [&["show", "status"][..], &["monitor"]] {
            let mut child = Command::new(MGMCTL)
                .args(["--socket", path_str(&socket)?, "--timeout", "0.5"])
                .args(command)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            // Bounded: a mgmctl that waits for ever is killed and fails the test.
            let status = support::wait_for("mgmctl to give up", Duration::from_secs(60), || {
                Ok(child.try_wait()?)
            });
            let status = match status {
                Ok(status) => status,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e.context(format!("mgmctl {command:?} waited past its --timeout")));
                }
            };
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .map(|mut e| e.read_to_string(&mut stderr));
            ensure!(
                status.code() == Some(3) && stderr.contains("did not answer within 0.5 s"),
                "mgmctl {command:?}: {status:?} {stderr}"
            );
        }
        Ok(())
    })();
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    result
}

#[test]
fn mgmctl_ends_quietly_when_the_reader_of_its_output_has_gone() -> Result<()> {
    // A stand-in for mgmd on a socket of its own: it answers one `status` request.
    let socket = std::env::temp_dir().join(format!("mgm-cli-{}-pipe.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let daemon = std::thread::spawn(move || -> Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut len = [0u8; 4];
        conn.read_exact(&mut len)?;
        let mut request = vec![0u8; u32::from_be_bytes(len) as usize];
        conn.read_exact(&mut request)?;
        let answer = br#"{"kind":"response","response":"status","version":"0.1.0","interfaces":["eth0"],"pinned":false,"pin_dir":null,"pinned_in":null}"#;
        conn.write_all(&(answer.len() as u32).to_be_bytes())?;
        conn.write_all(answer)?;
        Ok(())
    });
    // `mgmctl show status | head -c 0`, the reader gone before mgmctl writes.
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let out = Command::new(MGMCTL)
        .args(["--socket", path_str(&socket)?, "show", "status"])
        .env("RUST_BACKTRACE", "1")
        .stdout(writer)
        .output()?;
    let _ = std::fs::remove_file(&socket);
    daemon
        .join()
        .map_err(|_| anyhow::anyhow!("the stand-in panicked"))??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.signal() == Some(libc::SIGPIPE) && stderr.is_empty(),
        "{:?}: {stderr}",
        out.status
    );
    Ok(())
}
