//! Deterministic tests of the IGMP router: the RFC 3376 §6.4 state table row by row, timers,
//! compatibility modes, querier election and input hardening.
use super::validate::check;
use super::*;
use crate::wire::igmp::{self as wire_igmp, GroupRecordRepr, RecordType};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const IF: u32 = 7;
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);
const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);

fn s(x: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, x)
}

fn set(xs: &[u8]) -> BTreeSet<Ipv4Addr> {
    xs.iter().map(|x| s(*x)).collect()
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}

/// A router with one interface, and a notion of elapsed time.
struct Lab {
    router: Router,
    t0: Instant,
}

impl Lab {
    fn with(config: IfaceConfig) -> Self {
        let t0 = Instant::now();
        let mut router = Router::new();
        router.add_interface(IF, ROUTER, 24, config, t0).unwrap();
        Lab { router, t0 }
    }

    fn new() -> Self {
        Self::with(IfaceConfig::default())
    }

    fn at(&self, t: f64) -> Instant {
        self.t0 + secs(t)
    }

    fn input(
        &mut self,
        t: f64,
        repr: wire_igmp::Repr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Vec<Action> {
        let datagram = repr.to_datagram(src, dst).unwrap();
        let now = self.at(t);
        self.router.handle_packet(IF, &datagram, now)
    }

    fn v3(&mut self, t: f64, records: &[(RecordType, Ipv4Addr, &[u8])]) -> Vec<Action> {
        let records = records
            .iter()
            .map(|(record_type, group, sources)| GroupRecordRepr {
                record_type: *record_type,
                group: *group,
                sources: sources.iter().map(|x| s(*x)).collect(),
            })
            .collect();
        self.input(
            t,
            wire_igmp::Repr::ReportV3 { records },
            HOST,
            wire_igmp::ALL_V3_ROUTERS,
        )
    }

    fn record(&mut self, t: f64, record_type: RecordType, sources: &[u8]) -> Vec<Action> {
        self.v3(t, &[(record_type, G, sources)])
    }

    fn v2_report(&mut self, t: f64, group: Ipv4Addr) -> Vec<Action> {
        self.input(t, wire_igmp::Repr::ReportV2 { group }, HOST, group)
    }

    fn v1_report(&mut self, t: f64, group: Ipv4Addr) -> Vec<Action> {
        self.input(t, wire_igmp::Repr::ReportV1 { group }, HOST, group)
    }

    fn leave(&mut self, t: f64, group: Ipv4Addr) -> Vec<Action> {
        self.input(
            t,
            wire_igmp::Repr::Leave { group },
            HOST,
            wire_igmp::ALL_ROUTERS,
        )
    }

    fn tick(&mut self, t: f64) -> Vec<Action> {
        let now = self.at(t);
        self.router.tick(now)
    }

    /// Ticks at every timeout up to `t`, collecting the actions with their times.
    fn run_until(&mut self, t: f64) -> Vec<(f64, Action)> {
        let end = self.at(t);
        let mut out = Vec::new();
        while let Some(next) = self.router.next_timeout().filter(|n| *n <= end) {
            let at = (next - self.t0).as_secs_f64();
            out.extend(self.router.tick(next).into_iter().map(|a| (at, a)));
        }
        out
    }

    fn iface(&self, t: f64) -> IfaceSnapshot {
        self.router.snapshot(self.at(t)).interfaces.remove(0)
    }

    fn group(&self, t: f64, group: Ipv4Addr) -> Option<GroupSnapshot> {
        self.iface(t).groups.into_iter().find(|g| g.group == group)
    }

    /// (mode, forwarded sources, blocked sources) of G.
    fn state(&self, t: f64) -> Option<(FilterMode, BTreeSet<Ipv4Addr>, BTreeSet<Ipv4Addr>)> {
        self.group(t, G).map(|g| {
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

    fn source_timer(&self, t: f64, source: u8) -> Option<u64> {
        self.group(t, G)?
            .sources
            .iter()
            .find(|x| x.source == s(source))?
            .timer_ms
    }

    fn counters(&self) -> Counters {
        self.iface(0.0).counters
    }
}

fn changes(actions: &[Action]) -> Vec<ChangeKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Membership(c) => Some(c.kind),
            Action::Send(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => None,
        })
        .collect()
}

/// A query the router sent: destination, group, sources, suppress flag.
#[derive(Debug, PartialEq, Eq)]
struct SentQuery {
    dst: Ipv4Addr,
    group: Ipv4Addr,
    sources: BTreeSet<Ipv4Addr>,
    suppress: bool,
}

fn query_of(t: &Transmit) -> (wire_igmp::Repr, u8, bool) {
    let ip = crate::wire::ipv4::Packet::new_checked(&t.datagram[..]).unwrap();
    let ip_repr = crate::wire::ipv4::Repr::parse(&ip).unwrap();
    assert_eq!(ip_repr.dst, t.dst);
    assert_eq!(ip_repr.src, ROUTER);
    let packet = wire_igmp::Packet::new_checked(ip.payload()).unwrap();
    (
        wire_igmp::Repr::parse(&packet).unwrap(),
        ip_repr.ttl,
        ip_repr.router_alert,
    )
}

fn queries(actions: &[Action]) -> Vec<SentQuery> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(t) => {
                let (repr, ttl, ra) = query_of(t);
                assert_eq!((ttl, ra), (1, true));
                match repr {
                    wire_igmp::Repr::Query { group, v3, .. } => Some(SentQuery {
                        dst: t.dst,
                        group,
                        sources: v3
                            .as_ref()
                            .map(|q| q.sources.iter().copied().collect())
                            .unwrap_or_default(),
                        suppress: v3.is_some_and(|q| q.suppress),
                    }),
                    other => panic!("router sent {other:?}"),
                }
            }
            Action::Membership(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => None,
        })
        .collect()
}

