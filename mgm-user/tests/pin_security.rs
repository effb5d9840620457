//! Root tests of mgmd's pins on a bpffs mounted the common way (mode 1777, a private mount per
//! test): a pin directory a user made (or that holds a user's object) is refused with a clear
//! error; a world-writable one mgmd owns is repaired; removing the link pins while mgmd
//! runs does not stop forwarding, because mgmd holds the links itself as well; and a user
//! holding the abstract name mgmd claims its pin directory with does not keep it from starting.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::{
    net::Ipv4Addr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};
use support::{
    path_str, serves_or_exits, test_user::TestUser, write_config_in, Mgmd, MGMD, NO_IGMP,
};

/// A bpffs mounted for one test on a fresh directory with the default mode (1777);
/// unmounted and removed when dropped.
struct Bpffs(PathBuf);

impl Bpffs {
    fn mount() -> Result<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mgm-pins-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let out = Command::new("mount")
            .args(["-t", "bpf", "bpf", path_str(&dir)?])
            .output()?;
        ensure!(
            out.status.success(),
            "mount bpffs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bpffs = Self(dir);
        let mode = std::fs::metadata(&bpffs.0)?.permissions().mode() & 0o7777;
        ensure!(mode == 0o1777, "bpffs mounted with mode {mode:o}");
        Ok(bpffs)
    }

