//! mgmctl, the operator's view of and handle on mgmd.
//!
//! Exit codes: 0 success, 1 mgmd refused the request, 2 bad usage, 3 mgmd unreachable (or no
//! answer within `--timeout`), 4 `check` found differences between the MGM and the forwarding
//! maps.
use clap::{Parser, Subcommand};
use mgm_user::api::{
    client::Client,
    proto::{MfeRate, Request, Response},
};
use mgm_user::{out, outln};
use std::{
    collections::HashMap,
    io::{IsTerminal as _, Write as _},
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

#[path = "mgmctl/tables.rs"]
mod tables;
use tables::print_table;

/// Show and change what mgmd, the mgm multicast router, does.
///
/// Interfaces, static routes, memberships, forwarding entries and counters. Tables for people,
/// --json for programs. `show mfe` gives each entry's packets and bits per second since mgmd's
/// previous sample of it; `show mfe --watch [--interval SECS] [--count N]` refreshes it.
/// `show status` says whether and where the data plane is pinned. Exit codes: 0 done, 1 mgmd
/// refused the request, 2 bad usage, 3 mgmd unreachable or no answer within --timeout, 4
/// `check` found differences.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Path of mgmd's API socket. Default: the one of this network namespace, as mgmd
    /// computes it: /run/mgm/mgmd.sock in the host's, /run/mgm/netns-NAME.sock in a namespace
    /// `ip netns` named NAME (`ip netns exec NAME mgmctl ...`), /run/mgm/net-INODE.sock in
    /// another.
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
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
    /// (like `smcroutectl add eth0 10.0.0.1 239.1.1.1 eth1 eth2`). It lasts until mgmd stops
    /// or re-reads its configuration file (`reload`, SIGHUP), as with smcroute.
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
    /// Make the router itself join a group on an interface (IGMP or MLD reports go out there):
    /// one of mgmd's configuration file, as a `[[join]]`, that exists now (else exit 1).
    Join {
        /// Interface: a configured one.
        iface: String,
        /// Group, or SOURCE GROUP for a source-specific join.
        #[arg(num_args = 1..=2)]
        addrs: Vec<IpAddr>,
    },
    /// Compare the MGM's forwarding entries with the data plane's maps: prints every entry
    /// missing from the maps, extra in them, or with other interfaces; exit code 4 if any.
    Check,
    /// Re-read mgmd's configuration file and apply only what changed (as SIGHUP, `systemctl
    /// reload mgmd`); a refused file is kept out and its error printed (exit code 1). Routes
    /// are then the file's: those added with `add` go, as with `smcroutectl reload`; `join`s
    /// stay.
    Reload,
    /// Leave what `join` joined.
    Leave {
        /// Interface.
        iface: String,
        /// Group, or SOURCE GROUP.
        #[arg(num_args = 1..=2)]
        addrs: Vec<IpAddr>,
    },
    /// Stream every callback the MGM issues (with its arguments and answer) and every MFE
    /// created, changed or deleted, one line each, until interrupted.
    Monitor,
}

#[derive(Subcommand)]
enum Show {
    /// Daemon version, attached interfaces, and whether and where the data plane is pinned.
    Status,
    /// Counters by name: every drop, punt and refusal by reason (data plane, hold queues,
    /// backend, API), and the tables' sizes now (`*_now`).
    Stats,
    /// Managed interfaces: ifindex, state, XDP mode, IGMP, MLD, owner.
    Interfaces,
    /// Registered routing protocols and the interfaces each owns in either family.
    Protocols,
    /// Group memberships.
    Groups,
    /// Multicast forwarding entries with counters and rates (like `ip -s mroute`): PPS and
    /// BPS are packets and bits per second since mgmd's previous sample of the entry (the
    /// previous `show mfe` of any client, or mgmd's own every 30 s); "-" before it has one.
    Mfe {
        /// Refresh in place (on a terminal; otherwise print a table, a blank line, the next
        /// table...) until interrupted.
        #[arg(long)]
        watch: bool,
        /// Seconds between refreshes (at least 0.2).
        #[arg(long, default_value_t = 2.0, requires = "watch")]
        interval: f64,
        /// Stop after this many tables.
        #[arg(long, requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// IGMP per interface: querier, version, groups, filter modes, sources, timers.
    Igmp,
    /// MLD per interface, as `show igmp`: querier, version, groups, filter modes, sources.
    Mld,
    /// Static routes.
    Routes,
    /// The router's own joins (`join`'s, the proxy's upstream ones): interface, source, group,
    /// who holds it, joined or waiting for a retry.
    Joins,
}

fn channel(addrs: &[IpAddr]) -> (IpAddr, Option<IpAddr>) {
    match addrs {
        [source, group] => (*group, Some(*source)),
        [group] => (*group, None),
        _ => (Ipv4Addr::UNSPECIFIED.into(), None),
    }
}

/// The shortest `--interval` (mgmd measures rates over at least 0.2 s).
const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// How `show mfe --watch` repeats.
struct Watch {
    interval: Duration,
    count: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut watch = None;
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
            Show::Mfe {
                watch: watching,
                interval,
                count,
            } => {
                if watching {
                    let interval = match Duration::try_from_secs_f64(interval) {
                        Ok(d) if d >= MIN_WATCH_INTERVAL => d,
                        _ => {
                            eprintln!(
                                "mgmctl: --interval {interval}: give seconds, at least {}",
                                MIN_WATCH_INTERVAL.as_secs_f64()
                            );
                            return ExitCode::from(2);
                        }
                    };
                    watch = Some(Watch { interval, count });
                }
                Request::ShowMfe
            }
            Show::Igmp => Request::ShowIgmp,
            Show::Mld => Request::ShowMld,
            Show::Routes => Request::ShowRoutes,
            Show::Joins => Request::ShowJoins,
        },
        Command::Check => Request::Check,
        Command::Reload => Request::Reload,
        Command::Add { words } => {
            warn_about(&words);
            Request::AddRoute { words }
        }
        Command::Remove { words } => {
            warn_about(&words);
            Request::RemoveRoute { words }
        }
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
    let socket = args.socket.unwrap_or_else(mgm_user::api::default_socket);
    if request == Request::Monitor {
        return runtime.block_on(monitor(&socket, args.json, timeout));
    }
    let ask = || -> Result<Response, ExitCode> {
        let response = runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                let mut client = Client::connect(&socket).await?;
                client.call(&request).await
            })
            .await
        });
        match response {
            Ok(Ok(Response::Error { code, message })) => {
                eprintln!("mgmctl: {message} (code {code})");
                Err(ExitCode::from(1))
            }
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(unreachable(&socket, &e)),
            Err(_) => Err(silent(&socket, timeout)),
        }
    };
    match watch {
        Some(watch) => watch_tables(ask, &watch, args.json),
        None => match ask() {
            Ok(response) => print_response(response, args.json),
            Err(code) => code,
        },
    }
}