fn gsq(sources: &[u8], suppress: bool) -> SentQuery {
    SentQuery {
        dst: G,
        group: G,
        sources: set(sources),
        suppress,
    }
}

const GMI_MS: u64 = 260_000;
const LMQT_MS: u64 = 2_000;

// ---- the state table, RFC 3376 §6.4.1 and §6.4.2 ----

/// INCLUDE({1,2}) at t=1.
fn include_12() -> Lab {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1, 2]);
    assert_eq!(
        lab.state(1.0),
        Some((FilterMode::Include, set(&[1, 2]), set(&[])))
    );
    lab
}

/// EXCLUDE(X={1,2}, Y={3,4}) at t=1.
fn exclude_12_34() -> Lab {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsExclude, &[3, 4]);
    lab.record(1.0, RecordType::Allow, &[1, 2]);
    assert_eq!(
        lab.state(1.0),
        Some((FilterMode::Exclude, set(&[1, 2]), set(&[3, 4])))
    );
    lab
}

use ChangeKind::*;
use FilterMode::{Exclude as Ex, Include as In};

/// One row of the state table: the state before (made by `start` at t=1), a record at t=2,
/// and everything expected right after it.
struct Row {
    start: fn() -> Lab,
    record: RecordType,
    sources: &'static [u8],
    mode: FilterMode,
    forwarded: &'static [u8],
    blocked: &'static [u8],
    changes: Vec<ChangeKind>,
    queries: Vec<SentQuery>,
    /// Source timers afterwards in ms (`None`: stopped).
    timers: &'static [(u8, Option<u64>)],
    group_timer: Option<u64>,
}

fn group_query(suppress: bool) -> SentQuery {
    SentQuery {
        dst: G,
        group: G,
        sources: set(&[]),
        suppress,
    }
}

