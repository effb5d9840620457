//! The forwarding paths compared at the lab's router, each set up and torn down on its own:
//! mgm's XDP forwarder, the kernel's ipmr, replication at TC (the eBPF alternative), and the
//! two ceilings (the cheapest possible XDP program, and replication alone).
use crate::{
    frame::GROUP,
    generator::ifindex,
    mgm_router::{receiver_interfaces, MgmRouter},
    programs::{BenchObject, BROADCAST, COUNT},
};
use anyhow::{Context as _, Result};
use mgm_common::SgKey;
use mgm_user::{
    ipmr::Ipmr,
    lab::{Host, Lab},
};
use serde::Serialize;

/// The router's interface towards the source.
pub const UPSTREAM: &str = "up0";

/// A way of getting the source's frames through the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// mgm's XDP forwarder, with one (S,G) entry installed through its forwarding backend.
    Mgm,
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
            Path::Kernel => "kernel ipmr",
            Path::Drop => "XDP_DROP ceiling",
            Path::Broadcast => "broadcast ceiling",
            Path::Tc => "TC clone_redirect",
        }
    }

    /// Short name in ratio headings.
    pub fn short(self) -> &'static str {
        match self {
            Path::Mgm => "mgm",
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
        _router: Box<MgmRouter>,
    },
    /// The kernel's path.
    Kernel {
        /// The routing socket (closing it removes the VIFs and the entry).
        _routing: Ipmr,
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
    /// Sets `path` up at the router of `lab`, forwarding to every receiver.
    pub fn new(lab: &Lab, path: Path) -> Result<Self> {
        let receivers = receiver_interfaces(lab)?;
        let source = Lab::address_of(Host::Source);
        lab.in_ns(Host::Router, || -> Result<Self> {
            Ok(match path {
                Path::Mgm => {
                    let mut router = MgmRouter::load(UPSTREAM, &receivers, true)?;
                    router.install(SgKey::new(source, GROUP), receivers.len())?;
                    Installed::Mgm {
                        _router: Box::new(router),
                    }
                }
                Path::Kernel => {
                    let mut ipmr = Ipmr::open()?;
                    let upstream = ifindex(UPSTREAM)?;
                    ipmr.add_vif(upstream, 1)?;
                    let mut oifs = Vec::new();
                    for (iface, _) in &receivers {
                        let index = ifindex(iface)?;
                        ipmr.add_vif(index, 1)?;
                        oifs.push((index, 1));
                    }
                    ipmr.add_mfc(source, GROUP, upstream, &oifs)?;
                    Installed::Kernel { _routing: ipmr }
                }
                Path::Drop => {
                    let mut object = BenchObject::load()?;
                    object.attach(COUNT, UPSTREAM)?;
                    Installed::Drop { counter: object }
                }
                Path::Broadcast => {
                    let mut object = BenchObject::load()?;
                    object.set_broadcast(&receiver_indexes(&receivers)?)?;
                    object.attach(BROADCAST, UPSTREAM)?;
                    Installed::Broadcast {
                        _broadcaster: object,
                    }
                }
                Path::Tc => {
                    let mut object = BenchObject::load()?;
                    object.attach_tc_clone(UPSTREAM, &receiver_indexes(&receivers)?)?;
                    Installed::Tc { _cloner: object }
                }
            })
        })?
        .with_context(|| format!("setting up {} at the router", path.label()))
    }

    /// Frames the router's own counter saw (the drop ceiling), if this path counts them.
    pub fn router_count(&self) -> Result<Option<u64>> {
        match self {
            Installed::Drop { counter } => counter.counted().map(Some),
            Installed::Mgm { .. }
            | Installed::Kernel { .. }
            | Installed::Broadcast { .. }
            | Installed::Tc { .. } => Ok(None),
        }
    }
}

/// The ifindexes of the router's receiver-side interfaces (in the router's namespace).
fn receiver_indexes(receivers: &[(String, [u8; 6])]) -> Result<Vec<u32>> {
    receivers.iter().map(|(iface, _)| ifindex(iface)).collect()
}
