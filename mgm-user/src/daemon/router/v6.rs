//! IPv6: the second MGM, beside the IPv4 one. It is configured as the IPv4 one and driven by
//! the same inputs and timers; its entries go to the backend's IPv6 table. It owns the
//! interfaces as the IPv4 one does: through the built-in `static` protocol, or the IPv6
//! instances of the proxy and of the `kernel` protocol on the proxy's and the mirrored
//! interfaces; an interface the configuration leaves to an external protocol (`owner =
//! "external"`) is owned in both MGMs by the external protocol that takes it (see
//! [`super::ownership`]). MLD plays IGMP's part in it (registered under IGMP's protocol id,
//! see [`super::mld_glue`]). External protocols are registered in it too and hear its
//! callbacks with IPv6 addresses ([`super::externals`]).
use super::{
    drive::Ran, family::Draining, igmp_glue::IgmpClient, kernel_routes::Mirror, sync::Unsynced,
    RouterCore, RouterIo,
};
use crate::{
    daemon::{proxy::ProxyProtocol, static_routes::StaticProtocol},
    dataplane::ForwardingBackend,
    mgm::{
        self, CallbackSet, ClientDirectory, IfId, MemberFlags, Mgm, MgmClient, ProtocolHandle, Sg,
        StaticRib, Timestamp,
    },
    mld,
};
use mgm_common::Sg6Key;
use std::net::Ipv6Addr;
use tracing::{debug, warn};

/// An IPv6 (S,G).
pub(super) type Sg6 = Sg<Ipv6Addr>;

/// The router's IPv6 state.
pub(super) struct V6 {
    pub(super) mgm: Mgm<Ipv6Addr>,
    /// The built-in `static` protocol of the IPv6 MGM, with the IPv6 routes.
    pub(super) statics: (ProtocolHandle, StaticProtocol<Ipv6Addr>),
    /// Entries in hold mode.
    pub(super) draining: Draining<Ipv6Addr>,
    /// Entries the backend failed to take, retried with backoff.
    pub(super) unsynced: Unsynced<Ipv6Addr>,
    /// Entries a previous run left in the pinned maps, (S,G) and incoming ifindex: they
    /// forward untouched until the reconciliation, as the IPv4 ones.
    pub(super) adopted: Vec<(Sg6, u32)>,
    /// The MLD router side, on the interfaces it runs on.
    pub(super) mld: mld::Router,
    /// MLD as a protocol of the IPv6 MGM.
    pub(super) mld_client: (ProtocolHandle, IgmpClient<Ipv6Addr>),
    /// The proxy's IPv6 instance (with `[proxy]`), driven by MLD on the downstream interfaces.
    pub(super) proxy: Option<(ProtocolHandle, ProxyProtocol<Ipv6Addr>)>,
    /// The `kernel` protocol of the IPv6 MGM and the mirror of the kernel's IPv6 multicast
    /// routes (with `[mirror]`).
    pub(super) kernel: Option<(ProtocolHandle, StaticProtocol<Ipv6Addr>)>,
    pub(super) mirror: Option<Mirror<Ipv6Addr>>,
}

/// The in-process protocols of the IPv6 MGM.
struct Clients<'a> {
    statics: &'a mut (ProtocolHandle, StaticProtocol<Ipv6Addr>),
    mld: &'a mut (ProtocolHandle, IgmpClient<Ipv6Addr>),
    proxy: &'a mut Option<(ProtocolHandle, ProxyProtocol<Ipv6Addr>)>,
    kernel: &'a mut Option<(ProtocolHandle, StaticProtocol<Ipv6Addr>)>,
}

impl ClientDirectory<Ipv6Addr> for Clients<'_> {
    fn client(&mut self, h: ProtocolHandle) -> Option<&mut dyn MgmClient<Ipv6Addr>> {
        if h == self.statics.0 {
            return Some(&mut self.statics.1);
        }
        if h == self.mld.0 {
            return Some(&mut self.mld.1);
        }
        match (&mut self.proxy, &mut self.kernel) {
            (Some((p, proxy)), _) if *p == h => Some(proxy),
            (_, Some((k, kernel))) if *k == h => Some(kernel),
            _ => None,
        }
    }
}

impl V6 {
    /// The IPv6 side with the MGM's `config`, the built-in `static` protocol registered under
    /// `static_id`, the proxy under `proxy_id` when there is one, and the entries `adopted`
    /// from the previous run.
    pub(super) fn new(
        config: mgm::Config,
        static_id: u32,
        proxy_id: Option<u32>,
        adopted: Vec<(Sg6, u32)>,
    ) -> Result<Self, mgm::MgmError> {
        let mut mgm = Mgm::new(config, Box::new(StaticRib::<Ipv6Addr>::new()));
        let handle = mgm.register(static_id, 0, CallbackSet::RPF)?;
        let mld_handle = mgm.register(
            mgm::MS_IP_IGMP,
            0,
            CallbackSet::DISABLE_IGMP | CallbackSet::ENABLE_IGMP,
        )?;
        let proxy = match proxy_id {
            Some(id) => Some((
                mgm.register(id, 0, ProxyProtocol::<Ipv6Addr>::CALLBACKS)?,
                ProxyProtocol::new(0, []),
            )),
            None => None,
        };
        Ok(Self {
            mgm,
            statics: (handle, StaticProtocol::default()),
            mld: mld::Router::new(),
            mld_client: (mld_handle, IgmpClient::default()),
            proxy,
            kernel: None,
            mirror: None,
            draining: Default::default(),
            unsynced: Default::default(),
            adopted,
        })
    }

