//! Compatibility with IGMPv1 and v2 hosts and interfaces (RFC 3376 §7.3), and the SSM
//! range (RFC 4604).
use super::*;

#[test]
fn v2_report_then_leave_is_honoured_within_lmqt() {
    let mut lab = Lab::new();
    assert_eq!(changes(&lab.v2_report(1.0, G)), vec![JoinAny]);
    let g = lab.group(1.0, G).unwrap();
    assert_eq!((g.filter_mode, g.compat_version), (Ex, Version::V2));
    assert_eq!(g.v2_host_timer_ms, Some(GMI_MS));
    let out = lab.leave(10.0, G);
    assert_eq!(queries(&out), vec![group_query(false)]);
    assert_eq!(changes(&out), vec![]);
    let later = lab.run_until(20.0);
    let sent: Vec<f64> = later
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(sent, vec![11.0], "one retransmission after LMQI");
    let left: Vec<f64> = later
        .iter()
        .filter(|(_, a)| matches!(a, Action::Membership(_)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(left, vec![12.0], "leave honoured at last member query time");
    assert_eq!(lab.state(20.0), None);
}

#[test]
fn report_after_leave_keeps_group() {
    let mut lab = Lab::new();
    lab.v2_report(1.0, G);
    lab.leave(10.0, G);
    lab.v2_report(10.5, G);
    let later = lab.run_until(20.0);
    assert!(changes(&later.into_iter().map(|(_, a)| a).collect::<Vec<_>>()).is_empty());
    assert_eq!(lab.state(20.0), Some((Ex, set(&[]), set(&[]))));
}

#[test]
fn v2_compat_ignores_block_and_to_ex_sources() {
    let mut lab = Lab::new();
    lab.v2_report(1.0, G);
    let out = lab.record(2.0, RecordType::Block, &[1]);
    assert!(out.is_empty());
    assert_eq!(lab.counters().ignored[&IgnoreReason::BlockInOldMode], 1);
    lab.record(2.0, RecordType::ToExclude, &[1]);
    assert_eq!(lab.state(2.0), Some((Ex, set(&[]), set(&[]))));
    // Once the v2 host present timer runs out, the group is v3 again.
    lab.record(100.0, RecordType::IsExclude, &[]);
    assert_eq!(lab.group(262.0, G).unwrap().compat_version, Version::V3);
}

#[test]
fn v1_compat_ignores_leaves() {
    let mut lab = Lab::new();
    assert_eq!(changes(&lab.v1_report(1.0, G)), vec![JoinAny]);
    assert_eq!(lab.group(1.0, G).unwrap().compat_version, Version::V1);
    let out = lab.leave(2.0, G);
    assert!(out.is_empty());
    assert_eq!(lab.counters().ignored[&IgnoreReason::LeaveInV1Mode], 1);
    assert_eq!(lab.state(5.0), Some((Ex, set(&[]), set(&[]))));
}

#[test]
fn v2_interface_caps_compat_and_sends_v2_group_queries() {
    let mut lab = Lab::with(IfaceConfig {
        version: Version::V2,
        ..IfaceConfig::default()
    });
    lab.record(1.0, RecordType::IsExclude, &[]);
    assert_eq!(lab.group(1.0, G).unwrap().compat_version, Version::V2);
    let out = lab.leave(2.0, G);
    let Action::Send(t) = &out[0] else {
        panic!("no query");
    };
    assert_eq!(
        query_of(t).0,
        wire_igmp::Repr::Query {
            max_resp_code: 10,
            group: G,
            v3: None
        }
    );
}

// ---- SSM, RFC 4604 ----

#[test]
fn ssm_range_accepts_only_source_specific_state() {
    let ssm = Ipv4Addr::new(232, 1, 1, 1);
    let mut lab = Lab::new();
    assert!(lab.v2_report(1.0, ssm).is_empty());
    assert!(lab.v1_report(1.0, ssm).is_empty());
    assert!(lab.v3(1.0, &[(RecordType::IsExclude, ssm, &[])]).is_empty());
    assert!(lab
        .v3(1.0, &[(RecordType::ToExclude, ssm, &[1])])
        .is_empty());
    assert!(lab.leave(1.0, ssm).is_empty());
    assert_eq!(lab.counters().ignored[&IgnoreReason::SsmAnySource], 5);
    let out = lab.v3(1.0, &[(RecordType::IsInclude, ssm, &[1])]);
    assert_eq!(
        out,
        vec![Action::Membership(MembershipChange {
            ifindex: IF,
            group: ssm,
            kind: JoinSource(s(1))
        })]
    );
}
