//! Timers: the group membership interval and the general queries' schedule and format.
use super::*;

#[test]
fn group_membership_interval_expiry() {
    let mut lab = Lab::new();
    let out = lab.v2_report(1.0, G);
    assert_eq!(changes(&out), vec![JoinAny]);
    // GMI = 2 × 125 + 10 = 260 s: the group lives until then without reports.
    let events: Vec<_> = lab
        .run_until(400.0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::Membership(_)))
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, 261.0);
    assert_eq!(changes(&[events[0].1.clone()]), vec![LeaveAny]);
    assert_eq!(lab.state(400.0), None);
}

#[test]
fn gmi_follows_configuration() {
    let config = IfaceConfig {
        robustness: 3,
        query_interval: secs(20.0),
        query_response_interval: secs(4.0),
        ..IfaceConfig::default()
    };
    let mut lab = Lab::with(config);
    lab.record(0.0, RecordType::IsInclude, &[1]);
    assert_eq!(lab.source_timer(0.0, 1), Some(64_000));
    let events: Vec<_> = lab
        .run_until(100.0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::Membership(_)))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(events, vec![64.0]);
}

#[test]
fn startup_then_periodic_general_queries() {
    let config = IfaceConfig {
        startup_query_count: 3,
        startup_query_interval: secs(5.0),
        query_interval: secs(60.0),
        ..IfaceConfig::default()
    };
    let t0 = Instant::now();
    let mut router = Router::new();
    let first = router.add_interface(IF, ROUTER, 24, config, t0).unwrap();
    let mut lab = Lab { router, t0 };
    assert_eq!(queries(&first).len(), 1);
    let times: Vec<f64> = lab.run_until(200.0).into_iter().map(|(t, _)| t).collect();
    assert_eq!(times, vec![5.0, 10.0, 70.0, 130.0, 190.0]);
    let q = queries(&first).remove(0);
    assert_eq!(
        (q.dst, q.group),
        (wire_igmp::ALL_SYSTEMS, Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(lab.counters().sent[&MessageKind::GeneralQuery], 6);
}

#[test]
fn general_query_fields() {
    let lab_actions = Router::new()
        .add_interface(IF, ROUTER, 24, IfaceConfig::default(), Instant::now())
        .unwrap();
    let Action::Send(t) = &lab_actions[0] else {
        panic!("no query");
    };
    let (repr, _, _) = query_of(t);
    let wire_igmp::Repr::Query {
        max_resp_code,
        v3: Some(v3),
        ..
    } = repr
    else {
        panic!("not a v3 query: {repr:?}");
    };
    assert_eq!(max_resp_code, 100);
    assert_eq!((v3.qrv, v3.qqic, v3.suppress), (2, 125, false));
}

#[test]
fn v2_and_v1_interfaces_send_their_query_format() {
    for (version, len, code) in [(Version::V2, 8, 100), (Version::V1, 8, 0)] {
        let config = IfaceConfig {
            version,
            ..IfaceConfig::default()
        };
        let out = Router::new()
            .add_interface(IF, ROUTER, 24, config, Instant::now())
            .unwrap();
        let Action::Send(t) = &out[0] else {
            panic!("no query");
        };
        assert_eq!(t.datagram.len(), 24 + len);
        let (repr, _, _) = query_of(t);
        assert_eq!(
            repr,
            wire_igmp::Repr::Query {
                max_resp_code: code,
                group: Ipv4Addr::UNSPECIFIED,
                v3: None
            }
        );
    }
}
