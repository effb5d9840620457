//! mgmd, the mgm multicast routing daemon.
use clap::Parser;
use mgm_user::daemon;
use std::{path::PathBuf, process::ExitCode};

/// The mgm multicast routing daemon.
///
/// It forwards IPv4 and IPv6 multicast in XDP on the configured interfaces, runs the IGMP and
/// MLD router sides, static routes, the IGMP/MLD proxy and the mirror of the kernel's multicast
/// routes (FRR, smcroute), and serves the API that mgmctl and external routing protocols use.
/// Configuration: a TOML file (-c); SIGHUP reloads it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Configuration file (TOML; see mgmd.toml(5)).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Serve this interface with default settings (repeat for several), besides the
    /// configuration file's interfaces.
    #[arg(long = "iface", short = 'i')]
    interfaces: Vec<String>,
    /// Attach the --iface interfaces in generic (skb) mode, for NICs without native XDP.
    #[arg(long)]
    generic: bool,
    /// Path of the API socket (overrides the configuration file). Default: one per network
    /// namespace, /run/mgm/mgmd.sock in the host's, /run/mgm/netns-NAME.sock under
    /// `ip netns exec NAME`, /run/mgm/net-INODE.sock in another (mgmctl finds it the same way).
    #[arg(long)]
    api_socket: Option<PathBuf>,
    /// Run without pins when no bpffs can hold them (forwarding then stops with mgmd) instead
    /// of refusing to start; the same as `unpinned = true` in the configuration.
    #[arg(long)]
    unpinned: bool,
    /// Check the configuration file (-c) and exit.
    #[arg(long, requires = "config")]
    check: bool,
    /// Log filter (tracing EnvFilter syntax), e.g. info, debug, mgm_user=trace.
    #[arg(long, default_value = "info", env = "MGM_LOG")]
    log: String,
    /// More detail: debug logging (unless --log says otherwise) and every cause of an error.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Print the manual page (roff) and exit (for packaging).
    #[arg(long, hide = true)]
    man: bool,
    /// Print the completion script for SHELL and exit (for packaging).
    #[arg(long, hide = true, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
}

fn main() -> ExitCode {
    // One malloc arena for every thread: what a thread frees goes back where the others can
    // reuse it (mgmd allocates little outside its main loop). A fixed mmap threshold: large
    // blocks (the tables of 100 000 entries, which grow by doubling) are mapped and unmapped,
    // instead of the dynamic threshold moving them into the heap, where the blocks they leave
    // behind when they grow fragment it (14 MiB at 100 000 entries; README, "Memory").
    #[cfg(target_env = "gnu")]
    // SAFETY: called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    let mut args = Args::parse();
    if args.man || args.completions.is_some() {
        return mgm_user::cli_docs::print::<Args>("mgmd", 8, args.completions);
    }
    if args.verbose && args.log == "info" {
        args.log = "debug".into();
    }
    let verbose = args.verbose;
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e, verbose);
            ExitCode::FAILURE
        }
    }
}

/// One line for the error and its causes; with `-v`, each cause on a line of its own.
/// (No backtrace, whatever RUST_BACKTRACE says: this is for operators.)
fn report(e: &anyhow::Error, verbose: bool) {
    if verbose {
        eprintln!("mgmd: error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    } else {
        eprintln!("mgmd: error: {e:#}");
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| anyhow::anyhow!("--log {:?}: {e}", args.log))?;
    // Under systemd (JOURNAL_STREAM set) journald stamps each line itself; colours only on
    // a terminal.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    if journal {
        log.without_time().init();
    } else {
        log.init();
    }
    // clap refuses --check without --config.
    if let Some(path) = args.config.as_ref().filter(|_| args.check) {
        mgm_user::config::Config::load(path)?;
        println!("configuration OK");
        return Ok(());
    }
    let options = daemon::Options {
        config: args.config,
        interfaces: args.interfaces,
        generic: args.generic,
        api_socket: args.api_socket,
        unpinned: args.unpinned,
    };
    // The main loop runs as a task on the runtime's workers, not on this thread: the worker
    // whose poll of the kernel finds a report ready runs the loop itself, where `block_on`
    // would wake this thread for it, a second wake-up on every creation alert.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async { tokio::spawn(daemon::run(options)).await? })
}
