//! One MLD interface: querier election by the lowest link-local address (RFC 3810 §7.6.2, RFC
//! 2710 §4), general and startup queries, MLDv1 querier compatibility (§8.3.1), and the groups,
//! which run IGMP's generic group state machine with IPv6 addresses.
use super::config::{IfaceConfig, Version};
use super::counters::{Counters, DropReason, MessageKind};
use super::snapshot::{GroupSnapshot, IfaceSnapshot};
use super::validate::{check, parse, Message};
use super::{Action, Error, MembershipChange, Snapshot, Transmit};
use crate::igmp::config::Timing;
use crate::igmp::counters::QueryKind;
use crate::igmp::group::{Ctx, Report};
use crate::igmp::ifaces::RouterIface;
use crate::igmp::querier::Querier;
use crate::igmp::snapshot::remaining_ms;
use crate::igmp::table::{record_sources, Bounds, GroupAddr, GroupTable};
use crate::igmp::IgnoreReason;
use crate::wire::mld::{self, QueryV2};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// Most sources that fit one query in a 1500-byte packet (40-byte IPv6 header, 8-byte
/// Hop-by-Hop header, 28-byte query header).
const MAX_QUERY_SOURCES: usize = (1500 - 48 - 28) / 16;

impl GroupAddr for Ipv6Addr {
    /// Groups of scope 0 (reserved), 1 (interface-local) or 2 (link-local, ff02::1 among
    /// them): routers never forward them, so they are not tracked (as IGMP leaves
    /// 224.0.0.0/24 alone).
    fn is_local_group(&self) -> bool {
        self.segments()[0] & 0x000f <= 2
    }

    fn is_bad_source(&self) -> bool {
        self.is_unspecified() || self.is_multicast() || self.is_loopback()
    }

    fn is_multicast(&self) -> bool {
        Ipv6Addr::is_multicast(self)
    }

    fn is_unspecified(&self) -> bool {
        Ipv6Addr::is_unspecified(self)
    }