#[test]
fn state_table_rows() {
    const GMI_1: u64 = GMI_MS - 1000;
    let rows = [
        // INCLUDE(A) + IS_IN(B) -> INCLUDE(A+B); (B)=GMI
        Row {
            start: include_12,
            record: RecordType::IsInclude,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2, 3],
            blocked: &[],
            changes: vec![JoinSource(s(3))],
            queries: vec![],
            timers: &[(1, Some(GMI_1)), (2, Some(GMI_MS)), (3, Some(GMI_MS))],
            group_timer: None,
        },
        // INCLUDE(A) + ALLOW(B) -> INCLUDE(A+B); (B)=GMI
        Row {
            start: include_12,
            record: RecordType::Allow,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2, 3],
            blocked: &[],
            changes: vec![JoinSource(s(3))],
            queries: vec![],
            timers: &[(1, Some(GMI_1)), (2, Some(GMI_MS)), (3, Some(GMI_MS))],
            group_timer: None,
        },
        // INCLUDE(A) + IS_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete (A-B); GT=GMI
        Row {
            start: include_12,
            record: RecordType::IsExclude,
            sources: &[2, 3],
            mode: Ex,
            forwarded: &[2],
            blocked: &[3],
            changes: vec![JoinAny, Block(s(3)), LeaveSource(s(1)), LeaveSource(s(2))],
            queries: vec![],
            timers: &[(2, Some(GMI_1)), (3, None)],
            group_timer: Some(GMI_MS),
        },
        // INCLUDE(A) + TO_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete (A-B); Send Q(G,A*B);
        // GT=GMI
        Row {
            start: include_12,
            record: RecordType::ToExclude,
            sources: &[2, 3],
            mode: Ex,
            forwarded: &[2],
            blocked: &[3],
            changes: vec![JoinAny, Block(s(3)), LeaveSource(s(1)), LeaveSource(s(2))],
            queries: vec![gsq(&[2], false)],
            timers: &[(2, Some(LMQT_MS)), (3, None)],
            group_timer: Some(GMI_MS),
        },
        // INCLUDE(A) + TO_IN(B) -> INCLUDE(A+B); (B)=GMI; Send Q(G,A-B)
        Row {
            start: include_12,
            record: RecordType::ToInclude,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2, 3],
            blocked: &[],
            changes: vec![JoinSource(s(3))],
            queries: vec![gsq(&[1], false)],
            timers: &[(1, Some(LMQT_MS)), (2, Some(GMI_MS)), (3, Some(GMI_MS))],
            group_timer: None,
        },
        // INCLUDE(A) + BLOCK(B) -> INCLUDE(A); Send Q(G,A*B)
        Row {
            start: include_12,
            record: RecordType::Block,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2],
            blocked: &[],
            changes: vec![],
            queries: vec![gsq(&[2], false)],
            timers: &[(1, Some(GMI_1)), (2, Some(LMQT_MS))],
            group_timer: None,
        },
        // EXCLUDE(X,Y) + IS_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::IsInclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 3, 5],
            blocked: &[4],
            changes: vec![Unblock(s(3))],
            queries: vec![],
            timers: &[
                (1, Some(GMI_1)),
                (3, Some(GMI_MS)),
                (4, None),
                (5, Some(GMI_MS)),
            ],
            group_timer: Some(GMI_1),
        },
        // EXCLUDE(X,Y) + ALLOW(A) -> EXCLUDE(X+A,Y-A); (A)=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::Allow,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 3, 5],
            blocked: &[4],
            changes: vec![Unblock(s(3))],
            queries: vec![],
            timers: &[
                (1, Some(GMI_1)),
                (3, Some(GMI_MS)),
                (4, None),
                (5, Some(GMI_MS)),
            ],
            group_timer: Some(GMI_1),
        },
        // EXCLUDE(X,Y) + IS_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete (X-A), (Y-A);
        // GT=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::IsExclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[2, 5],
            blocked: &[3],
            changes: vec![Unblock(s(4))],
            queries: vec![],
            timers: &[(2, Some(GMI_1)), (3, None), (5, Some(GMI_MS))],
            group_timer: Some(GMI_MS),
        },
        // EXCLUDE(X,Y) + TO_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GT; Delete (X-A), (Y-A);
        // Send Q(G,A-Y); GT=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::ToExclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[2, 5],
            blocked: &[3],
            changes: vec![Unblock(s(4))],
            queries: vec![gsq(&[2, 5], false)],
            timers: &[(2, Some(LMQT_MS)), (3, None), (5, Some(LMQT_MS))],
            group_timer: Some(GMI_MS),
        },
        // EXCLUDE(X,Y) + TO_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
        Row {
            start: exclude_12_34,
            record: RecordType::ToInclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 3, 5],
            blocked: &[4],
            changes: vec![Unblock(s(3))],
            queries: vec![group_query(false), gsq(&[1], false)],
            timers: &[(1, Some(LMQT_MS)), (2, Some(GMI_MS)), (4, None)],
            group_timer: Some(LMQT_MS),
        },
        // EXCLUDE(X,Y) + BLOCK(A) -> EXCLUDE(X+(A-Y),Y); (A-X-Y)=GT; Send Q(G,A-Y)
        Row {
            start: exclude_12_34,
            record: RecordType::Block,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 5],
            blocked: &[3, 4],
            changes: vec![],
            queries: vec![gsq(&[2, 5], false)],
            timers: &[(1, Some(GMI_1)), (2, Some(LMQT_MS)), (5, Some(LMQT_MS))],
            group_timer: Some(GMI_1),
        },
    ];
    for row in rows {
        let mut lab = (row.start)();
        let before = lab.state(1.0).map(|(mode, ..)| mode);
        let what = format!("{before:?} + {:?}({:?})", row.record, row.sources);
        let out = lab.record(2.0, row.record, row.sources);
        assert_eq!(
            lab.state(2.0),
            Some((row.mode, set(row.forwarded), set(row.blocked))),
            "{what}: state"
        );
        assert_eq!(changes(&out), row.changes, "{what}: membership changes");
        assert_eq!(queries(&out), row.queries, "{what}: queries");
        for (source, timer) in row.timers {
            assert_eq!(
                lab.source_timer(2.0, *source),
                *timer,
                "{what}: timer of {source}"
            );
        }
        let group_timer = lab.group(2.0, G).and_then(|g| g.group_timer_ms);
        assert_eq!(group_timer, row.group_timer, "{what}: group timer");
    }
}

