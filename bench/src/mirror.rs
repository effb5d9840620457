//! The mirror path at the lab's router (issue 12): the kernel's routes belong to their owner
//! (FRR's pimd, smcroute), which programs ipmr; mgm mirrors them into XDP. Here the kernel's
//! entry is made as [`Path::Kernel`](crate::paths::Path::Kernel) makes it, and the same (S,G)
//! is installed through `XdpBackend` with every interface configured mirrored, so the entry
//! carries the mirrored flag: packets forward in XDP, and one per sample interval (the data
//! plane's default, 5 s) per CPU goes to the kernel, which forwards it by its own entry. A
//! small thread keeps mgmd's heartbeat fresh meanwhile, as mgmd does.
use crate::mgm_router::MgmRouter;
use anyhow::{anyhow, bail, Result};
use mgm_user::ipmr::Ipmr;
use std::{
    net::Ipv4Addr,
    sync::{
        mpsc::{self, RecvTimeoutError},
        Arc, Mutex, PoisonError,
    },
    thread::JoinHandle,
    time::Duration,
};

/// How often the heartbeat is written (mgmd's period; the data plane's timeout is 3 s).
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);
/// Most packets handed to the kernel per packet forwarded in XDP before a run counts as not
/// mirrored (samples are one per 5 s per CPU: far below this at any rate measured).
const MAX_KERNEL_SHARE: f64 = 0.01;

/// The mirror path set up at the router; dropping it stops the heartbeat, then removes mgm's
/// data plane and the kernel's entry.
pub struct Mirror {
    heartbeat: Heartbeat,
    router: Arc<Mutex<MgmRouter>>,
    routing: Ipmr,
    source: Ipv4Addr,
    group: Ipv4Addr,
}

impl Mirror {
    /// Takes the kernel's routing (`routing`, already holding the (S,G) entry) and mgm's
    /// `router` (attached upstream, `upstream_mac` its upstream interface's MAC), marks the
    /// interfaces mirrored and installs (`source`, `group`) to the first `fan_out` outgoing
    /// interfaces.
    pub fn new(
        routing: Ipmr,
        mut router: MgmRouter,
        upstream_mac: [u8; 6],
        (source, group): (Ipv4Addr, Ipv4Addr),
        fan_out: usize,
    ) -> Result<Self> {
        router.mirror(upstream_mac)?;
        router.heartbeat()?;
        router.install(mgm_common::SgKey::new(source, group), fan_out)?;
        let router = Arc::new(Mutex::new(router));
        Ok(Self {
            heartbeat: Heartbeat::start(Arc::clone(&router)),
            router,
            routing,
            source,
            group,
        })
    }

    /// Fails loudly unless the run so far went through the mirrored XDP path: packets forwarded
    /// in XDP, samples handed to the kernel, no fall-back to the kernel (stale heartbeat) and
    /// no misses passed to it. Returns a one-line account.
    pub fn check(&self) -> Result<String> {
        if self
            .heartbeat
            .thread
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
        {
            bail!("the mirror's heartbeat thread has stopped");
        }
        let stats = self
            .router
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .global_stats()?;
        let stat = |name: &str| stats.get(name).copied().unwrap_or(0);
        let forwarded = stat("forwarded");
        let sampled = stat("mirror_sampled");
        let stale = stat("mirror_stale_passed");
        let missed = stat("mirror_miss_passed");
        let kernel = self
            .routing
            .counters(self.source, self.group)
            .map_err(|e| anyhow!("reading the kernel's entry: {e}"))?
            .packets;
        let account = format!(
            "forwarded in XDP {forwarded}, samples to the kernel {sampled}, stale passes {stale}, \
             misses passed {missed}; the kernel's entry counted {kernel}"
        );
        let to_kernel = (sampled + stale + missed) as f64;
        if forwarded == 0 || sampled == 0 || stale > 0 || missed > 0 {
            bail!("the mirror path did not forward as a mirror: {account}");
        }
        if to_kernel > MAX_KERNEL_SHARE * forwarded as f64 {
            bail!("the mirror path handed too much to the kernel: {account}");
        }
        Ok(account)
    }
}

/// The thread writing the heartbeat every [`HEARTBEAT_PERIOD`] until dropped.
struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    fn start(router: Arc<Mutex<MgmRouter>>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || loop {
            let written = router
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .heartbeat();
            if let Err(e) = written {
                // The runs then fall back to the kernel, which `Mirror::check` reports.
                eprintln!("mirror: writing the heartbeat failed: {e:#}");
                return;
            }
            match stopped.recv_timeout(HEARTBEAT_PERIOD) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
