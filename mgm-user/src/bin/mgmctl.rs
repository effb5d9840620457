//! mgmctl, the operator's view of and handle on mgmd.
use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use mgm_user::api::{
    client::Client,
    proto::{Request, Response},
    DEFAULT_SOCKET,
};
use std::path::PathBuf;

/// Show and change what mgmd does.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Path of mgmd's API socket.
    #[arg(long, global = true, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
}

#[derive(Subcommand)]
enum Show {
    /// Daemon version and attached interfaces.
    Status,
    /// Data-plane counters: every drop and punt by reason.
    Stats,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let request = match args.command {
        Command::Show { what: Show::Status } => Request::Status,
        Command::Show { what: Show::Stats } => Request::Stats,
    };
    let mut client = Client::connect(&args.socket).await?;
    let response = client.call(&request).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    match response {
        Response::Status {
            version,
            interfaces,
        } => {
            println!("mgmd {version}");
            println!("interfaces: {}", interfaces.join(" "));
        }
        Response::Stats { counters } => {
            println!("{:<24} {:>14}", "COUNTER", "PACKETS");
            for (name, value) in counters {
                println!("{name:<24} {value:>14}");
            }
        }
        Response::Error { code, message } => bail!("mgmd: {message} (code {code})"),
    }
    Ok(())
}