/// Membership changes among timed actions.
fn timed_changes(actions: &[(f64, Action)]) -> Vec<(f64, ChangeKind)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Membership(c) => Some((*t, c.kind)),
            Action::Send(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => None,
        })
        .collect()
}

#[test]
fn unanswered_block_in_include_times_the_source_out() {
    let mut lab = include_12();
    lab.record(2.0, RecordType::Block, &[2, 3]);
    let later = lab.run_until(10.0);
    assert_eq!(timed_changes(&later), vec![(4.0, LeaveSource(s(2)))]);
    assert_eq!(lab.state(10.0), Some((In, set(&[1]), set(&[]))));
}

#[test]
fn unanswered_to_in_in_exclude_falls_back_to_include() {
    // RFC 3376 §6.5: at the group timer's expiry the group keeps the sources still requested.
    let mut lab = exclude_12_34();
    lab.record(2.0, RecordType::ToInclude, &[2, 3, 5]);
    let later = lab.run_until(10.0);
    assert_eq!(
        timed_changes(&later),
        vec![
            (4.0, JoinSource(s(2))),
            (4.0, JoinSource(s(3))),
            (4.0, JoinSource(s(5))),
            (4.0, Unblock(s(4))),
            (4.0, LeaveAny),
        ]
    );
    assert_eq!(lab.state(10.0), Some((In, set(&[2, 3, 5]), set(&[]))));
}

#[test]
fn unanswered_block_in_exclude_excludes_the_sources() {
    let mut lab = exclude_12_34();
    lab.record(2.0, RecordType::Block, &[2, 3, 5]);
    let later = lab.run_until(10.0);
    assert_eq!(
        timed_changes(&later),
        vec![(4.0, Block(s(2))), (4.0, Block(s(5)))]
    );
    assert_eq!(lab.state(10.0), Some((Ex, set(&[1]), set(&[2, 3, 4, 5]))));
}

#[test]
fn new_group_from_each_record_type() {
    for (record_type, expect, kinds) in [
        (
            RecordType::IsInclude,
            Some((In, set(&[1]), set(&[]))),
            vec![JoinSource(s(1))],
        ),
        (
            RecordType::Allow,
            Some((In, set(&[1]), set(&[]))),
            vec![JoinSource(s(1))],
        ),
        (
            RecordType::ToInclude,
            Some((In, set(&[1]), set(&[]))),
            vec![JoinSource(s(1))],
        ),
        (
            RecordType::IsExclude,
            Some((Ex, set(&[]), set(&[1]))),
            vec![JoinAny, Block(s(1))],
        ),
        (
            RecordType::ToExclude,
            Some((Ex, set(&[]), set(&[1]))),
            vec![JoinAny, Block(s(1))],
        ),
        (RecordType::Block, None, vec![]),
    ] {
        let mut lab = Lab::new();
        let out = lab.record(1.0, record_type, &[1]);
        assert_eq!(lab.state(1.0), expect, "{record_type:?}");
        assert_eq!(changes(&out), kinds, "{record_type:?}");
    }
}

