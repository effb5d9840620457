//! Miss to first forwarded packet: how long a brand-new (S,G) flow waits before its packets
//! reach a receiver. Flow after flow, the source sends to a new group (one packet every
//! [`SPACING`], each stamped with the time of the flow's first packet) until the receiver has
//! one; the receiver records the delay and whether the flow's very first packet was the one
//! that arrived first (nothing lost while the entry was being made).
//!
//! - mgm: the real daemon (`mgmd`, beside this binary) on the router with a static route for
//!   the groups: XDP miss → creation alert → MGM core → static protocol → entry installed,
//!   the packets held meanwhile sent on ([`Mgmd`]).
//! - kernel: ipmr with a minimal resolver in this process, as smcroute does it: NOCACHE upcall
//!   → `MRT_ADD_MFC`; the kernel holds the unresolved packets and sends them on. The resolver
//!   needs no real-time priority: the kernel sends the held packets on in softirq context,
//!   which the CPU hog cannot delay.
use crate::{
    generator::ifindex,
    latency::monotonic_ns,
    load::Load,
    mgmd::Mgmd,
    paths::{Path, UPSTREAM},
    tail,
};
use anyhow::{anyhow, bail, Context as _, Result};
use hdrhistogram::Histogram;
use mgm_user::{
    ipmr::{Ipmr, UpcallKind},
    lab::{enter_ns, Host, Lab},
};
use serde::Serialize;
use std::{
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// The UDP port of the flows.
const PORT: u16 = 5002;
/// Time between two packets of a flow still waiting for its entry.
const SPACING: Duration = Duration::from_micros(50);
/// A flow that has not arrived after this is counted as lost.
const FLOW_TIMEOUT: Duration = Duration::from_millis(200);
/// How long the router gets to start forwarding the warm-up flow.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The result for one path.
#[derive(Clone, Debug, Serialize)]
pub struct FirstPacket {
    /// The path.
    pub path: Path,
    /// The machine's load meanwhile.
    pub load: Load,
    /// New flows started.
    pub flows: u32,
    /// Flows that reached the receiver within the timeout.
    pub arrived: u32,
    /// Flows whose first packet was the first to arrive.
    pub first_packet_kept: u32,
    /// Median delay, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Largest, µs.
    pub max_us: f64,
    /// (quantile, delay µs), for the percentile chart.
    pub percentiles: Vec<(f64, f64)>,
}

impl FirstPacket {
    /// The path and the load, as rows and chart lines name them.
    pub fn label(&self) -> String {
        format!("{}{}", self.path.label(), self.load.suffix())
    }

    /// The Markdown table row of this path.
    pub fn row(&self) -> String {
        format!(
            "| {} | {}/{} | {} | {:.1} | {:.1} | {:.1} |",
            self.label(),
            self.arrived,
            self.flows,
            self.first_packet_kept,
            self.p50_us,
            self.p99_us,
            self.max_us
        )
    }
}

/// The runs as a Markdown table.
pub fn table(runs: &[FirstPacket]) -> String {
    let mut md = String::from(
        "Miss to first forwarded packet of new (S,G) flows (one new group after another, a packet every 50 µs until one arrives; target for mgm: p99 < 200 µs):\n\n| path | flows arrived | first packet kept | p50 µs | p99 µs | max µs |\n|---|---|---|---|---|---|\n",
    );
    for run in runs {
        md.push_str(&run.row());
        md.push('\n');
    }
    md
}

/// Measures `flows` new flows through each of `paths` (mgm and kernel) under `load` (which the
/// caller sets up).
pub fn run(paths: &[Path], flows: u32, load: Load) -> Result<Vec<FirstPacket>> {
    paths
        .iter()
        .map(|&path| {
            let mut lab = Lab::star(1).context("building the first-packet lab")?;
            // Full UDP checksums from the source socket (see latency.rs).
            lab.run(Host::Source, &["ethtool", "-K", "eth0", "tx", "off"])?;
            lab.sysctl(
                Host::Receiver(1),
                "net.ipv4.igmp_max_memberships",
                &(flows + 16).to_string(),
            )?;
            match path {
                Path::Mgm => {
                    let _daemon = Mgmd::start(&mut lab, "239.2.0.0/16")?;
                    measure(&lab, path, flows, load)
                }
                Path::Kernel => {
                    let stop = AtomicBool::new(false);
                    let routing = lab.in_ns(Host::Router, kernel_routing)??;
                    std::thread::scope(|scope| {
                        let resolver = scope.spawn(|| resolve(&routing, &stop));
                        let result = measure(&lab, path, flows, load);
                        stop.store(true, Ordering::Relaxed);
                        let resolved = resolver.join().map_err(|_| anyhow!("resolver panicked"));
                        resolved??;
                        result
                    })
                }
                other => bail!("{} has no creation path", other.label()),
            }
        })
        .collect()
}

/// The group of flow `n` (flow 0 is the warm-up).
fn group(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 2, 0, 0)) + n)
}

