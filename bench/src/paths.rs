//! The forwarding paths compared at the lab's router, each set up and torn down on its own:
//! mgm's XDP forwarder, mgm mirroring the kernel's routes, the kernel's ipmr, replication at TC
//! (the eBPF alternative), and the two ceilings (the cheapest possible XDP program, and
//! replication alone). Every path but the mirror also forwards IPv6 (the kernel's by ip6mr).
use crate::{
    frame::{Family, GROUP, GROUP6, SOURCE6},
    generator::ifindex,
    mgm_router::{receiver_interfaces, MgmRouter},
    mirror::Mirror,
    programs::{BenchObject, BROADCAST, COUNT},
};
use anyhow::{bail, Context as _, Result};
use mgm_common::{Sg6Key, SgKey};
use mgm_user::{
    ip6mr::Ip6mr,
    ipmr::Ipmr,
    lab::{Host, Lab},
};
use serde::Serialize;
use std::net::Ipv4Addr;

/// The router's interface towards the source.
pub const UPSTREAM: &str = "up0";

/// A way of getting the source's frames through the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// mgm's XDP forwarder, with one (S,G) entry installed through its forwarding backend.
    Mgm,
    /// mgm mirroring the kernel's routes (`[mirror]`): the kernel's (S,G) entry as for
    /// [`Path::Kernel`], and the same entry installed through mgm's backend with every
    /// interface mirrored (XDP forwards, one packet per 5 s per CPU goes to the kernel).
    Mirror,
    /// The kernel's multicast routing (ipmr), with one (S,G) entry.
    Kernel,
    /// Ceiling: an XDP program at the router that only counts and drops.
    Drop,
    /// Ceiling: an XDP program that broadcasts every frame to the receivers' interfaces with no
    /// parsing and no lookup (the cost of replication alone).
    Broadcast,
    /// The eBPF alternative: a TC classifier that clones the packet to every receiver's
    /// interface with `bpf_clone_redirect` (no parsing, no lookup).
    Tc,
}

impl Path {
    /// Name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Path::Mgm => "mgm XDP",
            Path::Mirror => "mgm mirror",
            Path::Kernel => "kernel ipmr",
            Path::Drop => "XDP_DROP ceiling",
            Path::Broadcast => "broadcast ceiling",
            Path::Tc => "TC clone_redirect",
        }
    }

    /// Whether the path can carry `family` (the mirror is IPv4 only).
    pub fn carries(self, family: Family) -> bool {
        family == Family::V4 || self != Path::Mirror
    }

    /// Name in reports of the path carrying `family` (IPv6 is named in every label).
    pub fn label_in(self, family: Family) -> String {
        match (family, self) {
            (Family::V4, _) => self.label().to_owned(),
            (Family::V6, Path::Kernel) => "kernel ip6mr".to_owned(),
            (Family::V6, _) => format!("{} IPv6", self.label()),
        }
    }

    /// Short name in ratio headings of the path carrying `family`.
    pub fn short_in(self, family: Family) -> &'static str {
        match (family, self) {
            (Family::V6, Path::Kernel) => "ip6mr",
            _ => self.short(),
        }
    }

    /// Short name in ratio headings.
    pub fn short(self) -> &'static str {
        match self {
            Path::Mgm => "mgm",
            Path::Mirror => "mirror",
            Path::Kernel => "kernel",
            Path::Drop => "drop",
            Path::Broadcast => "broadcast",
            Path::Tc => "TC",
        }
    }
}

/// A path set up at the router; dropping it removes it.
pub enum Installed {
    /// mgm's path.
    Mgm {
        /// The data plane and backend (dropping them detaches and frees everything).
        router: Box<MgmRouter>,
    },
    /// The mirror path (its own heartbeat thread included).
    Mirror {
        /// The kernel's routes and mgm's mirror of them.
        mirror: Box<Mirror>,
    },
    /// The kernel's path.
    Kernel {
        /// The routing socket (closing it removes the VIFs and the entry).
        _routing: Ipmr,
    },
    /// The kernel's IPv6 path.
    Kernel6 {
        /// The IPv6 routing socket (closing it removes the MIFs and the entry).
        _routing: Ip6mr,
    },
    /// The drop ceiling.
    Drop {
        /// Its `bench_count` is attached to the router's upstream interface.
        counter: BenchObject,
    },
    /// The broadcast ceiling.
    Broadcast {
        /// Its `bench_broadcast` is attached to the router's upstream interface.
        _broadcaster: BenchObject,
    },
    /// Replication at TC.
    Tc {
        /// Its `bench_tc_clone` is attached at the router's upstream ingress.
        _cloner: BenchObject,
    },
}

impl Installed {
    /// Sets `path` up at the router of `lab`, forwarding `family`'s traffic to every receiver.
    pub fn new(lab: &Lab, path: Path, family: Family) -> Result<Self> {
        Self::new_for(lab, path, family, &[GROUP])
    }