    /// mgmd's configured `bpffs` directory inside it.
    fn base(&self) -> PathBuf {
        self.0.join("mgm")
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The pin directory mgmd uses in the test's network namespace.
fn pin_dir(base: &Path) -> Result<PathBuf> {
    let netns = mgm_user::netns::cookie()?;
    Ok(base.join(format!("net-{netns}")))
}

/// Runs mgmd without interfaces, pinning under `base`: it either fails at once (its output
/// returned) or serves (then `serving` runs, mgmd is stopped, and `None` returned).
fn run_mgmd(base: &Path, serving: impl FnOnce() -> Result<()>) -> Result<Option<Output>> {
    let dir = base.parent().context("no parent")?.with_extension("run");
    std::fs::create_dir_all(&dir)?;
    let (config, socket) = write_config_in(&dir, &format!("bpffs = {:?}\n", path_str(base)?), "")?;
    let mut child = Command::new(MGMD)
        .args(["--config", path_str(&config)?, "--log", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let served = serves_or_exits(&mut child, &socket);
    let result = match served {
        Ok(true) => {
            let checked = serving();
            support::signal_pid(child.id(), libc::SIGTERM)?;
            child.wait()?;
            checked?;
            None
        }
        Ok(false) => Some(child.wait_with_output()?),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

fn refused(out: Option<Output>, words: &str) -> Result<()> {
    let out = out.context("mgmd started on a pin directory it does not own alone")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success()
            && text.contains("refusing the pin directory")
            && text.contains(words),
        "mgmd's refusal does not say {words:?}: {text}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn pin_directories_of_other_users_are_refused() -> Result<()> {
    let bpffs = Bpffs::mount()?;
    let user = TestUser::create()?;
    let base = bpffs.base();
    let owned_by_user = format!("owned by uid {}", user.uid);

    // The user made mgmd's directory before mgmd ran.
    let out = user.run("mkdir", &[path_str(&base)?])?;
    ensure!(out.status.success(), "mkdir as the user failed");
    refused(run_mgmd(&base, || Ok(()))?, &owned_by_user)?;
    std::fs::remove_dir(&base)?;

    // Root made it world-writable (sticky, like bpffs itself) and the user made the
    // namespace's directory inside.
    std::fs::create_dir(&base)?;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777))?;
    let net = pin_dir(&base)?;
    let out = user.run("mkdir", &[path_str(&net)?])?;
    ensure!(out.status.success(), "mkdir as the user failed");
    refused(run_mgmd(&base, || Ok(()))?, &owned_by_user)?;
    std::fs::remove_dir(&net)?;

    // A symlink in its place is refused too.
    std::os::unix::fs::symlink("/tmp", &net)?;
    refused(run_mgmd(&base, || Ok(()))?, "not a directory")?;
    std::fs::remove_file(&net)?;
    // So is a symlink the user made in the place of the configured directory, wherever it
    // points (not taken for a missing bpffs).
    let elsewhere = bpffs.0.join("elsewhere");
    for target in [base.as_path(), Path::new("/nonexistent")] {
        let out = user.run("ln", &["-s", path_str(target)?, path_str(&elsewhere)?])?;
        ensure!(out.status.success(), "ln -s as the user failed");
        refused(run_mgmd(&elsewhere, || Ok(()))?, "not a directory")?;
        std::fs::remove_file(&elsewhere)?;
    }

    // World-writable without the sticky bit, but mgmd's own and empty: repaired and used.
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777))?;
    let modes = || -> Result<()> {
        let base_mode = std::fs::metadata(&base)?.permissions().mode() & 0o777;
        let net_mode = std::fs::metadata(&net)?.permissions().mode() & 0o777;
        ensure!(
            (base_mode, net_mode) == (0o755, 0o700),
            "modes {base_mode:o}, {net_mode:o}"
        );
        Ok(())
    };
    ensure!(
        run_mgmd(&base, modes)?.is_none(),
        "mgmd refused its own directory"
    );
    Ok(())
}

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 0, 1);

/// Whether an XDP program is attached to `iface` in the router's namespace.
fn xdp_attached(mgmd: &Mgmd, iface: &str) -> Result<bool> {
    let out = mgmd
        .lab
        .run(Host::Router, &["ip", "-d", "link", "show", "dev", iface])?;
    Ok(String::from_utf8_lossy(&out.stdout).contains("prog/xdp"))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn removing_the_link_pins_does_not_stop_forwarding() -> Result<()> {
    let bpffs = Bpffs::mount()?;
    let body = support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
        + "[[route]]\nfrom = \"up0\"\ngroup = \"239.6.0.0/16\"\nto = [\"rcv1\"]\n";
    let base = bpffs.base();
    let mut mgmd = Mgmd::start_pinned_under(Lab::star(1)?, &body, path_str(&base)?)?;
    mgmd.expect_delivery(GROUP, 20, &[1], "pinned")?;

    let nets: Vec<PathBuf> = std::fs::read_dir(&base)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    ensure!(nets.len() == 1, "pin directories {nets:?}");
    let links = nets[0].join("links");
    let mut removed = 0;
    for link in std::fs::read_dir(&links)? {
        std::fs::remove_file(link?.path())?;
        removed += 1;
    }
    ensure!(removed == 2, "{removed} link pins");

    ensure!(
        xdp_attached(&mgmd, "up0")? && xdp_attached(&mgmd, "rcv1")?,
        "XDP detached with its pins"
    );
    mgmd.expect_delivery(GROUP, 20, &[1], "pins removed")?;
    let status = mgmd.mgmctl_ok(&["show", "status"])?;
    ensure!(
        status.contains("up0") && status.contains("rcv1"),
        "{status}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_user_holding_the_pin_directorys_claim_name_does_not_keep_mgmd_from_starting() -> Result<()> {
    let bpffs = Bpffs::mount()?;
    let base = bpffs.base();
    // Abstract Unix socket names have no permissions: any user of the network namespace can
    // bind the one mgmd claims its pin directory with (a netns cookie is no secret).
    let name = format!("mgmd pins {}", pin_dir(&base)?.display());
    let user = TestUser::create()?;
    let squat = "import socket, sys, time\n\
                 s = socket.socket(socket.AF_UNIX)\n\
                 s.bind(b'\\0' + sys.argv[1].encode())\n\
                 s.listen()\n\
                 print('bound', flush=True)\n\
                 time.sleep(120)";
    let mut squatter = user
        .command("/usr/bin/python3")
        .args(["-c", squat, &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut bound = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(squatter.stdout.take().context("stdout")?),
        &mut bound,
    )?;
    let started = if bound.trim() == "bound" {
        run_mgmd(&base, || Ok(()))
    } else {
        Err(anyhow::anyhow!("the squatter did not bind: {bound:?}"))
    };
    support::signal_pid(squatter.id(), libc::SIGKILL)?;
    squatter.wait()?;
    if let Some(out) = started? {
        anyhow::bail!(
            "a user's socket kept mgmd from starting: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
