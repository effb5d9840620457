//! One IGMP interface: querier election (RFC 3376 §6.6.2), general and startup queries, the
//! groups, and the dispatch of validated messages to them.
use super::config::{IfaceConfig, Timing, Version};
use super::counters::{Counters, DropReason, IgnoreReason, MessageKind, QueryKind};
use super::group::{Ctx, Report};
use super::ifaces::RouterIface;
use super::querier::Querier;
use super::snapshot::{remaining_ms, IfaceSnapshot};
use super::table::{record_sources, Bounds, GroupAddr, GroupTable};
use super::validate::{check, parse, Message, Subnet};
use super::{Action, Error, MembershipChange, Snapshot, Transmit};
use crate::wire::igmp::{self, QueryV3};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Most sources that fit one query in a 1500-byte datagram (24-byte IPv4 header with Router
/// Alert, 12-byte query header).
const MAX_QUERY_SOURCES: usize = (1500 - 24 - 12) / 4;

impl GroupAddr for Ipv4Addr {
    fn is_bad_source(&self) -> bool {
        self.is_unspecified() || self.is_multicast() || self.is_broadcast()
    }

    fn is_multicast(&self) -> bool {
        Ipv4Addr::is_multicast(self)
    }

    fn is_unspecified(&self) -> bool {
        Ipv4Addr::is_unspecified(self)
    }

    /// 224.0.0.0/24, whose groups routers do not track.
    fn is_local_group(&self) -> bool {
        let [a, b, c, _] = self.octets();
        (a, b, c) == (224, 0, 0)
    }

    /// The SSM range 232.0.0.0/8 (RFC 4607).
    fn is_ssm_group(&self) -> bool {
        self.octets()[0] == 232
    }
}

fn tenths(d: Duration) -> u32 {
    u32::try_from(d.as_millis() / 100).unwrap_or(u32::MAX)
}

/// State of one interface.
#[derive(Debug, Clone)]
pub struct Iface {
    ifindex: u32,
    subnet: Subnet,
    config: IfaceConfig,
    querier: Querier<Ipv4Addr, Version>,
    groups: GroupTable<Ipv4Addr>,
    pub counters: Counters,
}

impl Iface {
    /// This router's address and prefix length on the interface, which IGMP queries from.
    pub fn subnet(&self) -> (Ipv4Addr, u8) {
        (self.subnet.addr, self.subnet.prefix_len)
    }

    /// Starts as querier with the startup queries due now.
    pub(super) fn new(ifindex: u32, subnet: Subnet, config: IfaceConfig, now: Instant) -> Self {
        Iface {
            ifindex,
            subnet,
            querier: Querier::new(config.startup_query_count, now),
            config,
            groups: GroupTable::new(ifindex),
            counters: Counters::default(),
        }
    }

    fn timing(&self) -> Timing {
        self.querier.timing(Timing::from_config(&self.config))
    }

    fn ctx(&self, now: Instant) -> Ctx {
        Ctx {
            now,
            timing: self.timing(),
            version: self.config.version,
            querier: self.querier.is_self(),
        }
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            max_groups: self.config.max_groups,
            max_sources: self.config.max_sources,
            notice_interval: self.config.query_interval,
        }
    }

    fn on_report(
        &mut self,
        group: Ipv4Addr,
        report: Report<'_, Ipv4Addr>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (ctx, bounds) = (self.ctx(now), self.bounds());
        self.groups
            .report(group, report, &ctx, &bounds, &mut self.counters, out);
    }

    fn on_query(
        &mut self,
        src: Ipv4Addr,
        max_resp_code: u8,
        group: Ipv4Addr,
        v3: Option<&QueryV3>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if src == self.subnet.addr {
            self.counters.ignore(IgnoreReason::OwnQuery);
            return;
        }
        if src > self.subnet.addr {
            // The other router will yield to this one (§6.6.2).
            return;
        }
        let (version, max_resp_tenths) = match v3 {
            Some(_) => (Version::V3, igmp::decode_code(max_resp_code)),
            None if max_resp_code == 0 => (Version::V1, 100),
            None => (Version::V2, u32::from(max_resp_code)),
        };
        let query_interval = v3.and_then(QueryV3::query_interval);
        let qrv = v3.map_or(0, |q| q.qrv);
        let (timing, changed) = self.querier.heard(
            src,
            version,
            qrv,
            query_interval,
            now,
            Timing::from_config(&self.config),
        );
        if changed {
            self.notify_querier(out);
        }
        let max_resp = Duration::from_millis(u64::from(max_resp_tenths) * 100);
        self.groups
            .specific_query_heard(group, v3, max_resp, timing.last_member_query_count, now);
    }

    fn notify_querier(&self, out: &mut Vec<Action>) {
        let notice = self.querier.notice(self.ifindex, self.config.version);
        out.push(Action::QuerierChanged(notice));
    }

    fn send_due_queries(&mut self, now: Instant, out: &mut Vec<Action>) {
        let (timing, is_querier) = (self.timing(), self.querier.is_self());
        let due = self
            .groups
            .queries_to_send(now, &timing, is_querier, MAX_QUERY_SOURCES);
        for (group, sources, suppress) in due {
            self.send_query(group, sources, suppress, out);
        }
    }

    /// Builds a query in the interface's version: general when `group` is unspecified.
    fn send_query(
        &mut self,
        group: Ipv4Addr,
        sources: Vec<Ipv4Addr>,
        suppress: bool,
        out: &mut Vec<Action>,
    ) {
        let t = Timing::from_config(&self.config);
        let general = group.is_unspecified();
        let max_resp = t.max_response(general);
        let kind = MessageKind::of_query(group, &sources);
        let repr = match self.config.version {
            Version::V3 => igmp::Repr::Query {
                max_resp_code: igmp::encode_code(tenths(max_resp)),
                group,
                v3: Some(t.query_fields(suppress, sources)),
            },
            Version::V2 => igmp::Repr::Query {
                max_resp_code: tenths(max_resp).clamp(1, 255) as u8,
                group,
                v3: None,
            },
            Version::V1 => igmp::Repr::Query {
                max_resp_code: 0,
                group: Ipv4Addr::UNSPECIFIED,
                v3: None,
            },
        };
        let dst = if general { igmp::ALL_SYSTEMS } else { group };
        if let Ok(datagram) = repr.to_datagram(self.subnet.addr, dst) {
            self.counters.sent(kind);
            out.push(Action::Send(Transmit {
                ifindex: self.ifindex,
                src: self.subnet.addr,
                dst,
                datagram,
            }));
        }
    }
}

