//! Root lab tests of the mirror with a real owner of the kernel's multicast routes: smcroute
//! runs in the router's namespace and programs the kernel's MFC; mgmd mirrors its routes into
//! XDP. Routes added, changed and removed with smcroutectl reach the XDP entries; the kernel
//! sees only the sample packets; `kill -9` of mgmd hands forwarding back to the kernel (whose
//! route, changed after the kill, is what forwards), and a restarted mgmd takes over again
//! without losing a packet.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::{
    net::Ipv4Addr,
    path::PathBuf,
    time::{Duration, Instant},
};
use support::{signal_pid, wait_exited, wait_for, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 1);

fn config() -> String {
    let interfaces = support::interfaces(&[
        ("up0", NO_IGMP),
        ("rcv1", NO_IGMP),
        ("rcv2", NO_IGMP),
        ("rcv3", NO_IGMP),
    ]);
    format!("adopt_window_s = 1\n\n{interfaces}[mirror]\nenabled = true\n")
}

/// smcroute in the router's namespace (the lab ends the daemon; the guard its directory).
struct Smcroute {
    dir: PathBuf,
}

impl Smcroute {
    /// smcroute with a VIF on every interface and no route.
    fn start(mgmd: &mut Mgmd) -> Result<Self> {
        Self::start_with(mgmd, "", 60)
    }

    /// smcroute with a VIF on every interface and the configuration lines `routes`, flushing
    /// unused dynamic (S,G) entries every `flush_s` seconds.
    fn start_with(mgmd: &mut Mgmd, routes: &str, flush_s: u32) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{}-smcroute", mgmd.lab.prefix()));
        std::fs::create_dir_all(&dir)?;
        let smcroute = Self { dir };
        let conf = smcroute.dir.join("smcroute.conf");
        std::fs::write(&conf, format!("{}{routes}\n", phyints()))?;
        let (conf, socket, pid) = (
            support::path_str(&conf)?.to_owned(),
            smcroute.socket(),
            smcroute.dir.join("smcroute.pid"),
        );
        let pid = support::path_str(&pid)?.to_owned();
        let flush = flush_s.to_string();
        mgmd.lab.spawn(
            Host::Router,
            &[
                "smcrouted",
                "-n",
                "-N",
                "-l",
                "err",
                "-c",
                &flush,
                "-f",
                &conf,
                "-u",
                &socket,
                "-P",
                &pid,
            ],
        )?;
        wait_for("smcroute's socket", Duration::from_secs(10), || {
            Ok(std::path::Path::new(&socket).exists().then_some(()))
        })?;
        Ok(smcroute)
    }

    fn socket(&self) -> String {
        self.dir.join("smcroute.sock").display().to_string()
    }

    /// Runs smcroutectl with `args` against this daemon.
    fn ctl(&self, mgmd: &Mgmd, args: &[&str]) -> Result<()> {
        let socket = self.socket();
        let mut argv = vec!["smcroutectl", "-u", &socket];
        argv.extend_from_slice(args);
        mgmd.lab.run(Host::Router, &argv)?;
        Ok(())
    }
}

/// smcroute's `phyint` lines: a VIF on every interface of the lab.
fn phyints() -> String {
    ["up0", "rcv1", "rcv2", "rcv3"]
        .iter()
        .map(|i| format!("phyint {i} enable\n"))
        .collect()
}

impl Drop for Smcroute {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The kernel's packet counter of (SOURCE, GROUP) on the router, if it has the entry.
fn kernel_packets(mgmd: &Mgmd) -> Result<Option<u64>> {
    Ok(mgmd
        .lab
        .kernel_mroute_packets(Host::Router, SOURCE, GROUP)?)
}

/// Waits until mgmd forwards (SOURCE, GROUP) as an entry of the kernel protocol to `oifs`.
fn wait_mirrored(mgmd: &Mgmd, oifs: &[&str]) -> Result<Duration> {
    let start = Instant::now();
    wait_for(
        &format!("({SOURCE}, {GROUP}) mirrored to {oifs:?}"),
        Duration::from_secs(10),
        || {
            let Some(row) = mgmd.mfe(SOURCE, GROUP)? else {
                return Ok(None);
            };
            let now: Vec<&str> = row.oifs.iter().map(|o| o.iface.as_str()).collect();
            Ok((row.origin == "kernel" && now == oifs).then_some(()))
        },
    )?;
    Ok(start.elapsed())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn smcroute_routes_are_forwarded_in_xdp_and_follow_smcroutectl() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(3)?, &config())?;
    let smcroute = Smcroute::start(&mut mgmd)?;
    let group = GROUP.to_string();
    let source = SOURCE.to_string();
    smcroute.ctl(&mgmd, &["add", "up0", &source, &group, "rcv1", "rcv2"])?;
    let took = wait_mirrored(&mgmd, &["rcv1", "rcv2"])?;
    println!("route added with smcroutectl: mirrored after {took:?}");

