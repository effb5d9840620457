//! mgmctl, the operator's view of and handle on mgmd.
//!
//! Exit codes: 0 success, 1 mgmd refused the request, 2 bad usage, 3 mgmd unreachable (or no
//! answer within `--timeout`), 4 `check` found differences between the MGM and the forwarding
//! maps.
use clap::{Parser, Subcommand};
use mgm_user::api::{
    client::Client,
    proto::{Request, Response},
    DEFAULT_SOCKET,
};
use std::{net::Ipv4Addr, path::PathBuf, process::ExitCode, time::Duration};

/// Show and change what mgmd, the mgm multicast router, does.
///
/// Interfaces, static routes, memberships, forwarding entries and counters. Tables for people,
/// --json for programs. Exit codes: 0 done, 1 mgmd refused the request, 2 bad usage, 3 mgmd
/// unreachable.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Path of mgmd's API socket.
    #[arg(long, global = true, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for mgmd's answer (connecting included); then exit 3.
    #[arg(long, global = true, default_value_t = 10.0)]
    timeout: f64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the manual page (roff), for packaging.
    #[command(hide = true)]
    Man,
    /// Print the completion script for SHELL, for packaging.
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Show state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Add a static route: INBOUND [SOURCE[/LEN]|*] GROUP[/LEN] OUTBOUND...
    /// (like `smcroutectl add eth0 10.0.0.1 239.1.1.1 eth1 eth2`).
    Add {
        /// The route's words.
        #[arg(required = true, num_args = 3..)]
        words: Vec<String>,
    },
    /// Remove a static route, given as when it was added.
    Remove {
        /// The route's words.
        #[arg(required = true, num_args = 3..)]
        words: Vec<String>,
    },
    /// Make the router itself join a group on an interface (IGMP reports go out there).
    Join {
        /// Interface.
        iface: String,
        /// Group, or SOURCE GROUP for a source-specific join.
        #[arg(num_args = 1..=2)]
        addrs: Vec<Ipv4Addr>,
    },
    /// Compare the MGM's forwarding entries with the data plane's maps: prints every entry
    /// missing from the maps, extra in them, or with other interfaces; exit code 4 if any.
    Check,
    /// Leave what `join` joined.
    Leave {
        /// Interface.
        iface: String,
        /// Group, or SOURCE GROUP.
        #[arg(num_args = 1..=2)]
        addrs: Vec<Ipv4Addr>,
    },
    /// Stream every callback the MGM issues (with its arguments and answer) and every MFE
    /// created, changed or deleted, one line each, until interrupted.
    Monitor,
}

#[derive(Subcommand)]
enum Show {
    /// Daemon version and attached interfaces.
    Status,
    /// Data-plane counters: every drop and punt by reason.
    Stats,
    /// Managed interfaces: ifindex, state, XDP mode, IGMP, owner.
    Interfaces,
    /// Registered routing protocols and their interfaces.
    Protocols,
    /// Group memberships.
    Groups,
    /// Multicast forwarding entries with counters (like `ip mroute`).
    Mfe,
    /// IGMP per interface: querier, version, groups, filter modes, sources, timers.
    Igmp,
    /// Static routes.
    Routes,
}

fn channel(addrs: &[Ipv4Addr]) -> (Ipv4Addr, Option<Ipv4Addr>) {
    match addrs {
        [source, group] => (*group, Some(*source)),
        [group] => (*group, None),
        _ => (Ipv4Addr::UNSPECIFIED, None),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let request = match args.command {
        Command::Man => return mgm_user::cli_docs::print::<Args>("mgmctl", 8, None),
        Command::Completions { shell } => {
            return mgm_user::cli_docs::print::<Args>("mgmctl", 8, Some(shell))
        }
        Command::Show { what } => match what {
            Show::Status => Request::Status,
            Show::Stats => Request::Stats,
            Show::Interfaces => Request::ShowInterfaces,
            Show::Protocols => Request::ShowProtocols,
            Show::Groups => Request::ShowGroups,
            Show::Mfe => Request::ShowMfe,
            Show::Igmp => Request::ShowIgmp,
            Show::Routes => Request::ShowRoutes,
        },
        Command::Check => Request::Check,
        Command::Add { words } => Request::AddRoute { words },
        Command::Remove { words } => Request::RemoveRoute { words },
        Command::Join { iface, addrs } => {
            let (group, source) = channel(&addrs);
            Request::Join {
                iface,
                group,
                source,
            }
        }
        Command::Leave { iface, addrs } => {
            let (group, source) = channel(&addrs);
            Request::Leave {
                iface,
                group,
                source,
            }
        }
        Command::Monitor => Request::Monitor,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mgmctl: {e}");
            return ExitCode::from(3);
        }
    };
    let Ok(timeout) = Duration::try_from_secs_f64(args.timeout) else {
        eprintln!(
            "mgmctl: --timeout {} is not a number of seconds",
            args.timeout
        );
        return ExitCode::from(2);
    };
    if request == Request::Monitor {
        return runtime.block_on(monitor(&args.socket, args.json));
    }
    let response = runtime.block_on(async {
        tokio::time::timeout(timeout, async {
            let mut client = Client::connect(&args.socket).await?;
            client.call(&request).await
        })
        .await
    });
    let response = match response {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!(
                "mgmctl: cannot reach mgmd at {}: {e}",
                args.socket.display()
            );
            return ExitCode::from(3);
        }
        Err(_) => {
            eprintln!(
                "mgmctl: mgmd at {} did not answer within {} s (--timeout)",
                args.socket.display(),
                args.timeout
            );
            return ExitCode::from(3);
        }
    };
    if let Response::Error { code, message } = &response {
        eprintln!("mgmctl: {message} (code {code})");
        return ExitCode::from(1);
    }
    let differs =
        matches!(&response, Response::Check { differences, .. } if !differences.is_empty());
    if args.json {
        match serde_json::to_string_pretty(&response) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("mgmctl: {e}"),
        }
    } else {
        print_table(response);
    }
    if differs {
        return ExitCode::from(4);
    }
    ExitCode::SUCCESS
}

