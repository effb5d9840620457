//! The packed MIB layouts of spec §3 and the buffer-size conventions of §4.8–4.16.

use std::net::Ipv4Addr;
use std::time::Duration;

use mgm_user::mgm::{
    protocol_id, sizeof_mib_mfe, sizeof_mib_mfe_stats, sizeof_mib_mfe_stats_ex, win32, EnumType,
    MfeCounters, OifCounters,
};

use super::support::*;

fn dword(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap())
}

fn addr(buf: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3])
}

/// P owns if1 and if2, Q owns if3 (RPF toward S); one MFE (S,G) iif if3 → {if1, if2}, 30 s old.
fn one_mfe() -> (Lab, mgm_user::mgm::ProtocolHandle) {
    let mut lab = Lab::new();
    let p = lab.register("P", protocol_id(1, 0, 1));
    let q = lab.register("Q", protocol_id(1, 0, 2));
    lab.take(p, 1).unwrap();
    lab.take(p, 2).unwrap();
    lab.take(q, 3).unwrap();
    lab.add(p, star(G), 1).unwrap();
    lab.add(p, star(G), 2).unwrap();
    lab.packet(S, G, 3);
    lab.now = lab.now + Duration::from_millis(30_004);
    (lab, q)
}

#[test]
fn sizes_follow_the_sizeof_macros() {
    assert_eq!(sizeof_mib_mfe(0), 60);
    assert_eq!(sizeof_mib_mfe(2), 92);
    assert_eq!(sizeof_mib_mfe_stats(2), 64 + 56);
    assert_eq!(sizeof_mib_mfe_stats_ex(2), 84 + 56);
}