    const PACKETS: u32 = 300;
    mgmd.expect_delivery(GROUP, PACKETS, &[1, 2], "smcroute's route")?;
    let row = mgmd.mfe(SOURCE, GROUP)?.context("the entry")?;
    ensure!(row.packets == u64::from(PACKETS), "mgm counted {row:?}");
    let in_xdp = row.oifs[0].packets;
    let sampled = u64::from(PACKETS) - in_xdp;
    ensure!(
        row.oifs.iter().all(|o| o.packets == in_xdp),
        "every receiver's copies: {row:?}"
    );
    let kernel = kernel_packets(&mgmd)?.context("the kernel's entry")?;
    let stats = mgmd.stats()?;
    println!(
        "{PACKETS} packets: {in_xdp} forwarded by XDP, {sampled} samples forwarded by the kernel \
         (its counter: {kernel})"
    );
    ensure!(
        (1..=10).contains(&sampled) && kernel == sampled && stats["mirror_sampled"] == sampled,
        "the kernel sees the samples only: sampled {sampled}, kernel {kernel}, stats {}",
        stats["mirror_sampled"]
    );

    // An outgoing interface removed: it stops receiving at once.
    smcroute.ctl(&mgmd, &["remove", "up0", &source, &group])?;
    smcroute.ctl(&mgmd, &["add", "up0", &source, &group, "rcv2"])?;
    let took = wait_mirrored(&mgmd, &["rcv2"])?;
    println!("outgoing interface removed with smcroutectl: XDP entry changed after {took:?}");
    mgmd.expect_delivery(GROUP, 100, &[2], "rcv1 removed")?;

    // rcv3 added, then its interface deleted: the kernel removes its VIF from every entry
    // without a route message (as MRT_DEL_VIF does); only the netconf change tells, and the
    // re-dump it triggers gives the entry without rcv3.
    smcroute.ctl(&mgmd, &["remove", "up0", &source, &group])?;
    smcroute.ctl(&mgmd, &["add", "up0", &source, &group, "rcv2", "rcv3"])?;
    wait_mirrored(&mgmd, &["rcv2", "rcv3"])?;
    let dumps = mgmd.stats()?["mirror_dumps"];
    mgmd.lab.ip(Host::Router, &["link", "del", "rcv3"])?;
    let took = wait_mirrored(&mgmd, &["rcv2"])?;
    println!("rcv3's VIF gone: XDP entry changed after {took:?}");
    ensure!(mgmd.stats()?["mirror_dumps"] > dumps, "a re-dump");
    mgmd.expect_delivery_among(&[1, 2], GROUP, 100, &[2], "rcv3's VIF gone")?;

    // The route removed: the XDP entry goes, the kernel (without a route) forwards nothing.
    smcroute.ctl(&mgmd, &["remove", "up0", &source, &group])?;
    let start = Instant::now();
    wait_for(
        "the mirrored entry removed",
        Duration::from_secs(10),
        || Ok(mgmd.mfe(SOURCE, GROUP)?.is_none().then_some(())),
    )?;
    println!(
        "route removed with smcroutectl: XDP entry gone after {:?}",
        start.elapsed()
    );
    mgmd.mgmctl_ok(&["check"])?;
    mgmd.expect_delivery_among(&[1, 2], GROUP, 20, &[], "route removed")?;
    let stats = mgmd.stats()?;
    ensure!(
        stats["mirror_miss_passed"] >= 20,
        "misses left to the kernel: {stats:?}"
    );
    ensure!(
        stats["report_miss"] == 0,
        "no creation alert on a mirrored interface"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn kill_9_hands_forwarding_to_the_kernel_and_a_restart_takes_it_back_without_loss() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(3)?, &config())?;
    let smcroute = Smcroute::start(&mut mgmd)?;
    let (group, source) = (GROUP.to_string(), SOURCE.to_string());
    smcroute.ctl(&mgmd, &["add", "up0", &source, &group, "rcv1", "rcv2"])?;
    wait_mirrored(&mgmd, &["rcv1", "rcv2"])?;