/// `mgmctl monitor`: prints the monitor stream until mgmd goes away (exit code 3).
async fn monitor(socket: &std::path::Path, json: bool) -> ExitCode {
    let stream = async {
        let mut client = Client::connect(socket).await?;
        // Interfaces by name (as they are now; others print as ifN).
        let names: std::collections::HashMap<u32, String> =
            match client.call(&Request::ShowInterfaces).await? {
                Response::Interfaces { rows } => {
                    rows.into_iter().map(|r| (r.ifindex, r.name)).collect()
                }
                _ => Default::default(),
            };
        let name = |i: u32| names.get(&i).cloned().unwrap_or_else(|| format!("if{i}"));
        client.call(&Request::Monitor).await?;
        loop {
            let event = client.next_monitored().await?;
            if json {
                println!("{}", serde_json::to_string(&event)?);
            } else {
                println!("{}", event.text(&name));
            }
        }
    };
    let result: Result<(), mgm_user::api::WireError> = stream.await;
    if let Err(e) = result {
        eprintln!("mgmctl: monitor of mgmd at {} ended: {e}", socket.display());
    }
    ExitCode::from(3)
}

fn print_table(response: Response) {
    match response {
        Response::Ok | Response::Error { .. } => {}
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
        Response::Interfaces { rows } => {
            println!(
                "{:<16} {:>7} {:<5} {:<8} {:<5} OWNER",
                "INTERFACE", "IFINDEX", "STATE", "XDP", "IGMP"
            );
            for r in rows {
                let state = if r.up { "up" } else { "down" };
                let xdp = r.xdp.unwrap_or_else(|| "-".into());
                let igmp = if r.igmp { "on" } else { "off" };
                println!(
                    "{:<16} {:>7} {:<5} {:<8} {:<5} {}",
                    r.name, r.ifindex, state, xdp, igmp, r.owner
                );
            }
        }
        Response::Protocols { rows } => {
            println!(
                "{:<20} {:>12} {:>10} INTERFACES",
                "PROTOCOL", "ID", "COMPONENT"
            );
            for r in rows {
                println!(
                    "{:<20} {:>#12x} {:>10} {}",
                    r.name,
                    r.protocol_id,
                    r.component_id,
                    r.interfaces.join(" ")
                );
            }
        }
        Response::Groups { rows } => {
            println!(
                "{:<16} {:<16} {:<12} {:<10} {:<12} {:<8} EXCLUDED",
                "SOURCE", "GROUP", "INTERFACE", "PROTOCOL", "FLAGS", "MODE"
            );
            for r in rows {
                let source = if r.source.is_unspecified() {
                    "*".to_owned()
                } else {
                    r.source.to_string()
                };
                let flags = match r.flags & 3 {
                    3 => "JOIN|FORWARD",
                    1 => "JOIN",
                    2 => "FORWARD",
                    _ => "-",
                };
                let excluded: Vec<String> = r.excluded.iter().map(|s| s.to_string()).collect();
                println!(
                    "{:<16} {:<16} {:<12} {:<10} {:<12} {:<8} {}",
                    source,
                    r.group,
                    r.iface,
                    r.protocol,
                    flags,
                    r.mode,
                    excluded.join(" ")
                );
            }
        }
        Response::Mfes { rows } => {
            println!(
                "{:<16} {:<16} {:<10} {:>10} {:>12} {:>8} {:>6} {:>7}  {:<8} OUTBOUND (packets)",
                "SOURCE",
                "GROUP",
                "INBOUND",
                "PACKETS",
                "BYTES",
                "WRONGIF",
                "AGE",
                "EXPIRES",
                "ORIGIN"
            );
            for r in rows {
                let oifs = if r.oifs.is_empty() {
                    "(negative: dropped)".to_owned()
                } else {
                    r.oifs
                        .iter()
                        .map(|o| format!("{}({})", o.iface, o.packets))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                println!(
                    "{:<16} {:<16} {:<10} {:>10} {:>12} {:>8} {:>5}s {:>6}s  {:<8} {}",
                    r.source,
                    r.group,
                    r.iif,
                    r.packets,
                    r.bytes,
                    r.wrong_if,
                    r.age_s,
                    r.expires_s,
                    r.origin,
                    oifs
                );
            }
        }
        Response::Igmp { snapshot } => {
            match serde_json::from_value::<mgm_user::igmp::Snapshot>(snapshot) {
                Ok(snapshot) => print!("{snapshot}"),
                Err(e) => eprintln!("mgmctl: mgmd sent an IGMP view this mgmctl cannot read: {e}"),
            }
        }
        Response::Routes { routes } => {
            for r in routes {
                println!("{r}");
            }
        }
        Response::Check {
            entries,
            differences,
        } => {
            for d in &differences {
                println!("{d}");
            }
            println!(
                "{entries} entries checked, {} difference(s)",
                differences.len()
            );
        }
        Response::Registered { handle } | Response::EnumHandle { handle } => {
            println!("handle {handle}")
        }
        Response::Buffer {
            status,
            num_entries,
            entries,
            ..
        } => {
            println!("status {status}, {num_entries} entries");
            for e in entries {
                println!("{}", serde_json::to_string(&e).unwrap_or_default());
            }
        }
        Response::Owner {
            protocol_id,
            component_id,
        } => {
            println!("protocol {protocol_id:#x} component {component_id}")
        }
    }
}
