//! The two address families the router forwards. Each has its own MGM (decision A-57 of
//! docs/mgm-spec.md: one external protocol is registered in both), its own static protocol
//! (`v6`), entries in hold mode and entries waiting for a backend retry; both are driven by the
//! same inputs and timers. [`Family`] names, per family, where that state lives
//! in the [`RouterCore`] and which backend operations write its entries, so that the entry
//! life cycle (creation in hold mode, handover, retries, checks) is written once.
use super::{
    drive::Ran, externals::ExternalFamily, igmp_glue::IgmpClient, kernel_routes::Mirror,
    sync::Unsynced, RouterCore, RouterIo,
};
use crate::{
    daemon::{hold::Flow, static_routes::StaticProtocol},
    dataplane::{ForwardingBackend, InstalledMfe, MfeStats},
    igmp,
    mgm::{Address, IfId, Mgm, ProtocolHandle, Sg, Timestamp},
    mld,
};
use mgm_common::{HeldCounters, Sg6Key, SgKey};
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Instant,
};

/// Entries in hold mode: (last punted packet seen, latest handover).
pub(super) type Draining<A> = HashMap<Sg<A>, (Instant, Instant)>;

/// The per-family entry state of the router, borrowed from it.
pub(super) struct Side<'a, A: Address> {
    pub(super) draining: &'a mut Draining<A>,
    pub(super) unsynced: &'a mut Unsynced<A>,
}

/// The family's routes and the kernel mirror, borrowed from the router together.
pub(super) struct MirrorParts<'a, A: Address> {
    pub(super) mgm: &'a mut Mgm<A>,
    /// The built-in `static` protocol.
    pub(super) statics: &'a mut (ProtocolHandle, StaticProtocol<A>),
    /// The built-in `kernel` protocol and the mirror (with `[mirror]`).
    pub(super) kernel: Option<&'a mut (ProtocolHandle, StaticProtocol<A>)>,
    pub(super) mirror: Option<&'a mut Mirror<A>>,
    /// Entries adopted from the previous run, waiting for their reconciliation.
    pub(super) adopted: &'a mut Vec<(Sg<A>, u32)>,
}

/// An address family: its state in the router and its entries in the backend.
pub(super) trait Family: ExternalFamily + Into<IpAddr> {
    /// The backend's key of an entry.
    type Key: Copy;
    /// The family's name in log lines.
    const NAME: &'static str;

    /// The backend key of `sg`.
    fn key(sg: Sg<Self>) -> Self::Key;
    /// The (S,G) of a backend key.
    fn sg(key: Self::Key) -> Sg<Self>;
    /// `sg` as the hold queues key it.
    fn flow(sg: Sg<Self>) -> Flow;