    // kill -9 under a stream: XDP forwards until the heartbeat is stale, then the kernel.
    const PACKETS: u32 = 2000;
    let listeners = [
        mgmd.listen(Host::Receiver(1), GROUP, PACKETS, 60.0)?,
        mgmd.listen(Host::Receiver(2), GROUP, PACKETS, 60.0)?,
    ];
    mgmd.send_in_background(Host::Source, GROUP, PACKETS, 2)?;
    wait_for("XDP forwarding the stream", Duration::from_secs(10), || {
        let row = mgmd.mfe(SOURCE, GROUP)?;
        Ok(row.filter(|r| r.packets >= 100).map(|_| ()))
    })?;
    signal_pid(mgmd.pid(), libc::SIGKILL)?;
    wait_exited(mgmd.pid())?;
    for (n, listener) in listeners.into_iter().enumerate() {
        let received = listener.finish()?;
        ensure!(
            received.is_complete(PACKETS.into()),
            "rcv{}: {} of {PACKETS}, each once and in order? {:?}",
            n + 1,
            received.seqs.len(),
            received.seqs.iter().take(20).collect::<Vec<_>>()
        );
    }

    // Without mgmd, the kernel's route changes, and its new route is what forwards.
    smcroute.ctl(&mgmd, &["remove", "up0", &source, &group])?;
    smcroute.ctl(&mgmd, &["add", "up0", &source, &group, "rcv3"])?;
    let start = Instant::now();
    wait_for(
        "the kernel forwarding every packet",
        Duration::from_secs(20),
        || {
            let before = kernel_packets(&mgmd)?.unwrap_or(0);
            mgmd.send(Host::Source, GROUP, 5, 1)?;
            let after = kernel_packets(&mgmd)?.unwrap_or(0);
            Ok((after - before == 5).then_some(()))
        },
    )?;
    println!(
        "after kill -9: the kernel forwards every packet after {:?}",
        start.elapsed()
    );
    mgmd.expect_delivery(GROUP, 100, &[3], "the kernel's new route, mgmd gone")?;

    // A new mgmd reads the table again and takes the flow back, under a stream, losing none.
    const MORE: u32 = 1500;
    let listener = mgmd.listen(Host::Receiver(3), GROUP, MORE, 60.0)?;
    mgmd.send_in_background(Host::Source, GROUP, MORE, 2)?;
    mgmd.spawn_daemon()?;
    wait_mirrored(&mgmd, &["rcv3"])?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(MORE.into()),
        "rcv3 across the restart: {} of {MORE}",
        received.seqs.len()
    );
    let row = mgmd.mfe(SOURCE, GROUP)?.context("the entry")?;
    if row.packets == 0 {
        bail!("the new mgmd does not forward the flow in XDP: {row:?}");
    }
    println!("after the restart XDP forwarded {} packets", row.packets);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn smcroutes_dynamic_entries_from_a_wildcard_rule_are_mirrored_and_kept_while_used() -> Result<()> {
    const FLUSH_S: u32 = 5;
    let mut mgmd = Mgmd::start(Lab::star(3)?, &config())?;
    // A (*,G) rule: smcroute makes an (S,G) entry at the first packet's NOCACHE upcall (the
    // miss on the mirrored interface goes to the kernel), and flushes unused ones.
    let rule = "mroute from up0 group 239.5.0.0/16 to rcv1 rcv3";
    let _smcroute = Smcroute::start_with(&mut mgmd, rule, FLUSH_S)?;
    wait_for(
        "the first packets make the (S,G)",
        Duration::from_secs(20),
        || {
            mgmd.send(Host::Source, GROUP, 3, 20)?;
            Ok(mgmd.mfe(SOURCE, GROUP)?.map(|_| ()))
        },
    )?;
    wait_mirrored(&mgmd, &["rcv1", "rcv3"])?;
    let created = mgmd.mfe(SOURCE, GROUP)?.context("entry")?;
    // A stream over four flush periods: the samples show smcroute the entry in use.
    const PACKETS: u32 = 5000;
    mgmd.expect_delivery(GROUP, PACKETS, &[1, 3], "a stream over four flush periods")?;
    let row = mgmd.mfe(SOURCE, GROUP)?.context("entry")?;
    println!(
        "dynamic (S,G): age {} s after {PACKETS} packets, {} counted",
        row.age_s, row.packets
    );
    ensure!(
        row.age_s >= created.age_s + u64::from(4 * FLUSH_S) && row.origin == "kernel",
        "the entry was flushed and made again: {row:?}"
    );
    Ok(())
}
