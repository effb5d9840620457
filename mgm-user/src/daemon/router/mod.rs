//! The router: one owner for the MGM core, the forwarding backend, IGMP and the built-in
//! protocols. Every input (a data-plane report, an IGMP datagram, a link or route change, an
//! API request, a timer) is one method call here; each call ends by draining the MGM's actions
//! into the backend and the protocols. Nothing here blocks, and nothing holds a lock across a
//! callback (MGM-SPEC §6.11): the core's state is committed before any action leaves it.
mod externals;
mod host_joins;
mod ifaces;
mod igmp_glue;
mod punts;
mod reload;
mod rib;
mod static_api;
mod tables;

use super::{
    hold::{Hold, HoldLimits},
    igmp_io::IgmpIo,
    links::Link,
    proxy::ProxyProtocol,
    routes::{Route, RouteEvent},
    static_routes::StaticProtocol,
};
use crate::{
    api::proto::{
        ApiAnswer, ApiIfEntry, ApiIfId, ApiSg, Event, GroupRow, InterfaceRow, MfeRow, OifRow,
        ProtocolRow, Response,
    },
    config::{Config, OnStop, Owner, StaticRoute, XdpMode},
    dataplane::{
        DataPlane, DataPlaneReport, ForwardingBackend, IfaceSettings, PuntSockets, XdpBackend,
        XskConfig,
    },
    igmp::{self, ChangeKind, MembershipChange},
    mgm::{
        self, Action, Answer, Callback, CallbackSet, ClientDirectory, IfEntry, IfId, MemberFlags,
        Mgm, MgmClient, MgmError, ProtocolHandle, QueryId, RpfAnswer, Sg, StaticRib, Timestamp,
    },
};
use mgm_common::SgKey;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::Ipv4Addr,
    os::fd::{AsFd, OwnedFd},
    sync::{Arc, Mutex, RwLock},
    time::Instant,
};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

/// An entry leaves hold mode once no packet of it was punted for this long...
const HOLD_QUIET: std::time::Duration = std::time::Duration::from_millis(10);
/// ...or after this long in any case (the fast path must take over a busy flow).
const HOLD_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Protocol id of the built-in static protocol (`PROTO_IP_NETMGMT`-like, vendor 0x137).
pub const STATIC_PROTOCOL_ID: u32 = mgm::protocol_id(1, 0x137, 3);
/// Protocol id of the built-in IGMP proxy.
pub const PROXY_PROTOCOL_ID: u32 = mgm::protocol_id(1, 0x137, 0x40);

/// IGMP as an MGM client: it only needs the disable/enable bracket.
#[derive(Default)]
struct IgmpClient {
    /// Interfaces whose memberships must be re-added after an Enable-IGMP callback.
    readd: Vec<IfId>,
}

impl MgmClient for IgmpClient {
    fn enable_igmp(&mut self, ifid: IfId) {
        self.readd.push(ifid);
    }
}

/// The in-process protocols, found by handle.
struct Builtins {
    igmp: (ProtocolHandle, IgmpClient),
    statics: (ProtocolHandle, StaticProtocol),
    proxy: Option<(ProtocolHandle, ProxyProtocol)>,
}

impl ClientDirectory for Builtins {
    fn client(&mut self, h: ProtocolHandle) -> Option<&mut dyn MgmClient> {
        if h == self.igmp.0 {
            return Some(&mut self.igmp.1);
        }
        if h == self.statics.0 {
            return Some(&mut self.statics.1);
        }
        match &mut self.proxy {
            Some((p, proxy)) if *p == h => Some(proxy),
            _ => None,
        }
    }
}

/// RPF lookups in the kernel's unicast table, as the route watcher last saw it.
struct KernelRib(Arc<RwLock<StaticRib>>);

impl mgm::RpfProvider for KernelRib {
    fn lookup(&self, source: Ipv4Addr) -> Option<mgm::RpfRoute> {
        self.0.read().ok()?.lookup(source)
    }
}

