use crate::{limits, JumboMeta, SetMembers, Sg6Key, SgKey};
use core::net::{Ipv4Addr, Ipv6Addr};

#[test]
fn set_members_list_the_interfaces_and_their_count() {
    let members = SetMembers::new(&[7, 3, 9]);
    assert_eq!(members.count, 3);
    assert_eq!(members.ifindex[..4], [7, 3, 9, 0]);
    let full: [u32; limits::SET_IFACES as usize + 1] = core::array::from_fn(|i| i as u32);
    assert_eq!(SetMembers::new(&full).count, limits::SET_IFACES, "bounded");
}

#[test]
fn jumbo_meta_fits_xdp_metadata() {
    // XDP metadata is taken in 4-byte steps, at most 32 bytes.
    let size = core::mem::size_of::<JumboMeta>();
    assert!(size.is_multiple_of(4) && size <= 32, "{size}");
}

#[test]
fn sg6_key_keeps_packet_byte_order() {
    let source: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let group: Ipv6Addr = "ff3e::8000:1".parse().unwrap();
    let key = Sg6Key::new(source, group);
    assert_eq!(key.source[..4], [0x20, 0x01, 0x0d, 0xb8]);
    assert_eq!(key.group[..2], [0xff, 0x3e]);
    assert_eq!((key.source_addr(), key.group_addr()), (source, group));
}

#[test]
fn sg6_digest_folds_each_address() {
    let key = Sg6Key {
        source: [1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0],
        group: [0xff; 16],
    };
    let digest = key.digest();
    assert_eq!(digest.source.to_ne_bytes(), [15, 0, 0, 0]);
    assert_eq!(digest.group, 0);
    let words: [u32; 8] = core::array::from_fn(|i| {
        let bytes = if i < 4 { &key.source } else { &key.group };
        let at = (i % 4) * 4;
        u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    });
    assert_eq!(
        Sg6Key::digest_of_words(&words),
        digest,
        "from the packet's words"
    );
}

#[test]
fn probe_buckets_have_no_padding() {
    use crate::{MfeValue, ProbeBucket, PROBE_WAYS};
    use core::mem::size_of;
    let way = |key: usize| key + size_of::<MfeValue>();
    assert_eq!(size_of::<ProbeBucket<SgKey>>(), 8 + PROBE_WAYS * way(8));
    assert_eq!(size_of::<ProbeBucket<Sg6Key>>(), 8 + PROBE_WAYS * way(32));
}

#[test]
fn probe_buckets_spread_keys_over_the_whole_array() {
    let bucket = |i: u32| {
        SgKey::new(
            Ipv4Addr::from_bits(0x0a00_0000 + i),
            Ipv4Addr::new(239, 1, 1, 1),
        )
        .probe_bucket()
    };
    let buckets: std::collections::HashSet<u32> = (0..1000).map(bucket).collect();
    assert!(buckets.len() > 950, "{}", buckets.len());
    assert!(buckets.iter().all(|&b| b < limits::PROBE_BUCKETS));
}

#[test]
fn sg_key_keeps_packet_byte_order() {
    let key = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 2, 3));
    assert_eq!(key.source.to_ne_bytes(), [10, 0, 0, 1]);
    assert_eq!(key.group.to_ne_bytes(), [239, 1, 2, 3]);
    assert_eq!(key.group_addr(), Ipv4Addr::new(239, 1, 2, 3));
}

#[test]
fn frame_verdicts_are_distinct_and_leave_out_the_derived_counters() {
    use crate::stat;
    let mut seen = [false; stat::COUNT as usize];
    for &verdict in stat::EARLY_VERDICTS.iter().chain(&stat::HIT_VERDICTS) {
        assert!(
            !seen[verdict as usize],
            "{} twice",
            stat::NAMES[verdict as usize]
        );
        seen[verdict as usize] = true;
    }
    for derived in [stat::RX, stat::MULTICAST, stat::MISS, stat::IPV6_MULTICAST] {
        assert!(!seen[derived as usize], "{}", stat::NAMES[derived as usize]);
    }
}

#[test]
fn rx_and_multicast_are_derived_from_the_verdicts() {
    use crate::stat;
    let mut counters = [0u64; stat::COUNT as usize];
    // IPv4: 2 not multicast, 1 bad option, 3 misses (punted), 4 forwarded, 1 TTL expired.
    // IPv6: 5 seen as multicast, 2 of them missed (passed), 3 forwarded.
    counters[stat::NOT_MULTICAST as usize] = 2;
    counters[stat::BAD_OPTIONS as usize] = 1;
    counters[stat::MISS as usize] = 3;
    counters[stat::MISS_PUNTED as usize] = 3;
    counters[stat::TTL_EXPIRED as usize] = 1;
    counters[stat::IPV6_MULTICAST as usize] = 5;
    counters[stat::IPV6_MISS as usize] = 2;
    counters[stat::MISS_PASSED as usize] = 2;
    counters[stat::FORWARDED as usize] = 7;
    counters[stat::RX as usize] = 99;
    stat::derive(&mut counters);
    assert_eq!(counters[stat::RX as usize], 2 + 1 + 3 + 4 + 1 + 5);
    assert_eq!(counters[stat::MULTICAST as usize], 1 + 3 + 4 + 1);
}
