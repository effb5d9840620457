//! The command-line tools' standard output into a pipe whose reader has gone
//! (`mgmctl show mfe | head`): Rust ignores SIGPIPE, so the next `println!` panics with a
//! backtrace. The tools take the signal's default back and end quietly, as `ip` or
//! `smcroutectl` do.

/// Restores SIGPIPE's default action (terminate); call first in `main`.
pub fn end_on_closed_stdout() {
    // SAFETY: signal(2) with SIG_DFL installs no handler; nothing else runs yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
