//! mgm's own forwarding path at the lab's router: the data plane's XDP program attached to the
//! upstream interface, and entries installed through its forwarding backend (`XdpBackend`),
//! exactly as the daemon installs them.
use crate::generator::ifindex;
use anyhow::{Context as _, Result};
use aya::programs::Xdp;
use mgm_common::{Sg6Key, SgKey};
use mgm_user::{
    dataplane::{
        monotonic_ns, DataPlane, ForwardingBackend, GlobalStats, IfaceSettings, XdpBackend,
    },
    lab::{Host, Lab},
};

/// The router's interfaces towards every receiver of `lab`, with their MAC addresses.
pub fn receiver_interfaces(lab: &Lab) -> Result<Vec<(String, [u8; 6])>> {
    (1..=lab.receivers())
        .map(|n| {
            let iface = Lab::router_iface(Host::Receiver(n));
            let mac = lab.mac(Host::Router, &iface)?;
            Ok((iface, mac))
        })
        .collect()
}

/// mgm's data plane loaded in the router's network namespace.
pub struct MgmRouter {
    plane: DataPlane,
    backend: XdpBackend,
    /// The ifindex entries accept packets from.
    pub upstream: u32,
    /// The configured outgoing interfaces' ifindexes, in the order given.
    pub oifs: Vec<u32>,
    /// Their MAC addresses, in the same order.
    macs: Vec<[u8; 6]>,
}

impl MgmRouter {
    /// Loads the data plane in the calling thread's network namespace, configures every
    /// outgoing interface (`(name, MAC)`), and attaches the ingress program to `upstream` when
    /// `attach` is set (micro-benchmarks run it without attaching).
    pub fn load(upstream: &str, oifs: &[(String, [u8; 6])], attach: bool) -> Result<Self> {
        let mut plane = DataPlane::load().context("loading mgm's data plane")?;
        let mut backend = XdpBackend::new(&mut plane)?;
        let mut indexes = Vec::with_capacity(oifs.len());
        for (name, mac) in oifs {
            let index = ifindex(name)?;
            backend.configure_interface(index, settings(*mac, false))?;
            indexes.push(index);
        }
        if attach {
            plane.attach(upstream, false)?;
        }
        Ok(Self {
            plane,
            backend,
            upstream: ifindex(upstream)?,
            oifs: indexes,
            macs: oifs.iter().map(|(_, mac)| *mac).collect(),
        })
    }

    /// Configures the upstream interface (MAC `upstream_mac`) and every outgoing one as
    /// mirrored, as mgmd's `[mirror]` does: the entries arriving upstream become mirrored
    /// entries (samples to the kernel, heartbeat fail-safe). The sample interval stays at the
    /// data plane's default; see [`MgmRouter::heartbeat`].
    pub fn mirror(&mut self, upstream_mac: [u8; 6]) -> Result<()> {
        self.configure_all(upstream_mac, true)
    }

    /// Undoes [`MgmRouter::mirror`]: the entries arriving upstream are plain again and the
    /// upstream interface is unconfigured, as after [`MgmRouter::load`].
    pub fn unmirror(&mut self, upstream_mac: [u8; 6]) -> Result<()> {
        self.configure_all(upstream_mac, false)?;
        self.backend.remove_interface(self.upstream)?;
        Ok(())
    }

    fn configure_all(&mut self, upstream_mac: [u8; 6], mirrored: bool) -> Result<()> {
        let upstream = (self.upstream, upstream_mac);
        let oifs = self.oifs.iter().copied().zip(self.macs.iter().copied());
        for (index, mac) in std::iter::once(upstream).chain(oifs) {
            self.backend
                .configure_interface(index, settings(mac, mirrored))
                .with_context(|| format!("configuring ifindex {index} (mirrored: {mirrored})"))?;
        }
        Ok(())
    }

    /// Writes mgmd's heartbeat (mgmd writes one every second): while it is fresh, mirrored
    /// entries forward in XDP; once it is older than the timeout they all go to the kernel.
    /// Plain entries do not look at it.
    pub fn heartbeat(&mut self) -> Result<()> {
        self.backend.mirror_heartbeat(monotonic_ns())?;
        Ok(())
    }

    /// The data plane's global counters.
    pub fn global_stats(&self) -> Result<GlobalStats> {
        Ok(self.plane.global_stats()?)
    }

    /// Installs `sg`, arriving on the upstream interface, with the first `fan_out` outgoing
    /// interfaces.
    pub fn install(&mut self, sg: SgKey, fan_out: usize) -> Result<()> {
        let oifs = &self.oifs[..fan_out.min(self.oifs.len())];
        self.backend
            .install_mfe(sg, self.upstream, oifs)
            .with_context(|| format!("installing {sg}"))
    }

    /// Installs (or replaces) the IPv6 entry `sg`, from the upstream interface to the first
    /// `fan_out` receivers.
    pub fn install6(&mut self, sg: Sg6Key, fan_out: usize) -> Result<()> {
        let oifs = &self.oifs[..fan_out.min(self.oifs.len())];
        self.backend
            .install_mfe6(sg, self.upstream, oifs)
            .with_context(|| format!("installing {sg}"))
    }

    /// The ingress program, for BPF_PROG_TEST_RUN.
    pub fn ingress(&mut self) -> Result<&mut Xdp> {
        Ok(self.plane.ingress_program()?)
    }
}

/// An interface's settings: its MAC, and whether it is mirrored.
fn settings(mac: [u8; 6], mirrored: bool) -> IfaceSettings {
    IfaceSettings {
        mac,
        mirrored,
        ..IfaceSettings::default()
    }
}
