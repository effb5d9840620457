//! Loads the embedded XDP object, attaches it to interfaces and reads its counters.
use aya::{
    maps::PerCpuArray,
    programs::{Xdp, XdpMode},
    Ebpf,
};
use mgm_common::stat;
use std::collections::BTreeMap;

/// The XDP object built from `mgm-ebpf` by this crate's build script.
static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mgm-xdp"));

/// Name of the ingress program in the object.
const INGRESS_PROGRAM: &str = "mgm_xdp";

/// Errors of the data plane.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The binary was built with `AYA_BUILD_SKIP=1` and carries no eBPF object.
    #[error("this binary was built without its XDP program (AYA_BUILD_SKIP was set); rebuild without it")]
    NoObject,
    /// The kernel refused the object or a map operation.
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program operation failed.
    #[error("XDP program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    /// A map operation failed.
    #[error("BPF map: {0}")]
    Map(#[from] aya::maps::MapError),
    /// The object lacks a program or map this code expects.
    #[error("the XDP object has no {0}")]
    Missing(&'static str),
    /// No interface of that name exists.
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    /// The interface is not attached.
    #[error("interface {0:?} is not attached")]
    NotAttached(String),
}

/// Global per-class packet counters, summed over CPUs, by name.
pub type GlobalStats = BTreeMap<&'static str, u64>;

/// The loaded XDP object and the interfaces it is attached to.
pub struct DataPlane {
    ebpf: Ebpf,
    attached: BTreeMap<String, aya::programs::xdp::XdpLinkId>,
}

impl DataPlane {
    /// Loads the embedded object into the kernel (no interface attached yet).
    pub fn load() -> Result<Self, DataPlaneError> {
        if XDP_OBJECT.is_empty() {
            return Err(DataPlaneError::NoObject);
        }
        let mut ebpf = Ebpf::load(XDP_OBJECT)?;
        ingress(&mut ebpf)?.load()?;
        Ok(Self {
            ebpf,
            attached: BTreeMap::new(),
        })
    }

    /// The loaded object, for modules that own its maps.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Attaches the ingress program to `iface` in driver (native) mode, or in generic (skb)
    /// mode when `generic` is set (for NICs without native XDP, bridges and `lo`).
    pub fn attach(&mut self, iface: &str, generic: bool) -> Result<(), DataPlaneError> {
        let flags = if generic {
            XdpMode::Skb
        } else {
            XdpMode::Driver
        };
        let link = ingress(&mut self.ebpf)?.attach(iface, flags)?;
        self.attached.insert(iface.to_owned(), link);
        Ok(())
    }

    /// Detaches the ingress program from `iface`.
    pub fn detach(&mut self, iface: &str) -> Result<(), DataPlaneError> {
        let link = self
            .attached
            .remove(iface)
            .ok_or_else(|| DataPlaneError::NotAttached(iface.to_owned()))?;
        ingress(&mut self.ebpf)?.detach(link)?;
        Ok(())
    }

    /// Names of the attached interfaces.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.attached.keys().map(String::as_str)
    }

    /// The global counters, summed over CPUs.
    pub fn global_stats(&self) -> Result<GlobalStats, DataPlaneError> {
        let map = self
            .ebpf
            .map("STATS")
            .ok_or(DataPlaneError::Missing("STATS map"))?;
        let stats: PerCpuArray<_, u64> = PerCpuArray::try_from(map)?;
        let mut out = GlobalStats::new();
        for (index, name) in stat::NAMES.iter().enumerate() {
            let per_cpu = stats.get(&(index as u32), 0)?;
            out.insert(*name, per_cpu.iter().sum());
        }
        Ok(out)
    }
}

fn ingress(ebpf: &mut Ebpf) -> Result<&mut Xdp, DataPlaneError> {
    ebpf.program_mut(INGRESS_PROGRAM)
        .ok_or(DataPlaneError::Missing("ingress program"))?
        .try_into()
        .map_err(DataPlaneError::Program)
}
