//! End-to-end latency through the router at a fixed moderate rate: a UDP socket on the source
//! host sends datagrams stamped with the monotonic clock (shared by all namespaces of the
//! machine), a socket on the receiver host that joined the group takes them in its network
//! stack, and the difference goes into an HDR histogram.
//!
//! Both threads run with a real-time priority (SCHED_FIFO), so that the figures show the
//! forwarding path rather than how long a busy machine takes to schedule the receiver. The
//! source's veth computes UDP checksums in software (`tx off`), as a real NIC delivers frames
//! with full checksums: with offload on, a veth hands a partial checksum along, which only an
//! skb path (the kernel's) can carry and an XDP-forwarded frame cannot.
use crate::{
    frame::{Family, GROUP, PORT},
    generator::real_time,
    load::Load,
    mgmd::Mgmd,
    paths::{Installed, Path},
    tail,
};
use anyhow::{anyhow, bail, Context as _, Result};
use hdrhistogram::Histogram;
use mgm_user::lab::{enter_ns, Host, Lab};
use serde::Serialize;
use std::{
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    sync::Barrier,
    time::{Duration, Instant},
};

/// Bytes of UDP payload (sequence number, send time, padding).
const PAYLOAD: usize = 32;
/// How long the receiver waits for stragglers after the sender is done.
const DRAIN: Duration = Duration::from_millis(300);

/// The latency of one path.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// The path.
    pub path: Path,
    /// The machine's load meanwhile.
    pub load: Load,
    /// Datagrams per second sent.
    pub rate: f64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest, µs.
    pub max_us: f64,
    /// (quantile, latency µs), for the percentile chart.
    pub percentiles: Vec<(f64, f64)>,
}

impl Latency {
    /// The path and the load, as rows and chart lines name them.
    pub fn label(&self) -> String {
        format!("{}{}", self.path.label(), self.load.suffix())
    }

    /// The Markdown table row of this path.
    pub fn row(&self) -> String {
        format!(
            "| {} | {:.0}/s | {}/{} | {:.1} | {:.1} | {:.1} | {:.1} |",
            self.label(),
            self.rate,
            self.received,
            self.sent,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us
        )
    }
}

/// The latency runs as a Markdown table.
pub fn table(latencies: &[Latency]) -> String {
    let mut md = String::from(
        "End-to-end latency (socket to socket through the router, fan-out 1):\n\n| path | rate | received | p50 µs | p99 µs | p99.9 µs | max µs |\n|---|---|---|---|---|---|---|\n",
    );
    for latency in latencies {
        md.push_str(&latency.row());
        md.push('\n');
    }
    md
}

/// Slices each path's measurement is cut into, the paths taking turns slice by slice: on a
/// shared machine a burst of other work then lands on every path alike instead of on whichever
/// path ran at the time.
const SLICES: u32 = 10;

/// Measures `paths` on labs with one receiver, sending `rate` datagrams per second for
/// `duration` per path, under `load` (which the caller sets up). The paths take turns in
/// [`SLICES`] slices and each path's slices make one histogram. mgm is the real `mgmd`, with a
/// static route for the group, in a lab of its own where it runs for the whole measurement
/// (its periodic work is in the figures); the other paths share a lab and are set up anew
/// for each slice.
pub fn run(paths: &[Path], rate: f64, duration: Duration, load: Load) -> Result<Vec<Latency>> {
    let lab = latency_lab()?;
    let mut mgm_lab = latency_lab()?;
    let _mgmd = match paths.contains(&Path::Mgm) {
        true => Some(start_mgmd(&mut mgm_lab, rate)?),
        false => None,
    };
    let slice = duration / SLICES;
    let mut merged: Vec<(u64, Histogram<u64>)> = paths
        .iter()
        .map(|_| Ok((0, Histogram::new(3)?)))
        .collect::<Result<_>>()?;
    for _ in 0..SLICES {
        for (&path, (sent, histogram)) in paths.iter().zip(&mut merged) {
            let (slice_sent, slice_histogram) = match path {
                Path::Mgm => measure(&mgm_lab, rate, slice)?,
                _ => {
                    let _installed = Installed::new(&lab, path, Family::V4)?;
                    measure(&lab, rate, slice)?
                }
            };
            *sent += slice_sent;
            histogram.add(slice_histogram)?;
        }
    }
    Ok(paths
        .iter()
        .zip(merged)
        .map(|(&path, (sent, histogram))| {
            let us = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1e3;
            Latency {
                path,
                load,
                rate,
                sent,
                received: histogram.len(),
                p50_us: us(0.5),
                p99_us: us(0.99),
                p999_us: us(0.999),
                max_us: histogram.max() as f64 / 1e3,
                percentiles: tail::percentiles(&histogram),
            }
        })
        .collect())
}

