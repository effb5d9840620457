//! Root lab tests of the collection of stale pins: the pin directory of a network namespace
//! deleted after its mgmd was killed (`kill -9`) is removed, logged and counted by the next
//! mgmd started under the same bpffs directory (in another namespace), while that of a
//! namespace that lives, whose mgmd was killed too, stays: its forwarding goes on, and its
//! restarted mgmd adopts it. A lab removes the pins of an mgmd it had to kill.
mod support;

use anyhow::{ensure, Result};
use mgm_user::{
    lab::{delete_namespaces, lab_bpffs, Host, Lab},
    netns::{presence, Identity, Presence},
};
use std::{net::Ipv4Addr, path::PathBuf, time::Duration};
use support::{interfaces, path_str, signal_pid, wait_exited, wait_for, Mgmd, MGMD};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);

/// up0 and rcv1, and a route for GROUP from up0 to rcv1.
fn config() -> String {
    format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", ""), ("rcv1", "")])
    )
}

/// A bpffs directory of this run's alone (so that the collection sees only the pins this test
/// made), removed with what is pinned in it when dropped, also when the test fails.
struct Base(PathBuf);

impl Base {
    fn new(test: &str) -> Result<Self> {
        Ok(Self(
            PathBuf::from(lab_bpffs()?).join(format!("stale-pins-{}-{test}", std::process::id())),
        ))
    }

    /// The pin directory of the router of `lab` and its namespace.
    fn router_pins(&self, lab: &Lab) -> Result<(PathBuf, Identity)> {
        let id = lab.in_ns(Host::Router, Identity::current)??;
        Ok((self.0.join(format!("net-{}", id.cookie)), id))
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes a directory when dropped, also when the test fails.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts mgmd on a new lab pinned under `base`, lets XDP forward GROUP from its pins alone,
/// and kills it (`kill -9`); its pin directory and namespace.
fn killed_while_forwarding(base: &Base) -> Result<(Mgmd, PathBuf, Identity)> {
    let lab = Lab::star(1)?;
    let (dir, id) = base.router_pins(&lab)?;
    let mut mgmd = Mgmd::start_pinned_under(lab, &config(), path_str(&base.0)?)?;
    ensure!(
        dir.join(format!("netns-inode-{}", id.inode)).is_dir(),
        "{} records no namespace",
        dir.display()
    );
    // A stream long enough for the new entry's hold mode to end: XDP then forwards it.
    let listener = mgmd.listen(Host::Receiver(1), GROUP, 1000, 60.0)?;
    mgmd.send_in_background(Host::Source, GROUP, 1000, 5)?;
    mgmd.wait_for_forwarded(SOURCE, GROUP, 20)?;
    listener.finish()?;
    signal_pid(mgmd.pid(), libc::SIGKILL)?;
    wait_exited(mgmd.pid())?;
    Ok((mgmd, dir, id))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_pins_of_a_deleted_namespace_are_removed_and_those_of_a_live_one_kept() -> Result<()> {
    let base = Base::new("deleted")?;
    // Two namespaces whose mgmd was killed while XDP forwarded from its pins.
    let (dead, dead_dir, dead_id) = killed_while_forwarding(&base)?;
    let (mut live, live_dir, _) = killed_while_forwarding(&base)?;
    // One of them is deleted: its pins stay behind.
    delete_namespaces(&format!("{}-", dead.lab.prefix()))?;
    wait_for(
        "the deleted namespace to be gone",
        Duration::from_secs(30),
        || Ok(matches!(presence(dead_id), Presence::Gone).then_some(())),
    )?;
    ensure!(dead_dir.exists(), "nothing left pins behind");

    // A new mgmd in another namespace, under the same bpffs directory.
    let other = Mgmd::start_pinned_under(Lab::star(1)?, &config(), path_str(&base.0)?)?;
    // Its first pass of the collection runs as soon as its main loop does.
    let removed = wait_for(
        "the deleted namespace's pins collected",
        Duration::from_secs(15),
        || {
            Ok(other
                .stats()?
                .get("stale_pin_dirs_removed")
                .copied()
                .filter(|n| *n > 0))
        },
    )?;
    ensure!(removed == 1, "stale_pin_dirs_removed: {removed}");
    ensure!(
        !dead_dir.exists(),
        "{} (a deleted namespace's) is still pinned",
        dead_dir.display()
    );
    ensure!(
        live_dir.join("links/up0").exists(),
        "{} lost its pins",
        live_dir.display()
    );

    // The live namespace forwards on without its mgmd, and a new one there adopts the entry.
    live.expect_delivery_among(&[1], GROUP, 50, &[1], "without mgmd")?;
    live.spawn_daemon()?;
    let origin = live.mfe(SOURCE, GROUP)?.map(|m| m.origin);
    ensure!(
        origin.as_deref() == Some("adopted"),
        "the restarted mgmd's entry: {origin:?}"
    );
    live.expect_delivery_among(&[1], GROUP, 50, &[1], "after the restart")?;
    drop(other);
    drop(live);
    drop(dead);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_lab_removes_the_pins_of_an_mgmd_it_killed() -> Result<()> {
    let base = Base::new("lab")?;
    let mut lab = Lab::star(1)?;
    let dir = lab.remove_pins_at_end(Host::Router, &base.0)?;
    let files = std::env::temp_dir().join(format!("{}-stale", lab.prefix()));
    std::fs::create_dir_all(&files)?;
    let _files = Removed(files.clone());
    let config_file = files.join("mgmd.toml");
    std::fs::write(
        &config_file,
        format!(
            "[daemon]\napi_socket = {:?}\nbpffs = {:?}\n\n{}",
            path_str(&files.join("mgmd.sock"))?,
            path_str(&base.0)?,
            config()
        ),
    )?;
    let pid = lab.spawn(
        Host::Router,
        &[MGMD, "--config", path_str(&config_file)?, "--log", "warn"],
    )?;
    wait_for("mgmd's pins", Duration::from_secs(15), || {
        Ok(dir.join("links/rcv1").exists().then_some(()))
    })?;
    signal_pid(pid, libc::SIGKILL)?;
    wait_exited(pid)?;
    ensure!(dir.exists(), "the killed mgmd left no pins");
    drop(lab);
    ensure!(!dir.exists(), "{} is still pinned", dir.display());
    Ok(())
}
