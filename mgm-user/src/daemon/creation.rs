//! The creation thread: one thread waits on the report rings and the punt sockets together
//! (one `poll`), so that a creation alert costs one wake-up, as the kernel's resolver's does.
//! When it finds the router free, it runs the alert through the core itself (MGM decision,
//! held-packet send, install) and forwards the punted packets; when the main loop has the
//! router, it only moves the punted frames to the [`PuntBuffer`] and leaves the reports in
//! their rings, and the main loop takes both once its work is done ([`Shared::catch_up`]).
//!
//! The router stays the single owner of the state: both threads call it only under
//! [`Shared::router`]'s lock, one input at a time, as the main loop alone did before. The
//! thread never waits for that lock (a `try_lock`), so a long turn of the main loop (a
//! statistics slice, a reload) cannot stop it from emptying the punt rings.
//!
//! Timers: the thread keeps the ends of hold mode ([`Router::next_handover`]: a new entry's
//! ends 10 ms after its last punt) and runs the router's timers itself then
//! ([`Router::tick`]), and the main loop sleeps until the router's other deadlines
//! ([`Router::next_timer`]). So a creation wakes neither the main loop (a second thread, at the
//! same real-time priority, on a CPU the flow's receiver may need) nor the thread a second
//! time for a deadline the other one already handled, and the main loop holds no router lock
//! that a later creation would find taken. The main loop sleeps until a hold mode's end too
//! when the thread does not wait for it (an entry it created itself from the reports the
//! thread left it), and the thread runs the timers an input of its brought closer than the
//! main loop's deadline.
//!
//! Under `realtime_priority` the thread steps down to the normal scheduler from a new flow's
//! held send to its install, and back before its next wait ([`realtime::step_down`]).
//!
//! `creation_deferred` (`show stats`) counts the alerts and punts the thread found the router
//! busy for and left to the main loop (one more wake-up on their way).
use super::{
    punt_reader::{self, PuntBuffer},
    realtime,
    router::Router,
};
use crate::dataplane::{ReportReader, SharedSockets};
use std::{
    os::fd::{AsRawFd as _, RawFd},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard, PoisonError, TryLockError,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// Most data-plane reports handled under one hold of the router's lock.
const REPORT_BATCH: usize = 1024;

/// How long the thread's poll lasts at most, so that it notices [`Creation::stop`].
const WAIT: Duration = Duration::from_millis(50);

/// What the creation thread and the main loop share.
pub struct Shared {
    /// The router; whoever calls it holds this lock.
    pub router: Mutex<Router>,
    reports: Mutex<ReportReader>,
    /// The thread left reports in the rings for the main loop (it stops polling the rings
    /// until the main loop has read them, so as not to spin on them meanwhile).
    reports_deferred: AtomicBool,
    /// The thread moved punted frames to the buffer for the main loop.
    punts_deferred: AtomicBool,
    /// The deadline the main loop sleeps until; `None`: none.
    loop_deadline: Mutex<Option<Instant>>,
    /// The deadline the thread wakes up at for the router's timers; `None`: none.
    thread_deadline: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

/// Locks `mutex`, also after a panic of another holder (the process ends then anyway).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Shares `router` and the report rings' `reports`.
    pub fn new(router: Router, reports: ReportReader) -> Arc<Self> {
        Arc::new(Self {
            router: Mutex::new(router),
            reports: Mutex::new(reports),
            reports_deferred: AtomicBool::new(false),
            punts_deferred: AtomicBool::new(false),
            loop_deadline: Mutex::new(None),
            thread_deadline: Mutex::new(None),
            stop: AtomicBool::new(false),
        })
    }

    /// The router, for the main loop.
    pub fn router(&self) -> MutexGuard<'_, Router> {
        lock(&self.router)
    }

    /// The deadline the main loop is about to sleep until: the router's next timer, and the
    /// next end of hold mode if the thread wakes up later than that (see the module's doc).
    pub fn next_deadline(&self, router: &Router) -> Option<Instant> {
        let thread = *lock(&self.thread_deadline);
        let handover = router
            .next_handover()
            .filter(|&handover| thread.is_none_or(|thread| handover < thread));
        let deadline = earliest(router.next_timer(), handover);
        *lock(&self.loop_deadline) = deadline;
        deadline
    }

    /// The main loop's turn after a wake-up by the thread: the reports and punted frames the
    /// thread left to it.
    pub fn catch_up(&self, router: &mut Router) {
        if self.reports_deferred.swap(false, Ordering::AcqRel) {
            read_reports(router, &mut lock(&self.reports));
        }
        if self.punts_deferred.swap(false, Ordering::AcqRel) {
            router.drain_punts(Instant::now());
        }
    }
}

/// Runs the waiting reports through `router`, at most [`REPORT_BATCH`].
fn read_reports(router: &mut Router, reports: &mut ReportReader) {
    for report in std::iter::from_fn(|| reports.try_next()).take(REPORT_BATCH) {
        router.report(report, Instant::now());
    }
}

