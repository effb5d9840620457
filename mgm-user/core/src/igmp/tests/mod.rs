//! Deterministic tests of the IGMP router: the RFC 3376 §6.4 state table row by row, timers,
//! compatibility modes, querier election and input hardening, one submodule each; here the
//! one-interface lab they share and the helpers reading its actions.
use super::validate::check;
use super::*;
use crate::wire::igmp::{self as wire_igmp, GroupRecordRepr, RecordType};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use ChangeKind::*;
use FilterMode::{Exclude as Ex, Include as In};

mod compat;
mod hardening;
mod interfaces;
mod querier;
mod state_table;
mod timers;

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

fn group_query(suppress: bool) -> SentQuery {
    SentQuery {
        dst: G,
        group: G,
        sources: set(&[]),
        suppress,
    }
}

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