    /// The family's state in `core`.
    fn side<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> Side<'_, Self>;
    /// The family's MGM.
    fn mgm<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &Mgm<Self>;
    /// The entries adopted from the previous run that wait for their reconciliation, with
    /// their incoming interfaces.
    fn adopted<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &[(Sg<Self>, u32)];
    /// The family's MGM, to change.
    fn mgm_mut<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> &mut Mgm<Self>;
    /// The family's MGM with its route protocols and its mirror.
    fn mirror_parts<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
    ) -> MirrorParts<'_, Self>;
    /// The family's IGMP (IPv4) or MLD (IPv6) as a protocol of its MGM.
    fn local<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
    ) -> &(ProtocolHandle, IgmpClient<Self>);
    /// Runs the family's MGM until it has nothing left to do at `now` (see [`Ran`]); the
    /// callbacks its in-process protocols handled are kept when they are `observed`.
    fn run_mgm<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
        now: Timestamp,
        observed: bool,
    ) -> Ran<Self>;
    /// The interfaces whose IGMP (MLD) memberships the MGM asked for again (Enable-IGMP).
    fn take_readd<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
    ) -> Vec<IfId<Self>>;
    /// Gives the MGM the memberships IGMP (MLD) holds on `ifindex` again.
    fn readd_memberships<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
        ifindex: u32,
    );

    fn install<B: ForwardingBackend>(
        b: &mut B,
        key: Self::Key,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error>;
    fn update<B: ForwardingBackend>(
        b: &mut B,
        key: Self::Key,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error>;
    fn delete<B: ForwardingBackend>(b: &mut B, key: Self::Key) -> Result<(), B::Error>;
    fn stats<B: ForwardingBackend>(b: &B, key: Self::Key) -> Result<MfeStats, B::Error>;
    fn hold_on_create<B: ForwardingBackend>(b: &mut B, key: Self::Key);
    fn release_hold<B: ForwardingBackend>(b: &mut B, key: Self::Key) -> Result<(), B::Error>;
    fn held_sent<B: ForwardingBackend>(
        b: &mut B,
        key: Self::Key,
        sent: u32,
    ) -> Result<(), B::Error>;
    fn save_held<B: ForwardingBackend>(
        b: &mut B,
        key: Self::Key,
        held: HeldCounters,
    ) -> Result<(), B::Error>;
    fn take_saved_held<B: ForwardingBackend>(
        b: &mut B,
        key: Self::Key,
    ) -> Result<HeldCounters, B::Error>;
    fn installed<B: ForwardingBackend>(b: &B, key: Self::Key) -> Option<InstalledMfe<Self::Key>>;
    /// Whether the data plane itself (not the bookkeeping) holds the entry.
    fn holds<B: ForwardingBackend>(b: &B, key: Self::Key) -> Result<bool, B::Error>;
    fn read_back<B: ForwardingBackend>(b: &B) -> Result<Vec<InstalledMfe<Self::Key>>, B::Error>;
    /// Every entry of the backend's bookkeeping.
    fn read_installed<B: ForwardingBackend>(b: &B) -> Vec<InstalledMfe<Self::Key>>;
}

impl Family for Ipv4Addr {
    type Key = SgKey;
    const NAME: &'static str = "IPv4";

    fn key(sg: Sg) -> SgKey {
        SgKey {
            source: u32::from(sg.source).to_be(),
            group: u32::from(sg.group).to_be(),
        }
    }

    fn sg(key: SgKey) -> Sg {
        Sg::new(
            Ipv4Addr::from(u32::from_be(key.source)),
            Ipv4Addr::from(u32::from_be(key.group)),
        )
    }

    fn flow(sg: Sg) -> Flow {
        Flow::V4(sg)
    }

    fn side<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> Side<'_, Self> {
        Side {
            draining: &mut core.draining,
            unsynced: &mut core.unsynced,
        }
    }

    fn mgm<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &Mgm<Self> {
        &core.mgm
    }

    fn adopted<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &[(Sg, u32)] {
        &core.adopted
    }

    fn mgm_mut<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> &mut Mgm<Self> {
        &mut core.mgm
    }

    fn mirror_parts<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
    ) -> MirrorParts<'_, Self> {
        MirrorParts {
            mgm: &mut core.mgm,
            statics: &mut core.builtins.statics,
            kernel: core.builtins.kernel.as_mut(),
            mirror: core.mirror.as_mut(),
            adopted: &mut core.adopted,
        }
    }

    fn local<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
    ) -> &(ProtocolHandle, IgmpClient<Self>) {
        &core.builtins.igmp
    }

    fn run_mgm<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
        now: Timestamp,
        observed: bool,
    ) -> Ran<Self> {
        core.run_mgm4(now, observed)
    }

    fn take_readd<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
    ) -> Vec<IfId<Self>> {
        std::mem::take(&mut core.builtins.igmp.1.readd)
    }

    fn readd_memberships<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
        ifindex: u32,
    ) {
        if let Ok(changes) = core.igmp.memberships(ifindex) {
            core.igmp_actions(changes.into_iter().map(igmp::Action::Membership).collect());
        }
    }

    fn install<B: ForwardingBackend>(
        b: &mut B,
        key: SgKey,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error> {
        b.install_mfe(key, iif, oifs)
    }

    fn update<B: ForwardingBackend>(
        b: &mut B,
        key: SgKey,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error> {
        b.update_mfe(key, iif, oifs)
    }

    fn delete<B: ForwardingBackend>(b: &mut B, key: SgKey) -> Result<(), B::Error> {
        b.delete_mfe(key)
    }

    fn stats<B: ForwardingBackend>(b: &B, key: SgKey) -> Result<MfeStats, B::Error> {
        b.mfe_stats(key)
    }

    fn hold_on_create<B: ForwardingBackend>(b: &mut B, key: SgKey) {
        b.hold_on_create(key)
    }

    fn release_hold<B: ForwardingBackend>(b: &mut B, key: SgKey) -> Result<(), B::Error> {
        b.release_hold(key)
    }

    fn held_sent<B: ForwardingBackend>(b: &mut B, key: SgKey, sent: u32) -> Result<(), B::Error> {
        b.held_sent(key, sent)
    }

    fn save_held<B: ForwardingBackend>(
        b: &mut B,
        key: SgKey,
        held: HeldCounters,
    ) -> Result<(), B::Error> {
        b.save_held(key, held)
    }

    fn take_saved_held<B: ForwardingBackend>(
        b: &mut B,
        key: SgKey,
    ) -> Result<HeldCounters, B::Error> {
        b.take_saved_held(key)
    }

    fn installed<B: ForwardingBackend>(b: &B, key: SgKey) -> Option<InstalledMfe> {
        b.installed(key)
    }

    fn holds<B: ForwardingBackend>(b: &B, key: SgKey) -> Result<bool, B::Error> {
        b.holds(key)
    }

    fn read_back<B: ForwardingBackend>(b: &B) -> Result<Vec<InstalledMfe>, B::Error> {
        b.read_back()
    }

    fn read_installed<B: ForwardingBackend>(b: &B) -> Vec<InstalledMfe> {
        b.installed_all()
    }
}

impl Family for Ipv6Addr {
    type Key = Sg6Key;
    const NAME: &'static str = "IPv6";

    fn key(sg: Sg<Ipv6Addr>) -> Sg6Key {
        Sg6Key::new(sg.source, sg.group)
    }

    fn sg(key: Sg6Key) -> Sg<Ipv6Addr> {
        Sg::new(key.source_addr(), key.group_addr())
    }

    fn flow(sg: Sg<Ipv6Addr>) -> Flow {
        Flow::V6(sg)
    }

    fn side<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> Side<'_, Self> {
        Side {
            draining: &mut core.v6.draining,
            unsynced: &mut core.v6.unsynced,
        }
    }

    fn mgm<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &Mgm<Self> {
        &core.v6.mgm
    }

    fn adopted<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &[(Sg<Self>, u32)] {
        &core.v6.adopted
    }

    fn mgm_mut<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> &mut Mgm<Self> {
        &mut core.v6.mgm
    }

    fn mirror_parts<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
    ) -> MirrorParts<'_, Self> {
        let v6 = &mut core.v6;
        MirrorParts {
            mgm: &mut v6.mgm,
            statics: &mut v6.statics,
            kernel: v6.kernel.as_mut(),
            mirror: v6.mirror.as_mut(),
            adopted: &mut v6.adopted,
        }
    }

    fn local<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
    ) -> &(ProtocolHandle, IgmpClient<Self>) {
        &core.v6.mld_client
    }

    fn run_mgm<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
        now: Timestamp,
        observed: bool,
    ) -> Ran<Self> {
        core.run_mgm6(now, observed)
    }

    fn take_readd<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
    ) -> Vec<IfId<Self>> {
        std::mem::take(&mut core.v6.mld_client.1.readd)
    }

    fn readd_memberships<B: ForwardingBackend, I: RouterIo>(
        core: &mut RouterCore<B, I>,
        ifindex: u32,
    ) {
        if let Ok(changes) = core.v6.mld.memberships(ifindex) {
            core.mld_actions(changes.into_iter().map(mld::Action::Membership).collect());
        }
    }

    fn install<B: ForwardingBackend>(
        b: &mut B,
        key: Sg6Key,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error> {
        b.install_mfe6(key, iif, oifs)
    }

    fn update<B: ForwardingBackend>(
        b: &mut B,
        key: Sg6Key,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error> {
        b.update_mfe6(key, iif, oifs)
    }

    fn delete<B: ForwardingBackend>(b: &mut B, key: Sg6Key) -> Result<(), B::Error> {
        b.delete_mfe6(key)
    }

    fn stats<B: ForwardingBackend>(b: &B, key: Sg6Key) -> Result<MfeStats, B::Error> {
        b.mfe6_stats(key)
    }

    fn hold_on_create<B: ForwardingBackend>(b: &mut B, key: Sg6Key) {
        b.hold_on_create6(key)
    }

    fn release_hold<B: ForwardingBackend>(b: &mut B, key: Sg6Key) -> Result<(), B::Error> {
        b.release_hold6(key)
    }

    fn held_sent<B: ForwardingBackend>(b: &mut B, key: Sg6Key, sent: u32) -> Result<(), B::Error> {
        b.held_sent6(key, sent)
    }

    fn save_held<B: ForwardingBackend>(
        b: &mut B,
        key: Sg6Key,
        held: HeldCounters,
    ) -> Result<(), B::Error> {
        b.save_held6(key, held)
    }

    fn take_saved_held<B: ForwardingBackend>(
        b: &mut B,
        key: Sg6Key,
    ) -> Result<HeldCounters, B::Error> {
        b.take_saved_held6(key)
    }

    fn installed<B: ForwardingBackend>(b: &B, key: Sg6Key) -> Option<InstalledMfe<Sg6Key>> {
        b.installed6(key)
    }

    fn holds<B: ForwardingBackend>(b: &B, key: Sg6Key) -> Result<bool, B::Error> {
        b.holds6(key)
    }

    fn read_back<B: ForwardingBackend>(b: &B) -> Result<Vec<InstalledMfe<Sg6Key>>, B::Error> {
        b.read_back6()
    }

    fn read_installed<B: ForwardingBackend>(b: &B) -> Vec<InstalledMfe<Sg6Key>> {
        b.installed6_all()
    }
}
