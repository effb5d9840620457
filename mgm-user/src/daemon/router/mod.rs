//! The router core: one owner for the MGM core, the forwarding backend, IGMP and the built-in
//! protocols. Every input (a data-plane report, an IGMP datagram, a link or route change, an API
//! request, a timer) is one method call carrying the time; each call ends by draining the MGM's
//! actions into the backend and the protocols. The core reads no clock and does its I/O only
//! through its two ports (the packets the hold queues release leave through the [`RouterIo`] port
//! too); nothing blocks, and nothing holds a lock across a callback (docs/mgm-spec.md §6.11): the
//! core's state is committed before any action leaves it.
//!
//! The core is generic over the [`ForwardingBackend`] (the XDP maps, or a fake) and the
//! [`RouterIo`] (attachments, punt sockets, IGMP and host sockets, veth readings); [`executor`]
//! holds the daemon's implementations and [`Router`], the core as mgmd runs it. One concern per
//! file: interfaces ([`ifaces`]), the unicast RIB ([`rib`]), the punt path and hold handover
//! ([`punts`]), IGMP ([`igmp_glue`]), MLD ([`mld_glue`]), API tables and counters, the veth watch's
//! refresh included ([`tables`]), run-time routes ([`static_api`]), host joins ([`host_joins`]),
//! external protocols ([`externals`]) and their interface ownership in both MGMs ([`ownership`]),
//! what API callers may make the router hold ([`api_bounds`]), reload ([`reload`]), keeping the
//! backend in step with the MGM ([`sync`]), the backend side of the entry life cycle ([`entries`]),
//! the entries a previous run left ([`adoption`]), and the backoff of what failed ([`retries`]).
//! IPv6 has its own MGM beside the IPv4 one ([`v6`]); the entry life cycle both share is written
//! once over the [`family::Family`].
mod adoption;
mod api_bounds;
mod drive;
mod entries;
mod executor;
mod externals;
#[cfg(any(test, feature = "testkit"))]
pub(super) mod fake;
mod family;
mod host_joins;
mod ifaces;
mod igmp_glue;
mod kernel_routes;
mod log_pace;
mod mld_glue;
mod ownership;
mod ports;
mod punts;
mod receive_overflow;
mod reload;
mod retries;
mod rib;
mod static_api;
mod stats_walk;
mod sync;
mod tables;
#[cfg(test)]
mod tests;
mod v6;

pub use executor::Router;
pub use externals::ExternalFamily;
pub use ports::{EventSink, Punted, RouterIo};
pub use stats_walk::{StatsWalk, SLICE_ENTRIES};

use super::{
    api_events::MonitorHub, hold::Hold, links::Link, proxy::ProxyProtocol,
    static_routes::StaticProtocol, veth::VethWatch,
};
use crate::{
    config::{Config, XdpMode},
    dataplane::{DataPlaneReport, ForwardingBackend, IfaceSettings},
    igmp,
    mgm::{
        self, CallbackSet, ClientDirectory, MemberFlags, Mgm, MgmClient, ProtocolHandle, Sg,
        StaticRib, Timestamp,
    },
};
use adoption::adopt;
use family::Family;
use igmp_glue::IgmpClient;
use mgm_common::SgKey;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};
use tracing::{debug, info};

/// An entry leaves hold mode once no packet of it was punted for this long...
const HOLD_QUIET: Duration = Duration::from_millis(10);
/// ...or after this long in any case (the fast path must take over a busy flow).
const HOLD_MAX: Duration = Duration::from_secs(1);

