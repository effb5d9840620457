//! Deterministic tests of the MLD router: querier election, MLDv1 and MLDv2 listeners, INCLUDE
//! and EXCLUDE filters as MGM joins, compatibility modes, timers, scopes and limits. The
//! shared state table itself is covered row by row by the IGMP tests.
use super::validate::check;
use super::*;
use crate::wire::mld::{self as wire_mld, AddressRecordRepr, QueryV2, RecordType};
use std::collections::BTreeSet;
use std::time::Duration;

pub(super) const IF: u32 = 7;
pub(super) const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 5);
pub(super) const HOST: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x20);
pub(super) const G: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 0x123);

pub(super) fn s(x: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, x)
}

fn set(xs: &[u16]) -> BTreeSet<Ipv6Addr> {
    xs.iter().map(|x| s(*x)).collect()
}

/// A router with one interface, and a notion of elapsed time.
pub(super) struct Lab {
    pub router: Router,
    pub t0: Instant,
}

impl Lab {
    pub fn with(config: IfaceConfig) -> Self {
        let t0 = Instant::now();
        let mut router = Router::new();
        router.add_interface(IF, ROUTER, config, t0).unwrap();
        Lab { router, t0 }
    }

    pub fn new() -> Self {
        Self::with(IfaceConfig::default())
    }

    pub fn at(&self, t: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(t)
    }

    pub fn input(
        &mut self,
        t: f64,
        repr: wire_mld::Repr,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Vec<Action> {
        let packet = repr.to_packet(src, dst).unwrap();
        let now = self.at(t);
        self.router.handle_packet(IF, &packet, now)
    }

    pub fn v2(&mut self, t: f64, records: &[(RecordType, Ipv6Addr, &[u16])]) -> Vec<Action> {
        let records = records
            .iter()
            .map(|(record_type, group, sources)| AddressRecordRepr {
                record_type: *record_type,
                group: *group,
                sources: sources.iter().map(|x| s(*x)).collect(),
            })
            .collect();
        self.input(
            t,
            wire_mld::Repr::ReportV2 { records },
            HOST,
            wire_mld::ALL_MLDV2_ROUTERS,
        )
    }

    pub fn record(&mut self, t: f64, record_type: RecordType, sources: &[u16]) -> Vec<Action> {
        self.v2(t, &[(record_type, G, sources)])
    }

    pub fn v1_report(&mut self, t: f64, group: Ipv6Addr) -> Vec<Action> {
        self.input(t, wire_mld::Repr::ReportV1 { group }, HOST, group)
    }

    fn done(&mut self, t: f64, group: Ipv6Addr) -> Vec<Action> {
        self.input(
            t,
            wire_mld::Repr::Done { group },
            HOST,
            wire_mld::ALL_ROUTERS,
        )
    }

    /// Ticks at every timeout up to `t`, collecting the actions with their times.
    pub fn run_until(&mut self, t: f64) -> Vec<(f64, Action)> {
        let end = self.at(t);
        let mut out = Vec::new();
        while let Some(next) = self.router.next_timeout().filter(|n| *n <= end) {
            let at = (next - self.t0).as_secs_f64();
            out.extend(self.router.tick(next).into_iter().map(|a| (at, a)));
        }
        out
    }

    pub fn iface(&self, t: f64) -> IfaceSnapshot {
        self.router.snapshot(self.at(t)).interfaces.remove(0)
    }

    fn group(&self, t: f64) -> Option<GroupSnapshot> {
        self.iface(t).groups.into_iter().find(|g| g.group == G)
    }

    /// (mode, forwarded sources, blocked sources) of G.
    fn state(&self, t: f64) -> Option<(FilterMode, BTreeSet<Ipv6Addr>, BTreeSet<Ipv6Addr>)> {
        self.group(t).map(|g| {
            let pick = |fwd: bool| {
                g.sources
                    .iter()
                    .filter(|s| s.forwarded == fwd)
                    .map(|s| s.source)
                    .collect()
            };
            (g.filter_mode, pick(true), pick(false))
        })
    }

    pub fn counters(&self) -> Counters {
        self.iface(0.0).counters
    }
}

pub(super) fn changes(actions: &[Action]) -> Vec<ChangeKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Membership(c) => {
                assert_eq!((c.ifindex, c.group), (IF, G));
                Some(c.kind)
            }
            Action::Send(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => None,
        })
        .collect()
}

fn timed_changes(actions: &[(f64, Action)]) -> Vec<(f64, ChangeKind)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Membership(c) => Some((*t, c.kind)),
            _ => None,
        })
        .collect()
}

