//! mgmd, the mgm multicast routing daemon.
use clap::Parser;
use mgm_user::daemon;
use std::path::PathBuf;

/// The mgm multicast routing daemon.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML; see the README).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Serve this interface with default settings (repeat for several), besides the
    /// configuration file's interfaces.
    #[arg(long = "iface", short = 'i')]
    interfaces: Vec<String>,
    /// Attach the --iface interfaces in generic (skb) mode, for NICs without native XDP.
    #[arg(long)]
    generic: bool,
    /// Path of the API socket (overrides the configuration file).
    #[arg(long)]
    api_socket: Option<PathBuf>,
    /// Check the configuration file and exit.
    #[arg(long)]
    check: bool,
    /// Log filter (tracing EnvFilter syntax), e.g. info, debug, mgm_user=trace.
    #[arg(long, default_value = "info", env = "MGM_LOG")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log)?)
        .init();
    if args.check {
        if let Some(path) = &args.config {
            mgm_user::config::Config::load(path)?;
        }
        println!("configuration OK");
        return Ok(());
    }
    daemon::run(daemon::Options {
        config: args.config,
        interfaces: args.interfaces,
        generic: args.generic,
        api_socket: args.api_socket,
    })
    .await
}