/// Protocol id of the built-in static protocol (`PROTO_IP_NETMGMT`-like, vendor 0x137).
pub const STATIC_PROTOCOL_ID: u32 = mgm::protocol_id(1, 0x137, 3);
/// Protocol id of the built-in IGMP/MLD proxy (in either MGM).
pub const PROXY_PROTOCOL_ID: u32 = mgm::protocol_id(1, 0x137, 0x40);
/// Protocol id of the built-in `kernel` protocol, which owns the mirrored interfaces.
pub const KERNEL_PROTOCOL_ID: u32 = mgm::protocol_id(1, 0x137, 0x41);
/// The ids of mgmd's built-in routing protocols, which no external protocol may register with.
const BUILTIN_PROTOCOL_IDS: [u32; 3] = [STATIC_PROTOCOL_ID, PROXY_PROTOCOL_ID, KERNEL_PROTOCOL_ID];

/// The in-process protocols, found by handle.
struct Builtins {
    igmp: (ProtocolHandle, IgmpClient),
    statics: (ProtocolHandle, StaticProtocol),
    proxy: Option<(ProtocolHandle, ProxyProtocol)>,
    /// The `kernel` protocol (with `[mirror]`): the kernel's routes as host routes.
    kernel: Option<(ProtocolHandle, StaticProtocol)>,
}

impl ClientDirectory for Builtins {
    fn client(&mut self, h: ProtocolHandle) -> Option<&mut dyn MgmClient> {
        if h == self.igmp.0 {
            return Some(&mut self.igmp.1);
        }
        if h == self.statics.0 {
            return Some(&mut self.statics.1);
        }
        match (&mut self.proxy, &mut self.kernel) {
            (Some((p, proxy)), _) if *p == h => Some(proxy),
            (_, Some((k, kernel))) if *k == h => Some(kernel),
            _ => None,
        }
    }
}

/// An external protocol connected through the API, registered in both MGMs (keyed by its
/// IPv4 MGM handle, the one the API shows).
struct External {
    /// Its handle in the IPv6 MGM.
    h6: ProtocolHandle,
    protocol_id: u32,
    component_id: u32,
    callbacks: CallbackSet,
    /// How long its answers may take.
    answer_deadline: Duration,
    /// Questions it left unanswered past the deadline (the default applied).
    missed_answers: u64,
    /// The pace of the log lines about its missed answers.
    missed_log: log_pace::LogPace,
    events: Box<dyn EventSink>,
}

