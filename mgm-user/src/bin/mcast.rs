//! `mcast`: a leaf host's multicast tool, for IPv4 and IPv6. `mcast join` joins a group on an
//! interface and counts what arrives; `mcast send` sends numbered datagrams with a chosen TTL
//! (hop limit for IPv6), interface and loopback. The `--json` report has the same shape for
//! both families.
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mgm_user::leaf::{check_group, Channel, Family, Iface, Payload, Receiver, Sender};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const LOOP_HELP: &str = "\
Loop copies of these datagrams back to listeners on this host (IP_MULTICAST_LOOP, \
IPV6_MULTICAST_LOOP for IPv6). On Linux, as on other UNIX systems, the option acts on the SENDING \
socket: it decides whether this socket's \
own datagrams reach local receivers, and setting it on a receiving socket changes nothing. \
Winsock is the opposite: there it is set on the receiving socket and filters what that socket \
gets from senders on the same machine. Off by default here (the kernel's default is on).";

#[derive(Parser)]
#[command(
    name = "mcast",
    version,
    about = "Join IPv4 or IPv6 multicast groups and count what arrives, or send numbered datagrams",
    long_about = "Join IPv4 or IPv6 multicast groups (any-source or source-specific) on an \
interface and count what arrives, or send numbered datagrams with a chosen TTL (hop limit for \
IPv6), interface and loopback.\n\n\
Joining makes the kernel report the membership with IGMP or MLD (IP_ADD_MEMBERSHIP or \
IPV6_JOIN_GROUP, or MCAST_JOIN_SOURCE_GROUP with --source); leaving (at exit) drops it \
again. A group of any scope is accepted (ff02:: included); an address that is not multicast \
is an error.\n\n\
On Linux IP_MULTICAST_LOOP acts on the sending socket (see `mcast send --help`); Winsock applies \
it on the receiving socket."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join GROUP on an interface and print what arrives, with counts. Exits 1 if --count
    /// datagrams did not arrive within --timeout.
    Join {
        /// Multicast group, IPv4 or IPv6.
        group: IpAddr,
        /// Receive only from this source (source-specific join, MCAST_JOIN_SOURCE_GROUP); of
        /// the group's family.
        #[arg(long)]
        source: Option<IpAddr>,
        /// Interface to join on.
        #[arg(long)]
        iface: String,
        /// UDP port to receive on.
        #[arg(long, default_value_t = 5000)]
        port: u16,
        /// Stop after this many datagrams.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// Print one JSON object at the end instead of a line per datagram.
        #[arg(long)]
        json: bool,
    },
    /// Send numbered datagrams to GROUP out of an interface.
    Send {
        /// Multicast group, IPv4 or IPv6.
        group: IpAddr,
        /// Outgoing interface (IP_MULTICAST_IF / IPV6_MULTICAST_IF, by index).
        #[arg(long)]
        iface: String,
        /// TTL of the datagrams (IP_MULTICAST_TTL), or their hop limit for an IPv6 group
        /// (IPV6_MULTICAST_HOPS): 1 stays on the link.
        #[arg(long, default_value_t = 1)]
        ttl: u8,
        #[arg(
            long = "loop",
            help = "Loop own datagrams back to local listeners (acts on this sending socket on Linux)",
            long_help = LOOP_HELP
        )]
        loopback: bool,
        /// Number of datagrams.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Pause between datagrams, in milliseconds.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        /// UDP destination port.
        #[arg(long, default_value_t = 5000)]
        port: u16,
    },
}

/// One received datagram, as printed.
#[derive(Serialize)]
struct Received {
    from: SocketAddr,
    len: usize,
    ttl: Option<u8>,
    seq: Option<u64>,
    sent_ttl: Option<u8>,
}

/// What `mcast join --json` prints (`ttl` and `sent_ttl` of the packets are hop limits for
/// IPv6).
#[derive(Serialize)]
struct Report {
    group: IpAddr,
    source: Option<IpAddr>,
    iface: String,
    port: u16,
    received: u64,
    by_sender: BTreeMap<IpAddr, u64>,
    packets: Vec<Received>,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Join {
            group,
            source,
            iface,
            port,
            count,
            timeout,
            json,
        } => join(group, source, &iface, port, count, timeout, json),
        Command::Send {
            group,
            iface,
            ttl,
            loopback,
            count,
            interval_ms,
            port,
        } => {
            check_group(group)?;
            let iface = Iface::lookup(&iface).with_context(|| format!("interface {iface}"))?;
            let sender = Sender::new(&iface, Family::of(group), ttl, loopback)
                .context("opening the socket")?;
            for seq in 0..count {
                if seq > 0 {
                    std::thread::sleep(Duration::from_millis(interval_ms));
                }
                sender.send(group, port, seq).context("sending")?;
            }
            Ok(())
        }
    }
}

fn join(
    group: IpAddr,
    source: Option<IpAddr>,
    iface_name: &str,
    port: u16,
    count: Option<u64>,
    timeout: f64,
    json: bool,
) -> anyhow::Result<()> {
    let channel = Channel { group, source }.checked()?;
    let timeout = Duration::try_from_secs_f64(timeout).context("--timeout")?;
    let iface = Iface::lookup(iface_name).with_context(|| format!("interface {iface_name}"))?;
    let receiver = Receiver::join(channel, port, iface).context("joining the group")?;
    eprintln!("joined {group} on {iface_name}");
    let deadline = Instant::now() + timeout;
    let mut report = Report {
        group,
        source,
        iface: iface_name.to_owned(),
        port,
        received: 0,
        by_sender: BTreeMap::new(),
        packets: Vec::new(),
    };
    let mut stdout = std::io::stdout().lock();
    while count.is_none_or(|c| report.received < c) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Some(d) = receiver.recv(left).context("receiving")? else {
            break;
        };
        let payload = Payload::decode(&d.payload);
        let r = Received {
            from: d.from,
            len: d.payload.len(),
            ttl: d.ttl,
            seq: payload.map(|p| p.seq),
            sent_ttl: payload.map(|p| p.sent_ttl),
        };
        report.received += 1;
        *report.by_sender.entry(d.from.ip()).or_default() += 1;
        if !json {
            let show = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
            writeln!(
                stdout,
                "{} from {} len {} seq {} ttl {} sent-ttl {}",
                report.received,
                r.from,
                r.len,
                show(r.seq.map(|s| s.to_string())),
                show(r.ttl.map(|t| t.to_string())),
                show(r.sent_ttl.map(|t| t.to_string())),
            )?;
        }
        report.packets.push(r);
    }
    if json {
        serde_json::to_writer(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        writeln!(stdout, "received {} datagrams", report.received)?;
        for (sender, n) in &report.by_sender {
            writeln!(stdout, "  {sender}: {n}")?;
        }
    }
    receiver.leave().context("leaving the group")?;
    if count.is_some_and(|c| report.received < c) {
        std::process::exit(1);
    }
    Ok(())
}
