//! Root lab test of the mirror under FRR PIM-SM: three routers (r2 the RP) run zebra and pimd
//! in their namespaces and mgmd under each; the (S,G) that FRR builds is mirrored into XDP on
//! all three routers, and a stream reaches the joined receiver exactly once per packet, in
//! order, and nobody else.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::{
    api::proto::{MfeRow, Response},
    lab::{Host, Lab},
};
use std::{
    net::Ipv4Addr,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};
use support::{path_str, test_send, wait_for, Listener, MCAST, MGMCTL, MGMD};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 0, 1);
const ROUTERS: u8 = 3;

/// mgmd under each router of a PIM chain, with its files in a directory of the test's own.
struct Routers {
    lab: Lab,
    dir: PathBuf,
    /// mgmd's PID on each router.
    mgmds: Vec<u32>,
}

impl Drop for Routers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Routers {
    fn start(receivers: u8, keep_alive_s: Option<u32>) -> Result<Self> {
        let mut lab = Lab::pim_chain(receivers)?;
        lab.start_frr(keep_alive_s)?;
        let dir = std::env::temp_dir().join(format!("{}-mgmd", lab.prefix()));
        std::fs::create_dir_all(&dir)?;
        let mut routers = Self {
            lab,
            dir,
            mgmds: Vec::new(),
        };
        for n in 1..=ROUTERS {
            let config = routers
                .lab
                .pim_mgmd_config(n, path_str(&routers.socket(n))?)?;
            std::fs::write(routers.config(n), config)?;
            let pid = routers.spawn_mgmd(n)?;
            routers.mgmds.push(pid);
        }
        for n in 1..=ROUTERS {
            wait_for(&format!("mgmd on r{n}"), Duration::from_secs(15), || {
                Ok(routers.mfes(n).ok().map(|_| ()))
            })?;
        }
        Ok(routers)
    }

    fn config(&self, n: u8) -> PathBuf {
        self.dir.join(format!("r{n}.toml"))
    }

    fn spawn_mgmd(&mut self, n: u8) -> Result<u32> {
        let log = std::env::var("MGM_LOG").unwrap_or_else(|_| "warn".to_owned());
        let config = self.config(n);
        Ok(self.lab.spawn(
            Host::PimRouter(n),
            &[MGMD, "--config", path_str(&config)?, "--log", &log],
        )?)
    }

    /// Starts mgmd on router `n` again (its previous one is gone) and waits for its API.
    fn restart_mgmd(&mut self, n: u8) -> Result<()> {
        self.mgmds[usize::from(n) - 1] = self.spawn_mgmd(n)?;
        wait_for(&format!("mgmd on r{n}"), Duration::from_secs(15), || {
            Ok(self.mfes(n).ok().map(|_| ()))
        })
    }

    fn socket(&self, n: u8) -> PathBuf {
        self.dir.join(format!("r{n}.sock"))
    }

