//! Deterministic tests of the bounds on IGMP state and of configuration changes at run time.
use super::*;
use crate::wire::igmp::{self as wire_igmp, GroupRecordRepr, RecordType};
use std::time::Duration;

const IF: u32 = 9;
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);

fn group(x: u8) -> Ipv4Addr {
    Ipv4Addr::new(239, 1, 1, x)
}

fn src(x: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, x)
}

struct Lab {
    router: Router,
    t0: Instant,
}

impl Lab {
    fn new(max_groups: usize, max_sources: usize) -> Self {
        let config = IfaceConfig {
            max_groups,
            max_sources,
            ..IfaceConfig::default()
        };
        let t0 = Instant::now();
        let mut router = Router::new();
        router.add_interface(IF, ROUTER, 24, config, t0).unwrap();
        Lab { router, t0 }
    }

    fn at(&self, t: u64) -> Instant {
        self.t0 + Duration::from_secs(t)
    }

    fn send(&mut self, t: u64, repr: wire_igmp::Repr, dst: Ipv4Addr) -> Vec<Action> {
        let datagram = repr.to_datagram(HOST, dst).unwrap();
        let now = self.at(t);
        self.router.handle_packet(IF, &datagram, now)
    }

    fn v2(&mut self, t: u64, g: Ipv4Addr) -> Vec<Action> {
        self.send(t, wire_igmp::Repr::ReportV2 { group: g }, g)
    }

    fn leave(&mut self, t: u64, g: Ipv4Addr) -> Vec<Action> {
        let repr = wire_igmp::Repr::Leave { group: g };
        self.send(t, repr, wire_igmp::ALL_ROUTERS)
    }

    fn record(&mut self, t: u64, record_type: RecordType, g: Ipv4Addr, s: &[u8]) -> Vec<Action> {
        let records = vec![GroupRecordRepr {
            record_type,
            group: g,
            sources: s.iter().map(|x| src(*x)).collect(),
        }];
        let repr = wire_igmp::Repr::ReportV3 { records };
        self.send(t, repr, wire_igmp::ALL_V3_ROUTERS)
    }

    /// Ticks at every timeout up to `t`.
    fn run_until(&mut self, t: u64) {
        let end = self.at(t);
        while let Some(next) = self.router.next_timeout().filter(|n| *n <= end) {
            self.router.tick(next);
        }
    }

    fn iface(&self, t: u64) -> IfaceSnapshot {
        self.router.snapshot(self.at(t)).interfaces.remove(0)
    }

    fn ignored(&self, reason: IgnoreReason) -> u64 {
        let counters = self.iface(0).counters;
        counters.ignored.get(&reason).copied().unwrap_or(0)
    }

    fn sources_of(&self, t: u64, g: Ipv4Addr) -> Vec<Ipv4Addr> {
        let snap = self.iface(t);
        let found = snap.groups.into_iter().find(|x| x.group == g);
        found.map_or_else(Vec::new, |x| x.sources.iter().map(|s| s.source).collect())
    }
}

fn notices(actions: &[Action]) -> Vec<LimitNotice> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::LimitReached(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn joins(actions: &[Action]) -> Vec<ChangeKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Membership(c) => Some(c.kind),
            _ => None,
        })
        .collect()
}

#[test]
fn a_group_beyond_max_groups_is_ignored_and_counted() {
    let mut lab = Lab::new(2, 100);
    assert_eq!(joins(&lab.v2(1, group(1))), vec![ChangeKind::JoinAny]);
    lab.v2(1, group(2));
    let refused = lab.v2(2, group(3));
    assert_eq!(joins(&refused), vec![]);
    let notice = LimitNotice {
        ifindex: IF,
        limit: Limit::Groups,
        max: 2,
        refused: 1,
    };
    assert_eq!(notices(&refused), vec![notice]);
    assert_eq!(lab.iface(2).groups.len(), 2);
    assert_eq!(lab.ignored(IgnoreReason::GroupLimit), 1);
    let table = lab.router.snapshot(lab.at(2)).to_string();
    assert!(
        table.contains("state: 2 of 2 groups, 0 of 100 sources"),
        "{table}"
    );
    assert!(table.contains("ignored: GroupLimit 1"), "{table}");
    // Reports for groups already held are still applied.
    assert_eq!(notices(&lab.v2(3, group(1))), vec![]);
    // Records that would create nothing are not refusals.
    lab.leave(3, group(4));
    lab.record(3, RecordType::Block, group(4), &[1]);
    lab.record(3, RecordType::IsInclude, group(4), &[]);
    assert_eq!(lab.ignored(IgnoreReason::GroupLimit), 1);
}

#[test]
fn refusal_notices_are_rate_limited_to_one_per_query_interval() {
    let mut lab = Lab::new(1, 100);
    lab.v2(0, group(1));
    assert_eq!(notices(&lab.v2(1, group(2))).len(), 1);
    for t in 2..=10 {
        assert_eq!(notices(&lab.v2(t, group(2))), vec![]);
    }
    assert_eq!(lab.ignored(IgnoreReason::GroupLimit), 10);
    // A query interval (125 s) later, the next refusal reports itself and the nine before it.
    let late = notices(&lab.v2(126, group(3)));
    assert_eq!(late.iter().map(|n| n.refused).collect::<Vec<_>>(), vec![10]);
}