    /// The SSM range ff3x::/32 (RFC 4607).
    fn is_ssm_group(&self) -> bool {
        let s = self.segments();
        s[0] & 0xfff0 == 0xff30 && s[1] == 0
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// State of one interface.
#[derive(Debug, Clone)]
pub struct Iface {
    ifindex: u32,
    /// This router's link-local address on the interface.
    addr: Ipv6Addr,
    config: IfaceConfig,
    querier: Querier<Ipv6Addr, Version>,
    /// Until when an MLDv1 router is known on the link (the interface runs as MLDv1).
    v1_querier: Option<Instant>,
    groups: GroupTable<Ipv6Addr>,
    pub counters: Counters,
}

impl Iface {
    /// This router's link-local address on the interface, which MLD sends from.
    pub fn address(&self) -> Ipv6Addr {
        self.addr
    }

    /// Starts as querier with the startup queries due now.
    pub(super) fn new(ifindex: u32, addr: Ipv6Addr, config: IfaceConfig, now: Instant) -> Self {
        Iface {
            ifindex,
            addr,
            querier: Querier::new(config.startup_query_count, now),
            config,
            v1_querier: None,
            groups: GroupTable::new(ifindex),
            counters: Counters::default(),
        }
    }

    /// The version in force: MLDv1 while an MLDv1 router is present, else the configured one.
    fn version(&self) -> Version {
        if self.v1_querier.is_some() {
            Version::V1
        } else {
            self.config.version
        }
    }

    fn timing(&self) -> Timing {
        self.querier.timing(self.config.timing())
    }

    fn ctx(&self, now: Instant) -> Ctx {
        Ctx {
            now,
            timing: self.timing(),
            version: self.version().as_igmp(),
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

    /// Ends MLDv1 compatibility when no MLDv1 query was heard for the Older Version Querier
    /// Present Timeout.
    fn expire_v1_querier(&mut self, now: Instant) {
        if self.v1_querier.is_some_and(|t| t <= now) {
            self.v1_querier = None;
        }
    }

    fn on_report(
        &mut self,
        group: Ipv6Addr,
        report: Report<'_, Ipv6Addr>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (ctx, bounds) = (self.ctx(now), self.bounds());
        self.groups
            .report(group, report, &ctx, &bounds, &mut self.counters, out);
    }

    fn on_query(
        &mut self,
        src: Ipv6Addr,
        max_resp_code: u16,
        group: Ipv6Addr,
        v2: Option<&QueryV2>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if src == self.addr {
            self.counters.ignore(IgnoreReason::OwnQuery);
            return;
        }
        if v2.is_none() {
            // An MLDv1 router cannot read MLDv2 queries: the link runs MLDv1 while one is
            // heard (§8.3.1), whichever router is querier.
            self.v1_querier = Some(now + self.timing().older_host_present_interval());
        }
        if src > self.addr {
            // The other router will yield to this one (§7.6.2).
            return;
        }
        let (version, max_resp_ms) = match v2 {
            Some(_) => (Version::V2, mld::decode_max_resp(max_resp_code)),
            None => (Version::V1, u32::from(max_resp_code)),
        };
        let query_interval = v2.and_then(QueryV2::query_interval);
        let qrv = v2.map_or(0, |q| q.qrv);
        let (timing, changed) =
            self.querier
                .heard(src, version, qrv, query_interval, now, self.config.timing());
        if changed {
            self.notify_querier(out);
        }
        self.groups.specific_query_heard(
            group,
            v2,
            Duration::from_millis(u64::from(max_resp_ms)),
            timing.last_member_query_count,
            now,
        );
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

    /// Builds a query in the version in force: general when `group` is unspecified. MLDv1
    /// cannot ask about sources, so a source-specific query due in MLDv1 mode is not sent.
    fn send_query(
        &mut self,
        group: Ipv6Addr,
        sources: Vec<Ipv6Addr>,
        suppress: bool,
        out: &mut Vec<Action>,
    ) {
        let t = self.config.timing();
        let general = group.is_unspecified();
        let max_resp = t.max_response(general);
        let kind = MessageKind::of_query(group, &sources);
        let repr = match self.version() {
            Version::V2 => mld::Repr::Query {
                max_resp_code: mld::encode_max_resp(millis(max_resp)),
                group,
                v2: Some(t.query_fields(suppress, sources)),
            },
            Version::V1 if !sources.is_empty() => return,
            Version::V1 => mld::Repr::Query {
                max_resp_code: u16::try_from(millis(max_resp)).unwrap_or(u16::MAX),
                group,
                v2: None,
            },
        };
        let dst = if general { mld::ALL_NODES } else { group };
        if let Ok(packet) = repr.to_packet(self.addr, dst) {
            self.counters.sent(kind);
            out.push(Action::Send(Transmit {
                ifindex: self.ifindex,
                src: self.addr,
                dst,
                packet,
            }));
        }
    }

    /// Source records held over all groups.
    #[cfg(test)]
    pub fn source_count(&self) -> usize {
        self.groups.source_count()
    }
}

impl RouterIface for Iface {
    type Addr = Ipv6Addr;
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
        check(msg)
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
        self.expire_v1_querier(now);
        self.counters.received(msg.kind());
        match &msg.mld {
            mld::Repr::Query {
                max_resp_code,
                group,
                v2,
            } => self.on_query(msg.src, *max_resp_code, *group, v2.as_ref(), now, out),
            mld::Repr::ReportV1 { group } => self.on_report(*group, Report::V2, now, out),
            mld::Repr::Done { group } => self.on_report(*group, Report::Leave, now, out),
            mld::Repr::ReportV2 { records } => {
                for r in records {
                    if let Some(sources) = record_sources(r, &mut self.counters) {
                        self.on_report(r.group, Report::Record(r.record_type, &sources), now, out);
                    }
                }
            }
        }
        self.send_due_queries(now, out);
    }

    /// Runs timers due at `now`: other querier present, MLDv1 querier present, general
    /// queries, groups.
    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.expire_v1_querier(now);
        let (startup, periodic) = (
            self.config.startup_query_interval,
            self.config.query_interval,
        );
        if self.querier.other_expired(now) {
            self.notify_querier(out);
        }
        if self.querier.general_query_due(now, startup, periodic) {
            self.send_query(Ipv6Addr::UNSPECIFIED, Vec::new(), false, out);
        }
        let ctx = self.ctx(now);
        self.groups.expire(&ctx, out);
        self.send_due_queries(now, out);
    }

    fn next_timeout(&self) -> Option<Instant> {
        [self.querier.next_timeout(), self.v1_querier]
            .into_iter()
            .chain([self.groups.next_timeout()])
            .flatten()
            .min()
    }

    /// Listener state carries over a version change: each address's compatibility mode is the
    /// new version capped by the older listeners still heard (RFC 3810 §8.3.2).
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
        let querier = self.querier.snapshot(self.addr, self.version(), now);
        let igmp_version = self.version().as_igmp();
        IfaceSnapshot {
            ifindex: self.ifindex,
            name: None,
            address: self.addr,
            config: self.config.clone(),
            querier,
            v1_querier_timer_ms: self.v1_querier.map(ms),
            general_query_timer_ms: self.querier.next_general_query().map(ms),
            startup_queries_left: self.querier.startup_left(),
            groups: self
                .groups
                .iter()
                .map(|(addr, g)| GroupSnapshot::from(g.snapshot(*addr, igmp_version, now)))
                .collect(),
            counters: self.counters.clone(),
        }
    }
}
