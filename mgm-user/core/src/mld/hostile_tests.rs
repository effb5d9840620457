//! The hostile corpus (every malformed or misaddressed input counted under its reason and
//! dropped with the state unchanged) and fuzz-style tests (random and mutated packets never
//! panic, every input is accounted for, and the state stays within its bounds).
use super::tests::{s, Lab, G, HOST, IF, ROUTER};
use super::validate::check;
use super::*;
use crate::wire::{ipv6, mld as wire_mld};
use wire_mld::{AddressRecordRepr, RecordType};

/// An IPv6 packet around an MLD message, with every envelope field chosen by the caller;
/// the ICMPv6 checksum is computed for `src` → `dst`.
pub(super) fn envelope(
    repr: &wire_mld::Repr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    ra: Option<u16>,
) -> Vec<u8> {
    let ip = ipv6::Repr {
        src,
        dst,
        next_header: ipv6::NEXT_ICMPV6,
        hop_limit,
        router_alert: ra,
        upper_layer_len: repr.buffer_len(),
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut packet = ip.emit(&mut buf).unwrap();
    repr.emit(src, dst, packet.upper_layer_mut()).unwrap();
    buf
}

pub(super) fn report(sources: &[u16]) -> wire_mld::Repr {
    wire_mld::Repr::ReportV2 {
        records: vec![AddressRecordRepr {
            record_type: RecordType::IsInclude,
            group: G,
            sources: sources.iter().map(|x| s(*x)).collect(),
        }],
    }
}

pub(super) fn valid_report() -> Vec<u8> {
    envelope(
        &report(&[1, 2]),
        HOST,
        wire_mld::ALL_MLDV2_ROUTERS,
        1,
        Some(0),
    )
}

/// Offset of the MLD message in a packet from [`envelope`] with a Router Alert.
pub(super) const MLD_AT: usize = 48;

pub(super) fn refill_mld_checksum(buf: &mut [u8]) {
    let (src, dst) = {
        let ip = ipv6::Packet::new_checked(&buf[..]).unwrap();
        (ip.src_addr(), ip.dst_addr())
    };
    wire_mld::Packet::new_unchecked(&mut buf[MLD_AT..]).fill_checksum(src, dst);
}

/// A lab holding some state: G in EXCLUDE({9}) and another group in INCLUDE({1}).
fn lab_with_state() -> Lab {
    let mut lab = Lab::new();
    lab.record(0.5, RecordType::IsExclude, &[9]);
    lab.v2(
        0.5,
        &[(
            RecordType::IsInclude,
            Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 7),
            &[1],
        )],
    );
    lab
}

