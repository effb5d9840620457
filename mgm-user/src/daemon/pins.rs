//! Loading the data plane pinned (or, when asked, unpinned) and saying where, for `mgmctl show
//! status`; removing the pins of network namespaces that are gone ([`Pins::collect_stale`]).
use crate::{
    config::{DaemonConfig, InterfaceConfig},
    dataplane::{
        bpffs::{self, PinBase, Reach},
        stale_pins::{self, Kept},
        DataPlane,
    },
    netns::Identity,
};
use anyhow::{Context as _, Result};
use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};
use tracing::{debug, info, warn};

/// How often the pin directories of namespaces that are gone are looked for (the first pass
/// as soon as mgmd's main loop runs): a pass costs a directory listing and one system call
/// per other namespace's directory, and a deleted namespace's maps are freed within this time.
pub(super) const COLLECT_INTERVAL: Duration = Duration::from_secs(60);

/// Pin directories of namespaces that are gone removed, failed to remove, and passes that
/// found more entries than they look at (`mgmctl show stats`).
static COLLECTED: AtomicU64 = AtomicU64::new(0);
static COLLECT_FAILED: AtomicU64 = AtomicU64::new(0);
static COLLECT_TRUNCATED: AtomicU64 = AtomicU64::new(0);

/// The counters of the collection, by their `show stats` names.
pub(super) fn counters() -> impl Iterator<Item = (&'static str, u64)> {
    [
        ("stale_pin_dirs_removed", &COLLECTED),
        ("stale_pin_dirs_remove_failed", &COLLECT_FAILED),
        ("stale_pin_dirs_listing_truncated", &COLLECT_TRUNCATED),
    ]
    .into_iter()
    .map(|(name, n)| (name, n.load(Relaxed)))
}

/// Where mgmd's data plane is pinned; it holds what keeps the pin directory reachable.
pub(super) struct Pins {
    /// The bpffs directory (`None`: unpinned).
    base: Option<PinBase>,
    /// The pin directory's name under it.
    name: String,
    /// This mgmd's claim on the pin directory (pinned only).
    _claim: Option<super::instance::Claim>,
    /// This network namespace, when pinned and the collection of stale pins is on.
    collecting: Option<Identity>,
    /// Ifindexes of configured interfaces renamed while no mgmd ran (their pinned XDP links
    /// moved to their new names).
    renamed: Vec<u32>,
    /// Passes of the collection so far (the first one logs every directory it keeps).
    passes: u64,
}

impl Pins {
    /// The pin directory as named in the mount namespace that holds it (`None`: unpinned).
    pub(super) fn dir(&self) -> Option<PathBuf> {
        self.base.as_ref().map(|b| b.configured().join(&self.name))
    }

    /// Ifindexes of configured interfaces renamed while no mgmd ran.
    pub(super) fn renamed(&self) -> &[u32] {
        &self.renamed
    }

    /// No pins (the request handler's test kit; mgmd itself goes through [`load_plane`]).
    #[cfg(any(test, feature = "testkit"))]
    pub(super) fn unpinned() -> Self {
        Self {
            base: None,
            name: pin_dir_name(),
            _claim: None,
            collecting: None,
            renamed: Vec::new(),
            passes: 0,
        }
    }

    /// How mgmd reached it, when pinned.
    pub(super) fn reach(&self) -> Option<&Reach> {
        self.base.as_ref().map(PinBase::reach)
    }

