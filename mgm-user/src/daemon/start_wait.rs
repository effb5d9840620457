//! mgmd's start checks wait a little for what a killed mgmd still holds: the threads of one
//! just killed release its descriptors (API socket, pin claim, XDP links) a little after its
//! main thread is gone, which is what a restart waits for.
use std::{
    future::Future,
    ops::ControlFlow,
    time::{Duration, Instant},
};

/// How long something still held is tried again.
pub(super) const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// The pause between two tries.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Runs `attempt` until it breaks (what it waits for is free, or it failed otherwise), again
/// after [`RETRY_PAUSE`] while it finds the thing held, for [`RELEASE_WAIT`] at most: then what
/// held it the last time.
pub(super) async fn retry_while_held<T, H, F>(mut attempt: impl FnMut() -> F) -> ControlFlow<T, H>
where
    F: Future<Output = ControlFlow<T, H>>,
{
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        let held = attempt().await?;
        if Instant::now() >= deadline {
            return ControlFlow::Continue(held);
        }
        drop(held);
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
