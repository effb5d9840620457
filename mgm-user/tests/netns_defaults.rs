//! Root lab tests of mgmd's defaults in a network namespace run with `ip netns exec`, as routers
//! in namespaces are: its pins land in the host's bpffs (which outlives the command's transient
//! mount namespace), so a `kill -9` and restart keep forwarding; without a bpffs that outlives
//! it, mgmd refuses to start; and each namespace has its own default API socket, which mgmctl
//! run in that namespace finds.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::{
    api::proto::{Request, Response},
    dataplane::bpffs,
    lab::{Host, Lab},
};
use serde_json::Value;
use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use support::{
    interfaces, refused_to_start, signal_pid, wait_exited, wait_for, Mgmd, MGMCTL, MGMD,
};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 8, 8, 8);

/// up0 and rcv1, and a route for GROUP from up0 to rcv1.
fn config() -> String {
    format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", ""), ("rcv1", "")])
    )
}

/// The inode of the router's network namespace in `lab`.
/// The cookie of the router's network namespace (what its pin directory is named after).
fn router_netns(lab: &Lab) -> Result<u64> {
    Ok(lab.in_ns(Host::Router, mgm_user::netns::cookie)??)
}

/// Removes a directory (and what is pinned in it) when dropped, also when the test fails.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// mgmd's default pins need a bpffs at this (the host's) /sys/fs/bpf.
fn host_bpffs() -> Result<()> {
    ensure!(
        bpffs::on_bpffs(Path::new("/sys/fs/bpf")),
        "/sys/fs/bpf is not a bpffs here: `cargo xtask setup` mounts one"
    );
    Ok(())
}