/// Says on stderr what in a route's words is accepted but likely not meant (as mgmd warns
/// about the same in its configuration file).
fn warn_about(words: &[String]) {
    for warning in mgm_user::config::word_warnings(words) {
        eprintln!("mgmctl: warning: {warning}");
    }
}

/// Prints an answer as a table or JSON; exit code 4 for a `check` that found differences.
fn print_response(response: Response, json: bool) -> ExitCode {
    let differs =
        matches!(&response, Response::Check { differences, .. } if !differences.is_empty());
    if json {
        match serde_json::to_string_pretty(&response) {
            Ok(text) => outln!("{text}"),
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

/// `--watch`: asks and prints every `interval`, `count` times (or until interrupted or mgmd
/// goes away). On a terminal each table replaces the previous one (clear and redraw);
/// elsewhere (a pipe, a file) the tables follow each other, separated by a blank line.
fn watch_tables(
    ask: impl Fn() -> Result<Response, ExitCode>,
    watch: &Watch,
    json: bool,
) -> ExitCode {
    let terminal = std::io::stdout().is_terminal();
    let mut shown = 0u64;
    loop {
        let response = match ask() {
            Ok(r) => r,
            Err(code) => return code,
        };
        if terminal {
            // Cursor home, clear the screen.
            out!("\x1b[H\x1b[2J");
            outln!("every {} s (Ctrl-C stops)\n", watch.interval.as_secs_f64());
        } else if shown > 0 {
            outln!();
        }
        print_response(response, json);
        let _ = std::io::stdout().flush();
        shown += 1;
        if watch.count.is_some_and(|count| shown >= count) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(watch.interval);
    }
}

/// mgmd cannot be reached: exit code 3.
fn unreachable(socket: &Path, error: &mgm_user::api::WireError) -> ExitCode {
    eprintln!("mgmctl: cannot reach mgmd at {}: {error}", socket.display());
    ExitCode::from(3)
}

/// mgmd gave no answer within `--timeout`: exit code 3.
fn silent(socket: &Path, timeout: Duration) -> ExitCode {
    eprintln!(
        "mgmctl: mgmd at {} did not answer within {} s (--timeout)",
        socket.display(),
        timeout.as_secs_f64()
    );
    ExitCode::from(3)
}

/// mgmd's interfaces by ifindex, with their names.
async fn interface_names(
    client: &mut Client,
) -> Result<HashMap<u32, String>, mgm_user::api::WireError> {
    Ok(match client.call(&Request::ShowInterfaces).await? {
        Response::Interfaces { rows } => rows.into_iter().map(|r| (r.ifindex, r.name)).collect(),
        _ => HashMap::new(),
    })
}

/// `mgmctl monitor`: subscribes within `timeout` (exit code 3 otherwise), then prints the
/// monitor stream until mgmd goes away (exit code 3).
async fn monitor(socket: &Path, json: bool, timeout: Duration) -> ExitCode {
    let subscribe = async {
        let mut client = Client::connect(socket).await?;
        let names = interface_names(&mut client).await?;
        client.call(&Request::Monitor).await?;
        Ok::<_, mgm_user::api::WireError>((client, names))
    };
    let (mut client, mut names) = match tokio::time::timeout(timeout, subscribe).await {
        Ok(Ok(subscribed)) => subscribed,
        Ok(Err(e)) => return unreachable(socket, &e),
        Err(_) => return silent(socket, timeout),
    };
    let stream = async {
        loop {
            let event = client.next_monitored().await?;
            if json {
                outln!("{}", serde_json::to_string(&event)?);
                continue;
            }
            // An interface that came after the names were read (or anew, under a new
            // ifindex): mgmd is asked again, on a connection of its own; else it prints ifN.
            let unknown = std::cell::Cell::new(false);
            let text = |names: &HashMap<u32, String>| {
                event.text(&|i: u32| {
                    names.get(&i).cloned().unwrap_or_else(|| {
                        unknown.set(true);
                        format!("if{i}")
                    })
                })
            };
            let mut line = text(&names);
            if unknown.get() {
                if let Ok(mut asking) = Client::connect(socket).await {
                    if let Ok(fresh) = interface_names(&mut asking).await {
                        names = fresh;
                        line = text(&names);
                    }
                }
            }
            outln!("{line}");
        }
    };
    let result: Result<(), mgm_user::api::WireError> = stream.await;
    if let Err(e) = result {
        eprintln!("mgmctl: monitor of mgmd at {} ended: {e}", socket.display());
    }
    ExitCode::from(3)
}