#[test]
fn mib_ipmcast_mfe_layout() {
    let (lab, _) = one_mfe();
    let mut buf = vec![0xAAu8; 200];
    let mut size = 200u32;
    assert_eq!(
        lab.mgm.get_mfe_raw(sg(S, G), &mut size, &mut buf, lab.now),
        win32::NO_ERROR
    );
    assert_eq!(size, 200, "unchanged on success");
    assert_eq!(addr(&buf, 0), G);
    assert_eq!(addr(&buf, 4), S);
    assert_eq!(addr(&buf, 8), Ipv4Addr::BROADCAST);
    assert_eq!(
        addr(&buf, 12),
        Ipv4Addr::new(10, 9, 9, 9),
        "upstream from the RIB"
    );
    assert_eq!(dword(&buf, 16), 3);
    assert_eq!(
        dword(&buf, 20),
        protocol_id(1, 0, 2),
        "IIF owner's protocol id"
    );
    assert_eq!(dword(&buf, 24), 3, "static route: PROTO_IP_NETMGMT");
    assert_eq!(addr(&buf, 28), Ipv4Addr::new(10, 0, 0, 0));
    assert_eq!(addr(&buf, 32), Ipv4Addr::new(255, 0, 0, 0));
    assert_eq!(dword(&buf, 36), 30, "up time, seconds");
    assert_eq!(dword(&buf, 40), 870, "expiry, seconds, rounded up");
    assert_eq!(dword(&buf, 44), 900, "timeout");
    assert_eq!(dword(&buf, 48), 2);
    assert_eq!((dword(&buf, 52), dword(&buf, 56)), (0, 0));
    assert_eq!(
        (dword(&buf, 60), addr(&buf, 64)),
        (1, Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!((dword(&buf, 68), dword(&buf, 72)), (0, 0));
    assert_eq!(dword(&buf, 76), 2);
    assert_eq!(buf[92], 0xAA, "nothing written past the record");
}

#[test]
fn mib_ipmcast_mfe_stats_layouts() {
    let (mut lab, _) = one_mfe();
    let counters = MfeCounters {
        in_pkts: 7,
        in_octets: 700,
        pkts_different_if: 2,
        queue_overflow: 1,
        uninit_mfe: 3,
        negative_mfe: 4,
        in_discards: 5,
        in_hdr_errors: 6,
        total_out_packets: (1 << 32) + 14,
        oifs: vec![OifCounters {
            out_packets: 7,
            ttl_too_low: 1,
            ..OifCounters::new(ifx(2))
        }],
    };
    lab.mgm.report_stats(sg(S, G), counters, lab.now).unwrap();
    let mut buf = vec![0u8; 256];
    let mut size = 256u32;
    let st = lab
        .mgm
        .get_mfe_stats_raw(sg(S, G), &mut size, &mut buf, 1, lab.now);
    assert_eq!(st, win32::NO_ERROR);
    assert_eq!(dword(&buf, 36), 3000, "up time, centiseconds, rounded down");
    assert_eq!(dword(&buf, 40), 87_000, "expiry, centiseconds, rounded up");
    assert_eq!(dword(&buf, 44), 2);
    assert_eq!(
        [
            dword(&buf, 48),
            dword(&buf, 52),
            dword(&buf, 56),
            dword(&buf, 60)
        ],
        [7, 700, 2, 1]
    );
    assert_eq!(dword(&buf, 64), 1, "first OIF stats record");
    assert_eq!(dword(&buf, 64 + 28), 2);
    assert_eq!(
        [
            dword(&buf, 104),
            dword(&buf, 108),
            dword(&buf, 112),
            dword(&buf, 116)
        ],
        [1, 0, 7, 0],
        "ttl too low, frag needed, out packets, out discards of if2"
    );
    let st = lab
        .mgm
        .get_mfe_stats_raw(sg(S, G), &mut size, &mut buf, 2, lab.now);
    assert_eq!(st, win32::NO_ERROR);
    assert_eq!(
        [64, 68, 72, 76, 80].map(|at| dword(&buf, at)),
        [3, 4, 5, 6, 14],
        "EX counters, truncated to 32 bits"
    );
    assert_eq!((dword(&buf, 84), dword(&buf, 84 + 28)), (1, 2));
}

#[test]
fn insufficient_buffer_reports_the_size_of_one_record() {
    let (lab, _) = one_mfe();
    let mut buf = vec![0u8; 64];
    let mut size = 64u32;
    let st = lab.mgm.get_mfe_raw(sg(S, G), &mut size, &mut buf, lab.now);
    assert_eq!((st, size), (win32::ERROR_INSUFFICIENT_BUFFER, 92));
    let (mut size, mut n) = (64u32, 9u32);
    let st = lab
        .mgm
        .get_first_mfe_stats_raw(&mut size, &mut buf, &mut n, 2, lab.now);
    assert_eq!((st, size, n), (win32::ERROR_INSUFFICIENT_BUFFER, 140, 0));
}

#[test]
fn source_group_entry_layout() {
    let (mut lab, q) = one_mfe();
    let p = *lab.clients.keys().next().unwrap();
    lab.add(p, sg(S, G2), 1).unwrap();
    let eh = lab
        .mgm
        .group_enumeration_start(q, EnumType::AllSources)
        .unwrap();
    let (mut size, mut n, mut buf) = (64u32, 0u32, [0u8; 64]);
    let st = lab
        .mgm
        .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n);
    assert_eq!((st, n), (win32::ERROR_NO_MORE_ITEMS, 2));
    assert_eq!(
        [addr(&buf, 0), addr(&buf, 4), addr(&buf, 8), addr(&buf, 12)],
        [ANY, ANY, G, Ipv4Addr::BROADCAST]
    );
    assert_eq!(
        [
            addr(&buf, 16),
            addr(&buf, 20),
            addr(&buf, 24),
            addr(&buf, 28)
        ],
        [S, Ipv4Addr::BROADCAST, G2, Ipv4Addr::BROADCAST]
    );
}

#[test]
fn set_mfe_raw_reads_only_the_upstream_neighbour() {
    let (mut lab, q) = one_mfe();
    let mut buf = vec![0u8; 92];
    let mut size = 92u32;
    lab.mgm.get_mfe_raw(sg(S, G), &mut size, &mut buf, lab.now);
    buf[12..16].copy_from_slice(&[10, 7, 7, 7]);
    buf[16..20].copy_from_slice(&9u32.to_ne_bytes());
    assert_eq!(lab.mgm.set_mfe_raw(q, &buf), win32::NO_ERROR);
    let m = lab.mgm.mfe(sg(S, G)).unwrap();
    assert_eq!(
        (m.upstream(), m.iif()),
        (Ipv4Addr::new(10, 7, 7, 7), ifx(3))
    );
    buf[0..4].copy_from_slice(&G2.octets());
    assert_eq!(lab.mgm.set_mfe_raw(q, &buf), win32::ERROR_NOT_FOUND);
}