/// The router's state.
pub struct RouterCore<B: ForwardingBackend, I: RouterIo> {
    /// Time 0 of the MGM core's [`Timestamp`]s.
    epoch: Instant,
    /// The time of the latest input.
    clock: Instant,
    /// The MGM core; it owns the unicast RIB ([`StaticRib`]) its RPF lookups use.
    mgm: Mgm,
    backend: B,
    io: I,
    hold: Hold,
    /// Settings of the interfaces in service, for packets released from the hold queues.
    egress: HashMap<u32, IfaceSettings>,
    /// veths in service, watched for the drops the kernel does not report to XDP.
    veths: VethWatch,
    /// Entries in hold mode: (last punted packet seen, latest handover).
    draining: HashMap<Sg, (Instant, Instant)>,
    /// Entries a previous run left in the pinned maps, (S,G) and incoming ifindex: they
    /// forward untouched until `reconcile_at`, then the MGM re-derives each of them.
    adopted: Vec<(Sg, u32)>,
    reconcile_at: Instant,
    igmp: igmp::Router,
    builtins: Builtins,
    externals: HashMap<ProtocolHandle, External>,
    /// The external protocols by their IPv6 MGM handle ([`External::h6`] → API handle), so
    /// that an IPv6 callback finds its protocol by lookup as an IPv4 one does in `externals`.
    externals6: HashMap<ProtocolHandle, ProtocolHandle>,
    config: Config,
    links: BTreeMap<String, Link>,
    /// Interfaces brought into service: name → (ifindex, XDP mode).
    active: BTreeMap<String, (u32, XdpMode)>,
    /// The router's own host joins, the API's and the proxy's.
    host_joins: host_joins::HostJoins,
    /// The refusals at the API's bounds on what external protocols make the MGMs hold.
    api_refusals: api_bounds::ApiRefusals,
    /// Open questions (RPF, creation and FALSE prune alerts) of external protocols: query →
    /// (protocol, when asked, the callback asking). Forgotten after the protocol's answer
    /// deadline, when the MGM's defaults apply, so a protocol that never answers leaves nothing
    /// behind.
    questions: HashMap<u64, (ProtocolHandle, Instant, crate::api::proto::ApiCallback)>,
    /// Prune replies by query id for external protocols, of either MGM.
    prune_replies: HashMap<u64, externals::FamilyPruneReply>,
    next_prune_query: u64,
    /// Every callback, answer and MFE change, for `mgmctl monitor`.
    monitor: MonitorHub,
    /// The external protocol whose call is being applied: it hears the Disable/Enable-IGMP
    /// bracket its take or release causes.
    calling: Option<ProtocolHandle>,
    /// Entries the backend failed to take, retried with backoff.
    unsynced: sync::Unsynced,
    /// Interfaces whose punt sockets did not open, retried with backoff.
    punt_retries: punts::PuntRetries,
    /// Punted frames read from the rings that the last drain left for the next one (it stops
    /// after [`punts::DRAIN_MAX`] frames): they go first.
    punt_backlog: VecDeque<Punted>,
    /// How many times every entry's counters were read (`stats_refreshes`).
    stats_refreshes: u64,
    /// IGMP and MLD messages lost before mgmd read them.
    igmp_overflow: receive_overflow::ReceiveOverflow,
    mld_overflow: receive_overflow::ReceiveOverflow,
    /// The longest periodic statistics refresh so far, as the daemon timed it
    /// (`stats_refresh_longest_us`).
    stats_refresh_longest: Duration,
    /// The mirror of the kernel's IPv4 multicast routes (with `[mirror]`; the IPv6 one is in
    /// `v6`).
    mirror: Option<kernel_routes::Mirror>,
    /// The IPv6 MGM and what belongs to it.
    v6: v6::V6,
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Builds the router over `backend` and `io` at time `now`: the entries the backend holds
    /// already (a previous run's) are adopted, and the built-in protocols registered.
    pub fn with_parts(
        config: Config,
        mut backend: B,
        io: I,
        mut hold: Hold,
        now: Instant,
    ) -> anyhow::Result<Self> {
        let adopted = adopt::<Ipv4Addr, B>(&mut backend, &mut hold);
        let adopted6 = adopt::<Ipv6Addr, B>(&mut backend, &mut hold);
        if !adopted.is_empty() || !adopted6.is_empty() {
            info!(
                entries = adopted.len(),
                ipv6_entries = adopted6.len(),
                window_s = config.daemon.adopt_window_s,
                "adopted the forwarding entries of the previous run"
            );
        }
        let reconcile_at = now + Duration::from_secs(config.daemon.adopt_window_s.into());
        // Every entry the MGM keeps fits into the data plane's table (capacity.rs).
        let core_config = mgm::Config {
            refresh_on_activity: true,
            rpf_ask_arrival_owner: true,
            mfe_timeout_s: config.daemon.mfe_lifetime_s,
            max_mfes: config.daemon.max_entries as usize,
            max_negative_mfes: config.daemon.max_negative_entries as usize,
            ..mgm::Config::default()
        };
        let proxy6 = config.proxy.as_ref().map(|_| PROXY_PROTOCOL_ID);
        let mirror6 = config.mirror.as_ref().map(|m| m.table6);
        let mut v6 = v6::V6::new(core_config.clone(), STATIC_PROTOCOL_ID, proxy6, adopted6)?;
        if let Some(table) = mirror6 {
            v6.mirror_kernel(KERNEL_PROTOCOL_ID, table)?;
        }
        let mut mgm = Mgm::new(core_config, Box::new(StaticRib::new()));
        let igmp_handle = mgm.register(
            mgm::MS_IP_IGMP,
            0,
            CallbackSet::DISABLE_IGMP | CallbackSet::ENABLE_IGMP,
        )?;
        let static_handle = mgm.register(STATIC_PROTOCOL_ID, 0, CallbackSet::RPF)?;
        let proxy = match &config.proxy {
            Some(_) => {
                let h = mgm.register(PROXY_PROTOCOL_ID, 0, ProxyProtocol::<Ipv4Addr>::CALLBACKS)?;
                Some((h, ProxyProtocol::new(0, [])))
            }
            None => None,
        };
        let kernel = match &config.mirror {
            Some(_) => Some((
                mgm.register(KERNEL_PROTOCOL_ID, 0, CallbackSet::RPF)?,
                StaticProtocol::default(),
            )),
            None => None,
        };
        let mirror = config
            .mirror
            .as_ref()
            .map(|m| kernel_routes::Mirror::new(m.table, "mirror"));
        let mut statics = StaticProtocol::default();
        for route in &config.routes {
            statics.add_route(route.clone());
            v6.statics.1.add_route(route.clone());
        }
        Ok(Self {
            epoch: now,
            clock: now,
            mgm,
            backend,
            io,
            hold,
            egress: HashMap::new(),
            veths: VethWatch::default(),
            draining: HashMap::new(),
            adopted,
            reconcile_at,
            igmp: igmp::Router::new(),
            builtins: Builtins {
                igmp: (igmp_handle, IgmpClient::default()),
                statics: (static_handle, statics),
                proxy,
                kernel,
            },
            externals: HashMap::new(),
            externals6: HashMap::new(),
            config,
            links: BTreeMap::new(),
            active: BTreeMap::new(),
            host_joins: host_joins::HostJoins::default(),
            api_refusals: api_bounds::ApiRefusals::default(),
            questions: HashMap::new(),
            prune_replies: HashMap::new(),
            next_prune_query: 1 << 62,
            monitor: MonitorHub::default(),
            calling: None,
            unsynced: sync::Unsynced::default(),
            punt_retries: punts::punt_retries(),
            punt_backlog: VecDeque::new(),
            stats_refreshes: 0,
            igmp_overflow: receive_overflow::ReceiveOverflow::new("igmp"),
            mld_overflow: receive_overflow::ReceiveOverflow::new("mld"),
            stats_refresh_longest: Duration::ZERO,
            mirror,
            v6,
        })
    }

