//! Root lab tests of a restart across renamed interfaces: mgmd keeps its pins when it stops
//! (`kill -9`, or a TERM with `on_stop = "keep"`); two configured interfaces swap names while
//! it is down; the next mgmd, started with the same configuration, takes over each pinned XDP
//! link under the interface's new name and re-derives at once the adopted entries that use a
//! renamed interface (not after `adopt_window_s`, here longer than the test): it forwards by
//! name as configured (to the new ifindexes), not by the ifindexes the pins hold.
mod support;

use anyhow::{ensure, Result};
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{interfaces, signal_pid, wait_exited, wait_for, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 5, 5);
const PACKETS: u32 = 50;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn kill_9_then_swapped_interface_names_forward_by_name() -> Result<()> {
    through_swapped_names("keep", libc::SIGKILL)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn term_with_keep_then_swapped_interface_names_forward_by_name() -> Result<()> {
    through_swapped_names("keep", libc::SIGTERM)
}

/// A static route of GROUP from up0 to rcv1 (IGMP off, so the receivers' joins add nothing),
/// forwarded by XDP; mgmd stopped with `signal`; rcv1 and rcv2 swap names; a new mgmd serves
/// both and re-derives the adopted entry at once: only the receiver now behind the name rcv1
/// (receiver 2) gets the stream, the entry's one outgoing interface rcv1.
fn through_swapped_names(on_stop: &str, signal: libc::c_int) -> Result<()> {
    let config = format!(
        "adopt_window_s = 600\non_stop = \"{on_stop}\"\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP), ("rcv2", NO_IGMP)])
    );
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    mgmd.expect_delivery(GROUP, PACKETS, &[1], "before the restart")?;
    mgmd.wait_for_forwarded(SOURCE, GROUP, 20)?;

    signal_pid(mgmd.pid(), signal)?;
    wait_exited(mgmd.pid())?;
    let before = mgmd.lab.ifindex(Host::Router, "rcv1")?;
    swap_names(&mgmd.lab, "rcv1", "rcv2")?;
    let after = mgmd.lab.ifindex(Host::Router, "rcv1")?;
    ensure!(
        before != after,
        "rcv1 kept ifindex {before} through the swap"
    );

    mgmd.spawn_daemon()?;
    let rows = mgmd.interfaces()?;
    let rcv1 = rows.iter().find(|r| r.name == "rcv1");
    ensure!(
        rcv1.is_some_and(|r| r.ifindex == after),
        "the new mgmd's rcv1 is not ifindex {after}: {rows:?}"
    );
    wait_for(
        "the adopted entry re-derived",
        Duration::from_secs(15),
        || {
            let entry = mgmd.mfe(SOURCE, GROUP)?;
            Ok(entry.filter(|e| e.origin != "adopted").map(drop))
        },
    )?;
    let oifs = mgmd.oifs(SOURCE, GROUP)?;
    ensure!(
        oifs == ["rcv1"],
        "the entry's outgoing interfaces: {oifs:?}"
    );
    // Receiver 2 is now behind the name rcv1.
    mgmd.expect_delivery(GROUP, PACKETS, &[2], "after the swap and restart")?;
    Ok(())
}

/// Swaps the names of the router's interfaces `a` and `b` (each down while renamed).
fn swap_names(lab: &Lab, a: &str, b: &str) -> Result<()> {
    let tmp = "swaptmp";
    for (from, to) in [(a, tmp), (b, a), (tmp, b)] {
        for args in [
            &["link", "set", from, "down"][..],
            &["link", "set", from, "name", to],
            &["link", "set", to, "up"],
        ] {
            let out = lab.ip(Host::Router, args)?;
            ensure!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}