/// An external protocol connected through the API.
struct External {
    protocol_id: u32,
    component_id: u32,
    events: UnboundedSender<Event>,
}

/// Host-side joins of the router itself (`mgmctl join`), by (interface, group, source).
type HostJoins = BTreeMap<(String, Ipv4Addr, Option<Ipv4Addr>), socket2::Socket>;

/// The router's state.
pub struct Router {
    epoch: Instant,
    mgm: Mgm,
    rib: Arc<RwLock<StaticRib>>,
    plane: DataPlane,
    backend: XdpBackend,
    punt: PuntSockets,
    /// Duplicates of the punt sockets' descriptors, polled by the punt watcher thread.
    punt_fds: Arc<Mutex<Vec<OwnedFd>>>,
    hold: Hold,
    /// Settings of the interfaces in service, for packets released from the hold queues.
    egress: HashMap<u32, IfaceSettings>,
    /// Entries in hold mode: (last punted packet seen, latest handover).
    draining: HashMap<Sg, (Instant, Instant)>,
    /// Entries a previous run left in the pinned maps, (S,G) and incoming ifindex: they
    /// forward untouched until `reconcile_at`, then the MGM re-derives each of them.
    adopted: Vec<(Sg, u32)>,
    reconcile_at: Instant,
    igmp: igmp::Router,
    igmp_io: Option<IgmpIo>,
    builtins: Builtins,
    externals: HashMap<ProtocolHandle, External>,
    config: Config,
    links: BTreeMap<String, Link>,
    /// Interfaces brought into service: name → (ifindex, XDP mode).
    active: BTreeMap<String, (u32, XdpMode)>,
    host_joins: HostJoins,
    /// Open questions (RPF, creation and FALSE prune alerts) of external protocols: query →
    /// (protocol, when asked). Forgotten after the answer deadline, when the MGM's defaults
    /// apply, so a protocol that never answers leaves nothing behind.
    questions: HashMap<u64, (ProtocolHandle, Instant)>,
    /// How long external protocols have to answer (the MGM core's answer deadline).
    answer_deadline: std::time::Duration,
    /// Prune replies by query id for external protocols.
    prune_replies: HashMap<u64, mgm::PruneReply>,
    next_prune_query: u64,
}

