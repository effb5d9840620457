//! Root lab tests (flood): a source spraying packets to random (S,G) as fast as an AF_PACKET
//! sender goes.
//! * While an established flow runs: the report rate limit holds, mgmd's memory and hold queues
//!   stay bounded, the API answers every request (how fast is reported, not asserted: it
//!   depends on the machine's load), and the established flow loses nothing.
//! * Long enough to fill the MGM's share of negative entries (made small for the test): the
//!   spray recycles that share (oldest first) without a failed install or a refusal, and a new
//!   flow started during and after the spray gets its entry and is forwarded by XDP (its
//!   per-interface counters in the maps grow) while the spray runs: its creation alert is not
//!   starved by the spray's (the report budget per (S,G), `mgm-ebpf/src/report.rs`). How soon
//!   it got its entry, the alerts' counters and mgmd's RSS are reported, not asserted (they
//!   depend on the machine's load).
//! * The memory budget (README, "Memory"): a spray of 100 000 sources to a group a receiver
//!   joined makes 100 000 entries (creation alerts unlimited for the test, so that it takes
//!   seconds); after a statistics refresh, mgmd's resident size besides its program's text is
//!   asserted within the budget, and printed with its parts (from /proc/PID/smaps).
mod support;

use anyhow::{ensure, Context as _, Result};
use aya::maps::{HashMap as BpfHashMap, Map, MapData, MapError, PerCpuArray, PerCpuHashMap};
use mgm_common::{limits, MfeCounters, MfeValue, OifCounterKey, OifCounters, SgKey};
use mgm_user::{
    api::proto::{Request, Response},
    dataplane::map_name,
    lab::{Host, Lab, Received},
    rawio::{self, Framing, PacketSocket},
    wire::ipv4,
};
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};
use support::{interfaces, pinned_map, wait_for, Mgmd, NO_IGMP};

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

