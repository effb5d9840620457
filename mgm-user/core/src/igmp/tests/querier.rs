//! Querier election (RFC 3376 §6.6.2) and the non-querier's adoption of the querier's timers.
use super::*;

#[test]
fn lower_address_wins_and_the_loser_takes_over_after_oqpi() {
    let lower = Ipv4Addr::new(10, 0, 0, 2);
    let mut lab = Lab::new();
    lab.input(1.0, general_query(100), lower, wire_igmp::ALL_SYSTEMS);
    let iface = lab.iface(1.0);
    assert_eq!(iface.querier.address, lower);
    assert!(!iface.querier.is_self);
    assert_eq!(iface.general_query_timer_ms, None);
    // OQPI = 2 × 125 + 10 / 2 = 255 s; the other querier keeps quiet, so this router resumes.
    let sent: Vec<f64> = lab
        .run_until(300.0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(sent, vec![256.0]);
    assert!(lab.iface(300.0).querier.is_self);
}

fn querier_notices(actions: &[Action]) -> Vec<QuerierNotice> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::QuerierChanged(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[test]
fn querier_changes_are_notified_with_the_queriers_version() {
    let lower = Ipv4Addr::new(10, 0, 0, 2);
    let v2_query = wire_igmp::Repr::Query {
        max_resp_code: 100,
        group: Ipv4Addr::UNSPECIFIED,
        v3: None,
    };
    let mut lab = Lab::new();
    let notice = |other| QuerierNotice {
        ifindex: IF,
        other,
        configured: Version::V3,
    };
    // An IGMPv2 querier (an older version than the configured one: the glue warns).
    let heard = lab.input(1.0, v2_query.clone(), lower, wire_igmp::ALL_SYSTEMS);
    assert_eq!(
        querier_notices(&heard),
        [notice(Some((lower, Version::V2)))]
    );
    // The same querier again: nothing new.
    let again = lab.input(100.0, v2_query, lower, wire_igmp::ALL_SYSTEMS);
    assert_eq!(querier_notices(&again), []);
    // It moves to IGMPv3.
    let v3 = lab.input(200.0, general_query(100), lower, wire_igmp::ALL_SYSTEMS);
    assert_eq!(querier_notices(&v3), [notice(Some((lower, Version::V3)))]);
    // Its queries stop: this router is querier again after the interval (2 × 125 + 5 s).
    let resumed: Vec<(f64, Action)> = lab.run_until(500.0);
    let back: Vec<(f64, QuerierNotice)> = resumed
        .into_iter()
        .filter_map(|(t, a)| match a {
            Action::QuerierChanged(n) => Some((t, n)),
            _ => None,
        })
        .collect();
    assert_eq!(back, [(455.0, notice(None))]);
}

#[test]
fn non_querier_is_silent_while_the_querier_keeps_querying() {
    let lower = Ipv4Addr::new(10, 0, 0, 2);
    let mut lab = Lab::new();
    let mut sent = 0;
    for k in 0..10 {
        let t = 1.0 + 125.0 * f64::from(k);
        lab.input(t, general_query(100), lower, wire_igmp::ALL_SYSTEMS);
        sent += lab
            .run_until(t + 124.0)
            .iter()
            .filter(|(_, a)| matches!(a, Action::Send(_)))
            .count();
    }
    assert_eq!(sent, 0);
    // Leaves do not make a non-querier send group-specific queries.
    lab.v2_report(1300.0, G);
    assert!(queries(&lab.leave(1301.0, G)).is_empty());
}

#[test]
fn higher_address_does_not_win() {
    let mut lab = Lab::new();
    lab.input(
        1.0,
        general_query(100),
        Ipv4Addr::new(10, 0, 0, 9),
        wire_igmp::ALL_SYSTEMS,
    );
    assert!(lab.iface(1.0).querier.is_self);
    let own = lab.input(2.0, general_query(100), ROUTER, wire_igmp::ALL_SYSTEMS);
    assert!(own.is_empty());
    assert_eq!(lab.counters().ignored[&IgnoreReason::OwnQuery], 1);
}

#[test]
fn non_querier_adopts_qrv_and_qqi() {
    let mut lab = Lab::new();
    let q = wire_igmp::Repr::Query {
        max_resp_code: 50,
        group: Ipv4Addr::UNSPECIFIED,
        v3: Some(wire_igmp::QueryV3 {
            suppress: false,
            qrv: 3,
            qqic: 30,
            sources: vec![],
        }),
    };
    lab.input(1.0, q, Ipv4Addr::new(10, 0, 0, 1), wire_igmp::ALL_SYSTEMS);
    // OQPI with the querier's robustness 3 and interval 30 s: 3 × 30 + 10 / 2 = 95 s.
    assert_eq!(lab.iface(1.0).querier.other_querier_timer_ms, Some(95_000));
    lab.record(1.0, RecordType::IsInclude, &[1]);
    assert_eq!(lab.source_timer(1.0, 1), Some(100_000));
}

#[test]
fn non_querier_lowers_timers_on_the_queriers_specific_queries() {
    let lower = Ipv4Addr::new(10, 0, 0, 2);
    let mut lab = Lab::new();
    lab.input(1.0, general_query(100), lower, wire_igmp::ALL_SYSTEMS);
    lab.v2_report(2.0, G);
    lab.record(2.0, RecordType::Allow, &[1]);
    let specific = |sources: Vec<Ipv4Addr>, suppress| wire_igmp::Repr::Query {
        max_resp_code: 10,
        group: G,
        v3: Some(wire_igmp::QueryV3 {
            suppress,
            qrv: 2,
            qqic: 125,
            sources,
        }),
    };
    lab.input(3.0, specific(vec![], true), lower, G);
    assert_eq!(
        lab.group(3.0, G).unwrap().group_timer_ms,
        Some(GMI_MS - 1000)
    );
    lab.input(3.0, specific(vec![s(1)], false), lower, G);
    assert_eq!(lab.source_timer(3.0, 1), Some(LMQT_MS));
    lab.input(3.0, specific(vec![], false), lower, G);
    assert_eq!(lab.group(3.0, G).unwrap().group_timer_ms, Some(LMQT_MS));
}