/// A lab with one receiver whose source sends full UDP checksums (see the module's doc).
fn latency_lab() -> Result<Lab> {
    let lab = Lab::star(1).context("building the latency lab")?;
    lab.run(Host::Source, &["ethtool", "-K", "eth0", "tx", "off"])?;
    Ok(lab)
}

/// How long mgmd gets to start forwarding the group.
const MGMD_READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The warm-up slices before mgm's figures count: the flow's first packets go through the
/// creation path (measured by `first_packet`), and the entry leaves hold mode after them.
const WARM_UP: Duration = Duration::from_millis(200);

/// Starts mgmd on the router of `lab` and sends until its entry for the group forwards.
fn start_mgmd(lab: &mut Lab, rate: f64) -> Result<Mgmd> {
    let mgmd = Mgmd::start(lab, &format!("{GROUP}/32"))?;
    let start = Instant::now();
    while measure(lab, rate, WARM_UP)?.1.is_empty() {
        if start.elapsed() > MGMD_READY_TIMEOUT {
            bail!("mgmd did not forward the latency group within {MGMD_READY_TIMEOUT:?}");
        }
    }
    measure(lab, rate, WARM_UP)?;
    Ok(mgmd)
}

/// Sends `rate` datagrams per second for `duration` through the router as it is set up;
/// returns how many were sent and the latencies (ns) of those received.
fn measure(lab: &Lab, rate: f64, duration: Duration) -> Result<(u64, Histogram<u64>)> {
    let count = (rate * duration.as_secs_f64()) as u64;
    let joined = Barrier::new(2);
    let (source_ns, receiver_ns) = (lab.ns(Host::Source), lab.ns(Host::Receiver(1)));
    std::thread::scope(|scope| -> Result<_> {
        let receiver = scope.spawn(|| -> Result<Histogram<u64>> {
            let socket = enter_ns(&receiver_ns)
                .map_err(anyhow::Error::from)
                .and_then(|()| real_time(PRIORITY))
                .and_then(|()| receiver_socket(Lab::address_of(Host::Receiver(1))));
            joined.wait();
            receive(&socket?, duration + DRAIN)
        });
        let sender = scope.spawn(|| -> Result<u64> {
            enter_ns(&source_ns)?;
            real_time(PRIORITY)?;
            let socket = sender_socket(Lab::address_of(Host::Source))?;
            joined.wait();
            // Let the group membership settle before the first datagram.
            std::thread::sleep(Duration::from_millis(50));
            send(&socket, rate, count)
        });
        let sent = sender.join().map_err(|_| anyhow!("sender panicked"))??;
        let histogram = receiver
            .join()
            .map_err(|_| anyhow!("receiver panicked"))??;
        Ok((sent, histogram))
    })
}

fn receiver_socket(address: Ipv4Addr) -> Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
    socket.join_multicast_v4(&GROUP, &address)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(socket)
}

fn sender_socket(address: Ipv4Addr) -> Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddrV4::new(address, 0))?;
    socket.set_multicast_ttl_v4(64)?;
    socket.connect(SocketAddrV4::new(GROUP, PORT))?;
    Ok(socket)
}

/// Sends `count` stamped datagrams at `rate` per second (sleeping to each departure time);
/// returns how many were sent.
fn send(socket: &UdpSocket, rate: f64, count: u64) -> Result<u64> {
    let start = Instant::now();
    let mut payload = [0u8; PAYLOAD];
    for seq in 0..count {
        let due = start + Duration::from_secs_f64(seq as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        payload[0..8].copy_from_slice(&seq.to_ne_bytes());
        payload[8..16].copy_from_slice(&monotonic_ns().to_ne_bytes());
        socket.send(&payload)?;
    }
    Ok(count)
}

/// Receives stamped datagrams until `deadline` has passed, recording each one's latency (ns).
fn receive(socket: &UdpSocket, deadline: Duration) -> Result<Histogram<u64>> {
    let mut histogram = Histogram::<u64>::new(3)?;
    let start = Instant::now();
    let mut buffer = [0u8; 2048];
    while start.elapsed() < deadline {
        let len = match socket.recv(&mut buffer) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        let now = monotonic_ns();
        if len < 16 {
            continue;
        }
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&buffer[8..16]);
        histogram.record(now.saturating_sub(u64::from_ne_bytes(stamp)))?;
    }
    Ok(histogram)
}

/// The real-time priority (SCHED_FIFO) of the latency runs' sender and receiver.
const PRIORITY: i32 = 50;

/// CLOCK_MONOTONIC in nanoseconds (the same clock in every network namespace).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