/// Sends UDP frames to random (S,G) (sources in 172.16/12, which the router has no route to,
/// groups in 239.128/9) out of `eth0` of the calling thread's namespace while `keep_going`
/// says so; returns how many were sent.
fn flood(keep_going: impl Fn() -> bool) -> u64 {
    let socket = PacketSocket::open(Framing::Frames, 0).expect("AF_PACKET socket");
    let ifindex = rawio::ifindex("eth0").expect("eth0");
    let mut spray = Spray(0x9e37_79b9_7f4a_7c15);
    let mut frame = [0u8; 14 + 20 + 8 + 18];
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let mut sent = 0;
    while keep_going() {
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
    // The established flow runs before the flood starts, forwarded by the fast path. (A paced
    // flow whose first packets were held stays in hold mode, forwarded through the punt path,
    // for up to a second; a flood in that window competes with it for the punt ring.)
    mgmd.wait_for_forwarded(Lab::address_of(Host::Source), GROUP, 100)?;

    let before = mgmd.stats()?;
    let (sent, slowest_answer) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let lab = &mgmd.lab;
        let until = Instant::now() + FLOOD_FOR;
        let flooder =
            scope.spawn(move || lab.in_ns(Host::Source, || flood(|| Instant::now() < until)));
        let mut slowest = Duration::ZERO;
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

    assert_whole(
        &listener.finish()?,
        PACKETS,
        "the established flow under the flood",
    );
    Ok(())
}

/// Asserts that `flow` got `0..count`, each once and in order, showing where it went wrong.
fn assert_whole(received: &Received, count: u32, flow: &str) {
    let seqs = &received.seqs;
    let out_of_place = seqs
        .iter()
        .enumerate()
        .find(|(i, s)| **s != *i as u64)
        .map(|(i, _)| &seqs[i.saturating_sub(3)..(i + 10).min(seqs.len())]);
    assert!(
        received.is_complete(count.into()),
        "{flow} got {} of {count} packets, out of place from {out_of_place:?}",
        seqs.len(),
    );
}

/// The legitimate flow started while the spray runs, and the one started after it.
const DURING: Ipv4Addr = Ipv4Addr::new(239, 5, 6, 1);
const AFTER: Ipv4Addr = Ipv4Addr::new(239, 5, 6, 2);
/// The negative entries mgmd keeps at most in this test (`daemon.max_negative_entries`): small
/// enough for the spray to fill under load, where mgmd may create only tens of entries a second.
const NEGATIVE_SHARE: u64 = 300;
/// How long the spray may take to fill that share.
const FILL_BOUND: Duration = Duration::from_secs(60);

/// mgmd's pinned forwarding maps, read behind its back.
struct PinnedMaps {
    mfes: BpfHashMap<MapData, SgKey, MfeValue>,
    mfe_stats: PerCpuArray<MapData, MfeCounters>,
    oif_stats: PerCpuHashMap<MapData, OifCounterKey, OifCounters>,
}

impl PinnedMaps {
    fn open(lab: &Lab) -> Result<Self> {
        let open =
            |name: &str| MapData::from_pin(pinned_map(lab, name)?).map_err(anyhow::Error::from);
        Ok(Self {
            mfes: Map::HashMap(open(map_name::MFES)?).try_into()?,
            mfe_stats: Map::PerCpuArray(open(map_name::MFE_STATS)?).try_into()?,
            oif_stats: Map::PerCpuHashMap(open(map_name::OIF_STATS)?).try_into()?,
        })
    }

    /// The entry of (`source`, `group`) in the data plane, if any.
    fn entry(&self, source: Ipv4Addr, group: Ipv4Addr) -> Result<Option<MfeValue>> {
        match self.mfes.get(&SgKey::new(source, group), 0) {
            Ok(value) => Ok(Some(value)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies of (`source`, `group`) the XDP program sent out of `ifindex` through its entry.
    fn copies(&self, source: Ipv4Addr, group: Ipv4Addr, ifindex: u32) -> Result<u64> {
        let Some(entry) = self.entry(source, group)? else {
            return Ok(0);
        };
        let key = OifCounterKey {
            stats_slot: entry.stats_slot,
            ifindex,
        };
        let entry_stats = self.mfe_stats.get(&entry.stats_slot, 0)?;
        let (packets, bytes) = MfeCounters::forwarded(&entry_stats);
        match self.oif_stats.get(&key, 0) {
            Ok(per_cpu) => Ok(OifCounters::sent(packets, bytes, &per_cpu).0),
            Err(MapError::KeyNotFound) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs a flow to `group` from the source (bursts of 200 packets, one a millisecond) until
/// XDP has forwarded 10 of its packets to `rcv1` (the spray crowds the link, so many of its
/// packets never reach the router); returns how long its entry took to appear in the data
/// plane.
fn new_flow(mgmd: &Mgmd, maps: &PinnedMaps, group: Ipv4Addr, rcv1: u32) -> Result<Duration> {
    let source = Lab::address_of(Host::Source);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let started = Instant::now();
        let sender = scope.spawn(|| -> Result<()> {
            while !done.load(Ordering::Relaxed) {
                mgmd.send(Host::Source, group, 200, 1)?;
            }
            Ok(())
        });
        let took = wait_for("the new flow's entry", Duration::from_secs(30), || {
            Ok(maps.entry(source, group)?.map(|_| started.elapsed()))
        });
        let forwarded = took.is_ok().then(|| {
            wait_for(
                "the new flow forwarded by XDP",
                Duration::from_secs(30),
                || Ok((maps.copies(source, group, rcv1)? >= 10).then_some(())),
            )
            .with_context(|| {
                let entry = maps.entry(source, group).ok().flatten();
                format!("{group}: its data-plane entry now: {entry:?}")
            })
        });
        done.store(true, Ordering::Relaxed);
        sender.join().expect("sender thread")?;
        forwarded.transpose()?;
        took
    })
}

fn counter(stats: &BTreeMap<String, u64>, name: &str) -> u64 {
    stats.get(name).copied().unwrap_or(0)
}

/// The flow that starts while a paced spray keeps mgmd's punt path busy.
const AMID_SPRAY: Ipv4Addr = Ipv4Addr::new(239, 5, 7, 1);
/// Its packets, [`AMID_SPRAY_GAP_MS`] apart: all sent within hold mode's time limit (1 s).
const AMID_SPRAY_PACKETS: u32 = 300;
const AMID_SPRAY_GAP_MS: u32 = 2;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_new_flow_amid_a_spray_leaves_the_punt_path_after_its_first_packets() -> Result<()> {
    // The spray's (S,G)s are mostly beyond the report budget: their punted frames wait in
    // mgmd until they age out, so its punt socket always has frames it has not dealt with. The
    // new flow's entry is in hold mode meanwhile; the fast path takes it over once mgmd has
    // sent on the flow's own punted packets, without waiting for the rest of the queue.
    let config = format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{AMID_SPRAY}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", ""), ("rcv1", "")])
    );
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    let listener = mgmd.listen(Host::Receiver(1), AMID_SPRAY, AMID_SPRAY_PACKETS, 30.0)?;
    let before = mgmd.stats()?;
    let done = AtomicBool::new(false);
    let sprayed = std::thread::scope(|scope| -> Result<u64> {
        let lab = &mgmd.lab;
        // 256 frames every 20 ms: 12 800 a second, within what the hold queues keep for the
        // 3 s a frame may wait (the new flow's first packets must find room there).
        let sprayer = scope.spawn(|| {
            lab.in_ns(Host::Source, || {
                flood(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    !done.load(Ordering::Relaxed)
                })
            })
        });
        std::thread::sleep(Duration::from_millis(500));
        let sent = mgmd.send(
            Host::Source,
            AMID_SPRAY,
            AMID_SPRAY_PACKETS,
            AMID_SPRAY_GAP_MS,
        );
        done.store(true, Ordering::Relaxed);
        let sprayed = sprayer.join().expect("sprayer thread")?;
        sent?;
        Ok(sprayed)
    })?;
    let received = listener.finish()?;
    let after = mgmd.stats()?;
    let delta = |k: &str| counter(&after, k) - counter(&before, k);
    eprintln!(
        "{AMID_SPRAY_PACKETS} packets {AMID_SPRAY_GAP_MS} ms apart amid a spray of {sprayed} \
         frames: sent on by mgmd {}, taken over by XDP in hold mode {}; spray frames aged out \
         in mgmd {}",
        delta("hold_delivered"),
        delta("hold_handed_over"),
        delta("hold_aged_out"),
    );
    assert_whole(&received, AMID_SPRAY_PACKETS, "the new flow amid the spray");
    // Before, the entry stayed in hold mode for its first second, every packet sent on by
    // mgmd, as long as any frame punted on its queue waited.
    assert!(
        delta("hold_delivered") < u64::from(AMID_SPRAY_PACKETS) / 3,
        "mgmd sent on {} of the flow's {AMID_SPRAY_PACKETS} packets: the fast path did not take \
         the flow over while the spray's frames waited",
        delta("hold_delivered"),
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_spray_filling_the_table_leaves_new_flows_their_entry_and_the_fast_path() -> Result<()> {
    // Keys before the first table go into the `[daemon]` table the support adds.
    let config = format!("max_negative_entries = {NEGATIVE_SHARE}\n")
        + &interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
        + "[[route]]\nfrom = \"up0\"\ngroup = \"239.5.6.0/24\"\nto = [\"rcv1\"]\n";
    let mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    let rcv1 = mgmd.lab.ifindex(Host::Router, "rcv1")?;
    let maps = PinnedMaps::open(&mgmd.lab)?;
    let rss_before = rss_kib(mgmd.pid());
    let before = mgmd.stats()?;

    let stop = AtomicBool::new(false);
    let (sent, filled_after, during) = std::thread::scope(|scope| -> Result<_> {
        let (lab, stop) = (&mgmd.lab, &stop);
        let flooder = scope
            .spawn(move || lab.in_ns(Host::Source, || flood(|| !stop.load(Ordering::Relaxed))));
        let spraying = Instant::now();
        let mut reached = 0;
        let filled = wait_for("the spray to fill the negative share", FILL_BOUND, || {
            reached = counter(&mgmd.stats()?, "mfes_negative_now");
            Ok((reached >= NEGATIVE_SHARE).then_some(()))
        })
        .with_context(|| format!("{reached} negative entries"));
        let filled_after = spraying.elapsed();
        let during = filled.and_then(|()| new_flow(&mgmd, &maps, DURING, rcv1));
        stop.store(true, Ordering::Relaxed);
        let sent = flooder.join().expect("flooder thread")?;
        Ok((sent, filled_after, during?))
    })?;
    let after_spray = mgmd.stats()?;
    let after = new_flow(&mgmd, &maps, AFTER, rcv1)?;
    let rss_after = rss_kib(mgmd.pid());
    let delta = |k: &str| counter(&after_spray, k) - counter(&before, k);
    eprintln!(
        "spray: {sent} frames; negative share ({NEGATIVE_SHARE}) full after {filled_after:?}; \
         entries {}, negative {}, evicted negative {}, evicted idle {}, refused {}, backend \
         failures {}; creation alerts raised {}, refused: rate {}, repeat rate {}, recently \
         sent {}, ring full {}; held now {}, hold overflow {}; new flow's entry after \
         {during:?} during the spray, {after:?} after it; mgmd RSS {rss_before} -> \
         {rss_after} KiB",
        counter(&after_spray, "mfes_now"),
        counter(&after_spray, "mfes_negative_now"),
        delta("mfe_evicted_negative"),
        delta("mfe_evicted_idle"),
        delta("mfe_refused"),
        delta("backend_failures"),
        delta("report_miss"),
        delta("report_rate_limited"),
        delta("report_repeat_rate_limited"),
        delta("report_recently_sent"),
        delta("report_ring_full"),
        counter(&after_spray, "hold_queued_now"),
        delta("hold_overflow"),
    );
    ensure!(
        delta("mfe_evicted_negative") > 0,
        "the spray never reached the cap"
    );
    ensure!(
        counter(&after_spray, "mfes_now") <= u64::from(limits::MFES),
        "more entries than the data plane holds"
    );
    ensure!(
        delta("backend_failures") == 0,
        "installs failed under the spray"
    );
    ensure!(delta("mfe_refused") == 0, "entries refused");
    // mgmd's memory under the spray is reported above, not asserted: what grows with a spray
    // is bounded (hold queues: 65 536 packets and 16 MiB of frames, 3 s at most; negative
    // entries: max_negative_entries), but how much of those bounds a spray reaches depends on
    // its speed and the machine's load.
    Ok(())
}

/// The entries of the memory budget's check (README, "Memory").
const BUDGET_ENTRIES: u32 = 100_000;
/// mgmd's resident size with [`BUDGET_ENTRIES`] entries on two interfaces, its program text
/// aside (file-backed and shared, as large as the build makes it: about 20 MiB in the debug
/// build the tests run, 7.8 MiB in a release build), in MiB: the budget (README, "Memory").
const BUDGET_DATA_MIB: u64 = 64;
const BUDGET_DATA_KIB: u64 = BUDGET_DATA_MIB * 1024;
/// The group of the budget's spray, and the prefix of its sources (routed to the source host).
const BUDGET_GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);
const BUDGET_SOURCES: &str = "172.16.0.0/12";
/// New (S,G)s sent before the spray waits for mgmd to catch up (keeps the punt path and the
/// hold queues small, so that what is measured is the entries, not a burst's leftovers).
const BUDGET_BATCH: u32 = 4096;

/// The budget spray's `n`th source.
fn budget_source(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xac10_0000 + n)
}

/// Sends one UDP frame from each of the sources `range` to [`BUDGET_GROUP`] out of `eth0` of
/// the calling thread's namespace.
fn spray_sources(range: std::ops::Range<u32>) -> Result<()> {
    let socket = PacketSocket::open(Framing::Frames, 0)?;
    let ifindex = rawio::ifindex("eth0")?;
    let mut frame = [0u8; 14 + 20 + 8 + 18];
    let o = BUDGET_GROUP.octets();
    frame[..6].copy_from_slice(&[0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    for n in range {
        let repr = ipv4::Repr {
            src: budget_source(n),
            dst: BUDGET_GROUP,
            protocol: 17,
            ttl: 16,
            tos: 0,
            router_alert: false,
            payload_len: 26,
        };
        repr.emit(&mut frame[14..])?;
        // A full socket buffer loses the frame; the next round sends it again.
        let _ = socket.send_to(ifindex, [0; 6], &frame);
    }
    Ok(())
}

/// Resident KiB of each mapping of `pid` by name (from /proc/PID/smaps): a file's path,
/// `[heap]`, `[stack]`, `anon_inode:bpf-map`..., anonymous mappings by size.
fn resident_by_mapping(pid: u32) -> BTreeMap<String, u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut resident: BTreeMap<String, u64> = BTreeMap::new();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first == "Rss:" {
            let kib: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *resident.entry(name.clone()).or_default() += kib;
        } else if !first.ends_with(':') {
            // A mapping's header: range, permissions, offset, device, inode, name.
            let size_kib = first
                .split_once('-')
                .and_then(|(a, b)| {
                    let (a, b) = (
                        u64::from_str_radix(a, 16).ok()?,
                        u64::from_str_radix(b, 16).ok()?,
                    );
                    Some((b - a) / 1024)
                })
                .unwrap_or(0);
            name = match words.nth(4) {
                Some(n) => n.to_owned(),
                None => format!("anonymous {size_kib} KiB"),
            };
        }
    }
    resident
}

/// mgmd's resident size: (all of it, its program's file, a readable breakdown).
fn rss_report(pid: u32) -> Result<(u64, u64, String)> {
    let program = std::fs::read_link(format!("/proc/{pid}/exe"))?;
    let by_mapping = resident_by_mapping(pid);
    let program_kib = by_mapping
        .get(program.to_string_lossy().as_ref())
        .copied()
        .unwrap_or(0);
    let breakdown = by_mapping
        .iter()
        .filter(|(_, kib)| **kib >= 256)
        .map(|(name, kib)| format!("{}: {kib}", name.rsplit('/').next().unwrap_or(name)))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((rss_kib(pid), program_kib, breakdown))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_hundred_thousand_entries_fit_mgmds_memory_budget() -> Result<()> {
    let lab = Lab::star(1)?;
    let source = Lab::address_of(Host::Source).to_string();
    lab.ip(
        Host::Router,
        &["route", "add", BUDGET_SOURCES, "via", &source],
    )?;
    let config = interfaces(&[("up0", NO_IGMP), ("rcv1", "")]);
    let mgmd = Mgmd::start(lab, &config)?;
    let (empty, _, breakdown) = rss_report(mgmd.pid())?;
    eprintln!("mgmd without entries: {empty} KiB resident ({breakdown} KiB)");
    // No limit on creation alerts, so that the table fills in seconds.
    let mut settings: aya::maps::Array<MapData, u64> =
        Map::Array(MapData::from_pin(pinned_map(&mgmd.lab, map_name::CONFIG)?)?).try_into()?;
    settings.set(mgm_common::config::REPORT_INTERVAL_NS, 0, 0)?;
    let receiver = Lab::address_of(Host::Receiver(1));
    let member = mgmd
        .lab
        .in_ns(Host::Receiver(1), || -> Result<socket2::Socket> {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            socket.join_multicast_v4(&BUDGET_GROUP, &receiver)?;
            Ok(socket)
        })??;
    mgmd.wait_for_igmp_members(BUDGET_GROUP, &["rcv1"])?;

    let started = Instant::now();
    let entries = || -> Result<u64> { Ok(counter(&mgmd.stats()?, "mfes_now")) };
    let mut sent = 0;
    while sent < BUDGET_ENTRIES {
        let next = (sent + BUDGET_BATCH).min(BUDGET_ENTRIES);
        mgmd.lab
            .in_ns(Host::Source, || spray_sources(sent..next))??;
        sent = next;
        // Each (S,G) still missing (its frame or its alert was lost) is sent again.
        wait_for("the batch's entries", Duration::from_secs(60), || {
            if entries()? >= u64::from(sent) {
                return Ok(Some(()));
            }
            mgmd.lab.in_ns(Host::Source, || spray_sources(0..sent))??;
            Ok(None)
        })?;
    }
    let filled_after = started.elapsed();
    // The steady state: after a statistics refresh (every 30 s), which gives every entry its
    // counters and its rate sample. Answered by mgmd's main loop, a Stats request that sees the
    // count grow comes after the whole refresh.
    let refreshes = counter(&mgmd.stats()?, "stats_refreshes");
    wait_for("a statistics refresh", Duration::from_secs(40), || {
        Ok((counter(&mgmd.stats()?, "stats_refreshes") > refreshes).then_some(()))
    })?;
    let held = entries()?;
    let (full, program, breakdown) = rss_report(mgmd.pid())?;
    let data = full - program;
    eprintln!(
        "mgmd with {held} entries (filled in {filled_after:?}, then a statistics refresh): \
         {full} KiB resident, {program} KiB of it its program's file, {data} KiB the rest \
         ({breakdown} KiB); {:.0} B per entry above the empty mgmd; the longest statistics \
         refresh took {} µs of mgmd's main loop",
        (full - empty) as f64 * 1024.0 / f64::from(BUDGET_ENTRIES),
        counter(&mgmd.stats()?, "stats_refresh_longest_us"),
    );
    drop(member);
    ensure!(held >= u64::from(BUDGET_ENTRIES), "only {held} entries");
    ensure!(
        data <= BUDGET_DATA_KIB,
        "mgmd holds {data} KiB besides its program with {held} entries, over the budget of \
         {BUDGET_DATA_MIB} MiB"
    );
    Ok(())
}
