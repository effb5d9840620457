//! Compatibility with MLDv1 listeners and queriers (RFC 3810 §8).
use super::*;

#[test]
fn mldv1_listener_puts_the_group_in_v1_mode_until_the_host_timer_ends() {
    let mut lab = Lab::new();
    lab.v1_report(1.0, G);
    lab.record(2.0, RecordType::IsExclude, &[]);
    // In MLDv1 mode BLOCK is ignored and TO_EX's sources are dropped (§8.3.2).
    assert!(lab.record(3.0, RecordType::Block, &[5]).is_empty());
    assert_eq!(lab.counters().ignored[&IgnoreReason::BlockInOldMode], 1);
    assert!(changes(&lab.record(4.0, RecordType::ToExclude, &[6])).is_empty());
    assert_eq!(
        lab.state(4.0),
        Some((FilterMode::Exclude, set(&[]), set(&[])))
    );
    // Only MLDv2 reports keep it alive; after the Older Version Host Present Timeout (260 s
    // from the v1 report) the group is MLDv2 again and BLOCK takes effect.
    for k in 1..=3 {
        lab.record(f64::from(k) * 100.0, RecordType::IsExclude, &[]);
    }
    assert_eq!(lab.group(300.0).unwrap().compat_version, Version::V2);
    let out = lab.record(301.0, RecordType::Block, &[5]);
    assert_eq!(changes(&out), vec![]);
    assert_eq!(queries(&out), vec![specific(&[5], false)]);
}

#[test]
fn mldv1_querier_switches_the_interface_to_mldv1() {
    let higher = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    let mut lab = Lab::new();
    let v1_query = wire_mld::Repr::Query {
        max_resp_code: 10_000,
        group: Ipv6Addr::UNSPECIFIED,
        v2: None,
    };
    lab.input(1.0, v1_query, higher, wire_mld::ALL_NODES);
    let iface = lab.iface(1.0);
    assert!(iface.querier.is_self);
    assert_eq!(iface.querier.version, Version::V1);
    assert_eq!(iface.v1_querier_timer_ms, Some(260_000));
    // Our queries are MLDv1 now, and so are the groups.
    let sent = lab.run_until(40.0);
    let sent: Vec<Action> = sent.into_iter().map(|(_, a)| a).collect();
    assert!(queries(&sent).iter().all(|q| !q.v2));
    lab.record(50.0, RecordType::IsExclude, &[]);
    assert_eq!(lab.group(50.0).unwrap().compat_version, Version::V1);
    // No more MLDv1 queries: back to MLDv2 after the timeout.
    let sent: Vec<Action> = lab.run_until(400.0).into_iter().map(|(_, a)| a).collect();
    assert!(queries(&sent).last().unwrap().v2);
    assert_eq!(lab.iface(400.0).querier.version, Version::V2);
}
