//! mgmd, the mgm multicast routing daemon.
use clap::Parser;
use mgm_user::{api::DEFAULT_SOCKET, daemon};
use std::path::PathBuf;

/// The mgm multicast routing daemon.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Attach to this interface (repeat for several).
    #[arg(long = "iface", short = 'i')]
    interfaces: Vec<String>,
    /// Attach in generic (skb) mode, for NICs without native XDP.
    #[arg(long)]
    generic: bool,
    /// Path of the API socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    api_socket: PathBuf,
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
    daemon::run(daemon::Options {
        interfaces: args.interfaces,
        generic: args.generic,
        api_socket: args.api_socket,
    })
    .await
}