#[test]
fn suppress_flag_on_retransmission_after_report() {
    let mut lab = exclude_12_34();
    let out = lab.record(2.0, RecordType::ToInclude, &[]);
    assert_eq!(
        queries(&out),
        vec![group_query(false), gsq(&[1, 2], false),]
    );
    // A member answers before the retransmission: the group timer is back above LMQT and
    // source 1 too, so the retransmissions carry the suppress flag for them.
    lab.record(2.5, RecordType::IsExclude, &[1, 2, 3, 4]);
    lab.record(2.5, RecordType::IsInclude, &[1]);
    let retransmit: Vec<_> = lab.run_until(3.0).into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        queries(&retransmit),
        vec![group_query(true), gsq(&[1], true), gsq(&[2], false),]
    );
    // Source 2 was not confirmed: it is excluded after LMQT.
    lab.run_until(5.0);
    assert_eq!(lab.state(5.0), Some((Ex, set(&[1]), set(&[2, 3, 4]))));
}

// ---- timers ----

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

// ---- v1/v2 compatibility, RFC 3376 §7.3 ----

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

// ---- querier election, RFC 3376 §6.6.2 ----

fn general_query(code: u8) -> wire_igmp::Repr {
    wire_igmp::Repr::Query {
        max_resp_code: code,
        group: Ipv4Addr::UNSPECIFIED,
        v3: Some(wire_igmp::QueryV3 {
            suppress: false,
            qrv: 2,
            qqic: 125,
            sources: vec![],
        }),
    }
}

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

// ---- hardening ----

fn valid_report() -> Vec<u8> {
    wire_igmp::Repr::ReportV3 {
        records: vec![GroupRecordRepr {
            record_type: RecordType::IsExclude,
            group: G,
            sources: vec![s(1)],
        }],
    }
    .to_datagram(HOST, wire_igmp::ALL_V3_ROUTERS)
    .unwrap()
}

fn refill_ip_checksum(buf: &mut [u8]) {
    crate::wire::ipv4::Packet::new_unchecked(buf).fill_checksum();
}

fn refill_igmp_checksum(buf: &mut [u8]) {
    let hl = usize::from(buf[0] & 0x0f) * 4;
    wire_igmp::Packet::new_unchecked(&mut buf[hl..]).fill_checksum();
}