    /// [`Installed::new`] with an entry for each of `groups` (from the lab's source) where
    /// mgm or the kernel forwards IPv4; the other paths and IPv6 forward their one group.
    pub fn new_for(lab: &Lab, path: Path, family: Family, groups: &[Ipv4Addr]) -> Result<Self> {
        if !path.carries(family) {
            bail!("{} does not carry {}", path.label(), family.label());
        }
        let receivers = receiver_interfaces(lab)?;
        let source = Lab::address_of(Host::Source);
        let upstream_mac = lab.mac(Host::Router, UPSTREAM)?;
        lab.in_ns(Host::Router, || -> Result<Self> {
            Ok(match (path, family) {
                (Path::Mgm, Family::V6) => {
                    let mut router = MgmRouter::load(UPSTREAM, &receivers, true)?;
                    router.install6(Sg6Key::new(SOURCE6, GROUP6), receivers.len())?;
                    Installed::Mgm {
                        router: Box::new(router),
                    }
                }
                (Path::Kernel, Family::V6) => Installed::Kernel6 {
                    _routing: kernel_routes6(&receivers)?,
                },
                (Path::Mgm, Family::V4) => {
                    let mut router = MgmRouter::load(UPSTREAM, &receivers, true)?;
                    for group in groups {
                        router.install(SgKey::new(source, *group), receivers.len())?;
                    }
                    Installed::Mgm {
                        router: Box::new(router),
                    }
                }
                (Path::Mirror, _) => {
                    let routing = kernel_routes(source, &receivers, &[GROUP])?;
                    let router = MgmRouter::load(UPSTREAM, &receivers, true)?;
                    let mirror = Mirror::new(
                        routing,
                        router,
                        upstream_mac,
                        (source, GROUP),
                        receivers.len(),
                    )?;
                    Installed::Mirror {
                        mirror: Box::new(mirror),
                    }
                }
                (Path::Kernel, Family::V4) => Installed::Kernel {
                    _routing: kernel_routes(source, &receivers, groups)?,
                },
                (Path::Drop, _) => {
                    let mut object = BenchObject::load()?;
                    object.attach(COUNT, UPSTREAM)?;
                    Installed::Drop { counter: object }
                }
                (Path::Broadcast, _) => {
                    let mut object = BenchObject::load()?;
                    object.set_broadcast(&receiver_indexes(&receivers)?)?;
                    object.attach(BROADCAST, UPSTREAM)?;
                    Installed::Broadcast {
                        _broadcaster: object,
                    }
                }
                (Path::Tc, _) => {
                    let mut object = BenchObject::load()?;
                    object.attach_tc_clone(UPSTREAM, &receiver_indexes(&receivers)?)?;
                    Installed::Tc { _cloner: object }
                }
            })
        })?
        .with_context(|| format!("setting up {} at the router", path.label_in(family)))
    }

    /// Frames the router's own counter saw (the drop ceiling), if this path counts them.
    pub fn router_count(&self) -> Result<Option<u64>> {
        match self {
            Installed::Drop { counter } => counter.counted().map(Some),
            Installed::Mgm { .. }
            | Installed::Mirror { .. }
            | Installed::Kernel { .. }
            | Installed::Kernel6 { .. }
            | Installed::Broadcast { .. }
            | Installed::Tc { .. } => Ok(None),
        }
    }

    /// Checks, after traffic, that the path forwarded as it is meant to (the mirror path: in
    /// XDP, with samples to the kernel; mgm: no copy dropped without its counter, no frame left
    /// without its metadata);
    /// returns an account of what it did, if it has one.
    pub fn check(&self) -> Result<Option<String>> {
        match self {
            Installed::Mirror { mirror } => mirror.check().map(Some),
            Installed::Mgm { router } => check_accounted(router).map(|()| None),
            Installed::Kernel { .. }
            | Installed::Kernel6 { .. }
            | Installed::Drop { .. }
            | Installed::Broadcast { .. }
            | Installed::Tc { .. } => Ok(None),
        }
    }
}

/// Fails if any of `router`'s copies was dropped without its per-(entry, interface) counter
/// (`egress_no_counter`) or a frame to punt or pass to the TC program found no room for its
/// metadata (`meta_failed`): the run would not measure the path mgm takes.
fn check_accounted(router: &MgmRouter) -> Result<()> {
    let stats = router.global_stats()?;
    let stat = |name: &str| stats.get(name).copied().unwrap_or(0);
    let (failed, unread) = (stat("meta_failed"), stat("egress_no_counter"));
    if failed > 0 || unread > 0 {
        bail!("frames not accounted for: meta_failed {failed}, egress_no_counter {unread}");
    }
    Ok(())
}

/// The kernel's routing in the calling thread's namespace: VIFs for the upstream and every
/// receiver's interface, and a (`source`, group) entry for each of `groups` from upstream to
/// all of them.
fn kernel_routes(
    source: Ipv4Addr,
    receivers: &[(String, [u8; 6])],
    groups: &[Ipv4Addr],
) -> Result<Ipmr> {
    let mut ipmr = Ipmr::open()?;
    let upstream = ifindex(UPSTREAM)?;
    ipmr.add_vif(upstream, 1)?;
    let mut oifs = Vec::new();
    for (iface, _) in receivers {
        let index = ifindex(iface)?;
        ipmr.add_vif(index, 1)?;
        oifs.push((index, 1));
    }
    for group in groups {
        ipmr.add_mfc(source, *group, upstream, &oifs)?;
    }
    Ok(ipmr)
}

/// The kernel's IPv6 routing in the calling thread's namespace: MIFs for the upstream and every
/// receiver's interface, and the ([`SOURCE6`], [`GROUP6`]) entry from upstream to all of them.
fn kernel_routes6(receivers: &[(String, [u8; 6])]) -> Result<Ip6mr> {
    let mut ip6mr = Ip6mr::open()?;
    let upstream = ifindex(UPSTREAM)?;
    ip6mr.add_mif(upstream)?;
    let oifs = receiver_indexes(receivers)?;
    for oif in &oifs {
        ip6mr.add_mif(*oif)?;
    }
    ip6mr.add_mfc(SOURCE6, GROUP6, upstream, &oifs)?;
    Ok(ip6mr)
}

/// The ifindexes of the router's receiver-side interfaces (in the router's namespace).
fn receiver_indexes(receivers: &[(String, [u8; 6])]) -> Result<Vec<u32>> {
    receivers.iter().map(|(iface, _)| ifindex(iface)).collect()
}
