//! mgm's own forwarding path at the lab's router: the data plane's XDP program attached to the
//! upstream interface, and entries installed through its forwarding backend (`XdpBackend`),
//! exactly as the daemon installs them.
use crate::generator::ifindex;
use anyhow::{Context as _, Result};
use aya::programs::Xdp;
use mgm_common::SgKey;
use mgm_user::{
    dataplane::{DataPlane, ForwardingBackend, IfaceSettings, XdpBackend},
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
            backend.configure_interface(
                index,
                IfaceSettings {
                    mac: *mac,
                    ..IfaceSettings::default()
                },
            )?;
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
        })
    }

    /// Installs `sg`, arriving on the upstream interface, with the first `fan_out` outgoing
    /// interfaces.
    pub fn install(&mut self, sg: SgKey, fan_out: usize) -> Result<()> {
        let oifs = &self.oifs[..fan_out.min(self.oifs.len())];
        self.backend
            .install_mfe(sg, self.upstream, oifs)
            .with_context(|| format!("installing {sg}"))
    }

    /// The ingress program, for BPF_PROG_TEST_RUN.
    pub fn ingress(&mut self) -> Result<&mut Xdp> {
        Ok(self.plane.ingress_program()?)
    }
}