/// The datagram for `repr` with the given IPv4 facts.
fn with_ip(repr: wire_igmp::Repr, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, ra: bool) -> Vec<u8> {
    let ip = crate::wire::ipv4::Repr {
        src,
        dst,
        protocol: 2,
        ttl,
        tos: 0,
        router_alert: ra,
        payload_len: repr.buffer_len(),
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut packet = ip.emit(&mut buf).unwrap();
    repr.emit(packet.payload_mut()).unwrap();
    buf
}

#[test]
fn every_malformed_input_is_counted_and_dropped() {
    let good = valid_report();
    let mut cases: Vec<(DropReason, Vec<u8>)> = Vec::new();
    cases.push((DropReason::Ipv4Truncated, good[..10].to_vec()));
    let mut v = good.clone();
    v[0] = 0x66;
    cases.push((DropReason::Ipv4Malformed, v));
    let mut v = good.clone();
    v[8] = 2;
    cases.push((DropReason::Ipv4Checksum, v));
    let mut v = good.clone();
    v[6] = 0x20;
    refill_ip_checksum(&mut v);
    cases.push((DropReason::Fragment, v));
    let mut v = good.clone();
    v[9] = 17;
    refill_ip_checksum(&mut v);
    cases.push((DropReason::NotIgmp, v));
    let mut v = good.clone();
    v[2..4].copy_from_slice(&30u16.to_be_bytes());
    refill_ip_checksum(&mut v);
    cases.push((DropReason::IgmpTruncated, v));
    let mut v = good.clone();
    v[24 + 7] = 2; // two records, one present
    refill_igmp_checksum(&mut v);
    cases.push((DropReason::IgmpTruncated, v));
    let q = with_ip(general_query(100), HOST, wire_igmp::ALL_SYSTEMS, 1, true);
    let mut v = q[..24 + 10].to_vec();
    v[2..4].copy_from_slice(&34u16.to_be_bytes());
    refill_ip_checksum(&mut v);
    cases.push((DropReason::IgmpMalformed, v));
    let mut v = good.clone();
    v[37] ^= 0xff;
    cases.push((DropReason::IgmpChecksum, v));
    let mut v = good.clone();
    v[24] = 0x42;
    refill_igmp_checksum(&mut v);
    cases.push((DropReason::UnknownType, v));
    let report = wire_igmp::Repr::ReportV2 { group: G };
    cases.push((
        DropReason::TtlNotOne,
        with_ip(report.clone(), HOST, G, 2, true),
    ));
    let v3 = wire_igmp::Repr::ReportV3 { records: vec![] };
    cases.push((
        DropReason::NoRouterAlert,
        with_ip(v3.clone(), HOST, wire_igmp::ALL_V3_ROUTERS, 1, false),
    ));
    let q3 = general_query(100);
    cases.push((
        DropReason::NoRouterAlert,
        with_ip(q3.clone(), HOST, wire_igmp::ALL_SYSTEMS, 1, false),
    ));
    let outside = Ipv4Addr::new(10, 9, 9, 9);
    cases.push((
        DropReason::BadSource,
        with_ip(report.clone(), outside, G, 1, true),
    ));
    cases.push((
        DropReason::BadSource,
        with_ip(report.clone(), Ipv4Addr::UNSPECIFIED, G, 1, true),
    ));
    cases.push((
        DropReason::BadSource,
        with_ip(
            q3.clone(),
            Ipv4Addr::UNSPECIFIED,
            wire_igmp::ALL_SYSTEMS,
            1,
            true,
        ),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(report.clone(), HOST, wire_igmp::ALL_V3_ROUTERS, 1, true),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(v3.clone(), HOST, G, 1, true),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(q3.clone(), HOST, G, 1, true),
    ));
    cases.push((
        DropReason::BadDestination,
        with_ip(
            wire_igmp::Repr::Leave { group: G },
            HOST,
            wire_igmp::ALL_SYSTEMS,
            1,
            true,
        ),
    ));
    let unicast = Ipv4Addr::new(10, 0, 0, 99);
    cases.push((
        DropReason::BadGroup,
        with_ip(
            wire_igmp::Repr::ReportV2 { group: unicast },
            HOST,
            unicast,
            1,
            true,
        ),
    ));
    cases.push((
        DropReason::BadGroup,
        with_ip(
            wire_igmp::Repr::Query {
                max_resp_code: 10,
                group: unicast,
                v3: None,
            },
            HOST,
            unicast,
            1,
            true,
        ),
    ));

    let mut lab = Lab::new();
    lab.v2_report(0.5, G);
    let before = lab.group(1.0, G);
    let mut expected: BTreeMap<DropReason, u64> = BTreeMap::new();
    for (reason, bytes) in &cases {
        let out = lab.router.handle_packet(IF, bytes, lab.at(1.0));
        assert!(out.is_empty(), "{reason:?} had effects: {out:?}");
        *expected.entry(*reason).or_default() += 1;
        assert_eq!(lab.counters().dropped, expected, "after {reason:?}");
    }
    assert_eq!(lab.group(1.0, G), before, "valid state untouched");
    // The v3 report from 0.0.0.0 is the one accepted unspecified source.
    let anon = with_ip(
        wire_igmp::Repr::ReportV3 {
            records: vec![GroupRecordRepr {
                record_type: RecordType::Allow,
                group: G,
                sources: vec![s(7)],
            }],
        },
        Ipv4Addr::UNSPECIFIED,
        wire_igmp::ALL_V3_ROUTERS,
        1,
        true,
    );
    assert!(lab.router.handle_packet(IF, &anon, lab.at(1.0)).is_empty());
    assert_eq!(lab.counters().dropped, expected);
    assert_eq!(lab.counters().received[&MessageKind::ReportV3], 1);
}

#[test]
fn every_truncation_and_bit_flip_is_harmless() {
    let good = valid_report();
    let mut lab = Lab::new();
    for len in 0..good.len() {
        assert!(lab
            .router
            .handle_packet(IF, &good[..len], lab.at(1.0))
            .is_empty());
    }
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.clone();
            v[byte] ^= 1 << bit;
            lab.router.handle_packet(IF, &v, lab.at(1.0));
        }
    }
    let dropped: u64 = lab.counters().dropped.values().sum();
    assert_eq!(
        dropped,
        good.len() as u64 + 8 * good.len() as u64 - accepted_flips(&good)
    );
}

