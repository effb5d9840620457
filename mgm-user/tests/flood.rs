//! Root lab test (flood): a source spraying packets to random (S,G) as fast as an AF_PACKET
//! sender goes, while an established flow runs. The report rate limit holds, mgmd's memory and
//! hold queues stay bounded, the API answers every request (how fast is reported, not asserted: it
//! depends on the machine's load), and the established flow loses nothing.
mod support;

use mgm_user::{
    api::proto::{Request, Response},
    lab::{Host, Lab},
    rawio::{self, Framing, PacketSocket},
    wire::ipv4,
};
use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};
use support::{interfaces, Mgmd};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 5, 5);
const PACKETS: u32 = 3000;
const FLOOD_FOR: Duration = Duration::from_secs(2);

/// A small xorshift generator: the flood needs speed and variety, not quality.
struct Spray(u64);

impl Spray {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as u32
    }
}

/// Sends UDP frames to random (S,G) (sources in 172.16/12, groups in 239.128/9) out of
/// `eth0` of the calling thread's namespace for `duration`; returns how many were sent.
fn flood(duration: Duration) -> u64 {
    let socket = PacketSocket::open(Framing::Frames, 0).expect("AF_PACKET socket");
    let ifindex = rawio::ifindex("eth0").expect("eth0");
    let mut spray = Spray(0x9e37_79b9_7f4a_7c15);
    let mut frame = [0u8; 14 + 20 + 8 + 18];
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let mut sent = 0;
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        for _ in 0..256 {
            let source = Ipv4Addr::from(0xac10_0000 | (spray.next() & 0x000f_ffff));
            let group = Ipv4Addr::from(0xef80_0000 | (spray.next() & 0x007f_ffff));
            let repr = ipv4::Repr {
                src: source,
                dst: group,
                protocol: 17,
                ttl: 16,
                tos: 0,
                router_alert: false,
                payload_len: 26,
            };
            let o = group.octets();
            frame[..6].copy_from_slice(&[0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
            repr.emit(&mut frame[14..]).expect("emit");
            if socket.send_to(ifindex, [0; 6], &frame).is_ok() {
                sent += 1;
            }
        }
    }
    sent
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_random_sg_flood_leaves_mgmd_bounded_and_established_flows_whole() -> anyhow::Result<()> {
    let config = format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", ""), ("rcv1", "")])
    );
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    let rss_before = rss_kib(mgmd.pid());
    let listener = mgmd.listen(Host::Receiver(1), GROUP, PACKETS, 60.0)?;
    mgmd.send_in_background(Host::Source, GROUP, PACKETS, 1)?;
    // The established flow runs before the flood starts.
    mgmd.wait_for_forwarded(Lab::address_of(Host::Source), GROUP, 100)?;

    let before = mgmd.stats()?;
    let (sent, slowest_answer) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let lab = &mgmd.lab;
        let flooder = scope.spawn(move || lab.in_ns(Host::Source, || flood(FLOOD_FOR)));
        let mut slowest = Duration::ZERO;
        let until = Instant::now() + FLOOD_FOR;
        while Instant::now() < until {
            let started = Instant::now();
            let response = mgmd.call(&Request::Status)?;
            assert!(matches!(response, Response::Status { .. }), "{response:?}");
            slowest = slowest.max(started.elapsed());
            std::thread::sleep(Duration::from_millis(100));
        }
        let sent = flooder.join().expect("flooder thread")?;
        Ok((sent, slowest))
    })?;
    let after = mgmd.stats()?;
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let rss_after = rss_kib(mgmd.pid());
    let rate = sent as f64 / FLOOD_FOR.as_secs_f64();
    eprintln!(
        "flood: {sent} frames ({rate:.0}/s) to random (S,G); XDP misses {}, reports raised {}, \
         rate-limited {}; held now {}, hold overflow {}, aged out {}; API slowest answer {:?}; \
         mgmd RSS {rss_before} -> {rss_after} KiB",
        delta("miss"),
        delta("report_miss"),
        delta("report_rate_limited"),
        after.get("hold_queued_now").copied().unwrap_or(0),
        delta("hold_overflow"),
        delta("hold_aged_out"),
        slowest_answer,
    );
    assert!(sent > 10_000, "the flood sent only {sent} frames");
    assert!(
        delta("report_rate_limited") > 0,
        "the report rate limit must have held back most creation alerts"
    );
    assert!(
        delta("report_miss") < sent / 2,
        "reports were not rate-limited"
    );
    assert!(
        rss_after < rss_before + 256 * 1024,
        "mgmd grew from {rss_before} to {rss_after} KiB"
    );

    let received = listener.finish()?;
    assert!(
        received.is_complete(PACKETS.into()),
        "the established flow got {} of {PACKETS} packets under the flood",
        received.seqs.len()
    );
    Ok(())
}
