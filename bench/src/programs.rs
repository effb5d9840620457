//! The benchmark-only XDP object (`mgm_user::dataplane::BENCH_OBJECT`): loading it and using
//! its programs and maps. Its program and map names are those of
//! `mgm-ebpf/src/bin/mgm-bench-xdp.rs`.
use anyhow::{anyhow, bail, Context as _, Result};
use aya::{
    maps::{Array, DevMap, DevMapHash, MapData, PerCpuArray},
    programs::{tc, SchedClassifier, TcAttachType, Xdp, XdpMode},
    Ebpf,
};

/// The generator's program (restores the headers, redirects out of `GEN_TX[0]`).
pub const GENERATOR: &str = "bench_gen";
/// Count and drop.
pub const COUNT: &str = "bench_count";
/// Bare broadcast to every interface of `BROADCAST`.
pub const BROADCAST: &str = "bench_broadcast";
/// Parse-only baseline of the per-packet micro-benchmark.
pub const PARSE: &str = "bench_parse";
/// A program that only passes: the micro-benchmark's test-run loop by itself.
pub const EMPTY: &str = "bench_empty";
/// Replication at TC with one clone per outgoing interface (a classifier).
pub const TC_CLONE: &str = "bench_tc_clone";
/// Most outgoing interfaces of [`TC_CLONE`].
pub const TC_MAX_OIFS: usize = 16;

/// Bytes of the frame's headers the generator restores: Ethernet and IPv4, or for IPv6 Ethernet
/// and the IPv6 header's first 20 bytes (the hop limit, the one field a forwarder rewrites,
/// among them).
pub const GEN_HEADER_LEN: usize = 34;

/// One loaded instance of the benchmark object; programs are loaded on demand. Dropping it
/// detaches whatever it attached.
pub struct BenchObject {
    ebpf: Ebpf,
}

impl BenchObject {
    /// Loads the object's maps (no program yet).
    pub fn load() -> Result<Self> {
        let object = mgm_user::dataplane::BENCH_OBJECT;
        if object.is_empty() {
            bail!("this binary was built without its eBPF objects (AYA_BUILD_SKIP); rebuild without it");
        }
        Ok(Self {
            ebpf: Ebpf::load(object).context("loading the benchmark XDP object")?,
        })
    }

    /// The program `name`, loaded into the kernel.
    pub fn program(&mut self, name: &str) -> Result<&mut Xdp> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("the benchmark object has no program {name}"))?
            .try_into()?;
        if program.fd().is_err() {
            program.load().with_context(|| format!("loading {name}"))?;
        }
        Ok(program)
    }

    /// Loads program `name` and attaches it in driver mode to `iface` of the calling thread's
    /// network namespace.
    pub fn attach(&mut self, name: &str, iface: &str) -> Result<()> {
        self.program(name)?
            .attach(iface, XdpMode::Driver)
            .with_context(|| format!("attaching {name} to {iface}"))?;
        Ok(())
    }

    /// Sets the generator's headers and output interface (an ifindex of the calling thread's
    /// network namespace).
    pub fn configure_generator(&mut self, header: &[u8], tx_ifindex: u32) -> Result<()> {
        let header: [u8; GEN_HEADER_LEN] = header
            .get(..GEN_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| anyhow!("frame shorter than its headers"))?;
        let mut headers: Array<&mut MapData, [u8; GEN_HEADER_LEN]> =
            Array::try_from(self.map("GEN_HEADER")?)?;
        headers.set(0, header, 0)?;
        let mut tx: DevMap<&mut MapData> = DevMap::try_from(self.map("GEN_TX")?)?;
        tx.set(0, tx_ifindex, None, 0)?;
        Ok(())
    }

    /// Fills the set `bench_broadcast` replicates to (ifindexes of the calling thread's network
    /// namespace).
    pub fn set_broadcast(&mut self, ifindexes: &[u32]) -> Result<()> {
        let mut set: DevMapHash<&mut MapData> = DevMapHash::try_from(self.map("BROADCAST")?)?;
        for ifindex in ifindexes {
            set.insert(*ifindex, *ifindex, None, 0)?;
        }
        Ok(())
    }

    /// Loads `bench_tc_clone` and attaches it at the ingress of `iface` (of the calling
    /// thread's network namespace), copying to `oifs`.
    pub fn attach_tc_clone(&mut self, iface: &str, oifs: &[u32]) -> Result<()> {
        if oifs.len() > TC_MAX_OIFS {
            bail!("{TC_CLONE} copies to at most {TC_MAX_OIFS} interfaces");
        }
        let mut list: Array<&mut MapData, u32> = Array::try_from(self.map("TC_OIFS")?)?;
        for (slot, oif) in (0u32..).zip(oifs) {
            list.set(slot, oif, 0)?;
        }
        // Without TCX (kernels before 6.6) the classifier needs the clsact qdisc; an existing
        // one is fine.
        let _ = tc::qdisc_add_clsact(iface);
        let program: &mut SchedClassifier = self
            .ebpf
            .program_mut(TC_CLONE)
            .ok_or_else(|| anyhow!("the benchmark object has no program {TC_CLONE}"))?
            .try_into()?;
        program
            .load()
            .with_context(|| format!("loading {TC_CLONE}"))?;
        program
            .attach(iface, TcAttachType::Ingress)
            .with_context(|| format!("attaching {TC_CLONE} to {iface}"))?;
        Ok(())
    }

    /// Packets counted by `bench_count` so far (all CPUs).
    pub fn counted(&self) -> Result<u64> {
        let map = self
            .ebpf
            .map("COUNTER")
            .ok_or_else(|| anyhow!("the benchmark object has no COUNTER map"))?;
        let counter: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(map)?;
        Ok(counter.get(&0, 0)?.iter().sum())
    }

    fn map(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .ok_or_else(|| anyhow!("the benchmark object has no map {name}"))
    }
}