/// Bit flips of the report that still make an acceptable message (the checksums cover every
/// byte, so this is expected to be none; counted rather than assumed).
fn accepted_flips(good: &[u8]) -> u64 {
    let mut n = 0;
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.to_vec();
            v[byte] ^= 1 << bit;
            if parse(&v).is_ok_and(|m| {
                check(
                    &m,
                    Subnet {
                        addr: ROUTER,
                        prefix_len: 24,
                    },
                )
                .is_ok()
            }) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn random_datagrams_are_counted_never_fatal() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as u32
    };
    let dsts = [
        wire_igmp::ALL_SYSTEMS,
        wire_igmp::ALL_ROUTERS,
        wire_igmp::ALL_V3_ROUTERS,
        G,
    ];
    let mut lab = Lab::new();
    const N: u64 = 20_000;
    for i in 0..N {
        let len = next() as usize % 100;
        let mut igmp: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(kind) = igmp.first_mut() {
            *kind = [0x11, 0x12, 0x16, 0x17, 0x22, *kind][next() as usize % 6];
        }
        if igmp.len() >= 8 && igmp[0] != 0x22 && next() % 2 == 0 {
            igmp[4..8].copy_from_slice(&G.octets());
        }
        if igmp.len() > 8 && igmp[0] == 0x22 {
            // Few records, so that the record walk runs rather than failing at once.
            igmp[6] = 0;
            igmp[7] = (next() % 3) as u8;
        }
        if igmp.len() >= 4 {
            wire_igmp::Packet::new_unchecked(&mut igmp[..]).fill_checksum();
        }
        let ip = crate::wire::ipv4::Repr {
            src: HOST,
            dst: dsts[next() as usize % dsts.len()],
            protocol: 2,
            ttl: 1,
            tos: 0,
            router_alert: next() % 4 != 0,
            payload_len: igmp.len(),
        };
        let mut buf = vec![0; ip.buffer_len()];
        ip.emit(&mut buf)
            .unwrap()
            .payload_mut()
            .copy_from_slice(&igmp);
        lab.router
            .handle_packet(IF, &buf, lab.at(i as f64 / 1000.0));
    }
    lab.run_until(30.0);
    let c = lab.counters();
    let total = c.received.values().sum::<u64>() + c.dropped.values().sum::<u64>();
    assert_eq!(total, N, "every input is received or dropped: {c:?}");
    assert!(
        c.received.values().sum::<u64>() > 1000,
        "too few valid inputs: {c:?}"
    );
}

#[test]
fn bad_records_are_skipped_not_fatal() {
    let mut lab = Lab::new();
    let out = lab.v3(
        1.0,
        &[
            (RecordType::Other(9), G, &[1]),
            (RecordType::IsInclude, Ipv4Addr::new(10, 1, 1, 1), &[1]),
            (RecordType::IsInclude, Ipv4Addr::new(224, 0, 0, 251), &[]),
            (RecordType::IsInclude, G, &[1]),
        ],
    );
    assert_eq!(changes(&out), vec![JoinSource(s(1))]);
    let c = lab.counters();
    assert_eq!(c.ignored[&IgnoreReason::UnknownRecordType], 1);
    assert_eq!(c.ignored[&IgnoreReason::BadRecordGroup], 1);
    assert_eq!(c.ignored[&IgnoreReason::LocalGroup], 1);
}

#[test]
fn unknown_interface_is_counted() {
    let mut r = Router::new();
    assert!(r
        .handle_packet(99, &valid_report(), Instant::now())
        .is_empty());
    assert_eq!(r.snapshot(Instant::now()).unknown_interface, 1);
}

// ---- interface management and snapshot ----

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