    /// Removes the pin directories of network namespaces that are gone, beside this one's
    /// ([`stale_pins`]); each removal is logged and counted. Does nothing when unpinned or
    /// with `collect_stale_pins = false`.
    pub(super) fn collect_stale(&mut self) {
        let (Some(base), Some(own)) = (&self.base, self.collecting) else {
            return;
        };
        let first = self.passes == 0;
        self.passes += 1;
        if first {
            if let Err(e) = crate::netns::check_lookup() {
                warn!(error = %e, "stale pins of deleted network namespaces are not collected: the kernel cannot say which are gone (Linux 6.18 and CAP_SYS_ADMIN in the host's user namespace are needed)");
                self.collecting = None;
                return;
            }
        }
        let pass = match stale_pins::collect(base.path(), own, crate::netns::presence) {
            Ok(pass) => pass,
            Err(e) => {
                if first {
                    warn!(error = %e, "stale pins of deleted network namespaces are not collected");
                }
                return;
            }
        };
        let shown = |dir: &Path| base.configured().join(dir.file_name().unwrap_or_default());
        for removed in &pass.removed {
            COLLECTED.fetch_add(1, Relaxed);
            info!(
                dir = %shown(&removed.dir).display(),
                age_s = removed.age.map(|a| a.as_secs()),
                "removed the pins of a network namespace that is gone"
            );
        }
        for (dir, error) in &pass.failed {
            COLLECT_FAILED.fetch_add(1, Relaxed);
            warn!(dir = %shown(dir).display(), %error, "removing the pins of a network namespace that is gone");
        }
        if pass.truncated {
            COLLECT_TRUNCATED.fetch_add(1, Relaxed);
            warn!(
                limit = stale_pins::MAX_LISTED,
                "more entries in the bpffs directory than a pass looks at: the rest wait"
            );
        }
        for (dir, kept) in &pass.kept {
            let why = match kept {
                Kept::Alive => continue,
                Kept::NoRecord => "it records no namespace (an older mgmd made it): remove it by hand once its namespace is gone".to_owned(),
                Kept::Unknown(e) => format!("whether its namespace lives is unknown: {e}"),
            };
            match first {
                true => info!(dir = %shown(dir).display(), "kept pins: {why}"),
                false => debug!(dir = %shown(dir).display(), "kept pins: {why}"),
            }
        }
    }
}

/// The pin directory's name: `net-<cookie of this network namespace>`, so that routers in
/// different network namespaces (whose ifindexes are unrelated) never share pinned state, while
/// a restart in the same namespace finds its own. The cookie, unlike the namespace's inode, is
/// never reused: a namespace made after another one was deleted cannot adopt its stale pins.
fn pin_dir_name() -> String {
    stale_pins::dir_name(crate::netns::cookie().unwrap_or(0))
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
        let plane = DataPlane::load_sized(config.max_entries).context("loading the XDP program")?;
        let pins = Pins {
            base: None,
            name,
            _claim: None,
            collecting: None,
            renamed: Vec::new(),
            passes: 0,
        };
        return Ok((plane, pins));
    }
    let base = bpffs::locate(Path::new(&config.bpffs))?;
    let claim = super::instance::claim(&base.configured().join(&name)).await?;
    let dir = base.path().join(&name);
    super::xdp_hooks::refuse_taken(netlink, interfaces, Some(&dir.join("links"))).await?;
    let renamed = super::renamed_links::follow_renames(&dir.join("links"), interfaces);
    let plane = DataPlane::load_pinned_sized(&dir, config.max_entries).with_context(|| {
        format!(
            "pinning the data plane under {} (--unpinned runs without pins)",
            base.configured().join(&name).display()
        )
    })?;
    let collecting = record_namespace(&dir, &name).filter(|_| config.collect_stale_pins);
    let pins = Pins {
        base: Some(base),
        name,
        _claim: Some(claim),
        collecting,
        renamed,
        passes: 0,
    };
    if let (Some(dir), Some(reach)) = (pins.dir(), pins.reach()) {
        info!(dir = %dir.display(), %reach, "data plane pinned");
    }
    Ok((plane, pins))
}

/// Records this network namespace in its pin directory `dir` (named `name`), so that a later
/// mgmd can tell when it is gone ([`stale_pins`]); its identity, or `None` (logged) if it
/// cannot be known or recorded (this mgmd then collects nothing either).
fn record_namespace(dir: &Path, name: &str) -> Option<Identity> {
    let recorded = Identity::current()
        .and_then(|id| match stale_pins::dir_name(id.cookie) == name {
            true => Ok(id),
            false => Err(std::io::Error::other("the namespace changed")),
        })
        .and_then(|id| stale_pins::record(dir, id.inode).map(|()| id));
    match recorded {
        Ok(id) => Some(id),
        Err(e) => {
            warn!(error = %e, "recording the network namespace in its pin directory: its pins cannot be collected once it is gone");
            None
        }
    }
}