    /// Moves the core's clock to `now` (never backwards); the API calls that carry no time of
    /// their own happen at the latest time set.
    pub fn advance(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
    }

    /// The I/O port, for what the API reports of it.
    pub fn io(&self) -> &I {
        &self.io
    }

    /// The core's time as the MGM counts it.
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.clock.duration_since(self.epoch).as_millis() as u64)
    }

    /// When the hold mode of a new entry may end next (its punt path quiet for
    /// [`HOLD_QUIET`], or [`HOLD_MAX`] over); the creation thread keeps these deadlines.
    pub fn next_handover(&self) -> Option<Instant> {
        self.draining
            .values()
            .chain(self.v6.draining.values())
            .map(|(last, limit)| (*last + HOLD_QUIET).min(*limit))
            .min()
    }

    /// When the router next needs [`RouterCore::tick`] for anything but a hold mode's end.
    pub fn next_timer(&self) -> Option<Instant> {
        let mgm = self
            .mgm
            .next_timeout()
            .map(|t| self.epoch + Duration::from_millis(t.as_millis()));
        let mgm6 = self
            .v6
            .mgm
            .next_timeout()
            .map(|t| self.epoch + Duration::from_millis(t.as_millis()));
        let reconcile = self.adopting().then_some(self.reconcile_at);
        [
            mgm,
            mgm6,
            self.igmp.next_timeout(),
            self.v6.mld.next_timeout(),
            reconcile,
            self.next_retry(),
            self.punt_retries.next_deadline(),
            // The drain left punted frames: the next one is due at once.
            (!self.punt_backlog.is_empty()).then_some(self.clock),
            self.host_joins.next_retry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers due at `now`.
    pub fn tick(&mut self, now: Instant) {
        self.advance(now);
        self.mgm.tick(self.now());
        self.v6.mgm.tick(self.now());
        let actions = self.igmp.tick(now);
        self.igmp_actions(actions);
        let actions = self.v6.mld.tick(now);
        self.mld_actions(actions);
        self.drive();
        if !self.draining.is_empty()
            || !self.v6.draining.is_empty()
            || !self.punt_backlog.is_empty()
        {
            self.drain_punts(now);
        }
        if self.adopting() && now >= self.reconcile_at {
            self.reconcile_adopted();
        }
        self.retry_unsynced();
        self.retry_punt_sockets();
        self.retry_host_joins();
    }

    /// A report from the XDP program.
    pub fn report(&mut self, report: DataPlaneReport, now: Instant) {
        self.advance(now);
        let now = self.now();
        match report {
            DataPlaneReport::Miss {
                sg,
                ifindex,
                header,
            } => {
                let sg = sg_of(sg);
                self.restore_if_lost(sg);
                self.add_route_memberships(sg);
                if let Err(e) = self
                    .mgm
                    .packet_miss(sg.source, sg.group, ifindex, &header, now)
                {
                    debug!(error = %e, source = %sg.source, group = %sg.group, "miss ignored");
                }
            }
            DataPlaneReport::WrongIf {
                sg,
                ifindex,
                header,
            } => {
                let sg = sg_of(sg);
                self.mgm
                    .wrong_interface(sg.source, sg.group, ifindex, &header, now);
            }
            DataPlaneReport::Miss6 {
                sg,
                ifindex,
                header,
            } => self.miss6(Ipv6Addr::sg(sg), ifindex, &header),
            DataPlaneReport::WrongIf6 {
                sg,
                ifindex,
                header,
            } => self.wrong_if6(sg, ifindex, &header),
        }
        self.drive();
    }

    /// Adds the memberships the routes of the built-in `static` and `kernel` protocols name
    /// for the new flow `sg` (of either family), before the MGM creates its entry.
    fn add_route_memberships<F: Family>(&mut self, sg: Sg<F>) {
        let now = self.now();
        let parts = F::mirror_parts(self);
        for (h, protocol) in std::iter::once(parts.statics).chain(parts.kernel) {
            for (msg, ifid) in protocol.memberships_for(sg) {
                if let Err(e) = parts
                    .mgm
                    .add_membership(*h, msg, ifid, MemberFlags::JOIN, now)
                {
                    debug!(error = %e, "route membership");
                }
            }
        }
    }

    /// Runs the IPv4 MGM until it has nothing left to do at `now`: its actions, and the
    /// callbacks its in-process protocols handled when they are `observed`.
    fn run_mgm4(&mut self, now: Timestamp, observed: bool) -> drive::Ran<Ipv4Addr> {
        let (mut actions, mut handled) = (Vec::new(), Vec::new());
        self.mgm.drive_observed(
            now,
            &mut self.builtins,
            &mut |a| actions.push(a),
            &mut |to, callback, answer| {
                if observed {
                    handled.push((to, callback.clone(), answer.cloned()));
                }
            },
        );
        (actions, handled)
    }
}

fn sg_of(key: SgKey) -> Sg {
    Ipv4Addr::sg(key)
}

/// Where an entry with incoming ifindex `iif` and the MGM's outgoing ifindexes `oifs` sends
/// copies, as the data plane, the hold queues and `show mfe` take it: each ifindex once, sorted
/// (the next hops of one interface share its copy, as they share the kernel's VIF: A-52), and
/// never the incoming one (as the kernel's MFC never sends out of the parent VIF).
fn forwarded(iif: u32, oifs: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut list: Vec<u32> = oifs.into_iter().filter(|&oif| oif != iif).collect();
    list.sort_unstable();
    list.dedup();
    list
}
