//! The `--background-load` condition: one busy thread per CPU at normal priority (SCHED_OTHER,
//! nice 0), as a machine busy with other work would be, while a part is measured again.
use serde::Serialize;
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

/// Under which load a figure was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Load {
    /// Nothing but the benchmark (and whatever else the machine runs).
    Idle,
    /// A CPU hog on every core at normal priority.
    Hog,
}

impl Load {
    /// Suffix of a row or series label.
    pub fn suffix(self) -> &'static str {
        match self {
            Load::Idle => "",
            Load::Hog => " + CPU hog",
        }
    }
}

/// Running CPU hogs; dropping it stops and joins them.
pub struct Hogs {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Hogs {
    /// Starts one spinning thread per available CPU.
    pub fn start() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cpus)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Runs `measure` once idle and, if `background` is set, once more with [`Hogs`] running;
/// the results of both, in that order.
pub fn idle_then_loaded<T>(
    background: bool,
    mut measure: impl FnMut(Load) -> anyhow::Result<Vec<T>>,
) -> anyhow::Result<Vec<T>> {
    let mut results = measure(Load::Idle)?;
    if background {
        let _hogs = Hogs::start();
        results.extend(measure(Load::Hog)?);
    }
    Ok(results)
}
