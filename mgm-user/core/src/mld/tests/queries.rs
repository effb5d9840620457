//! General queries, interface set-up, querier election and the non-querier's adoption of the
//! querier's timers.
use super::*;

#[test]
fn startup_then_periodic_general_queries() {
    let t0 = Instant::now();
    let mut router = Router::new();
    let first = router
        .add_interface(IF, ROUTER, IfaceConfig::default(), t0)
        .unwrap();
    let general = SentQuery {
        dst: wire_mld::ALL_NODES,
        group: Ipv6Addr::UNSPECIFIED,
        v2: true,
        sources: BTreeSet::new(),
        suppress: false,
    };
    assert_eq!(queries(&first), vec![general]);
    let mut lab = Lab { router, t0 };
    let sent: Vec<f64> = lab
        .run_until(300.0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| t)
        .collect();
    // The second startup query a quarter of the query interval later, then every 125 s.
    assert_eq!(sent, vec![31.25, 156.25, 281.25]);
    assert_eq!(lab.counters().sent[&MessageKind::GeneralQuery], 4);
}

#[test]
fn add_interface_needs_a_link_local_address_and_a_valid_config() {
    let mut router = Router::new();
    let now = Instant::now();
    assert_eq!(
        router.add_interface(1, s(1), IfaceConfig::default(), now),
        Err(Error::NotLinkLocal(s(1)))
    );
    let bad = IfaceConfig {
        robustness: 0,
        ..IfaceConfig::default()
    };
    assert!(matches!(
        router.add_interface(1, ROUTER, bad, now),
        Err(Error::Config(_))
    ));
    router
        .add_interface(1, ROUTER, IfaceConfig::default(), now)
        .unwrap();
    assert_eq!(
        router.add_interface(1, ROUTER, IfaceConfig::default(), now),
        Err(Error::InterfaceExists(1))
    );
    assert_eq!(router.remove_interface(2), Err(Error::NoInterface(2)));
}

/// Two routers on one link: each one's queries are delivered to the other.
#[test]
fn querier_election_between_two_routers() {
    let low = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let high = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    let t0 = Instant::now();
    let mut a = Router::new();
    let mut b = Router::new();
    let mut to_b = a.add_interface(1, low, IfaceConfig::default(), t0).unwrap();
    let mut to_a = b
        .add_interface(2, high, IfaceConfig::default(), t0)
        .unwrap();
    let deliver = |r: &mut Router, ifindex: u32, actions: Vec<Action>, now: Instant| {
        let mut out = Vec::new();
        for action in actions {
            if let Action::Send(t) = action {
                out.extend(r.handle_packet(ifindex, &t.packet, now));
            }
        }
        out
    };
    let mut a_sent = 0;
    let mut b_sent = 0;
    let mut b_notices = Vec::new();
    let end = t0 + Duration::from_secs(1000);
    let mut now = t0;
    loop {
        a_sent += to_b.iter().filter(|x| matches!(x, Action::Send(_))).count();
        b_sent += to_a.iter().filter(|x| matches!(x, Action::Send(_))).count();
        b_notices.extend(to_a.iter().filter_map(|x| match x {
            Action::QuerierChanged(n) => Some(*n),
            _ => None,
        }));
        let from_a = std::mem::take(&mut to_b);
        let from_b = std::mem::take(&mut to_a);
        to_a.extend(deliver(&mut b, 2, from_a, now));
        to_b.extend(deliver(&mut a, 1, from_b, now));
        if !to_a.is_empty() || !to_b.is_empty() {
            continue;
        }
        match [a.next_timeout(), b.next_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            Some(next) if next <= end => {
                now = next;
                to_b = a.tick(now);
                to_a = b.tick(now);
            }
            _ => break,
        }
    }
    let sa = a.snapshot(now).interfaces.remove(0);
    let sb = b.snapshot(now).interfaces.remove(0);
    assert!(sa.querier.is_self);
    assert_eq!((sb.querier.address, sb.querier.is_self), (low, false));
    // Both sent their first startup query at t0; then only the lower one queries: its second
    // startup query and one every 125 s up to 1000 s.
    assert_eq!(b_sent, 1);
    assert_eq!(a_sent, 2 + 7);
    let yielded = QuerierNotice {
        ifindex: 2,
        other: Some((low, Version::V2)),
        configured: Version::V2,
    };
    assert_eq!(b_notices, [yielded], "the yield is notified once");

    // The querier goes silent: the other takes over after the Other Querier Present
    // Interval (2 × 125 + 10 / 2 = 255 s).
    let mut later = b.tick(now);
    let mut t = now;
    while later.is_empty() {
        t = b.next_timeout().unwrap();
        later = b.tick(t);
    }
    assert_eq!(queries(&later).len(), 1);
    assert!(later.contains(&Action::QuerierChanged(QuerierNotice {
        other: None,
        ..yielded
    })));
    assert!(b.snapshot(t).interfaces[0].querier.is_self);
    assert!(t - now <= Duration::from_secs(255));
}

#[test]
fn own_queries_and_higher_addresses_do_not_win() {
    let mut lab = Lab::new();
    let (q, _, dst) = general_query_v2(ROUTER);
    lab.input(
        1.0,
        q.clone(),
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9),
        dst,
    );
    assert!(lab.iface(1.0).querier.is_self);
    assert!(lab.input(2.0, q, ROUTER, dst).is_empty());
    assert_eq!(lab.counters().ignored[&IgnoreReason::OwnQuery], 1);
}

#[test]
fn non_querier_adopts_qrv_and_qqi_and_stays_silent_on_dones() {
    let lower = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let mut lab = Lab::new();
    let q = wire_mld::Repr::Query {
        max_resp_code: 10_000,
        group: Ipv6Addr::UNSPECIFIED,
        v2: Some(QueryV2 {
            suppress: false,
            qrv: 3,
            qqic: 60,
            sources: vec![],
        }),
    };
    lab.input(1.0, q, lower, wire_mld::ALL_NODES);
    let iface = lab.iface(1.0);
    assert_eq!(iface.querier.address, lower);
    // OQPI with the adopted values: 3 × 60 + 10 / 2 = 185 s.
    assert_eq!(iface.querier.other_querier_timer_ms, Some(185_000));
    lab.v1_report(2.0, G);
    assert!(queries(&lab.done(3.0, G)).is_empty());
}
