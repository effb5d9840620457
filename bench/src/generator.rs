//! The traffic generator: BPF_PROG_RUN in live-frames mode (`BPF_F_TEST_XDP_LIVE_FRAMES`). The
//! kernel runs `bench_gen` on copies of one frame, and the program's redirect really transmits
//! them out of the source host's veth, at several million frames per second, with no kernel
//! module (this kernel has no pktgen).
//!
//! Each test-run call sets up and tears down a page pool, which costs milliseconds, so calls are
//! sized to about half a second of traffic ([`CALL_TARGET`]); with a rate limit, to
//! [`PACED_CHUNK`] of it. Each call also enters the program into the kernel's XDP dispatcher
//! under one machine-wide mutex and waits for an RCU grace period, which a generator running
//! on another CPU holds up until its own call ends: generators that run side by side make one
//! long call each ([`Generator::call_target`]).
use crate::programs::{BenchObject, GENERATOR};
use anyhow::{bail, Context as _, Result};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions};
use std::{
    ffi::CString,
    time::{Duration, Instant},
};

/// Time one unpaced test-run call aims at, by default.
pub const CALL_TARGET: Duration = Duration::from_millis(500);
/// Traffic sent per call when paced.
const PACED_CHUNK: Duration = Duration::from_millis(50);
/// Frames per call before the rate is known.
const FIRST_CALL: u32 = 20_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Generator {
    /// The frame, sent as is apart from the headers the program restores.
    pub frame: Vec<u8>,
    /// How long to send.
    pub duration: Duration,
    /// Frames per second at most (`None`: as fast as the path downstream takes them).
    pub rate: Option<f64>,
    /// The CPU the generating thread is pinned to, under `SCHED_FIFO` or at the highest nice
    /// priority ([`Generator::real_time`]), so that other work on the machine takes as little
    /// of its CPU as it can (`None`: not pinned, normal priority).
    pub cpu: Option<usize>,
    /// Run the pinned thread under `SCHED_FIFO` ([`GENERATOR_PRIORITY`]) instead of nice −20.
    /// Nice ranks threads only within their session's autogroup: other sessions' work still
    /// takes its share of the CPU, which a real-time thread does not give up (the kernel's
    /// real-time throttling leaves the others 5 %).
    pub real_time: bool,
    /// Frames per batch inside the kernel (1 to 256).
    pub batch: u32,
    /// Time an unpaced test-run call aims at, after a short first one that measures the rate.
    pub call_target: Duration,
}

/// What was generated.
#[derive(Clone, Copy, Debug)]
pub struct Generated {
    /// Frames handed to the program.
    pub frames: u64,
    /// Time from the first call to the end of the last.
    pub elapsed: Duration,
}

impl Generator {
    /// Sends through `iface`; the calling thread must be in the namespace of `iface`.
    pub fn run(&self, iface: &str) -> Result<Generated> {
        if let Some(cpu) = self.cpu {
            pin_to_cpu(cpu)?;
            if self.real_time {
                real_time(GENERATOR_PRIORITY)?;
            } else {
                highest_nice()?;
            }
        }
        let mut object = BenchObject::load()?;
        object.configure_generator(&self.frame, ifindex(iface)?)?;
        let program = object.program(GENERATOR)?;
        let start = Instant::now();
        let deadline = start + self.duration;
        let mut frames: u64 = 0;
        let mut per_call = FIRST_CALL;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if let Some(rate) = self.rate {
                let due = start + Duration::from_secs_f64(frames as f64 / rate);
                if due > now {
                    std::thread::sleep(due - now);
                    continue;
                }
                per_call = (rate * PACED_CHUNK.as_secs_f64()).max(1.0) as u32;
            }
            let call = Instant::now();
            let options = TestRunOptions {
                data_in: Some(&self.frame),
                repeat: per_call,
                attrs: TestRunAttrs::new().xdp_live_frames(self.batch),
                ..TestRunOptions::new()
            };
            program
                .test_run(options)
                .context("BPF_PROG_RUN in live-frames mode")?;
            frames += u64::from(per_call);
            if self.rate.is_none() {
                let rate = f64::from(per_call) / call.elapsed().as_secs_f64();
                let left = deadline.saturating_duration_since(Instant::now());
                let target = self.call_target.min(left).as_secs_f64();
                per_call = (rate * target).clamp(1_000.0, 50_000_000.0) as u32;
            }
        }
        Ok(Generated {
            frames,
            elapsed: start.elapsed(),
        })
    }
}

/// The ifindex of `iface` in the calling thread's network namespace.
pub fn ifindex(iface: &str) -> Result<u32> {
    let name = CString::new(iface)?;
    // SAFETY: a valid NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no interface {iface}");
    }
    Ok(index)
}

/// The real-time priority of generators that run under `SCHED_FIFO`.
pub const GENERATOR_PRIORITY: i32 = 40;

/// Puts the calling thread under `SCHED_FIFO` at `priority`: it runs as soon as it wakes and
/// until it sleeps.
pub fn real_time(priority: i32) -> Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is valid.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("SCHED_FIFO {priority}"));
    }
    Ok(())
}

/// Gives the calling thread nice −20 (the veth hand-over runs the router's and receivers'
/// XDP programs in this thread's softirq, so they share its priority).
fn highest_nice() -> Result<()> {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, -20)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("setting nice -20");
    }
    Ok(())
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity get valid pointers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error()).context(format!("pinning to CPU {cpu}"));
        }
    }
    Ok(())
}
