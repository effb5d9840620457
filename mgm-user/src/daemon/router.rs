//! The router: one owner for the MGM core, the forwarding backend, IGMP and the built-in
//! protocols. Every input (a data-plane report, an IGMP datagram, a link or route change, an
//! API request, a timer) is one method call here; each call ends by draining the MGM's actions
//! into the backend and the protocols. Nothing here blocks, and nothing holds a lock across a
//! callback (MGM-SPEC §6.11): the core's state is committed before any action leaves it.
use super::{
    hold::{self, Hold, HoldLimits},
    igmp_io::IgmpIo,
    links::Link,
    proxy::ProxyProtocol,
    routes::{Route, RouteEvent},
    static_routes::StaticProtocol,
    veth::VethWatch,
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
    /// veths in service, watched for the drops the kernel does not report to XDP.
    veths: VethWatch,
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
            rpf_ask_arrival_owner: true,
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
            veths: VethWatch::default(),
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
            for (msg, ifid) in self.builtins.statics.1.memberships_for(sg) {
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

    // ---- links and routes ------------------------------------------------------------------

    /// A link appeared, changed or is present at start.
    pub fn link_changed(&mut self, link: Link) {
        let name = link.name.clone();
        let configured = self.config.interface(&name).is_some();
        self.links.insert(name.clone(), link.clone());
        if !configured {
            return;
        }
        match self.active.get(&name) {
            Some(&(ifindex, _)) if ifindex == link.ifindex && link.up => {
                self.configure_backend_iface(&link);
            }
            Some(_) => {
                self.take_out_of_service(&name);
                if link.up {
                    self.bring_into_service(&link);
                }
            }
            None if link.up => self.bring_into_service(&link),
            None => {}
        }
        self.drive();
    }

    /// A link disappeared.
    pub fn link_removed(&mut self, name: &str) {
        self.links.remove(name);
        if self.active.contains_key(name) {
            self.take_out_of_service(name);
            self.drive();
        }
    }

    fn configure_backend_iface(&mut self, link: &Link) {
        let Some(cfg) = self.config.interface(&link.name) else {
            return;
        };
        let settings = IfaceSettings {
            mac: link.mac,
            ttl_threshold: cfg.ttl_threshold,
            mtu: if cfg.mtu == 0 { link.mtu } else { cfg.mtu },
        };
        self.egress.insert(link.ifindex, settings);
        if let Err(e) = self.backend.configure_interface(link.ifindex, settings) {
            warn!(interface = %link.name, error = %e, "configuring the data plane failed");
        }
    }

    /// The built-in protocol that owns interface `name`; `None` when the configuration leaves
    /// it to an external protocol.
    fn owner_of(&self, name: &str) -> Option<ProtocolHandle> {
        if self
            .config
            .interface(name)
            .is_some_and(|i| i.owner == Owner::External)
        {
            return None;
        }
        Some(match (&self.config.proxy, &self.builtins.proxy) {
            (Some(p), Some((h, _)))
                if p.upstream == name || p.downstream.iter().any(|d| d == name) =>
            {
                *h
            }
            _ => self.builtins.statics.0,
        })
    }

    fn bring_into_service(&mut self, link: &Link) {
        let Some(cfg) = self.config.interface(&link.name).cloned() else {
            return;
        };
        let generic = cfg.xdp_mode == XdpMode::Generic;
        if let Err(e) = self.plane.attach(&link.name, generic) {
            warn!(interface = %link.name, error = %e, "XDP attach failed; the interface is not forwarded");
            return;
        }
        info!(interface = %link.name, ifindex = link.ifindex, mode = ?cfg.xdp_mode, "interface in service");
        self.active
            .insert(link.name.clone(), (link.ifindex, cfg.xdp_mode));
        self.veths.in_service(&link.name, link.ifindex);
        self.configure_backend_iface(link);
        self.open_punt_sockets(link);
        self.builtins
            .statics
            .1
            .set_ifindex(&link.name, Some(link.ifindex));
        let now = self.now();
        let ifid = IfId::index(link.ifindex);
        if let Some(owner) = self.owner_of(&link.name) {
            if let Err(e) = self.mgm.take_interface_ownership(owner, ifid, now) {
                warn!(interface = %link.name, error = %e, "taking ownership failed");
            }
        }
        // Flows already forwarded elsewhere get the interface where a route names it.
        self.apply_routes_to_mfes();
        if let Some(proxy) = &self.config.proxy {
            if let Some((_, p)) = &mut self.builtins.proxy {
                let downstream: Vec<u32> = proxy
                    .downstream
                    .iter()
                    .filter_map(|d| self.active.get(d).map(|a| a.0))
                    .collect();
                let upstream = self.active.get(&proxy.upstream).map_or(0, |a| a.0);
                p.set_interfaces(upstream, downstream);
            }
        }
        let runs_igmp = cfg.igmp
            && self
                .config
                .proxy
                .as_ref()
                .is_none_or(|p| p.upstream != link.name);
        if runs_igmp {
            self.enable_igmp(link, &cfg);
        }
    }

    fn enable_igmp(&mut self, link: &Link, cfg: &crate::config::InterfaceConfig) {
        let Some((addr, prefix)) = ipv4_of(link.ifindex) else {
            warn!(interface = %link.name, "no IPv4 address: IGMP not started");
            return;
        };
        let now = self.now();
        if let Err(e) =
            self.mgm
                .take_interface_ownership(self.builtins.igmp.0, IfId::index(link.ifindex), now)
        {
            warn!(interface = %link.name, error = %e, "IGMP ownership failed");
            return;
        }
        let version = if cfg.igmp_version == 2 {
            igmp::Version::V2
        } else {
            igmp::Version::V3
        };
        let igmp_config = igmp::IfaceConfig {
            version,
            ..igmp::IfaceConfig::default()
        };
        match self
            .igmp
            .add_interface(link.ifindex, addr, prefix, igmp_config, Instant::now())
        {
            Ok(actions) => self.igmp_actions(actions),
            Err(e) => warn!(interface = %link.name, error = %e, "IGMP start failed"),
        }
    }

    fn take_out_of_service(&mut self, name: &str) {
        let Some((ifindex, _)) = self.active.remove(name) else {
            return;
        };
        info!(interface = %name, ifindex, "interface out of service");
        self.veths.out_of_service(name);
        if let Ok(actions) = self.igmp.remove_interface(ifindex) {
            self.igmp_actions(actions);
        }
        let ifid = IfId::index(ifindex);
        let now = self.now();
        // The static memberships go first, so entries forwarding there lose the interface in
        // place; the ownership release below then deletes only entries coming in on it.
        let statics = self.builtins.statics.0;
        for (sg, oif) in self.builtins.statics.1.forget_interface(ifindex) {
            let _ = self
                .mgm
                .delete_membership(statics, sg, oif, MemberFlags::JOIN, now);
        }
        let _ = self
            .mgm
            .release_interface_ownership(self.builtins.igmp.0, ifid, now);
        if let Some(owner) = self.owner_of(name) {
            let _ = self.mgm.release_interface_ownership(owner, ifid, now);
        }
        self.builtins.statics.1.set_ifindex(name, None);
        let _ = self.plane.detach(name);
        let _ = self.backend.remove_interface(ifindex);
        self.egress.remove(&ifindex);
    }

    /// The unicast RIB changed.
    pub fn route_event(&mut self, event: RouteEvent) {
        let (route, added) = match event {
            RouteEvent::Added(r) => (r, true),
            RouteEvent::Removed(r) => (r, false),
        };
        self.apply_route(route, added);
        let mask = Ipv4Addr::from(
            u32::MAX
                .checked_shl(32 - u32::from(route.prefix_len))
                .unwrap_or(0),
        );
        self.mgm.route_changed(route.network, mask);
        self.drive();
    }

    /// Loads the RIB at start (no invalidation: there are no MFEs yet).
    pub fn routes_present(&mut self, routes: Vec<Route>) {
        for r in routes {
            self.apply_route(r, true);
        }
    }

    fn apply_route(&mut self, route: Route, added: bool) {
        let Ok(mut rib) = self.rib.write() else {
            return;
        };
        if added {
            rib.insert(
                route.network,
                route.prefix_len,
                IfId::index(route.oif),
                route.gateway,
            );
        } else {
            rib.remove(route.network, route.prefix_len);
        }
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
                for (msg, ifid) in self.builtins.statics.1.memberships_for(sg) {
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
                let route = hold::Route {
                    iif: iif.ifindex,
                    oifs: &oifs,
                    egress: &self.egress,
                };
                self.hold.release(*sg, route);
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

    fn deliver_external(&mut self, to: ProtocolHandle, callback: Callback) {
        let Some(external) = self.externals.get(&to) else {
            return;
        };
        let event = match callback {
            Callback::Rpf(q) => {
                self.questions.insert(q.query.0, (to, Instant::now()));
                Event::Rpf {
                    query: q.query.0,
                    sg: api_sg(q.sg),
                    iif: api_ifid(q.proposal.iif),
                    upstream: q.proposal.upstream,
                    reject: q.proposal.reject,
                }
            }
            Callback::CreationAlert(q) => {
                self.questions.insert(q.query.0, (to, Instant::now()));
                Event::CreationAlert {
                    query: q.query.0,
                    sg: api_sg(q.sg),
                    iif: api_ifid(q.iif),
                    entries: q.entries.iter().map(api_entry).collect(),
                }
            }
            Callback::PruneAlert {
                sg,
                ifid,
                member_delete,
                timeout_s,
                reply,
            } => {
                let query = reply.map(|r| {
                    self.next_prune_query += 1;
                    self.prune_replies.insert(self.next_prune_query, r);
                    self.questions
                        .insert(self.next_prune_query, (to, Instant::now()));
                    self.next_prune_query
                });
                Event::PruneAlert {
                    query,
                    sg: api_sg(sg),
                    ifid: api_ifid(ifid),
                    member_delete,
                    timeout_s,
                }
            }
            Callback::JoinAlert { sg, member_update } => Event::JoinAlert {
                sg: api_sg(sg),
                member_update,
            },
            Callback::WrongIf {
                source,
                group,
                ifid,
                ..
            } => Event::WrongIf {
                sg: ApiSg { source, group },
                ifid: api_ifid(ifid),
            },
            Callback::LocalJoin { sg, ifid } => Event::LocalJoin {
                sg: api_sg(sg),
                ifid: api_ifid(ifid),
            },
            Callback::LocalLeave { sg, ifid } => Event::LocalLeave {
                sg: api_sg(sg),
                ifid: api_ifid(ifid),
            },
            Callback::DisableIgmp { .. } | Callback::EnableIgmp { .. } => return,
        };
        let _ = external.events.send(event);
    }

    // ---- punt path and hold queues ------------------------------------------------------------

    fn open_punt_sockets(&mut self, link: &Link) {
        let queues = rx_queues(&link.name);
        if let Err(e) = self.punt.open(&mut self.backend, link.ifindex, queues) {
            warn!(interface = %link.name, error = %e, "no punt sockets: first packets of new flows go to the kernel");
            return;
        }
        let Ok(mut fds) = self.punt_fds.lock() else {
            return;
        };
        for socket in self.punt.sockets_mut(link.ifindex) {
            if let Ok(fd) = socket.as_fd().try_clone_to_owned() {
                fds.push(fd);
            }
        }
    }

    /// The descriptors the punt watcher polls.
    pub fn punt_fds(&self) -> Arc<Mutex<Vec<OwnedFd>>> {
        self.punt_fds.clone()
    }

    /// Reads every punted packet: packets of flows whose entry is pending are held, packets
    /// that raced an installed entry are sent on at once.
    pub fn drain_punts(&mut self) {
        let mut frames = Vec::new();
        let ifindexes: Vec<u32> = self.egress.keys().copied().collect();
        for ifindex in ifindexes {
            for socket in self.punt.sockets_mut(ifindex) {
                socket.recv(|frame| frames.push((ifindex, frame.to_vec())));
            }
        }
        let now = Instant::now();
        for (arrival, frame) in frames {
            let flow = Hold::flow_of(&frame);
            if let Some(drain) = flow.and_then(|sg| self.draining.get_mut(&sg)) {
                drain.0 = now;
            }
            let installed = flow
                .filter(|sg| !self.hold.is_waiting(*sg))
                .and_then(|sg| self.mgm.mfe(sg))
                .map(|m| {
                    let oifs: Vec<u32> = m.oifs().iter().map(|o| o.ifindex).collect();
                    (m.sg(), m.iif().ifindex, oifs)
                });
            match installed {
                Some((sg, iif, oifs)) => {
                    let route = hold::Route {
                        iif,
                        oifs: &oifs,
                        egress: &self.egress,
                    };
                    self.hold.forward_now(sg, &frame, arrival, route);
                }
                None => {
                    self.hold.punted(&frame, arrival, now);
                }
            }
        }
        self.hand_over(now);
    }

    /// Ends hold mode for entries whose punt path has gone quiet (every packet punted before
    /// has been sent on) or that reached the time limit.
    fn hand_over(&mut self, now: Instant) {
        let ready: Vec<Sg> = self
            .draining
            .iter()
            .filter(|(_, (last, deadline))| now >= *last + HOLD_QUIET || now >= *deadline)
            .map(|(sg, _)| *sg)
            .collect();
        for sg in ready {
            self.draining.remove(&sg);
            if let Err(e) = self.backend.release_hold(key_of(sg)) {
                warn!(source = %sg.source, group = %sg.group, error = %e, "ending hold mode failed");
            }
        }
    }

    /// Periodic upkeep: punted packets, aged hold queues.
    pub fn housekeeping(&mut self) {
        self.drain_punts();
        self.hold.expire(Instant::now());
        let deadline = self.answer_deadline;
        self.forget_questions(|_, asked| asked.elapsed() > deadline);
    }

    /// Drops the open questions `stale` picks, with their prune replies.
    fn forget_questions(&mut self, stale: impl Fn(ProtocolHandle, Instant) -> bool) {
        let prune_replies = &mut self.prune_replies;
        self.questions.retain(|query, &mut (h, asked)| {
            let keep = !stale(h, asked);
            if !keep {
                prune_replies.remove(query);
            }
            keep
        });
    }

    /// Counters of the hold queues, by name.
    pub fn hold_counters(&self) -> BTreeMap<String, u64> {
        let value = serde_json::to_value(self.hold.counters()).unwrap_or_default();
        let mut out: BTreeMap<String, u64> = value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (format!("hold_{k}"), v.as_u64().unwrap_or(0)))
            .collect();
        out.insert("hold_queued_now".into(), self.hold.held() as u64);
        out
    }

    /// The drop counters of the veths in service, by name.
    pub fn veth_counters(&self) -> BTreeMap<String, u64> {
        self.veths.counters()
    }

    // ---- IGMP ------------------------------------------------------------------------------

    /// An IGMP datagram arrived on `ifindex`.
    pub fn igmp_datagram(&mut self, ifindex: u32, datagram: &[u8]) {
        let actions = self.igmp.handle_packet(ifindex, datagram, Instant::now());
        self.igmp_actions(actions);
        self.drive();
    }

    fn igmp_actions(&mut self, actions: Vec<igmp::Action>) {
        let now = self.now();
        let handle = self.builtins.igmp.0;
        for action in actions {
            match action {
                igmp::Action::Send(t) => {
                    if let Some(io) = &self.igmp_io {
                        if let Err(e) = io.send(t.ifindex, t.dst, &t.datagram) {
                            debug!(ifindex = t.ifindex, error = %e, "IGMP send failed");
                        }
                    }
                }
                igmp::Action::Membership(change) => {
                    if let Err(e) = apply_membership(&mut self.mgm, handle, change, now) {
                        debug!(?change, error = %e, "IGMP membership not applied");
                    }
                }
            }
        }
    }

    // ---- API -------------------------------------------------------------------------------

    /// The data plane, for counters.
    pub fn plane(&self) -> &DataPlane {
        &self.plane
    }

    /// The interfaces table.
    pub fn interfaces(&self) -> Vec<InterfaceRow> {
        self.config
            .interfaces
            .iter()
            .map(|cfg| {
                let link = self.links.get(&cfg.name);
                let active = self.active.get(&cfg.name);
                InterfaceRow {
                    name: cfg.name.clone(),
                    ifindex: link.map_or(0, |l| l.ifindex),
                    up: link.is_some_and(|l| l.up),
                    xdp: active.map(|a| format!("{:?}", a.1).to_lowercase()),
                    igmp: cfg.igmp,
                    owner: active
                        .and_then(|a| self.mgm.protocol_on_interface(IfId::index(a.0)).ok())
                        .map(|(p, _)| self.protocol_name(p))
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    fn protocol_name(&self, protocol_id: u32) -> String {
        match protocol_id {
            mgm::MS_IP_IGMP => "igmp".into(),
            STATIC_PROTOCOL_ID => "static".into(),
            PROXY_PROTOCOL_ID => "proxy".into(),
            other => format!("external:{other:#x}"),
        }
    }

    fn name_of(&self, ifindex: u32) -> String {
        self.active
            .iter()
            .find(|(_, a)| a.0 == ifindex)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

    /// The protocols table.
    pub fn protocols(&self) -> Vec<ProtocolRow> {
        let mut rows = vec![(mgm::MS_IP_IGMP, 0), (STATIC_PROTOCOL_ID, 0)];
        if self.builtins.proxy.is_some() {
            rows.push((PROXY_PROTOCOL_ID, 0));
        }
        rows.extend(
            self.externals
                .values()
                .map(|e| (e.protocol_id, e.component_id)),
        );
        rows.into_iter()
            .map(|(protocol_id, component_id)| ProtocolRow {
                name: self.protocol_name(protocol_id),
                protocol_id,
                component_id,
                interfaces: self
                    .active
                    .iter()
                    .filter(|(_, a)| {
                        self.mgm.protocol_on_interface(IfId::index(a.0)).ok()
                            == Some((protocol_id, component_id))
                    })
                    .map(|(n, _)| n.clone())
                    .collect(),
            })
            .collect()
    }

    /// The MFE table with fresh counters (which also refresh active entries' lifetimes).
    pub fn mfes(&mut self) -> Vec<MfeRow> {
        self.refresh_stats();
        let now = self.now();
        let rows = self
            .mgm
            .mfes()
            .map(|m| {
                let mut stats = self.backend.mfe_stats(key_of(m.sg())).unwrap_or_default();
                self.hold.add_to_stats(m.sg(), &mut stats);
                MfeRow {
                    source: m.sg().source,
                    group: m.sg().group,
                    iif: self.name_of(m.iif().ifindex),
                    oifs: m
                        .oifs()
                        .iter()
                        .map(|o| {
                            let s = stats
                                .oifs
                                .iter()
                                .find(|(i, _)| *i == o.ifindex)
                                .map(|(_, s)| *s)
                                .unwrap_or_default();
                            OifRow {
                                iface: self.name_of(o.ifindex),
                                packets: s.packets,
                                bytes: s.bytes,
                                drops: s.drops,
                            }
                        })
                        .collect(),
                    packets: stats.packets,
                    bytes: stats.bytes,
                    wrong_if: stats.wrong_if,
                    age_s: m.up_time(now).as_secs(),
                    expires_s: m.expiry_time(now).as_secs(),
                }
            })
            .collect();
        self.drive();
        rows
    }

    /// Feeds the data plane's per-entry counters to the MGM (lifetime refresh on activity).
    pub fn refresh_stats(&mut self) {
        let now = self.now();
        let sgs: Vec<Sg> = self.mgm.mfes().map(|m| m.sg()).collect();
        // Copies the fast path redirected, per interface, for the veth watch.
        let mut redirected: HashMap<u32, u64> = HashMap::new();
        for sg in sgs {
            let Ok(mut stats) = self.backend.mfe_stats(key_of(sg)) else {
                continue;
            };
            for (ifindex, s) in &stats.oifs {
                *redirected.entry(*ifindex).or_default() += s.packets;
            }
            self.hold.add_to_stats(sg, &mut stats);
            let counters = mgm::MfeCounters {
                in_pkts: stats.packets,
                in_octets: stats.bytes,
                pkts_different_if: stats.wrong_if,
                oifs: stats
                    .oifs
                    .iter()
                    .map(|(i, s)| mgm::OifCounters {
                        ifid: IfId::index(*i),
                        out_packets: s.packets,
                        ..mgm::OifCounters::new(IfId::index(*i))
                    })
                    .collect(),
                ..Default::default()
            };
            let _ = self.mgm.report_stats(sg, counters, now);
        }
        self.veths.refresh(&redirected);
        self.drive();
    }

    /// The memberships table, with each one's FORWARD state, filter mode and (for IGMP's
    /// EXCLUDE-mode groups) excluded sources.
    pub fn groups(&self) -> Vec<GroupRow> {
        self.mgm
            .memberships()
            .into_iter()
            .map(|m| {
                let forward_disabled = self
                    .mgm
                    .mfe(m.sg)
                    .is_some_and(|e| e.forward_disabled().contains(m.ifid));
                let flags = if forward_disabled {
                    MemberFlags::JOIN
                } else {
                    MemberFlags::JOIN | MemberFlags::FORWARD
                };
                let any_source = m.sg.source.is_unspecified();
                let excluded = if any_source && m.protocol == self.builtins.igmp.0 {
                    self.igmp_excluded(m.ifid.ifindex, m.sg.group)
                } else {
                    Vec::new()
                };
                GroupRow {
                    source: m.sg.source,
                    group: m.sg.group,
                    iface: self.name_of(m.ifid.ifindex),
                    protocol: self
                        .protocol_id_of(m.protocol)
                        .map(|p| self.protocol_name(p))
                        .unwrap_or_default(),
                    flags: flags.bits(),
                    mode: if any_source { "exclude" } else { "include" }.into(),
                    excluded,
                }
            })
            .collect()
    }

    /// The sources IGMP excludes from its (\*,`group`) membership on `ifindex`.
    fn igmp_excluded(&self, ifindex: u32, group: Ipv4Addr) -> Vec<Ipv4Addr> {
        self.igmp
            .memberships(ifindex)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.group == group)
            .filter_map(|c| match c.kind {
                ChangeKind::Block(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn protocol_id_of(&self, h: ProtocolHandle) -> Option<u32> {
        if h == self.builtins.igmp.0 {
            return Some(mgm::MS_IP_IGMP);
        }
        if h == self.builtins.statics.0 {
            return Some(STATIC_PROTOCOL_ID);
        }
        if self.builtins.proxy.as_ref().is_some_and(|p| p.0 == h) {
            return Some(PROXY_PROTOCOL_ID);
        }
        self.externals.get(&h).map(|e| e.protocol_id)
    }

    /// The IGMP snapshot.
    pub fn igmp_snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self.igmp.snapshot(Instant::now())).unwrap_or_default()
    }

    /// Static routes in smcroute words.
    pub fn routes(&self) -> Vec<String> {
        self.builtins
            .statics
            .1
            .routes()
            .map(|r| {
                let source = r.source.map_or("*".to_owned(), |s| s.to_string());
                format!("{} {} {} {}", r.from, source, r.group, r.to.join(" "))
            })
            .collect()
    }

    /// Adds a static route at run time.
    pub fn add_route(&mut self, route: StaticRoute) -> Response {
        if self.config.interface(&route.from).is_none() {
            return Response::error(87, format!("{} is not a configured interface", route.from));
        }
        if !self.builtins.statics.1.add_route(route) {
            return Response::error(183, "the route exists already");
        }
        // Flows with an entry (forwarded or dropped) pick the route up now.
        self.apply_routes_to_mfes();
        Response::Ok
    }

    /// Removes a static route at run time; only the flows it fed change.
    pub fn remove_route(&mut self, route: &StaticRoute) -> Response {
        let Some(stale) = self.builtins.statics.1.remove_route(route) else {
            return Response::error(1168, "no such route");
        };
        let now = self.now();
        let h = self.builtins.statics.0;
        for (sg, ifid) in stale {
            let _ = self
                .mgm
                .delete_membership(h, sg, ifid, MemberFlags::JOIN, now);
        }
        self.drive();
        Response::Ok
    }

    /// Gives every existing entry the memberships the routes now name for it (the static
    /// protocol returns each membership once), so flows already forwarded or dropped pick up a
    /// route added at run time without waiting for their entry to expire.
    fn apply_routes_to_mfes(&mut self) {
        let flows: Vec<Sg> = self.mgm.mfes().map(|m| m.sg()).collect();
        let h = self.builtins.statics.0;
        let now = self.now();
        for sg in flows {
            for (msg, ifid) in self.builtins.statics.1.memberships_for(sg) {
                let _ = self
                    .mgm
                    .add_membership(h, msg, ifid, MemberFlags::JOIN, now);
            }
        }
        self.drive();
    }

    /// The router joins a group on an interface as a host.
    pub fn host_join(
        &mut self,
        iface: String,
        group: Ipv4Addr,
        source: Option<Ipv4Addr>,
    ) -> Response {
        let key = (iface.clone(), group, source);
        if self.host_joins.contains_key(&key) {
            return Response::error(183, "already joined");
        }
        let result = crate::leaf::Iface::lookup(&iface).and_then(|i| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            crate::leaf::join(&socket, crate::leaf::Channel { group, source }, &i)?;
            Ok(socket)
        });
        match result {
            Ok(socket) => {
                self.host_joins.insert(key, socket);
                Response::Ok
            }
            Err(e) => Response::error(87, e.to_string()),
        }
    }

    /// Leaves a host join.
    pub fn host_leave(
        &mut self,
        iface: String,
        group: Ipv4Addr,
        source: Option<Ipv4Addr>,
    ) -> Response {
        match self.host_joins.remove(&(iface, group, source)) {
            Some(_) => Response::Ok,
            None => Response::error(1168, "not joined"),
        }
    }

    // ---- external protocols ----------------------------------------------------------------

    /// Registers an external protocol whose callbacks go to `events`.
    pub fn register_external(
        &mut self,
        protocol_id: u32,
        component_id: u32,
        callbacks: CallbackSet,
        events: UnboundedSender<Event>,
    ) -> Result<ProtocolHandle, MgmError> {
        let h = self.mgm.register(protocol_id, component_id, callbacks)?;
        self.externals.insert(
            h,
            External {
                protocol_id,
                component_id,
                events,
            },
        );
        Ok(h)
    }

    /// Deregisters an external protocol, releasing its interfaces and memberships first.
    pub fn deregister_external(&mut self, h: ProtocolHandle) {
        if self.externals.remove(&h).is_none() {
            return;
        }
        let now = self.now();
        for m in self
            .mgm
            .memberships()
            .into_iter()
            .filter(|m| m.protocol == h)
        {
            let _ = self
                .mgm
                .delete_membership(h, m.sg, m.ifid, MemberFlags::JOIN, now);
        }
        let owned: Vec<u32> = self.active.values().map(|a| a.0).collect();
        for ifindex in owned {
            let _ = self
                .mgm
                .release_interface_ownership(h, IfId::index(ifindex), now);
        }
        if let Err(e) = self.mgm.deregister(h) {
            warn!(error = %e, "deregistering an external protocol");
        }
        self.forget_questions(|p, _| p == h);
        self.drive();
    }

    /// Runs an MGM call on behalf of an external protocol.
    pub fn external_call(
        &mut self,
        h: ProtocolHandle,
        call: impl FnOnce(&mut Mgm, Timestamp) -> Result<(), MgmError>,
    ) -> Response {
        let now = self.now();
        let result = call(&mut self.mgm, now);
        self.drive();
        match result {
            Ok(()) => Response::Ok,
            Err(e) => Response::error(e.win32_code(), format!("{e} (protocol {})", h.raw())),
        }
    }

    /// The MGM core, for read-only API calls.
    pub fn mgm(&self) -> &Mgm {
        &self.mgm
    }

    /// An answer from an external protocol.
    pub fn external_answer(&mut self, h: ProtocolHandle, answer: ApiAnswer) -> Response {
        let query = match &answer {
            ApiAnswer::Rpf { query, .. }
            | ApiAnswer::CreationAlert { query, .. }
            | ApiAnswer::PruneAlert { query, .. } => *query,
        };
        let not_open = Response::error(
            87,
            format!(
                "no open question with that id for this protocol (answers are due within {:?})",
                self.answer_deadline
            ),
        );
        let open = self
            .questions
            .get(&query)
            .is_some_and(|&(p, asked)| p == h && asked.elapsed() <= self.answer_deadline);
        if !open {
            return not_open;
        }
        self.questions.remove(&query);
        let answer = match answer {
            ApiAnswer::Rpf {
                iif,
                upstream,
                reject,
                ..
            } => Answer::Rpf {
                query: QueryId(query),
                answer: RpfAnswer {
                    iif: IfId::new(iif.ifindex, iif.next_hop),
                    upstream,
                    route: Default::default(),
                    reject,
                },
            },
            ApiAnswer::CreationAlert { entries, .. } => Answer::CreationAlert {
                query: QueryId(query),
                entries: entries
                    .into_iter()
                    .map(|e| IfEntry {
                        ifid: IfId::new(e.ifid.ifindex, e.ifid.next_hop),
                        igmp: e.igmp,
                        enabled: e.enabled,
                    })
                    .collect(),
            },
            ApiAnswer::PruneAlert { timeout_s, .. } => match self.prune_replies.remove(&query) {
                Some(reply) => Answer::PruneAlert { reply, timeout_s },
                None => return Response::error(1168, "the prune alert's MFE is gone"),
            },
        };
        let now = self.now();
        let result = self.mgm.answer(answer, now);
        self.drive();
        match result {
            Ok(()) => Response::Ok,
            // The core's deadline passed a moment before ours: its default has applied.
            Err(MgmError::NotFound) => not_open,
            Err(e) => Response::error(e.win32_code(), e.to_string()),
        }
    }

    /// Applies a reloaded configuration: only what changed is touched.
    pub fn reload(&mut self, new: Config) {
        let old_routes: BTreeSet<StaticRoute> = self.builtins.statics.1.routes().cloned().collect();
        let new_routes: BTreeSet<StaticRoute> = new.routes.iter().cloned().collect();
        let old_ifaces = self.config.interfaces.clone();
        self.config.interfaces = new.interfaces.clone();
        for gone in old_ifaces
            .iter()
            .filter(|o| !new.interfaces.iter().any(|n| n == *o))
        {
            self.take_out_of_service(&gone.name);
        }
        let links: Vec<Link> = self.links.values().cloned().collect();
        for link in links {
            let changed = !old_ifaces
                .iter()
                .any(|o| Some(o) == new.interface(&link.name));
            if changed && new.interface(&link.name).is_some() && link.up {
                self.take_out_of_service(&link.name);
                self.bring_into_service(&link);
            }
        }
        // Added first: a flow that an edited route keeps feeding never loses its interfaces.
        for route in new_routes.difference(&old_routes) {
            info!(?route, "reload: route added");
            self.add_route(route.clone());
        }
        for route in old_routes.difference(&new_routes) {
            info!(?route, "reload: route removed");
            self.remove_route(route);
        }
        self.config = new;
        self.drive();
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

fn apply_membership(
    mgm: &mut Mgm,
    h: ProtocolHandle,
    change: MembershipChange,
    now: Timestamp,
) -> Result<(), MgmError> {
    let ifid = IfId::index(change.ifindex);
    let star = Sg::star_g(change.group);
    match change.kind {
        ChangeKind::JoinAny => mgm.add_membership(h, star, ifid, MemberFlags::JOIN, now),
        ChangeKind::LeaveAny => mgm.delete_membership(h, star, ifid, MemberFlags::JOIN, now),
        ChangeKind::JoinSource(s) => {
            mgm.add_membership(h, Sg::new(s, change.group), ifid, MemberFlags::JOIN, now)
        }
        ChangeKind::LeaveSource(s) => {
            mgm.delete_membership(h, Sg::new(s, change.group), ifid, MemberFlags::JOIN, now)
        }
        ChangeKind::Block(s) => {
            mgm.delete_membership(h, Sg::new(s, change.group), ifid, MemberFlags::FORWARD, now)
        }
        ChangeKind::Unblock(s) => {
            mgm.add_membership(h, Sg::new(s, change.group), ifid, MemberFlags::FORWARD, now)
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

fn api_sg(sg: Sg) -> ApiSg {
    ApiSg {
        source: sg.source,
        group: sg.group,
    }
}

fn api_ifid(ifid: IfId) -> ApiIfId {
    ApiIfId {
        ifindex: ifid.ifindex,
        next_hop: ifid.next_hop,
    }
}

fn api_entry(e: &IfEntry) -> ApiIfEntry {
    ApiIfEntry {
        ifid: api_ifid(e.ifid),
        igmp: e.igmp,
        enabled: e.enabled,
    }
}

/// Receive queues of an interface (one punt socket each).
fn rx_queues(name: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

/// The first IPv4 address and prefix length of `ifindex`, from getifaddrs.
fn ipv4_of(ifindex: u32) -> Option<(Ipv4Addr, u8)> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes as if_indextoname requires.
    if unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_str()
        .ok()?
        .to_owned();
    crate::leaf::ipv4_net_of(&name).ok()
}