/// The running creation thread.
pub struct Creation {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Creation {
    /// Starts the thread over `shared`, reading `sockets` (into `buffer` while the main loop
    /// has the router); `wake` gets a message when the main loop has work (one at a time: a
    /// message not yet received stands for every one since).
    pub fn spawn(
        shared: Arc<Shared>,
        sockets: SharedSockets,
        buffer: Arc<PuntBuffer>,
        wake: mpsc::Sender<()>,
    ) -> std::io::Result<Self> {
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mgmd-creation".into())
                .spawn(move || run(&shared, &sockets, &buffer, &wake))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (at most one poll's [`WAIT`]).
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Which of the polled descriptors were readable.
struct Ready {
    reports: bool,
    punts: bool,
}

/// Waits up to `timeout` on the punt sockets and, unless the main loop has them, the report
/// rings; `None` when nothing was readable.
fn wait(
    shared: &Shared,
    sockets: &SharedSockets,
    rings: [RawFd; 2],
    timeout: Duration,
) -> Option<Ready> {
    let pollfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut polled: Vec<libc::pollfd> = Vec::new();
    if !shared.reports_deferred.load(Ordering::Acquire) {
        polled.extend(rings.map(pollfd));
    }
    let rings_polled = polled.len();
    polled.extend(
        lock(sockets)
            .values()
            .flat_map(|iface| &iface.sockets)
            .map(|socket| pollfd(socket.as_raw_fd())),
    );
    if polled.is_empty() {
        std::thread::sleep(timeout);
        return None;
    }
    // SAFETY: `polled` is a valid array of pollfds for the call's duration. A socket closed
    // meanwhile (its interface left service) makes poll report POLLNVAL or wake spuriously,
    // which only costs one look at the rings.
    let ready = unsafe {
        libc::poll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            timeout.as_micros().div_ceil(1000) as i32,
        )
    };
    if ready <= 0 {
        return None;
    }
    let readable = |p: &libc::pollfd| p.revents & libc::POLLIN != 0;
    let (rings, punts) = polled.split_at(rings_polled);
    let ready = Ready {
        reports: rings.iter().any(readable),
        punts: punts.iter().any(readable),
    };
    if !ready.reports && !ready.punts {
        // Readable without data (an error or a closed socket): no busy loop.
        std::thread::sleep(Duration::from_millis(1));
        return None;
    }
    Some(ready)
}

/// The router if no one else has it.
fn try_router(shared: &Shared) -> Option<MutexGuard<'_, Router>> {
    match shared.router.try_lock() {
        Ok(router) => Some(router),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The earlier of two deadlines, either of which may be none.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    a.into_iter().chain(b).min()
}

/// The thread's next deadline, set in `shared` for the main loop: the next end of hold mode,
/// and the router's next timer if it is closer than the deadline the main loop sleeps until.
fn thread_deadline(shared: &Shared, router: &Router) -> Option<Instant> {
    let sleeping = *lock(&shared.loop_deadline);
    let closer = router
        .next_timer()
        .filter(|&next| sleeping.is_none_or(|sleeping| next < sleeping));
    let deadline = earliest(router.next_handover(), closer);
    *lock(&shared.thread_deadline) = deadline;
    deadline
}

/// The thread's loop until [`Creation::stop`].
fn run(shared: &Shared, sockets: &SharedSockets, buffer: &PuntBuffer, wake: &mpsc::Sender<()>) {
    realtime::steps_down_after_sends();
    let rings = lock(&shared.reports).fds();
    // The deadline this thread keeps (`Shared::thread_deadline`).
    let mut due: Option<Instant> = None;
    while !shared.stop.load(Ordering::Acquire) {
        let timeout = due.map_or(WAIT, |due| {
            due.saturating_duration_since(Instant::now()).min(WAIT)
        });
        let ready = wait(shared, sockets, rings, timeout);
        // Also checked when inputs keep the poll from timing out.
        let timers_due = due.is_some_and(|due| Instant::now() >= due);
        if ready.is_none() && !timers_due {
            continue;
        }
        let Some(mut router) = try_router(shared) else {
            // The main loop has the router: the frames wait in the buffer, the reports in
            // their rings, and the main loop takes both, and the deadline, after its turn.
            if let Some(ready) = ready {
                buffer.count_deferred();
                if ready.punts {
                    punt_reader::buffer_rings(sockets, buffer);
                    shared.punts_deferred.store(true, Ordering::Release);
                }
                if ready.reports {
                    shared.reports_deferred.store(true, Ordering::Release);
                }
            }
            if timers_due {
                due = None;
                *lock(&shared.thread_deadline) = None;
            }
            let _ = wake.try_send(());
            continue;
        };
        if let Some(ready) = ready {
            if ready.reports {
                read_reports(&mut router, &mut lock(&shared.reports));
            }
            if ready.punts {
                router.drain_punts(Instant::now());
            }
        }
        if timers_due {
            router.tick(Instant::now());
        }
        due = thread_deadline(shared, &router);
        drop(router);
        // Real-time again before the next wait (it stepped down after a held send).
        realtime::step_up();
    }
}
