//! Root lab test of the IPv6 mirror: a foreign routing daemon (a thread of the test holding the
//! router namespace's MRT6 socket, as pim6d would) programs the kernel's ip6mr; mgmd mirrors
//! its resolved (S,G) into the IPv6 XDP table. The entry shows in `show mfe` (origin kernel)
//! and XDP forwards it, the kernel seeing only the samples; deleting the kernel's entry removes
//! it; after `kill -9` of mgmd the kernel forwards (the heartbeat fail-safe).
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::{
    ip6mr::Ip6mr,
    lab::{Host, Lab, Stack},
};
use std::{net::Ipv6Addr, time::Duration};
use support::{signal_pid, wait_exited, wait_for, Mgmd, NO_LISTENERS};

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x50, 1);

fn config() -> String {
    let interfaces = support::interfaces(&[
        ("up0", NO_LISTENERS),
        ("rcv1", NO_LISTENERS),
        ("rcv2", NO_LISTENERS),
    ]);
    format!("adopt_window_s = 1\n\n{interfaces}[mirror]\nenabled = true\n")
}

fn source() -> Ipv6Addr {
    Lab::address6_of(Host::Source).expect("the source's IPv6 address")
}

/// The foreign routing daemon: the router namespace's ip6mr socket with a MIF on each
/// interface, and the ifindexes by name.
struct Foreign {
    ip6mr: Ip6mr,
    up0: u32,
    rcv1: u32,
    rcv2: u32,
}

impl Foreign {
    fn start(lab: &Lab) -> Result<Self> {
        let [up0, rcv1, rcv2] =
            ["up0", "rcv1", "rcv2"].map(|i| lab.ifindex(Host::Router, i).expect("ifindex"));
        let mut ip6mr = lab.in_ns(Host::Router, Ip6mr::open)??;
        for ifindex in [up0, rcv1, rcv2] {
            ip6mr.add_mif(ifindex)?;
        }
        Ok(Self {
            ip6mr,
            up0,
            rcv1,
            rcv2,
        })
    }

    /// The kernel's packet counter of (source, GROUP).
    fn kernel_packets(&self) -> Result<u64> {
        Ok(self.ip6mr.counters(source(), GROUP)?.packets)
    }
}

/// Waits until mgmd forwards (source, GROUP) as an entry of the kernel protocol to `oifs`.
fn wait_mirrored(mgmd: &Mgmd, oifs: &[&str]) -> Result<()> {
    wait_for(
        &format!("({}, {GROUP}) mirrored to {oifs:?}", source()),
        Duration::from_secs(10),
        || {
            let Some(row) = mgmd.mfe(source(), GROUP)? else {
                return Ok(None);
            };
            let now: Vec<&str> = row.oifs.iter().map(|o| o.iface.as_str()).collect();
            Ok((row.origin == "kernel" && row.iif == "up0" && now == oifs).then_some(()))
        },
    )
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ip6mr_routes_are_forwarded_in_xdp_and_the_kernel_takes_over_after_kill_9() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star_with(2, Stack::Dual)?, &config())?;
    let foreign = Foreign::start(&mgmd.lab)?;
    let (up0, rcv1, rcv2) = (foreign.up0, foreign.rcv1, foreign.rcv2);
    foreign.ip6mr.add_mfc(source(), GROUP, up0, &[rcv1])?;
    wait_mirrored(&mgmd, &["rcv1"])?;

    const PACKETS: u32 = 300;
    mgmd.expect_delivery(GROUP, PACKETS, &[1], "the kernel's route")?;
    let row = mgmd.mfe(source(), GROUP)?.context("the entry")?;
    ensure!(row.packets == u64::from(PACKETS), "mgm counted {row:?}");
    let in_xdp = row.oifs[0].packets;
    let sampled = u64::from(PACKETS) - in_xdp;
    let kernel = foreign.kernel_packets()?;
    let stats = mgmd.stats()?;
    println!(
        "{PACKETS} packets: {in_xdp} forwarded by XDP, {sampled} samples forwarded by the kernel \
         (its counter: {kernel})"
    );
    ensure!(
        (1..=10).contains(&sampled) && kernel == sampled && stats["mirror_sampled"] == sampled,
        "the kernel sees the samples only: sampled {sampled}, kernel {kernel}, stats {stats:?}"
    );
    ensure!(
        stats["mirror6_entries_now"] == 1 && stats["mirror6_kernel_entries_now"] == 1,
        "{stats:?}"
    );

    // The route changed in the kernel: the XDP entry follows.
    foreign.ip6mr.add_mfc(source(), GROUP, up0, &[rcv2])?;
    wait_mirrored(&mgmd, &["rcv2"])?;
    mgmd.expect_delivery(GROUP, 100, &[2], "the route changed")?;

    // The kernel's entry deleted: the XDP entry goes, the misses go to the kernel.
    foreign.ip6mr.del_mfc(source(), GROUP, up0)?;
    wait_for(
        "the mirrored entry removed",
        Duration::from_secs(10),
        || Ok(mgmd.mfe(source(), GROUP)?.is_none().then_some(())),
    )?;
    mgmd.expect_delivery(GROUP, 20, &[], "route removed")?;
    let stats = mgmd.stats()?;
    ensure!(
        stats["mirror_miss_passed"] >= 20 && stats["report_miss"] == 0,
        "misses left to the kernel, no creation alert: {stats:?}"
    );

    // kill -9: once the heartbeat is stale, the kernel forwards every packet.
    foreign.ip6mr.add_mfc(source(), GROUP, up0, &[rcv1])?;
    wait_mirrored(&mgmd, &["rcv1"])?;
    signal_pid(mgmd.pid(), libc::SIGKILL)?;
    wait_exited(mgmd.pid())?;
    wait_for(
        "the kernel forwarding every packet",
        Duration::from_secs(20),
        || {
            let before = foreign.kernel_packets()?;
            mgmd.send(Host::Source, GROUP, 5, 1)?;
            let after = foreign.kernel_packets()?;
            Ok((after - before == 5).then_some(()))
        },
    )?;
    mgmd.expect_delivery(GROUP, 100, &[1], "the kernel's route, mgmd gone")?;
    Ok(())
}
