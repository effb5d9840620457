//! Deterministic tests of the MLD router: querier election, MLDv1 and MLDv2 listeners, INCLUDE
//! and EXCLUDE filters as MGM joins, compatibility modes, timers, scopes and limits. The
//! shared state table itself is covered row by row by the IGMP tests. One submodule a concern;
//! here the one-interface lab they (and the hostile and limit tests) share.
use super::validate::check;
use super::*;
use crate::igmp::ChangeKind::*;
use crate::wire::mld::{self as wire_mld, AddressRecordRepr, QueryV2, RecordType};
use std::collections::BTreeSet;
use std::time::Duration;

mod compat;
mod interfaces;
mod listeners;
mod queries;

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