    /// `show mfe` of router `n`.
    fn mfes(&self, n: u8) -> Result<Vec<MfeRow>> {
        let socket = self.socket(n);
        let out = std::process::Command::new(MGMCTL)
            .args(["--socket", path_str(&socket)?, "--json", "show", "mfe"])
            .stdin(Stdio::null())
            .output()?;
        ensure!(out.status.success(), "mgmctl on r{n}: {}", out.status);
        match serde_json::from_slice(&out.stdout)? {
            Response::Mfes { rows } => Ok(rows.into_iter().map(|shown| shown.entry).collect()),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// The (SOURCE, GROUP) entry of router `n`.
    fn flow(&self, n: u8) -> Result<Option<MfeRow>> {
        Ok(self
            .mfes(n)?
            .into_iter()
            .find(|r| r.source == SOURCE && r.group == GROUP))
    }

    fn listen(&mut self, receiver: u8, count: u32, timeout_s: f64) -> Result<Listener> {
        Ok(self
            .lab
            .listen(Host::Receiver(receiver), MCAST, GROUP, count, timeout_s)?)
    }

    /// Sends until rcv1 receives (FRR's register path drops the first packets of a stream) and
    /// the (S,G) is mirrored on every router.
    fn establish(&mut self) -> Result<()> {
        wait_for(
            "the PIM tree delivering to rcv1",
            Duration::from_secs(60),
            || {
                let listener = self.listen(1, 1, 2.0)?;
                self.send(20, 50)?;
                Ok((!listener.finish()?.seqs.is_empty()).then_some(()))
            },
        )?;
        wait_for(
            "(S,G) mirrored on r1, r2 and r3",
            Duration::from_secs(60),
            || {
                let mut all = true;
                for n in 1..=ROUTERS {
                    all &= self.flow(n)?.is_some_and(|r| r.origin == "kernel");
                }
                if !all {
                    self.send(5, 20)?;
                }
                Ok(all.then_some(()))
            },
        )
    }

    /// Waits until r3's (S,G) goes out of `oifs` in XDP (none: the entry is gone from XDP or
    /// has no outgoing interface), sending a packet now and then to keep the flow alive.
    fn r3_oifs_become(&self, oifs: &[&str], step: &str) -> Result<()> {
        let start = Instant::now();
        // FRR's side (IGMP, PIM join/prune) may take tens of seconds; the mirror's own
        // reaction to the kernel's change is milliseconds (tests/mirror.rs).
        let waited = wait_for(step, Duration::from_secs(90), || {
            let now: Vec<String> = self
                .flow(3)?
                .map(|r| r.oifs.into_iter().map(|o| o.iface).collect())
                .unwrap_or_default();
            if now != oifs {
                self.send(2, 10)?;
            }
            Ok((now == oifs).then_some(()))
        });
        if let Err(e) = waited {
            for n in 1..=ROUTERS {
                let kernel = self.lab.ip(Host::PimRouter(n), &["mroute", "show"])?;
                println!(
                    "r{n}: kernel {}mgm {:?}",
                    String::from_utf8_lossy(&kernel.stdout),
                    self.flow(n)?
                );
            }
            return Err(e);
        }
        println!("{step}: r3's XDP entry follows after {:?}", start.elapsed());
        Ok(())
    }

    fn send(&self, count: u32, interval_ms: u32) -> Result<()> {
        self.lab
            .send(Host::Source, test_send(GROUP, count, interval_ms))?;
        Ok(())
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn frr_pim_routes_are_mirrored_on_three_routers_and_deliver_exactly_once() -> Result<()> {
    let start = Instant::now();
    let mut routers = Routers::start(2, None)?;
    routers.establish()?;
    println!(
        "(S,G) mirrored on the three routers after {:?}",
        start.elapsed()
    );
    // rcv2 joins too: pimd adds it to r3's (S,G), which the mirror changes in place.
    const PACKETS: u32 = 500;
    let listeners = [
        routers.listen(1, PACKETS, 60.0)?,
        routers.listen(2, PACKETS, 60.0)?,
    ];
    wait_for(
        "rcv2 added to r3's XDP entry",
        Duration::from_secs(30),
        || {
            let row = routers.flow(3)?.context("entry")?;
            let oifs: Vec<&str> = row.oifs.iter().map(|o| o.iface.as_str()).collect();
            Ok((oifs == ["rcv1", "rcv2"]).then_some(()))
        },
    )?;
    let before: Vec<u64> = (1..=ROUTERS)
        .map(|n| Ok(routers.flow(n)?.context("entry")?.packets))
        .collect::<Result<_>>()?;
    // rcv1 stays a member after its listener is done.
    let _rcv1 = routers.listen(1, u32::MAX, 120.0)?;
    routers.send(PACKETS, 5)?;
    for (n, listener) in listeners.into_iter().enumerate() {
        let received = listener.finish()?;
        ensure!(
            received.is_complete(PACKETS.into()),
            "rcv{}: {} of {PACKETS}, each once and in order?",
            n + 1,
            received.seqs.len()
        );
    }
    for n in 1..=ROUTERS {
        let row = routers.flow(n)?.context("entry")?;
        let counted = row.packets - before[usize::from(n) - 1];
        println!(
            "r{n}: ({SOURCE}, {GROUP}) in {} out {:?} origin {}: {counted} packets in mgm's counters",
            row.iif,
            row.oifs.iter().map(|o| &o.iface).collect::<Vec<_>>(),
            row.origin
        );
        ensure!(
            counted == u64::from(PACKETS),
            "r{n} counted {counted} of {PACKETS}"
        );
    }
    // rcv2's listener is done: it left (IGMP leave, then FRR's prune), and joins again
    // (graft): both changes reach r3's XDP entry in place.
    routers.r3_oifs_become(&["rcv1"], "rcv2 left")?;
    let _rcv2 = routers.listen(2, u32::MAX, 60.0)?;
    routers.r3_oifs_become(&["rcv1", "rcv2"], "rcv2 joined again")?;
    let listener = routers.listen(2, 20, 30.0)?;
    routers.send(20, 5)?;
    ensure!(
        listener.finish()?.is_complete(20),
        "rcv2 after its new join"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn with_a_30_s_keep_alive_frr_keeps_its_mirrored_routes_over_three_periods_and_loses_nothing(
) -> Result<()> {
    const KEEP_ALIVE_S: u32 = 30;
    let mut routers = Routers::start(1, Some(KEEP_ALIVE_S))?;
    routers.establish()?;
    // A stream over more than three keep-alive periods. Were the kernel to see no packet of
    // the (S,G) (no samples), FRR would delete and re-create it every period.
    const PACKETS: u32 = 10_000;
    const INTERVAL_MS: u32 = 10;
    let listener = routers.listen(1, PACKETS, 200.0)?;
    routers
        .lab
        .send_in_background(Host::Source, test_send(GROUP, PACKETS, INTERVAL_MS))?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(PACKETS.into()),
        "rcv1: {} of {PACKETS}, each once and in order?",
        received.seqs.len()
    );
    let stream_s = u64::from(PACKETS * INTERVAL_MS / 1000);
    ensure!(stream_s >= 3 * u64::from(KEEP_ALIVE_S));
    for n in 1..=ROUTERS {
        // A deleted and re-created (S,G) would be a new entry here: its age tells.
        let row = routers.flow(n)?.context("entry")?;
        let frr = routers.lab.vtysh(n, "show ip mroute json")?;
        println!(
            "r{n}: entry age {} s, {} packets; FRR: {}",
            row.age_s,
            row.packets,
            frr.trim()
        );
        ensure!(
            row.age_s >= stream_s && row.origin == "kernel",
            "r{n}: the (S,G) was re-created during the stream: {row:?}"
        );
        ensure!(
            frr.contains(&SOURCE.to_string()),
            "r{n}: FRR lost the (S,G): {frr}"
        );
    }
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn after_kill_9_of_mgmd_the_route_frr_changes_is_the_one_that_forwards() -> Result<()> {
    let mut routers = Routers::start(2, None)?;
    routers.establish()?;
    let _rcv1 = routers.listen(1, u32::MAX, 120.0)?;
    let rcv2 = routers.listen(2, u32::MAX, 5.0)?;
    routers.r3_oifs_become(&["rcv1", "rcv2"], "both receivers joined")?;
    // mgmd on r3 dies; then rcv2 leaves (its listener ends) and FRR prunes it in the kernel.
    // r3's XDP entry still lists rcv2: only the fail-safe keeps it from being used.
    let r3 = routers.mgmds[2];
    support::signal_pid(r3, libc::SIGKILL)?;
    support::wait_exited(r3)?;
    rcv2.finish()?;
    let start = Instant::now();
    wait_for(
        "FRR's prune of rcv2 in r3's kernel",
        Duration::from_secs(30),
        || {
            let out = routers.lab.ip(Host::PimRouter(3), &["mroute", "show"])?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = text
                .lines()
                .find(|l| l.contains(&format!("({SOURCE},{GROUP})")))
                .unwrap_or_default()
                .to_owned();
            routers.send(2, 10)?;
            Ok((line.contains("rcv1") && !line.contains("rcv2")).then_some(()))
        },
    )?;
    wait_for(
        "r3's kernel forwarding every packet",
        Duration::from_secs(30),
        || {
            let packets = || {
                routers
                    .lab
                    .kernel_mroute_packets(Host::PimRouter(3), SOURCE, GROUP)
            };
            let before = packets()?.unwrap_or(0);
            routers.send(5, 1)?;
            Ok((packets()?.unwrap_or(0) - before == 5).then_some(()))
        },
    )?;
    println!(
        "after kill -9 and the prune: r3's kernel forwards after {:?}",
        start.elapsed()
    );
    const PACKETS: u32 = 300;
    let rcv2_before = rx_frames(&routers.lab, 2)?;
    let listener = routers.listen(1, PACKETS, 60.0)?;
    routers.send(PACKETS, 5)?;
    ensure!(
        listener.finish()?.is_complete(PACKETS.into()),
        "rcv1 gets every packet once"
    );
    let rcv2_frames = rx_frames(&routers.lab, 2)? - rcv2_before;
    println!("rcv2 (pruned) received {rcv2_frames} frames during the {PACKETS}-packet stream");
    ensure!(
        rcv2_frames < u64::from(PACKETS) / 10,
        "the stale XDP entry still forwards to rcv2: {rcv2_frames} frames"
    );
    // A new mgmd on r3 adopts the stale entry, reads FRR's route and corrects it in place.
    routers.restart_mgmd(3)?;
    routers.r3_oifs_become(&["rcv1"], "r3's new mgmd")?;
    let listener = routers.listen(1, PACKETS, 60.0)?;
    routers.send(PACKETS, 5)?;
    ensure!(
        listener.finish()?.is_complete(PACKETS.into()),
        "rcv1 after the restart"
    );
    Ok(())
}

/// Frames receiver `n`'s eth0 has received.
fn rx_frames(lab: &Lab, n: u8) -> Result<u64> {
    let out = lab.run(
        Host::Receiver(n),
        &["cat", "/sys/class/net/eth0/statistics/rx_packets"],
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}