/// A query the router sent, read back through the wire views and checked for the MLD
/// envelope (link-local source, hop limit 1, Router Alert 0, valid checksum).
#[derive(Debug, PartialEq, Eq)]
struct SentQuery {
    dst: Ipv6Addr,
    group: Ipv6Addr,
    v2: bool,
    sources: BTreeSet<Ipv6Addr>,
    suppress: bool,
}

fn queries(actions: &[Action]) -> Vec<SentQuery> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(t) => {
                let msg = parse(&t.packet).expect("the router's own query parses");
                assert_eq!(check(&msg), Ok(()));
                let icmpv6 = wire_mld::Packet::new_checked(t.icmpv6()).unwrap();
                assert_eq!(
                    wire_mld::Repr::parse(&icmpv6, t.src, t.dst).as_ref(),
                    Ok(&msg.mld)
                );
                assert_eq!((msg.src, msg.dst), (t.src, t.dst));
                match msg.mld {
                    wire_mld::Repr::Query { group, v2, .. } => Some(SentQuery {
                        dst: t.dst,
                        group,
                        v2: v2.is_some(),
                        sources: v2
                            .as_ref()
                            .map(|q| q.sources.iter().copied().collect())
                            .unwrap_or_default(),
                        suppress: v2.is_some_and(|q| q.suppress),
                    }),
                    other => panic!("router sent {other:?}"),
                }
            }
            Action::Membership(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => None,
        })
        .collect()
}

fn specific(sources: &[u16], suppress: bool) -> SentQuery {
    SentQuery {
        dst: G,
        group: G,
        v2: true,
        sources: set(sources),
        suppress,
    }
}

fn general_query_v2(src: Ipv6Addr) -> (wire_mld::Repr, Ipv6Addr, Ipv6Addr) {
    let q = wire_mld::Repr::Query {
        max_resp_code: 10_000,
        group: Ipv6Addr::UNSPECIFIED,
        v2: Some(QueryV2 {
            suppress: false,
            qrv: 2,
            qqic: 125,
            sources: vec![],
        }),
    };
    (q, src, wire_mld::ALL_NODES)
}

use crate::igmp::ChangeKind::*;

// ---- queries and querier election ----

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

// ---- listeners ----

#[test]
fn mldv1_listener_joins_and_leaves_after_the_last_listener_queries() {
    let mut lab = Lab::new();
    assert_eq!(changes(&lab.v1_report(1.0, G)), vec![JoinAny]);
    let g = lab.group(1.0).unwrap();
    assert_eq!(g.compat_version, Version::V1);
    assert_eq!(g.v1_host_timer_ms, Some(260_000));
    let done = lab.done(10.0, G);
    assert_eq!(queries(&done), vec![specific(&[], false)]);
    assert!(changes(&done).is_empty());
    // No report answers: the second query 1 s later, the leave at LLQT = 2 s.
    let later = lab.run_until(20.0);
    assert_eq!(
        queries(&later.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>()).len(),
        1
    );
    assert_eq!(timed_changes(&later), vec![(12.0, LeaveAny)]);
    assert!(lab.group(20.0).is_none());
}

#[test]
fn mldv1_report_after_done_keeps_the_group() {
    let mut lab = Lab::new();
    lab.v1_report(1.0, G);
    lab.done(10.0, G);
    assert!(changes(&lab.v1_report(10.5, G)).is_empty());
    assert!(timed_changes(&lab.run_until(300.0)).contains(&(270.5, LeaveAny)));
}

#[test]
fn mldv2_include_gives_source_joins_and_block_prunes_them() {
    let mut lab = Lab::new();
    let out = lab.record(1.0, RecordType::IsInclude, &[1, 2]);
    assert_eq!(changes(&out), vec![JoinSource(s(1)), JoinSource(s(2))]);
    assert_eq!(
        lab.state(1.0),
        Some((FilterMode::Include, set(&[1, 2]), set(&[])))
    );
    let block = lab.record(5.0, RecordType::Block, &[1]);
    assert_eq!(queries(&block), vec![specific(&[1], false)]);
    let later = lab.run_until(10.0);
    assert_eq!(timed_changes(&later), vec![(7.0, LeaveSource(s(1)))]);
    let out = lab.record(11.0, RecordType::ToInclude, &[]);
    assert_eq!(queries(&out), vec![specific(&[2], false)]);
    assert_eq!(
        timed_changes(&lab.run_until(20.0)),
        vec![(13.0, LeaveSource(s(2)))]
    );
    assert!(lab.group(20.0).is_none());
}

