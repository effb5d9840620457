//! Input hardening: every malformed, truncated or random datagram is counted and dropped.
use super::*;

fn valid_report() -> Vec<u8> {
    wire_igmp::Repr::ReportV3 {
        records: vec![GroupRecordRepr {
            record_type: RecordType::IsExclude,
            group: G,
            sources: vec![s(1)],
        }],
    }
    .to_datagram(HOST, wire_igmp::ALL_V3_ROUTERS)
    .unwrap()
}

fn refill_ip_checksum(buf: &mut [u8]) {
    crate::wire::ipv4::Packet::new_unchecked(buf).fill_checksum();
}

fn refill_igmp_checksum(buf: &mut [u8]) {
    let hl = usize::from(buf[0] & 0x0f) * 4;
    wire_igmp::Packet::new_unchecked(&mut buf[hl..]).fill_checksum();
}

/// The datagram for `repr` with the given IPv4 facts.
fn with_ip(repr: wire_igmp::Repr, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, ra: bool) -> Vec<u8> {
    let ip = crate::wire::ipv4::Repr {
        src,
        dst,
        protocol: 2,
        ttl,
        tos: 0,
        router_alert: ra,
        payload_len: repr.buffer_len(),
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut packet = ip.emit(&mut buf).unwrap();
    repr.emit(packet.payload_mut()).unwrap();
    buf
}

#[test]
fn every_malformed_input_is_counted_and_dropped() {
    let good = valid_report();
    let mut cases: Vec<(DropReason, Vec<u8>)> = Vec::new();
    cases.push((DropReason::Ipv4Truncated, good[..10].to_vec()));
    let mut v = good.clone();
    v[0] = 0x66;
    cases.push((DropReason::Ipv4Malformed, v));
    let mut v = good.clone();
    v[8] = 2;
    cases.push((DropReason::Ipv4Checksum, v));
    let mut v = good.clone();
    v[6] = 0x20;
    refill_ip_checksum(&mut v);
    cases.push((DropReason::Fragment, v));
    let mut v = good.clone();
    v[9] = 17;
    refill_ip_checksum(&mut v);
    cases.push((DropReason::NotIgmp, v));
    let mut v = good.clone();
    v[2..4].copy_from_slice(&30u16.to_be_bytes());
    refill_ip_checksum(&mut v);
    cases.push((DropReason::IgmpTruncated, v));
    let mut v = good.clone();
    v[24 + 7] = 2; // two records, one present
    refill_igmp_checksum(&mut v);
    cases.push((DropReason::IgmpTruncated, v));
    let q = with_ip(general_query(100), HOST, wire_igmp::ALL_SYSTEMS, 1, true);
    let mut v = q[..24 + 10].to_vec();
    v[2..4].copy_from_slice(&34u16.to_be_bytes());
    refill_ip_checksum(&mut v);
    cases.push((DropReason::IgmpMalformed, v));
    let mut v = good.clone();
    v[37] ^= 0xff;
    cases.push((DropReason::IgmpChecksum, v));
    let mut v = good.clone();
    v[24] = 0x42;
    refill_igmp_checksum(&mut v);
    cases.push((DropReason::UnknownType, v));
    let report = wire_igmp::Repr::ReportV2 { group: G };
    cases.push((
        DropReason::TtlNotOne,
        with_ip(report.clone(), HOST, G, 2, true),
    ));
    let v3 = wire_igmp::Repr::ReportV3 { records: vec![] };
    cases.push((
        DropReason::NoRouterAlert,
        with_ip(v3.clone(), HOST, wire_igmp::ALL_V3_ROUTERS, 1, false),
    ));
    let q3 = general_query(100);
    cases.push((
        DropReason::NoRouterAlert,
        with_ip(q3.clone(), HOST, wire_igmp::ALL_SYSTEMS, 1, false),
    ));
    let outside = Ipv4Addr::new(10, 9, 9, 9);
    cases.push((
        DropReason::BadSource,
        with_ip(report.clone(), outside, G, 1, true),
    ));
    cases.push((
        DropReason::BadSource,
        with_ip(report.clone(), Ipv4Addr::UNSPECIFIED, G, 1, true),
    ));
    cases.push((
        DropReason::BadSource,
        with_ip(
            q3.clone(),
            Ipv4Addr::UNSPECIFIED,
            wire_igmp::ALL_SYSTEMS,
            1,
            true,
        ),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(report.clone(), HOST, wire_igmp::ALL_V3_ROUTERS, 1, true),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(v3.clone(), HOST, G, 1, true),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(q3.clone(), HOST, G, 1, true),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(
            wire_igmp::Repr::Leave { group: G },
            HOST,
            wire_igmp::ALL_SYSTEMS,
            1,
            true,
        ),
    ));
    let unicast = Ipv4Addr::new(10, 0, 0, 99);
    cases.push((
        DropReason::BadGroup,
        with_ip(
            wire_igmp::Repr::ReportV2 { group: unicast },
            HOST,
            unicast,
            1,
            true,
        ),
    ));
    cases.push((
        DropReason::BadGroup,
        with_ip(
            wire_igmp::Repr::Query {
                max_resp_code: 10,
                group: unicast,
                v3: None,
            },
            HOST,
            unicast,
            1,
            true,
        ),
    ));

    let mut lab = Lab::new();
    lab.v2_report(0.5, G);
    let before = lab.group(1.0, G);
    let mut expected: BTreeMap<DropReason, u64> = BTreeMap::new();
    for (reason, bytes) in &cases {
        let out = lab.router.handle_packet(IF, bytes, lab.at(1.0));
        assert!(out.is_empty(), "{reason:?} had effects: {out:?}");
        *expected.entry(*reason).or_default() += 1;
        assert_eq!(lab.counters().dropped, expected, "after {reason:?}");
    }
    assert_eq!(lab.group(1.0, G), before, "valid state untouched");
    // The v3 report from 0.0.0.0 is the one accepted unspecified source.
    let anon = with_ip(
        wire_igmp::Repr::ReportV3 {
            records: vec![GroupRecordRepr {
                record_type: RecordType::Allow,
                group: G,
                sources: vec![s(7)],
            }],
        },
        Ipv4Addr::UNSPECIFIED,
        wire_igmp::ALL_V3_ROUTERS,
        1,
        true,
    );
    assert!(lab.router.handle_packet(IF, &anon, lab.at(1.0)).is_empty());
    assert_eq!(lab.counters().dropped, expected);
    assert_eq!(lab.counters().received[&MessageKind::ReportV3], 1);
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
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.clone();
            v[byte] ^= 1 << bit;
            lab.router.handle_packet(IF, &v, lab.at(1.0));
        }
    }
    let dropped: u64 = lab.counters().dropped.values().sum();
    assert_eq!(
        dropped,
        good.len() as u64 + 8 * good.len() as u64 - accepted_flips(&good)
    );
}

