//! Interface management, the snapshot, and the timer bookkeeping.
use super::*;

#[test]
fn memberships_and_removal() {
    let mut lab = exclude_12_34();
    lab.v3(
        1.0,
        &[(RecordType::IsInclude, Ipv4Addr::new(239, 9, 9, 9), &[7])],
    );
    let joins: Vec<_> = lab.router.memberships(IF).unwrap();
    assert_eq!(
        joins.iter().map(|c| c.kind).collect::<Vec<_>>(),
        vec![JoinAny, Block(s(3)), Block(s(4)), JoinSource(s(7))]
    );
    let leaves = changes(&lab.router.remove_interface(IF).unwrap());
    assert_eq!(
        leaves,
        vec![Unblock(s(3)), Unblock(s(4)), LeaveAny, LeaveSource(s(7))]
    );
    assert_eq!(lab.router.memberships(IF), Err(Error::NoInterface(IF)));
    assert_eq!(lab.router.next_timeout(), None);
}

#[test]
fn interface_errors() {
    let mut r = Router::new();
    let now = Instant::now();
    r.add_interface(1, ROUTER, 24, IfaceConfig::default(), now)
        .unwrap();
    assert_eq!(
        r.add_interface(1, ROUTER, 24, IfaceConfig::default(), now),
        Err(Error::InterfaceExists(1))
    );
    assert_eq!(
        r.add_interface(2, ROUTER, 33, IfaceConfig::default(), now),
        Err(Error::PrefixLen(33))
    );
    assert_eq!(
        r.set_config(3, IfaceConfig::default(), now),
        Err(Error::NoInterface(3))
    );
    assert_eq!(r.remove_interface(3), Err(Error::NoInterface(3)));
}

#[test]
fn snapshot_serializes() {
    let mut lab = exclude_12_34();
    lab.v2_report(1.0, Ipv4Addr::new(239, 5, 5, 5));
    let snap = lab.router.snapshot(lab.at(1.0));
    let json = serde_json::to_value(&snap).unwrap();
    let iface = &json["interfaces"][0];
    assert_eq!(iface["querier"]["is_self"], true);
    assert_eq!(iface["groups"][0]["filter_mode"], "Exclude");
    assert_eq!(iface["groups"][0]["sources"][2]["forwarded"], false);
    assert_eq!(iface["counters"]["received"]["ReportV3"], 2);
    let back: Snapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, snap, "the JSON reads back (for mgmctl's text output)");
    let text = snap.to_string();
    assert!(text.contains("239.1.2.3 Exclude compat V3"), "{text}");
    assert!(text.contains("192.0.2.3 block -"), "{text}");
}

#[test]
fn late_tick_does_not_leave_stale_state() {
    let mut lab = Lab::new();
    lab.record(0.0, RecordType::IsInclude, &[1]);
    // No tick at the source timer's expiry (260 s); the next report still sees it expired.
    let out = lab.record(300.0, RecordType::Allow, &[2]);
    assert_eq!(changes(&out), vec![JoinSource(s(2)), LeaveSource(s(1))]);
    assert_eq!(lab.state(300.0), Some((In, set(&[2]), set(&[]))));
}

#[test]
fn next_timeout_is_exact() {
    let mut lab = Lab::new();
    lab.record(0.0, RecordType::IsInclude, &[1]);
    lab.run_until(200.0);
    assert!(lab.router.next_timeout() <= Some(lab.at(260.0)));
    assert!(changes(&lab.tick(259.999)).is_empty());
    assert_eq!(changes(&lab.tick(260.0)), vec![LeaveSource(s(1))]);
}

#[test]
fn large_source_lists_are_split_to_fit() {
    let mut lab = Lab::new();
    let many: Vec<Ipv4Addr> = (0..800u32)
        .map(|i| Ipv4Addr::from(0xc000_0000 + i + 1))
        .collect();
    let report = |record_type, sources: Vec<Ipv4Addr>| wire_igmp::Repr::ReportV3 {
        records: vec![GroupRecordRepr {
            record_type,
            group: G,
            sources,
        }],
    };
    lab.input(
        1.0,
        report(RecordType::IsInclude, many.clone()),
        HOST,
        wire_igmp::ALL_V3_ROUTERS,
    );
    let out = lab.input(
        2.0,
        report(RecordType::Block, many),
        HOST,
        wire_igmp::ALL_V3_ROUTERS,
    );
    let sizes: Vec<usize> = out
        .iter()
        .map(|a| match a {
            Action::Send(t) => t.datagram.len(),
            Action::Membership(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => 0,
        })
        .collect();
    assert_eq!(sizes.len(), 3);
    assert!(sizes.iter().all(|n| *n <= 1500), "{sizes:?}");
    assert_eq!(
        queries(&out).iter().map(|q| q.sources.len()).sum::<usize>(),
        800
    );
}