impl Router {
    /// Builds the router: loads the data plane and registers the built-in protocols.
    pub fn new(
        config: Config,
        mut plane: DataPlane,
        igmp_io: Option<IgmpIo>,
    ) -> anyhow::Result<Self> {
        let mut backend = XdpBackend::new(&mut plane)?;
        backend.reserve_sets()?;
        let adopted: Vec<(Sg, u32)> = backend
            .entries()
            .map(|(key, iif, _)| (sg_of(key), iif))
            .collect();
        if !adopted.is_empty() {
            info!(
                entries = adopted.len(),
                window_s = config.daemon.adopt_window_s,
                "adopted the forwarding entries of the previous run"
            );
        }
        let reconcile_at =
            Instant::now() + std::time::Duration::from_secs(config.daemon.adopt_window_s.into());
        // Room for a burst of a new flow while its entry is created (16 MiB per interface).
        let punt_config = XskConfig {
            frames: 8192,
            ..XskConfig::default()
        };
        let punt = PuntSockets::new(&mut plane, punt_config)?;
        let hold = Hold::new(HoldLimits::default())?;
        let rib = Arc::new(RwLock::new(StaticRib::new()));
        let core_config = mgm::Config {
            refresh_on_activity: true,
            ..mgm::Config::default()
        };
        let answer_deadline = core_config.answer_deadline;
        let mut mgm = Mgm::new(core_config, Box::new(KernelRib(rib.clone())));
        let igmp_handle = mgm.register(
            mgm::MS_IP_IGMP,
            0,
            CallbackSet::DISABLE_IGMP | CallbackSet::ENABLE_IGMP,
        )?;
        let static_handle = mgm.register(STATIC_PROTOCOL_ID, 0, CallbackSet::RPF)?;
        let proxy = match &config.proxy {
            Some(_) => {
                let h = mgm.register(
                    PROXY_PROTOCOL_ID,
                    0,
                    CallbackSet::RPF | CallbackSet::LOCAL_JOIN | CallbackSet::LOCAL_LEAVE,
                )?;
                Some((h, ProxyProtocol::new(0, [])))
            }
            None => None,
        };
        let mut statics = StaticProtocol::default();
        for route in &config.routes {
            statics.add_route(route.clone());
        }
        Ok(Self {
            epoch: Instant::now(),
            mgm,
            rib,
            plane,
            backend,
            punt,
            punt_fds: Arc::default(),
            hold,
            egress: HashMap::new(),
            draining: HashMap::new(),
            adopted,
            reconcile_at,
            igmp: igmp::Router::new(),
            igmp_io,
            builtins: Builtins {
                igmp: (igmp_handle, IgmpClient::default()),
                statics: (static_handle, statics),
                proxy,
            },
            externals: HashMap::new(),
            config,
            links: BTreeMap::new(),
            active: BTreeMap::new(),
            host_joins: BTreeMap::new(),
            questions: HashMap::new(),
            answer_deadline,
            prune_replies: HashMap::new(),
            next_prune_query: 1 << 62,
        })
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    /// The IGMP sockets.
    pub fn igmp_io(&self) -> Option<&IgmpIo> {
        self.igmp_io.as_ref()
    }

    /// When the router next needs [`Router::tick`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let mgm = self
            .mgm
            .next_timeout()
            .map(|t| self.epoch + std::time::Duration::from_millis(t.as_millis()));
        let handover = self
            .draining
            .values()
            .map(|(last, _)| *last + HOLD_QUIET)
            .min();
        let reconcile = (!self.adopted.is_empty()).then_some(self.reconcile_at);
        [mgm, self.igmp.next_timeout(), handover, reconcile]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs due timers.
    pub fn tick(&mut self) {
        let now = self.now();
        self.mgm.tick(now);
        let actions = self.igmp.tick(Instant::now());
        self.igmp_actions(actions);
        self.drive();
        if !self.draining.is_empty() {
            self.drain_punts();
        }
        if !self.adopted.is_empty() && Instant::now() >= self.reconcile_at {
            self.reconcile_adopted();
        }
    }

    /// Re-derives the entries adopted from the previous run as if their first packet arrived
    /// now: the MGM computes each one from today's memberships, routes and protocols, and the
    /// backend replaces it in place (atomically; unchanged lists keep forwarding untouched).
    /// Entries that no longer have receivers become negative and then expire as usual.
    fn reconcile_adopted(&mut self) {
        let adopted = std::mem::take(&mut self.adopted);
        info!(
            entries = adopted.len(),
            "reconciling adopted entries with the MGM"
        );
        let now = self.now();
        let statics = self.builtins.statics.0;
        for (sg, iif) in adopted {
            if self.mgm.mfe(sg).is_some() {
                continue;
            }
            for (msg, ifid) in self.builtins.statics.1.memberships_for(iif, sg) {
                let _ = self
                    .mgm
                    .add_membership(statics, msg, ifid, MemberFlags::JOIN, now);
            }
            if let Err(e) = self.mgm.packet_miss(sg.source, sg.group, iif, &[], now) {
                debug!(error = %e, source = %sg.source, group = %sg.group, "adopted entry");
            }
        }
        self.drive();
    }

    // ---- data plane ------------------------------------------------------------------------

    /// A report from the XDP program.
    pub fn report(&mut self, report: DataPlaneReport) {
        let now = self.now();
        match report {
            DataPlaneReport::Miss {
                sg,
                ifindex,
                header,
            } => {
                let sg = sg_of(sg);
                let flags = MemberFlags::JOIN;
                let statics = self.builtins.statics.0;
                for (msg, ifid) in self.builtins.statics.1.memberships_for(ifindex, sg) {
                    if let Err(e) = self.mgm.add_membership(statics, msg, ifid, flags, now) {
                        debug!(error = %e, "static membership");
                    }
                }
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
        }
        self.drive();
    }

    /// Drains the MGM's actions into the backend and the protocols.
    pub fn drive(&mut self) {
        loop {
            let now = self.now();
            let mut others = Vec::new();
            self.mgm
                .drive(now, &mut self.builtins, &mut |a| others.push(a));
            for action in others {
                self.apply(action);
            }
            let readd = std::mem::take(&mut self.builtins.igmp.1.readd);
            if readd.is_empty() {
                break;
            }
            for ifid in readd {
                if let Ok(changes) = self.igmp.memberships(ifid.ifindex) {
                    self.igmp_actions(changes.into_iter().map(igmp::Action::Membership).collect());
                }
            }
        }
    }

    fn apply(&mut self, action: Action) {
        let result = match &action {
            Action::InstallMfe { sg, iif, oifs } | Action::UpdateMfe { sg, iif, oifs } => {
                let oifs: Vec<u32> = oifs.iter().map(|i| i.ifindex).collect();
                let key = key_of(*sg);
                let result = if matches!(action, Action::InstallMfe { .. }) {
                    // Packets of the flow already punted leave before the fast path takes over.
                    let holding = self.hold.is_waiting(*sg) && !oifs.is_empty();
                    if holding {
                        self.backend.hold_on_create(key);
                        let now = Instant::now();
                        self.draining.insert(*sg, (now, now + HOLD_MAX));
                    }
                    self.backend.install_mfe(key, iif.ifindex, &oifs)
                } else {
                    self.backend.update_mfe(key, iif.ifindex, &oifs)
                };
                self.drain_punts();
                self.hold.release(*sg, &oifs, &self.egress);
                result
            }
            Action::DeleteMfe { sg } => {
                self.hold.discard(*sg);
                self.draining.remove(sg);
                self.backend.delete_mfe(key_of(*sg))
            }
            Action::CreationCancelled { sg } => {
                self.hold.discard(*sg);
                Ok(())
            }
            Action::Callback { to, callback } => {
                self.deliver_external(*to, callback.clone());
                Ok(())
            }
        };
        if let Err(e) = result {
            warn!(?action, error = %e, "data plane update failed");
        }
    }

    /// A clean stop: with [`OnStop::Detach`] the XDP program is detached everywhere and the
    /// pinned state removed; with [`OnStop::Keep`] forwarding goes on for the next mgmd.
    pub fn shutdown(&mut self) {
        if self.config.daemon.on_stop == OnStop::Keep && self.plane.pin_dir().is_some() {
            info!("on_stop = keep: forwarding goes on from the pinned maps");
            return;
        }
        let names: Vec<String> = self.active.keys().cloned().collect();
        for name in names {
            match self.plane.detach(&name) {
                Ok(()) => info!(interface = %name, "XDP program detached"),
                Err(e) => warn!(interface = %name, error = %e, "detach failed"),
            }
        }
        if let Some(dir) = self.plane.pin_dir() {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => info!(dir = %dir.display(), "pinned state removed"),
                Err(e) => warn!(dir = %dir.display(), error = %e, "removing the pinned state"),
            }
        }
    }
}

fn sg_of(key: SgKey) -> Sg {
    Sg::new(
        Ipv4Addr::from(u32::from_be(key.source)),
        Ipv4Addr::from(u32::from_be(key.group)),
    )
}

fn key_of(sg: Sg) -> SgKey {
    SgKey {
        source: u32::from(sg.source).to_be(),
        group: u32::from(sg.group).to_be(),
    }
}