#[test]
fn sources_beyond_max_sources_are_ignored_and_the_rest_applied() {
    let mut lab = Lab::new(100, 5);
    lab.record(1, RecordType::IsInclude, group(1), &[1, 2, 3]);
    let out = lab.record(2, RecordType::Allow, group(2), &[10, 11, 12, 13]);
    let joined: Vec<_> = [10, 11]
        .map(|x| ChangeKind::JoinSource(src(x)))
        .into_iter()
        .collect();
    assert_eq!(joins(&out), joined);
    assert_eq!(notices(&out)[0].refused, 2);
    assert_eq!(lab.ignored(IgnoreReason::SourceLimit), 2);
    assert_eq!(lab.sources_of(2, group(2)), vec![src(10), src(11)]);
    // At the bound, sources already held are still refreshed; only new ones are refused.
    let out = lab.record(3, RecordType::IsInclude, group(1), &[1, 2, 3, 4]);
    assert_eq!(joins(&out), vec![]);
    assert_eq!(lab.ignored(IgnoreReason::SourceLimit), 3);
}

#[test]
fn excluded_sources_beyond_max_sources_are_not_tracked() {
    let mut lab = Lab::new(100, 3);
    let out = lab.record(1, RecordType::ToExclude, group(1), &[1, 2, 3, 4, 5]);
    let mut expected = vec![ChangeKind::JoinAny];
    expected.extend([1, 2, 3].map(|x| ChangeKind::Block(src(x))));
    assert_eq!(joins(&out), expected);
    assert_eq!(lab.ignored(IgnoreReason::SourceLimit), 2);
}

#[test]
fn room_comes_back_when_sources_expire_or_leave() {
    let mut lab = Lab::new(100, 2);
    lab.record(0, RecordType::IsInclude, group(1), &[1, 2]);
    lab.record(1, RecordType::IsInclude, group(2), &[3]);
    assert_eq!(lab.ignored(IgnoreReason::SourceLimit), 1);
    // Group membership interval: 2 × 125 s + 10 s.
    lab.run_until(261);
    assert!(lab.iface(261).groups.is_empty());
    let out = lab.record(262, RecordType::IsInclude, group(2), &[3, 4]);
    assert_eq!(joins(&out).len(), 2);
    assert_eq!(lab.ignored(IgnoreReason::SourceLimit), 1);
}

#[test]
fn set_config_keeps_groups_and_brings_the_general_query_forward() {
    let mut lab = Lab::new(100, 100);
    // Past the two startup queries, the next general query is 125 s away.
    lab.run_until(40);
    lab.v2(40, group(1));
    let config = IfaceConfig {
        query_interval: Duration::from_secs(20),
        max_groups: 1,
        ..IfaceConfig::default()
    };
    lab.router
        .set_config(IF, config.clone(), lab.at(40))
        .unwrap();
    let snap = lab.iface(40);
    assert_eq!(snap.config, config);
    assert_eq!(snap.groups.len(), 1);
    assert_eq!(snap.general_query_timer_ms, Some(20_000));
    // A lowered bound applies to new state only.
    lab.v2(41, group(2));
    assert_eq!(lab.ignored(IgnoreReason::GroupLimit), 1);
    let bad = IfaceConfig {
        max_sources: 0,
        ..IfaceConfig::default()
    };
    assert!(matches!(
        lab.router.set_config(IF, bad, lab.at(41)),
        Err(Error::Config(_))
    ));
}

/// The general queries in `actions`, as (version 3?, max response code).
fn general_queries(actions: &[Action]) -> Vec<(bool, u8)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(t) => match parse(&t.datagram).ok()?.igmp {
                wire_igmp::Repr::Query {
                    max_resp_code,
                    group,
                    v3,
                } if group.is_unspecified() => Some((v3.is_some(), max_resp_code)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_version_change_keeps_the_groups_and_queries_in_the_new_version_at_once() {
    let mut lab = Lab::new(100, 100);
    lab.run_until(40);
    lab.record(40, RecordType::IsInclude, group(1), &[1, 2]);
    lab.v2(40, group(2));
    let v2 = IfaceConfig {
        version: Version::V2,
        ..IfaceConfig::default()
    };
    lab.router.set_config(IF, v2, lab.at(41)).unwrap();
    // The startup queries start over in IGMPv2, the first one at once.
    assert_eq!(lab.router.next_timeout(), Some(lab.at(41)));
    let sent = general_queries(&lab.router.tick(lab.at(41)));
    assert_eq!(sent, vec![(false, 100)], "an IGMPv2 general query");
    let snap = lab.iface(41);
    assert_eq!(snap.startup_queries_left, 1);
    assert_eq!(snap.querier.version, Version::V2);
    // The groups carry over, in IGMPv2 compatibility; the sources still forwarded.
    let compat: Vec<(Ipv4Addr, Version)> = snap
        .groups
        .iter()
        .map(|g| (g.group, g.compat_version))
        .collect();
    assert_eq!(compat, [(group(1), Version::V2), (group(2), Version::V2)]);
    assert_eq!(lab.sources_of(41, group(1)), [src(1), src(2)]);

    // Back to IGMPv3: a v3 query at once; the group with an IGMPv2 host heard stays in v2
    // compatibility until its Older Host Present timer runs out (§7.3.2).
    lab.router
        .set_config(IF, IfaceConfig::default(), lab.at(50))
        .unwrap();
    let sent = general_queries(&lab.router.tick(lab.at(50)));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0, "an IGMPv3 general query");
    let compat: Vec<Version> = lab
        .iface(50)
        .groups
        .iter()
        .map(|g| g.compat_version)
        .collect();
    assert_eq!(compat, [Version::V3, Version::V2]);
}