/// The kernel's routing socket on the router, with the upstream and receiver VIFs.
fn kernel_routing() -> Result<(Ipmr, u32, u32)> {
    let mut ipmr = Ipmr::open()?;
    let (upstream, receiver) = (ifindex(UPSTREAM)?, ifindex("rcv1")?);
    ipmr.add_vif(upstream, 1)?;
    ipmr.add_vif(receiver, 1)?;
    Ok((ipmr, upstream, receiver))
}

/// Answers every NOCACHE upcall with an entry to the receiver, until `stop`.
fn resolve((ipmr, upstream, receiver): &(Ipmr, u32, u32), stop: &AtomicBool) -> Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let Some(upcall) = ipmr.next_upcall(Duration::from_millis(50))? else {
            continue;
        };
        if upcall.kind == UpcallKind::NoCache && ipmr.ifindex_of(upcall.vif) == Some(*upstream) {
            ipmr.add_mfc(upcall.source, upcall.group, *upstream, &[(*receiver, 1)])?;
        }
    }
    Ok(())
}

fn measure(lab: &Lab, path: Path, flows: u32, load: Load) -> Result<FirstPacket> {
    let arrived = AtomicU32::new(u32::MAX);
    let done = AtomicBool::new(false);
    let source_ns = lab.ns(Host::Source);
    let socket = lab.in_ns(Host::Receiver(1), || receiver_socket(flows))??;
    std::thread::scope(|scope| -> Result<FirstPacket> {
        let receiver = scope.spawn(|| {
            let result = receive(&socket, &arrived, &done);
            done.store(true, Ordering::Relaxed);
            result
        });
        let sent = (|| -> Result<()> {
            enter_ns(&source_ns)?;
            let socket = UdpSocket::bind(SocketAddrV4::new(Lab::address_of(Host::Source), 0))?;
            socket.set_multicast_ttl_v4(64)?;
            if !send_flow(&socket, 0, &arrived, READY_TIMEOUT)? {
                bail!("{}: the warm-up flow never arrived", path.label());
            }
            for n in 1..=flows {
                send_flow(&socket, n, &arrived, FLOW_TIMEOUT)?;
            }
            Ok(())
        })();
        done.store(true, Ordering::Relaxed);
        let (histogram, kept) = receiver
            .join()
            .map_err(|_| anyhow!("receiver panicked"))??;
        sent?;
        let us = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1e3;
        Ok(FirstPacket {
            path,
            load,
            flows,
            arrived: histogram.len() as u32,
            first_packet_kept: kept,
            p50_us: us(0.5),
            p99_us: us(0.99),
            max_us: histogram.max() as f64 / 1e3,
            percentiles: tail::percentiles(&histogram),
        })
    })
}

/// A receiver socket joined to every flow's group.
fn receiver_socket(flows: u32) -> Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
    let address = Lab::address_of(Host::Receiver(1));
    for n in 0..=flows {
        socket
            .join_multicast_v4(&group(n), &address)
            .with_context(|| format!("joining {}", group(n)))?;
    }
    socket.set_read_timeout(Some(Duration::from_millis(20)))?;
    Ok(socket)
}

/// Sends flow `n` until the receiver has it or `timeout` passes; returns whether it arrived.
fn send_flow(socket: &UdpSocket, n: u32, arrived: &AtomicU32, timeout: Duration) -> Result<bool> {
    let destination = SocketAddrV4::new(group(n), PORT);
    let start = Instant::now();
    let stamp = monotonic_ns();
    let mut payload = [0u8; 16];
    payload[0..4].copy_from_slice(&n.to_ne_bytes());
    payload[8..16].copy_from_slice(&stamp.to_ne_bytes());
    let mut seq: u32 = 0;
    while start.elapsed() < timeout {
        if arrived.load(Ordering::Acquire) == n {
            // A gap, so that the next flow's misses do not meet this flow's held packets.
            std::thread::sleep(Duration::from_millis(2));
            return Ok(true);
        }
        payload[4..8].copy_from_slice(&seq.to_ne_bytes());
        socket.send_to(&payload, destination)?;
        seq += 1;
        let due = start + SPACING * seq;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
    Ok(false)
}

/// Records, per flow, the delay of its first arriving packet and whether that was packet 0;
/// flow 0 (the warm-up) is not recorded.
fn receive(
    socket: &UdpSocket,
    arrived: &AtomicU32,
    done: &AtomicBool,
) -> Result<(Histogram<u64>, u32)> {
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut kept = 0;
    let mut last = u32::MAX;
    let mut buffer = [0u8; 64];
    while !done.load(Ordering::Relaxed) {
        let Ok(len) = socket.recv(&mut buffer) else {
            continue;
        };
        let now = monotonic_ns();
        if len < 16 {
            continue;
        }
        let field = |at: usize| {
            u32::from_ne_bytes([buffer[at], buffer[at + 1], buffer[at + 2], buffer[at + 3]])
        };
        let (flow, seq) = (field(0), field(4));
        if flow == last {
            continue;
        }
        last = flow;
        arrived.store(flow, Ordering::Release);
        if flow == 0 {
            continue;
        }
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&buffer[8..16]);
        histogram.record(now.saturating_sub(u64::from_ne_bytes(stamp)))?;
        if seq == 0 {
            kept += 1;
        }
    }
    Ok((histogram, kept))
}