#[test]
fn mldv2_exclude_gives_a_star_g_join_with_blocks() {
    let mut lab = Lab::new();
    let out = lab.record(1.0, RecordType::IsExclude, &[3, 4]);
    assert_eq!(changes(&out), vec![JoinAny, Block(s(3)), Block(s(4))]);
    // ALLOW(3) in EXCLUDE: 3 is forwarded again.
    assert_eq!(
        changes(&lab.record(2.0, RecordType::Allow, &[3])),
        vec![Unblock(s(3))]
    );
    assert_eq!(
        lab.state(2.0),
        Some((FilterMode::Exclude, set(&[3]), set(&[4])))
    );
    // TO_IN({}) ends the (*,G) join once the group-specific queries go unanswered.
    let out = lab.record(3.0, RecordType::ToInclude, &[]);
    assert!(queries(&out).contains(&specific(&[], false)));
    let later = timed_changes(&lab.run_until(10.0));
    assert_eq!(later, vec![(5.0, Unblock(s(4))), (5.0, LeaveAny)]);
    assert!(lab.group(10.0).is_none());
}

#[test]
fn include_to_exclude_and_back_never_leaves_a_gap() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1]);
    let out = lab.record(2.0, RecordType::ToExclude, &[2]);
    // Joins before leaves: the (*,G) join comes before S1's (S,G) leave.
    assert_eq!(changes(&out), vec![JoinAny, Block(s(2)), LeaveSource(s(1))]);
}

#[test]
fn exclude_mode_expires_after_the_listening_interval() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsExclude, &[]);
    // MALI = 2 × 125 + 10 = 260 s with nobody answering the general queries.
    let later = timed_changes(&lab.run_until(400.0));
    assert_eq!(later, vec![(261.0, LeaveAny)]);
}

#[test]
fn source_timers_expire_in_include_mode() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1]);
    lab.record(100.0, RecordType::IsInclude, &[2]);
    let later = timed_changes(&lab.run_until(400.0));
    assert_eq!(
        later,
        vec![(261.0, LeaveSource(s(1))), (360.0, LeaveSource(s(2)))]
    );
}

// ---- compatibility ----

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

#[test]
fn remove_interface_leaves_everything_and_memberships_rejoin() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1]);
    lab.v2(
        1.0,
        &[(
            RecordType::IsExclude,
            Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 9),
            &[2],
        )],
    );
    let joins = lab.router.memberships(IF).unwrap();
    assert_eq!(joins.len(), 3);
    let leaves = lab.router.remove_interface(IF).unwrap();
    assert_eq!(leaves.len(), 3);
    assert!(lab.router.snapshot(lab.at(2.0)).interfaces.is_empty());
}

#[test]
fn snapshot_serialises_and_prints() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsExclude, &[7]);
    let link_scope = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 3);
    lab.v2(1.0, &[(RecordType::IsExclude, link_scope, &[])]);
    let snap = lab.router.snapshot(lab.at(1.0));
    let json = serde_json::to_string(&snap).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let text = snap.to_string();
    assert!(text.contains("ff0e::123 Exclude compat MLDV2"), "{text}");
    assert!(text.contains("2001:db8::7 block"), "{text}");
    // Counters by reason read as in `show igmp`.
    assert!(text.contains("\n  ignored: LocalGroup 1\n"), "{text}");
}

#[test]
fn set_config_brings_the_next_query_forward_and_rejects_bad_configs() {
    let mut lab = Lab::new();
    lab.run_until(40.0); // both startup queries sent; the next one is due at 156.25 s
    let faster = IfaceConfig {
        query_interval: Duration::from_secs(60),
        ..IfaceConfig::default()
    };
    lab.router.set_config(IF, faster, lab.at(50.0)).unwrap();
    let sent: Vec<f64> = lab
        .run_until(200.0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(sent, vec![110.0, 170.0]);
    let bad = IfaceConfig {
        last_listener_query_count: 0,
        ..IfaceConfig::default()
    };
    assert!(matches!(
        lab.router.set_config(IF, bad, lab.at(200.0)),
        Err(Error::Config(_))
    ));
    assert_eq!(
        lab.router
            .set_config(IF + 1, IfaceConfig::default(), lab.at(200.0)),
        Err(Error::NoInterface(IF + 1))
    );
    assert_eq!(
        lab.iface(200.0).config.query_interval,
        Duration::from_secs(60)
    );
}