/// mgmd's `show status` pin directory.
fn pin_dir(mgmd: &Mgmd) -> Result<Option<String>> {
    match mgmd.call(&Request::Status)? {
        Response::Status { pin_dir, .. } => Ok(pin_dir),
        other => bail!("unexpected answer {other:?}"),
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn under_ip_netns_exec_mgmd_pins_in_the_hosts_bpffs_and_survives_kill_9() -> Result<()> {
    host_bpffs()?;
    let lab = Lab::star(1)?;
    let dir = PathBuf::from(format!("/sys/fs/bpf/mgm/net-{}", router_netns(&lab)?));
    let _removed = Removed(dir.clone());
    // Default pin settings (/sys/fs/bpf/mgm), which inside `ip netns exec` is plain sysfs.
    let mut mgmd = Mgmd::start_with_default_pins(lab, &config())?;
    assert_eq!(pin_dir(&mgmd)?, Some(dir.display().to_string()));
    // The maps, programs and links appear in this (the host's) mount namespace.
    for pinned in ["MFES", "prog_ingress", "links/up0", "links/rcv1"] {
        assert!(dir.join(pinned).exists(), "{} is not pinned", pinned);
    }
    let text = mgmd.mgmctl_ok(&["show", "status"])?;
    assert!(
        text.contains(&format!("pinned: yes, {}", dir.display())),
        "{text}"
    );
    // A stream long enough for the new entry's hold mode (mgmd sending the first packets on
    // itself, up to a second) to end: then XDP forwards it from the pinned maps alone.
    let listener = mgmd.listen(Host::Receiver(1), GROUP, 1000, 60.0)?;
    mgmd.send_in_background(Host::Source, GROUP, 1000, 5)?;
    mgmd.wait_for_forwarded(SOURCE, GROUP, 20)?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(1000),
        "rcv1 got {} of 1000",
        received.seqs.len()
    );

    signal_pid(mgmd.pid(), libc::SIGKILL)?;
    wait_exited(mgmd.pid())?;
    // Forwarding went on without mgmd: the entry is in the pinned maps.
    mgmd.expect_delivery_among(&[1], GROUP, 50, &[1], "without mgmd")?;
    mgmd.spawn_daemon()?;
    assert_eq!(pin_dir(&mgmd)?, Some(dir.display().to_string()));
    mgmd.expect_delivery_among(&[1], GROUP, 50, &[1], "after the restart")?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn under_ip_netns_exec_a_detaching_stop_removes_the_pins_in_the_hosts_bpffs() -> Result<()> {
    host_bpffs()?;
    let lab = Lab::star(1)?;
    let dir = PathBuf::from(format!("/sys/fs/bpf/mgm/net-{}", router_netns(&lab)?));
    let _removed = Removed(dir.clone());
    // Default pin settings and `on_stop = "detach"` (the default).
    let mgmd = Mgmd::start_with_default_pins(lab, &config())?;
    assert!(dir.join("MFES").exists(), "{} holds no pins", dir.display());
    signal_pid(mgmd.pid(), libc::SIGTERM)?;
    wait_exited(mgmd.pid())?;
    ensure!(
        !dir.exists(),
        "a detaching stop left {} behind: {:?}",
        dir.display(),
        std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn without_a_bpffs_that_outlives_it_mgmd_refuses_to_start() -> Result<()> {
    let lab = Lab::star(1)?;
    let dir = std::env::temp_dir().join(format!("{}-nobpffs", lab.prefix()));
    std::fs::create_dir_all(&dir)?;
    let _removed = Removed(dir.clone());
    let config_path = dir.join("mgmd.toml");
    // A plain directory: not a bpffs here nor in the host's mount namespace.
    std::fs::write(
        &config_path,
        format!(
            "[daemon]\napi_socket = {:?}\nbpffs = {:?}\n\n{}",
            dir.join("api.sock").display().to_string(),
            dir.join("mgm").display().to_string(),
            config()
        ),
    )?;
    let pins = format!("no bpffs to pin under {}", dir.join("mgm").display());
    refused_to_start(&lab, &config_path, &[&pins, "--unpinned"])?;
    Ok(())
}

/// Starts mgmd in `lab`'s router with default settings (no `[daemon]` table); its
/// configuration file goes to `dir`.
fn spawn_with_defaults(lab: &mut Lab, dir: &Path) -> Result<()> {
    let path = dir.join(format!("{}.toml", lab.prefix()));
    std::fs::write(&path, config())?;
    let path = path.to_str().context("UTF-8 path")?;
    lab.spawn(Host::Router, &[MGMD, "--config", path, "--log", "warn"])?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn two_namespaces_have_their_own_default_api_socket() -> Result<()> {
    host_bpffs()?;
    // Declared first, so dropped last: after each lab has stopped its mgmd.
    let mut removed = Vec::new();
    let mut labs = [Lab::star(1)?, Lab::star(1)?];
    let dir = std::env::temp_dir().join(format!("{}-sockets", labs[0].prefix()));
    std::fs::create_dir_all(&dir)?;
    removed.push(Removed(dir.clone()));
    for lab in &mut labs {
        let pins = PathBuf::from(format!("/sys/fs/bpf/mgm/net-{}", router_netns(lab)?));
        removed.push(Removed(pins));
        spawn_with_defaults(lab, &dir)?;
    }
    for lab in &labs {
        let socket = format!("/run/mgm/netns-{}.sock", lab.ns(Host::Router));
        let expected_pins = format!("/sys/fs/bpf/mgm/net-{}", router_netns(lab)?);
        // `ip netns exec <router> mgmctl` computes the router's socket as its mgmd did.
        let status: Value = wait_for(
            "mgmd answering mgmctl in its namespace",
            Duration::from_secs(30),
            || {
                let out = lab
                    .command(Host::Router, &[MGMCTL, "--json", "show", "status"])
                    .stdin(Stdio::null())
                    .output()?;
                if !out.status.success() {
                    return Ok(None);
                }
                let status: Value = serde_json::from_slice(&out.stdout)?;
                let attached = status["interfaces"].as_array().map_or(0, Vec::len);
                Ok((attached == 2).then_some(status))
            },
        )?;
        assert_eq!(status["pin_dir"], expected_pins.as_str(), "{status}");
        assert!(Path::new(&socket).exists(), "no {socket}");
    }
    Ok(())
}