    /// Registers the `kernel` protocol under `kernel_id` and mirrors kernel table `table`.
    pub(super) fn mirror_kernel(
        &mut self,
        kernel_id: u32,
        table: u32,
    ) -> Result<(), mgm::MgmError> {
        let handle = self.mgm.register(kernel_id, 0, CallbackSet::RPF)?;
        self.kernel = Some((handle, StaticProtocol::default()));
        self.mirror = Some(Mirror::new(table, "mirror6"));
        Ok(())
    }
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// An IPv6 packet of `sg` matched no entry: the routes' memberships first, then the MGM's
    /// creation path.
    pub(super) fn miss6(&mut self, sg: Sg6, ifindex: u32, header: &[u8]) {
        let now = self.now();
        self.restore_if_lost(sg);
        self.add_route_memberships(sg);
        if let Err(e) = self
            .v6
            .mgm
            .packet_miss(sg.source, sg.group, ifindex, header, now)
        {
            debug!(error = %e, source = %sg.source, group = %sg.group, "IPv6 miss ignored");
        }
    }

    /// Re-derives the IPv6 entries `adopted` from the previous run (see
    /// `RouterCore::reconcile_adopted`).
    pub(super) fn reconcile_adopted6(&mut self, adopted: Vec<(Sg6, u32)>) {
        for (sg, iif) in adopted {
            if self.v6.mgm.mfe(sg).is_none() {
                self.miss6(sg, iif, &[]);
            }
        }
    }

    /// An IPv6 packet of the entry `sg` arrived on another interface than its incoming one.
    pub(super) fn wrong_if6(&mut self, sg: Sg6Key, ifindex: u32, header: &[u8]) {
        let now = self.now();
        self.v6
            .mgm
            .wrong_interface(sg.source_addr(), sg.group_addr(), ifindex, header, now);
    }

    /// Runs the IPv6 MGM until it has nothing left to do at `now`: its actions, and the
    /// callbacks its in-process protocols handled when they are `observed`.
    pub(super) fn run_mgm6(&mut self, now: Timestamp, observed: bool) -> Ran<Ipv6Addr> {
        let (mut actions, mut handled) = (Vec::new(), Vec::new());
        let V6 {
            mgm,
            statics,
            mld_client,
            proxy,
            kernel,
            ..
        } = &mut self.v6;
        mgm.drive_observed(
            now,
            &mut Clients {
                statics,
                mld: mld_client,
                proxy,
                kernel,
            },
            &mut |a| actions.push(a),
            &mut |to, callback, answer| {
                if observed {
                    handled.push((to, callback.clone(), answer.cloned()));
                }
            },
        );
        (actions, handled)
    }

    /// Interface `ifindex` (named `name`) entered service (`owned`: a built-in protocol owns
    /// it) or left it: the IPv6 MGM's ownership and the IPv6 routes' view of it.
    pub(super) fn service6(&mut self, name: &str, ifindex: u32, owned: bool, in_service: bool) {
        let now = self.now();
        let ifid = IfId::index(ifindex);
        let proxied = self.proxy_serves(name);
        let mirrored = self.is_mirrored(name);
        let V6 {
            mgm,
            statics,
            proxy,
            kernel,
            ..
        } = &mut self.v6;
        let (h, protocol) = statics;
        let owner = match (proxy, kernel) {
            (_, Some((k, _))) if mirrored => *k,
            (Some((p, _)), _) if proxied => *p,
            _ => *h,
        };
        if in_service {
            protocol.set_ifindex(name, Some(ifindex));
            if owned {
                if let Err(e) = mgm.take_interface_ownership(owner, ifid, now) {
                    warn!(interface = %name, error = %e, "taking IPv6 ownership failed");
                }
            }
            return;
        }
        // The static memberships go first, so entries forwarding there lose the interface in
        // place; the ownership release then deletes only entries coming in on it.
        for (sg, oif) in protocol.forget_interface(ifindex) {
            let _ = mgm.delete_membership(*h, sg, oif, MemberFlags::JOIN, now);
        }
        if owned {
            let _ = mgm.release_interface_ownership(owner, ifid, now);
        }
        protocol.set_ifindex(name, None);
    }

    /// Gives the IPv6 entries of the flows `wanted` picks the memberships the routes now name
    /// for them.
    pub(super) fn apply_routes_to_mfes6(&mut self, wanted: impl Fn(Sg6) -> bool) {
        let now = self.now();
        let V6 { mgm, statics, .. } = &mut self.v6;
        let flows: Vec<Sg6> = mgm
            .mfes()
            .map(|m| m.sg())
            .filter(|&sg| wanted(sg))
            .collect();
        for sg in flows {
            for (msg, ifid) in statics.1.memberships_for(sg) {
                let _ = mgm.add_membership(statics.0, msg, ifid, MemberFlags::JOIN, now);
            }
        }
    }
}
