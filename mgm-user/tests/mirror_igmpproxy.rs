//! Root lab test of the mirror with igmpproxy as the owner of the kernel's multicast routes:
//! receivers join with their kernel's IGMP, igmpproxy answers the kernel's NOCACHE upcall for
//! the first packet (the miss on the mirrored interface goes to the kernel), and the (S,G) it
//! adds is forwarded in XDP, exactly once per packet to the joined receivers only.
mod support;

use anyhow::{Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 8, 0, 1);

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn igmpproxys_routes_are_forwarded_in_xdp_to_the_joined_receivers() -> Result<()> {
    let interfaces = support::interfaces(&[
        ("up0", NO_IGMP),
        ("rcv1", NO_IGMP),
        ("rcv2", NO_IGMP),
        ("rcv3", NO_IGMP),
    ]);
    let mut mgmd = Mgmd::start(
        Lab::star(3)?,
        &format!("{interfaces}[mirror]\nenabled = true\n"),
    )?;
    let conf = std::env::temp_dir().join(format!("{}-igmpproxy.conf", mgmd.lab.prefix()));
    let _remove = RemoveOnDrop(conf.clone());
    std::fs::write(
        &conf,
        "quickleave\n\
         phyint up0 upstream ratelimit 0 threshold 1\n  altnet 10.0.0.0/8\n\
         phyint rcv1 downstream ratelimit 0 threshold 1\n\
         phyint rcv2 downstream ratelimit 0 threshold 1\n\
         phyint rcv3 downstream ratelimit 0 threshold 1\n\
         phyint lo disabled\n",
    )?;
    mgmd.lab.spawn(
        Host::Router,
        &["igmpproxy", "-n", support::path_str(&conf)?],
    )?;
    // rcv1 joins, and the first packets make igmpproxy add the (S,G); then rcv2 joins too
    // (rcv3 never does).
    const PACKETS: u32 = 300;
    let warm_up = mgmd.listen(Host::Receiver(1), GROUP, 1, 30.0)?;
    wait_for(
        "igmpproxy's (S,G) mirrored",
        Duration::from_secs(30),
        || {
            mgmd.send(Host::Source, GROUP, 3, 20)?;
            Ok(mgmd
                .mfe(SOURCE, GROUP)?
                .filter(|r| r.origin == "kernel")
                .map(|_| ()))
        },
    )?;
    warm_up.finish()?;
    let listeners = [
        mgmd.listen(Host::Receiver(1), GROUP, PACKETS, 30.0)?,
        mgmd.listen(Host::Receiver(2), GROUP, PACKETS, 30.0)?,
    ];
    wait_for(
        "rcv1 and rcv2 in the XDP entry",
        Duration::from_secs(30),
        || {
            let row = mgmd.mfe(SOURCE, GROUP)?.context("entry")?;
            let oifs: Vec<&str> = row.oifs.iter().map(|o| o.iface.as_str()).collect();
            Ok((oifs == ["rcv1", "rcv2"]).then_some(()))
        },
    )?;
    let before = mgmd.mfe(SOURCE, GROUP)?.context("entry")?.packets;
    mgmd.send(Host::Source, GROUP, PACKETS, 5)?;
    for (n, listener) in listeners.into_iter().enumerate() {
        let received = listener.finish()?;
        anyhow::ensure!(
            received.is_complete(PACKETS.into()),
            "rcv{}: {} of {PACKETS}, each once and in order?",
            n + 1,
            received.seqs.len()
        );
    }
    let row = mgmd.mfe(SOURCE, GROUP)?.context("entry")?;
    println!(
        "igmpproxy's (S,G) in {} out {:?}: {} packets in mgm's counters",
        row.iif,
        row.oifs
            .iter()
            .map(|o| (&o.iface, o.packets))
            .collect::<Vec<_>>(),
        row.packets - before
    );
    anyhow::ensure!(row.packets - before == u64::from(PACKETS), "{row:?}");
    Ok(())
}

/// Deletes a file when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
