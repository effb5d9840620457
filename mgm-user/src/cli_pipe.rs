//! The command-line tools' standard output into a pipe whose reader has gone
//! (`mgmctl show mfe | head`): `println!` panics there with a backtrace, because Rust ignores
//! SIGPIPE. [`print`] (the [`out!`](crate::out) and [`outln!`](crate::outln) macros) ends
//! the program by SIGPIPE instead, quietly, as `ip` or `smcroutectl` end. Only standard
//! output does: SIGPIPE stays ignored otherwise, so a write to a socket mgmd closed (a
//! connection over `api_max_connections`) is still an error the program reports.
use std::io::{ErrorKind, Write};

/// Writes `args` to standard output; a reader that has gone ends the program by SIGPIPE.
pub fn print(args: std::fmt::Arguments<'_>) {
    match std::io::stdout().lock().write_fmt(args) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            // SAFETY: signal(2) with SIG_DFL installs no handler; raise(3) then ends the
            // process as the kernel would have on the write.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
            std::process::exit(128 + libc::SIGPIPE);
        }
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}

/// `print!` through [`print`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli_pipe::print(format_args!($($arg)*))
    };
}

/// `println!` through [`print`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli_pipe::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli_pipe::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