fn corpus() -> Vec<(&'static str, Vec<u8>, DropReason)> {
    let all_routers = wire_mld::ALL_MLDV2_ROUTERS;
    let good = report(&[1, 2]);
    let mut bad_checksum = valid_report();
    bad_checksum[MLD_AT + 2] ^= 0x01;
    // Checksummed for another destination: right over the message, wrong over the
    // pseudo-header it arrives with.
    let mut other_pseudo = envelope(&good, HOST, wire_mld::ALL_NODES, 1, Some(0));
    other_pseudo[24..40].copy_from_slice(&all_routers.octets());
    let mut records_past = valid_report();
    records_past[MLD_AT + 7] = 2; // two records, one present
    refill_mld_checksum(&mut records_past);
    let mut sources_past = valid_report();
    sources_past[MLD_AT + 8 + 2..MLD_AT + 8 + 4].copy_from_slice(&[0xff, 0xff]);
    refill_mld_checksum(&mut sources_past);
    let mut aux_past = valid_report();
    aux_past[MLD_AT + 8 + 1] = 0xff;
    refill_mld_checksum(&mut aux_past);
    let v2_query = wire_mld::Repr::Query {
        max_resp_code: 1000,
        group: G,
        v2: Some(wire_mld::QueryV2 {
            suppress: false,
            qrv: 2,
            qqic: 125,
            sources: vec![],
        }),
    };
    let mut query_26 = envelope(&v2_query, HOST, G, 1, Some(0));
    query_26.truncate(MLD_AT + 26);
    query_26[4..6].copy_from_slice(&(8u16 + 26).to_be_bytes());
    refill_mld_checksum(&mut query_26);
    let mut echo = valid_report();
    echo[MLD_AT] = 128;
    refill_mld_checksum(&mut echo);
    let mut udp = valid_report();
    udp[40] = 17;
    let mut ipv4 = valid_report();
    ipv4[0] = 0x45;
    let mut long_hbh = valid_report();
    long_hbh[41] = 200;
    let mut discard_option = valid_report();
    discard_option[46] = 0x9e; // the PadN becomes an unknown option that must not be skipped
    let mut payload_past = valid_report();
    payload_past[4..6].copy_from_slice(&0x4000u16.to_be_bytes());
    let v1 = |group| wire_mld::Repr::ReportV1 { group };
    vec![
        ("bad checksum", bad_checksum, DropReason::MldChecksum),
        (
            "checksum over another pseudo-header",
            other_pseudo,
            DropReason::MldChecksum,
        ),
        (
            "hop limit 2",
            envelope(&good, HOST, all_routers, 2, Some(0)),
            DropReason::HopLimitNotOne,
        ),
        (
            "hop limit 255",
            envelope(&good, HOST, all_routers, 255, Some(0)),
            DropReason::HopLimitNotOne,
        ),
        (
            "no Router Alert",
            envelope(&good, HOST, all_routers, 1, None),
            DropReason::NoRouterAlert,
        ),
        (
            "Router Alert not MLD",
            envelope(&good, HOST, all_routers, 1, Some(1)),
            DropReason::NoRouterAlert,
        ),
        (
            "global source",
            envelope(&good, s(20), all_routers, 1, Some(0)),
            DropReason::BadSource,
        ),
        (
            "unspecified source",
            envelope(&good, Ipv6Addr::UNSPECIFIED, all_routers, 1, Some(0)),
            DropReason::BadSource,
        ),
        (
            "records past the payload",
            records_past,
            DropReason::MldTruncated,
        ),
        (
            "65535 sources declared",
            sources_past,
            DropReason::MldTruncated,
        ),
        (
            "aux data past the payload",
            aux_past,
            DropReason::MldTruncated,
        ),
        ("26-byte query", query_26, DropReason::MldMalformed),
        ("ICMPv6 echo", echo, DropReason::UnknownType),
        (
            "UDP behind the Hop-by-Hop header",
            udp,
            DropReason::NotIcmpv6,
        ),
        ("IPv4 version", ipv4, DropReason::Ipv6Malformed),
        (
            "Hop-by-Hop header past the payload",
            long_hbh,
            DropReason::Ipv6Truncated,
        ),
        (
            "unknown discard option",
            discard_option,
            DropReason::UnknownOption,
        ),
        (
            "payload length past the buffer",
            payload_past,
            DropReason::Ipv6Truncated,
        ),
        (
            "v1 report to another group",
            envelope(&v1(G), HOST, wire_mld::ALL_NODES, 1, Some(0)),
            DropReason::BadDestination,
        ),
        (
            "v2 report to all-nodes",
            envelope(&good, HOST, wire_mld::ALL_NODES, 1, Some(0)),
            DropReason::BadDestination,
        ),
        (
            "v1 report of a unicast address",
            envelope(&v1(s(1)), HOST, s(1), 1, Some(0)),
            DropReason::BadGroup,
        ),
        ("empty", Vec::new(), DropReason::Ipv6Truncated),
    ]
}

#[test]
fn hostile_corpus_is_counted_and_dropped_with_the_state_unchanged() {
    let mut lab = lab_with_state();
    let now = lab.at(1.0);
    let before = lab.router.snapshot(now);
    for (name, packet, reason) in corpus() {
        let dropped_before = lab.counters().dropped.get(&reason).copied().unwrap_or(0);
        let out = lab.router.handle_packet(IF, &packet, now);
        assert!(out.is_empty(), "{name}: {out:?}");
        let dropped = lab.counters().dropped.get(&reason).copied().unwrap_or(0);
        assert_eq!(
            dropped,
            dropped_before + 1,
            "{name} not counted as {reason:?}"
        );
        let after = lab.router.snapshot(now);
        assert_eq!(
            after.interfaces[0].groups, before.interfaces[0].groups,
            "{name}"
        );
        assert_eq!(
            after.interfaces[0].querier, before.interfaces[0].querier,
            "{name}"
        );
    }
    let c = lab.counters();
    assert_eq!(c.dropped.values().sum::<u64>(), corpus().len() as u64);
    assert_eq!(
        c.received[&MessageKind::ReportV2],
        2,
        "only the set-up reports"
    );
    // The same report, well formed, is accepted: the corpus differs from it only where named.
    lab.router.handle_packet(IF, &valid_report(), now);
    assert_eq!(lab.counters().received[&MessageKind::ReportV2], 3);
}

#[test]
fn every_truncation_and_bit_flip_is_harmless() {
    let good = valid_report();
    let mut lab = Lab::new();
    for len in 0..good.len() {
        assert!(lab
            .router
            .handle_packet(IF, &good[..len], lab.at(1.0))
            .is_empty());
    }
    let mut accepted = 0;
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.clone();
            v[byte] ^= 1 << bit;
            accepted += u64::from(parse(&v).is_ok_and(|m| check(&m).is_ok()));
            lab.router.handle_packet(IF, &v, lab.at(1.0));
        }
    }
    let c = lab.counters();
    let inputs = 9 * good.len() as u64;
    assert_eq!(c.dropped.values().sum::<u64>(), inputs - accepted);
    assert_eq!(c.received.values().sum::<u64>(), accepted);
}

