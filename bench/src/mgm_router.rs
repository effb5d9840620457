//! mgm's own forwarding path at the lab's router: the data plane's XDP program attached to the
//! upstream interface, and entries installed through its forwarding backend (`XdpBackend`),
//! exactly as the daemon installs them.
use anyhow::{Context as _, Result};
use aya::programs::Xdp;
use mgm_common::SgKey;
use mgm_user::dataplane::{DataPlane, ForwardingBackend, IfaceSettings, XdpBackend};

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
    /// outgoing interface (`(ifindex, MAC)`), and attaches the ingress program to `upstream`
    /// (by name) when `attach` is set (micro-benchmarks run it without attaching).
    pub fn load(upstream: &str, oifs: &[(u32, [u8; 6])], attach: bool) -> Result<Self> {
        let mut plane = DataPlane::load().context("loading mgm's data plane")?;
        let mut backend = XdpBackend::new(&mut plane)?;
        for (ifindex, mac) in oifs {
            backend.configure_interface(
                *ifindex,
                IfaceSettings {
                    mac: *mac,
                    ..IfaceSettings::default()
                },
            )?;
        }
        if attach {
            plane.attach(upstream, false)?;
        }
        Ok(Self {
            plane,
            backend,
            upstream: crate::generator::ifindex(upstream)?,
            oifs: oifs.iter().map(|(ifindex, _)| *ifindex).collect(),
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