/// Bit flips of the report that still make an acceptable message (the checksums cover every
/// byte, so this is expected to be none; counted rather than assumed).
fn accepted_flips(good: &[u8]) -> u64 {
    let mut n = 0;
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.to_vec();
            v[byte] ^= 1 << bit;
            if parse(&v).is_ok_and(|m| {
                check(
                    &m,
                    Subnet {
                        addr: ROUTER,
                        prefix_len: 24,
                    },
                )
                .is_ok()
            }) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn random_datagrams_are_counted_never_fatal() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as u32
    };
    let dsts = [
        wire_igmp::ALL_SYSTEMS,
        wire_igmp::ALL_ROUTERS,
        wire_igmp::ALL_V3_ROUTERS,
        G,
    ];
    let mut lab = Lab::new();
    const N: u64 = 20_000;
    for i in 0..N {
        let len = next() as usize % 100;
        let mut igmp: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(kind) = igmp.first_mut() {
            *kind = [0x11, 0x12, 0x16, 0x17, 0x22, *kind][next() as usize % 6];
        }
        if igmp.len() >= 8 && igmp[0] != 0x22 && next() % 2 == 0 {
            igmp[4..8].copy_from_slice(&G.octets());
        }
        if igmp.len() > 8 && igmp[0] == 0x22 {
            // Few records, so that the record walk runs rather than failing at once.
            igmp[6] = 0;
            igmp[7] = (next() % 3) as u8;
        }
        if igmp.len() >= 4 {
            wire_igmp::Packet::new_unchecked(&mut igmp[..]).fill_checksum();
        }
        let ip = crate::wire::ipv4::Repr {
            src: HOST,
            dst: dsts[next() as usize % dsts.len()],
            protocol: 2,
            ttl: 1,
            tos: 0,
            router_alert: next() % 4 != 0,
            payload_len: igmp.len(),
        };
        let mut buf = vec![0; ip.buffer_len()];
        ip.emit(&mut buf)
            .unwrap()
            .payload_mut()
            .copy_from_slice(&igmp);
        lab.router
            .handle_packet(IF, &buf, lab.at(i as f64 / 1000.0));
    }
    lab.run_until(30.0);
    let c = lab.counters();
    let total = c.received.values().sum::<u64>() + c.dropped.values().sum::<u64>();
    assert_eq!(total, N, "every input is received or dropped: {c:?}");
    assert!(
        c.received.values().sum::<u64>() > 1000,
        "too few valid inputs: {c:?}"
    );
}

#[test]
fn bad_records_are_skipped_not_fatal() {
    let mut lab = Lab::new();
    let out = lab.v3(
        1.0,
        &[
            (RecordType::Other(9), G, &[1]),
            (RecordType::IsInclude, Ipv4Addr::new(10, 1, 1, 1), &[1]),
            (RecordType::IsInclude, Ipv4Addr::new(224, 0, 0, 251), &[]),
            (RecordType::IsInclude, G, &[1]),
        ],
    );
    assert_eq!(changes(&out), vec![JoinSource(s(1))]);
    let c = lab.counters();
    assert_eq!(c.ignored[&IgnoreReason::UnknownRecordType], 1);
    assert_eq!(c.ignored[&IgnoreReason::BadRecordGroup], 1);
    assert_eq!(c.ignored[&IgnoreReason::LocalGroup], 1);
}

#[test]
fn unknown_interface_is_counted() {
    let mut r = Router::new();
    assert!(r
        .handle_packet(99, &valid_report(), Instant::now())
        .is_empty());
    assert_eq!(r.snapshot(Instant::now()).unknown_interface, 1);
}