/// A deterministic generator (PCG-style LCG), so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
}

/// Checks what must hold of any state: within the bounds, only routable groups, INCLUDE
/// groups only with forwarded sources, and the source count matching the groups.
fn assert_invariants(lab: &Lab, t: f64) {
    let iface = lab.iface(t);
    assert!(iface.groups.len() <= iface.config.max_groups);
    let sources: usize = iface.groups.iter().map(|g| g.sources.len()).sum();
    assert!(sources <= iface.config.max_sources);
    assert_eq!(sources, lab.router.ifaces[&IF].source_count());
    for g in &iface.groups {
        assert!(
            g.group.is_multicast() && g.group.segments()[0] & 0xf > 2,
            "{}",
            g.group
        );
        if g.filter_mode == FilterMode::Include {
            assert!(!g.sources.is_empty() && g.sources.iter().all(|s| s.forwarded));
        }
    }
}

#[test]
fn random_and_mutated_packets_are_counted_never_fatal() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lab = Lab::with(IfaceConfig {
        max_groups: 8,
        max_sources: 40,
        ..IfaceConfig::default()
    });
    let groups = [
        G,
        Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 2),
        Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0, 3),
    ];
    let dsts = [
        wire_mld::ALL_NODES,
        wire_mld::ALL_ROUTERS,
        wire_mld::ALL_MLDV2_ROUTERS,
        G,
    ];
    let srcs = [
        HOST,
        ROUTER,
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        s(1),
    ];
    const N: u64 = 20_000;
    for i in 0..N {
        let t = i as f64 / 20.0;
        let (src, dst) = (srcs[rng.below(srcs.len())], dsts[rng.below(dsts.len())]);
        let mut message: Vec<u8> = if rng.below(2) == 0 {
            // A valid message of a random kind, then a few bytes mutated.
            let group = groups[rng.below(groups.len())];
            let sources: Vec<Ipv6Addr> =
                (0..rng.below(6)).map(|_| s(rng.below(30) as u16)).collect();
            let repr = match rng.below(4) {
                0 => wire_mld::Repr::ReportV1 { group },
                1 => wire_mld::Repr::Done { group },
                2 => wire_mld::Repr::Query {
                    max_resp_code: rng.next() as u16,
                    group,
                    v2: Some(wire_mld::QueryV2 {
                        suppress: rng.below(2) == 0,
                        qrv: 2,
                        qqic: 125,
                        sources,
                    }),
                },
                _ => wire_mld::Repr::ReportV2 {
                    records: vec![AddressRecordRepr {
                        record_type: RecordType::from(1 + rng.below(7) as u8),
                        group,
                        sources,
                    }],
                },
            };
            let mut buf = vec![0; repr.buffer_len()];
            repr.emit(src, dst, &mut buf).unwrap();
            for _ in 0..rng.below(3) {
                let at = rng.below(buf.len());
                buf[at] = rng.next() as u8;
            }
            buf
        } else {
            let mut buf: Vec<u8> = (0..rng.below(120)).map(|_| rng.next() as u8).collect();
            if let Some(kind) = buf.first_mut() {
                *kind = [130, 131, 132, 143, *kind][rng.below(5)];
            }
            buf
        };
        if message.len() >= 4 && rng.below(8) != 0 {
            wire_mld::Packet::new_unchecked(&mut message[..]).fill_checksum(src, dst);
        }
        let ip = ipv6::Repr {
            src,
            dst,
            next_header: ipv6::NEXT_ICMPV6,
            hop_limit: if rng.below(8) == 0 { 2 } else { 1 },
            router_alert: (rng.below(8) != 0).then_some(0),
            upper_layer_len: message.len(),
        };
        let mut packet = vec![0; ip.buffer_len()];
        ip.emit(&mut packet)
            .unwrap()
            .upper_layer_mut()
            .copy_from_slice(&message);
        lab.router.handle_packet(IF, &packet, lab.at(t));
        if i % 500 == 0 {
            lab.run_until(t);
            assert_invariants(&lab, t);
        }
    }
    lab.run_until(2000.0);
    assert_invariants(&lab, 2000.0);
    let c = lab.counters();
    let total = c.received.values().sum::<u64>() + c.dropped.values().sum::<u64>();
    assert_eq!(total, N, "every input is received or dropped: {c:?}");
    assert!(
        c.received.values().sum::<u64>() > 1000,
        "too few valid inputs: {c:?}"
    );
    assert!(
        c.ignored.contains_key(&IgnoreReason::SourceLimit),
        "bounds never hit: {c:?}"
    );
}

#[test]
fn unknown_interface_is_counted() {
    let mut r = Router::new();
    assert!(r
        .handle_packet(99, &valid_report(), Instant::now())
        .is_empty());
    r.count_drop(99, DropReason::OtherHost);
    assert_eq!(r.snapshot(Instant::now()).unknown_interface, 2);
}