impl RouterIface for Iface {
    type Addr = Ipv4Addr;
    type Config = IfaceConfig;
    type Message = Message;
    type DropReason = DropReason;
    type Action = Action;
    type Snapshot = IfaceSnapshot;
    type RouterSnapshot = Snapshot;
    type Error = Error;

    fn interface_exists(ifindex: u32) -> Error {
        Error::InterfaceExists(ifindex)
    }

    fn no_interface(ifindex: u32) -> Error {
        Error::NoInterface(ifindex)
    }

    fn validate(config: &IfaceConfig) -> Result<(), Error> {
        config.validate().map_err(Error::Config)
    }

    fn router_snapshot(interfaces: Vec<IfaceSnapshot>, unknown_interface: u64) -> Snapshot {
        Snapshot {
            interfaces,
            unknown_interface,
        }
    }

    fn parse(packet: &[u8]) -> Result<Message, DropReason> {
        parse(packet)
    }

    fn check(&self, msg: &Message) -> Result<(), DropReason> {
        check(msg, self.subnet)
    }

    fn count_drop(&mut self, reason: DropReason) {
        self.counters.drop(reason);
    }

    fn memberships(&self) -> Vec<MembershipChange> {
        self.groups.memberships()
    }

    fn leave_all(&self) -> Vec<MembershipChange> {
        self.groups.leave_all()
    }

    /// Handles a message that passed validation.
    fn handle(&mut self, msg: &Message, now: Instant, out: &mut Vec<Action>) {
        self.counters.received(msg.kind());
        match &msg.igmp {
            igmp::Repr::Query {
                max_resp_code,
                group,
                v3,
            } => self.on_query(msg.src, *max_resp_code, *group, v3.as_ref(), now, out),
            igmp::Repr::ReportV1 { group } => self.on_report(*group, Report::V1, now, out),
            igmp::Repr::ReportV2 { group } => self.on_report(*group, Report::V2, now, out),
            igmp::Repr::Leave { group } => self.on_report(*group, Report::Leave, now, out),
            igmp::Repr::ReportV3 { records } => {
                for r in records {
                    if let Some(sources) = record_sources(r, &mut self.counters) {
                        self.on_report(r.group, Report::Record(r.record_type, &sources), now, out);
                    }
                }
            }
        }
        self.send_due_queries(now, out);
    }

    /// Runs timers due at `now`: other querier present, general queries, groups.
    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        let (startup, periodic) = (
            self.config.startup_query_interval,
            self.config.query_interval,
        );
        if self.querier.other_expired(now) {
            self.notify_querier(out);
        }
        if self.querier.general_query_due(now, startup, periodic) {
            self.send_query(Ipv4Addr::UNSPECIFIED, Vec::new(), false, out);
        }
        let ctx = self.ctx(now);
        self.groups.expire(&ctx, out);
        self.send_due_queries(now, out);
    }

    fn next_timeout(&self) -> Option<Instant> {
        [self.querier.next_timeout()]
            .into_iter()
            .chain([self.groups.next_timeout()])
            .flatten()
            .min()
    }

    /// Group state carries over a version change: each group's compatibility mode is the
    /// new version capped by the older hosts still heard (§7.3.2).
    fn set_config(&mut self, config: IfaceConfig, now: Instant) {
        self.querier.set_query_interval(config.query_interval, now);
        if config.version != self.config.version {
            self.querier
                .version_changed(config.startup_query_count, now);
        }
        self.config = config;
    }

    fn snapshot(&self, now: Instant) -> IfaceSnapshot {
        let ms = |t: Instant| remaining_ms(t, now);
        let querier = self
            .querier
            .snapshot(self.subnet.addr, self.config.version, now);
        IfaceSnapshot {
            ifindex: self.ifindex,
            name: None,
            address: self.subnet.addr,
            prefix_len: self.subnet.prefix_len,
            config: self.config.clone(),
            querier,
            general_query_timer_ms: self.querier.next_general_query().map(ms),
            startup_queries_left: self.querier.startup_left(),
            groups: self
                .groups
                .iter()
                .map(|(addr, g)| g.snapshot(*addr, self.config.version, now))
                .collect(),
            counters: self.counters.clone(),
        }
    }
}
