//! Loading the data plane pinned (or, when asked, unpinned) and saying where, for `mgmctl show
//! status`.
use crate::{
    config::{DaemonConfig, InterfaceConfig},
    dataplane::{
        bpffs::{self, PinBase, Reach},
        DataPlane,
    },
};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// Where mgmd's data plane is pinned; it holds what keeps the pin directory reachable.
pub(super) struct Pins {
    /// The bpffs directory (`None`: unpinned).
    base: Option<PinBase>,
    /// The pin directory's name under it.
    name: String,
    /// This mgmd's claim on the pin directory (pinned only).
    _claim: Option<super::instance::Claim>,
}

impl Pins {
    /// The pin directory as named in the mount namespace that holds it (`None`: unpinned).
    pub(super) fn dir(&self) -> Option<PathBuf> {
        self.base.as_ref().map(|b| b.configured().join(&self.name))
    }

    /// No pins (the request handler's test kit; mgmd itself goes through [`load_plane`]).
    #[cfg(any(test, feature = "testkit"))]
    pub(super) fn unpinned() -> Self {
        Self {
            base: None,
            name: pin_dir_name(),
            _claim: None,
        }
    }

    /// How mgmd reached it, when pinned.
    pub(super) fn reach(&self) -> Option<&Reach> {
        self.base.as_ref().map(PinBase::reach)
    }
}

/// The pin directory's name: `net-<cookie of this network namespace>`, so that routers in
/// different network namespaces (whose ifindexes are unrelated) never share pinned state, while
/// a restart in the same namespace finds its own. The cookie, unlike the namespace's inode, is
/// never reused: a namespace made after another one was deleted cannot adopt its stale pins.
fn pin_dir_name() -> String {
    let netns = crate::netns::cookie().unwrap_or(0);
    format!("net-{netns}")
}

/// Loads the data plane pinned under `<bpffs>/net-<netns>` (mgmd's user's alone), adopting what
/// a previous run left there; a pin directory others control, or no bpffs that outlives mgmd
/// ([`bpffs::locate`]), is refused unless `unpinned` asks to run without pins. Refused too:
/// one of `interfaces` holding an XDP program mgmd did not pin ([`super::xdp_hooks`]).
pub(super) async fn load_plane(
    config: &DaemonConfig,
    interfaces: &[InterfaceConfig],
    netlink: &rtnetlink::Handle,
) -> Result<(DataPlane, Pins)> {
    let name = pin_dir_name();
    if config.unpinned {
        super::xdp_hooks::refuse_taken(netlink, interfaces, None).await?;
        warn!("running unpinned as configured (--unpinned or unpinned = true): forwarding stops with mgmd");
        let plane = DataPlane::load().context("loading the XDP program")?;
        let pins = Pins {
            base: None,
            name,
            _claim: None,
        };
        return Ok((plane, pins));
    }
    let base = bpffs::locate(Path::new(&config.bpffs))?;
    let claim = super::instance::claim(&base.configured().join(&name)).await?;
    let dir = base.path().join(&name);
    super::xdp_hooks::refuse_taken(netlink, interfaces, Some(&dir.join("links"))).await?;
    let plane = DataPlane::load_pinned(&dir).with_context(|| {
        format!(
            "pinning the data plane under {} (--unpinned runs without pins)",
            base.configured().join(&name).display()
        )
    })?;
    let pins = Pins {
        base: Some(base),
        name,
        _claim: Some(claim),
    };
    if let (Some(dir), Some(reach)) = (pins.dir(), pins.reach()) {
        info!(dir = %dir.display(), %reach, "data plane pinned");
    }
    Ok((plane, pins))
}
