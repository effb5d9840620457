//! The bounds and the groups MLD does not track: scopes 0 to 2, any-source SSM requests,
//! `max_groups` and `max_sources` with their counters and notices, huge source lists; a
//! version change at run time.
use super::hostile_tests::{envelope, refill_mld_checksum, report, valid_report, MLD_AT};
use super::tests::{s, Lab, G, HOST, IF};
use super::*;
use crate::igmp::ChangeKind::JoinSource;
use crate::wire::mld::{self as wire_mld, RecordType};

#[test]
fn local_scopes_are_not_tracked_and_ssm_is_source_specific() {
    let mut lab = Lab::new();
    let ff = |a: u16, b: u16| Ipv6Addr::new(a, 0, 0, 0, 0, 0, 0, b);
    for group in [
        ff(0xff02, 1),
        ff(0xff01, 5),
        ff(0xff00, 5),
        ff(0xff02, 0x1234),
    ] {
        assert!(lab.v1_report(1.0, group).is_empty(), "{group}");
    }
    assert_eq!(lab.counters().ignored[&IgnoreReason::LocalGroup], 4);
    let ssm = ff(0xff3e, 0x8000);
    let out = lab.v2(
        2.0,
        &[
            (RecordType::IsExclude, ssm, &[]),
            (RecordType::IsInclude, ssm, &[1]),
        ],
    );
    assert_eq!(out.len(), 1);
    assert!(matches!(
        out[0],
        Action::Membership(MembershipChange { group, kind: JoinSource(src), .. }) if group == ssm && src == s(1)
    ));
    assert_eq!(lab.counters().ignored[&IgnoreReason::SsmAnySource], 1);
    // Site scope is routed.
    let site = ff(0xff05, 0x1003);
    assert_eq!(lab.v1_report(3.0, site).len(), 1);
}

#[test]
fn group_and_source_limits_are_counted_and_noticed() {
    let mut lab = Lab::with(IfaceConfig {
        max_groups: 2,
        max_sources: 3,
        ..IfaceConfig::default()
    });
    let g = |x: u16| Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, x);
    lab.v1_report(1.0, g(1));
    lab.v1_report(1.0, g(2));
    let out = lab.v1_report(1.0, g(3));
    assert_eq!(
        out,
        vec![Action::LimitReached(LimitNotice {
            ifindex: IF,
            limit: Limit::Groups,
            max: 2,
            refused: 1,
        })]
    );
    assert_eq!(lab.iface(1.0).groups.len(), 2);
    let out = lab.v2(2.0, &[(RecordType::IsInclude, g(1), &[1, 2, 3, 4, 5])]);
    // EXCLUDE mode (from the v1 report) with IS_IN: sources join the forwarded set up to 3.
    assert_eq!(lab.iface(2.0).groups[0].sources.len(), 3);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::LimitReached(LimitNotice {
            limit: Limit::Sources,
            refused: 2,
            ..
        })
    )));
    let c = lab.counters();
    assert_eq!(c.ignored[&IgnoreReason::GroupLimit], 1);
    assert_eq!(c.ignored[&IgnoreReason::SourceLimit], 2);
}

#[test]
fn huge_source_lists_are_bounded() {
    let mut lab = Lab::with(IfaceConfig {
        max_sources: 100,
        ..IfaceConfig::default()
    });
    let sources: Vec<u16> = (1..=4000).collect();
    let packet = envelope(
        &report(&sources),
        HOST,
        wire_mld::ALL_MLDV2_ROUTERS,
        1,
        Some(0),
    );
    assert!(packet.len() > 64_000);
    let out = lab.router.handle_packet(IF, &packet, lab.at(1.0));
    let joins = out
        .iter()
        .filter(|a| matches!(a, Action::Membership(_)))
        .count();
    assert_eq!(joins, 100);
    assert_eq!(lab.counters().ignored[&IgnoreReason::SourceLimit], 3900);
    assert_eq!(lab.router.ifaces[&IF].source_count(), 100);
    // A record cannot claim more sources than a packet can hold.
    let mut claimed = valid_report();
    claimed[MLD_AT + 8 + 2..MLD_AT + 8 + 4].copy_from_slice(&4000u16.to_be_bytes());
    refill_mld_checksum(&mut claimed);
    assert!(lab
        .router
        .handle_packet(IF, &claimed, lab.at(2.0))
        .is_empty());
    assert_eq!(lab.counters().dropped[&DropReason::MldTruncated], 1);
}

/// Whether each general query in `actions` is an MLDv2 one.
fn general_queries(actions: &[(f64, Action)]) -> Vec<bool> {
    actions
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Send(t) => match parse(&t.packet).ok()?.mld {
                wire_mld::Repr::Query { group, v2, .. } if group.is_unspecified() => {
                    Some(v2.is_some())
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_version_change_keeps_the_listeners_and_queries_in_the_new_version_at_once() {
    let mut lab = Lab::new();
    lab.run_until(40.0);
    lab.record(40.0, RecordType::IsInclude, &[1, 2]);
    let v1 = IfaceConfig {
        version: Version::V1,
        ..IfaceConfig::default()
    };
    lab.router.set_config(IF, v1, lab.at(41.0)).unwrap();
    // The startup queries start over in MLDv1: the first at once, the second a quarter of the
    // query interval later.
    assert_eq!(general_queries(&lab.run_until(41.0)), [false]);
    assert_eq!(general_queries(&lab.run_until(80.0)), [false]);
    let snap = lab.iface(80.0);
    assert_eq!(snap.querier.version, Version::V1);
    let group = snap.groups.iter().find(|g| g.group == G).expect("kept");
    assert_eq!(group.compat_version, Version::V1);
    assert_eq!(group.sources.len(), 2, "its sources still forwarded");

    lab.router
        .set_config(IF, IfaceConfig::default(), lab.at(90.0))
        .unwrap();
    assert_eq!(general_queries(&lab.run_until(90.0)), [true]);
    let snap = lab.iface(90.0);
    assert_eq!(snap.groups[0].compat_version, Version::V2);
}
