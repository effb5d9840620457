//! mgmd: one process owning the MGM core, the XDP data plane, IGMP and the protocols.
//!
//! The [`Router`] takes one input at a time under one lock: the creation thread
//! ([`creation`]) brings it data-plane reports and punted packets, this loop everything else
//! (IGMP datagrams, link and route events, API commands, timers, signals) and what the thread
//! left to it. SIGHUP re-reads the configuration and applies only the difference;
//! SIGINT/SIGTERM detach from the interfaces and stop.
mod access;
mod api_calls;
mod api_events;
mod api_family;
mod creation;
mod dispatch;
mod hold;
mod igmp_io;
mod instance;
mod interface_totals;
mod links;
mod metrics;
mod mfe_rates;
mod mirror;
mod mld_io;
mod notify;
mod pins;
mod privileges;
mod proxy;
mod punt_reader;
mod realtime;
mod renamed_links;
mod router;
mod routes;
mod server;
mod start_wait;
mod static_routes;
#[cfg(feature = "testkit")]
pub mod testkit;
mod veth;
mod xdp_hooks;

pub use hold::{Flow, Hold, Prepared};
pub use links::{Link, LinkEvent};
pub use router::{PROXY_PROTOCOL_ID, STATIC_PROTOCOL_ID};
pub use routes::{Route, RouteEvent};

use crate::{config::Config, dataplane::DataPlane, mgm::ProtocolHandle};
use anyhow::{Context as _, Result};
use futures::StreamExt as _;
use router::Router;
use server::{Command, ConnectionId};
use std::{collections::HashMap, path::PathBuf, pin::pin, time::Duration};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::mpsc,
    time::Instant,
};
use tracing::{error, info, warn};

/// How mgmd was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// The configuration file, if any.
    pub config: Option<PathBuf>,
    /// Interfaces named on the command line (added to the configuration's, with defaults).
    pub interfaces: Vec<String>,
    /// Attach the command-line interfaces in generic (skb) mode.
    pub generic: bool,
    /// Path of the API socket (overrides the configuration's).
    pub api_socket: Option<PathBuf>,
    /// Run without pins (sets the configuration's `unpinned`).
    pub unpinned: bool,
}

/// How often per-entry counters are read to refresh active entries' lifetimes.
const STATS_INTERVAL: Duration = Duration::from_secs(30);
/// The pause between two slices of the periodic statistics walk, in which the main loop does
/// other work (and a real-time mgmd leaves its CPU to the rest).
const STATS_SLICE_PAUSE: Duration = Duration::from_millis(1);
/// How often punt sockets and hold queues are looked after without a wake-up.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);

fn load_config(options: &Options) -> Result<Config> {
    let mut config = match &options.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    for name in &options.interfaces {
        if config.interface(name).is_none() {
            let text = format!(
                "[[interface]]\nname = {name:?}\nxdp_mode = {:?}\n",
                if options.generic { "generic" } else { "driver" }
            );
            let extra = Config::parse(&text, "--iface")?;
            config.interfaces.extend(extra.interfaces);
        }
    }
    if let Some(socket) = &options.api_socket {
        config.daemon.api_socket = Some(socket.display().to_string());
    }
    config.daemon.unpinned |= options.unpinned;
    Ok(config)
}

/// Runs mgmd until SIGINT or SIGTERM.
pub async fn run(options: Options) -> Result<()> {
    let config = load_config(&options)?;
    privileges::check()?;
    server::refuse_if_served(&config.daemon.api_socket_path()).await?;
    if config.daemon.realtime_priority.is_some() {
        realtime::apply(config.daemon.realtime_priority)?;
    }
    // One rtnetlink connection for the start's requests (the watches below subscribe on
    // connections of their own).
    let (connection, netlink, _) =
        rtnetlink::new_connection().context("opening an rtnetlink connection")?;
    tokio::spawn(connection);
    let (mut plane, pins) = pins::load_plane(&config.daemon, &config.interfaces, &netlink).await?;
    forward_ebpf_logs(&mut plane);
    let reports = crate::dataplane::ReportReader::new(&mut plane)?;
    let igmp_io = match igmp_io::IgmpIo::open() {
        Ok(io) => Some(io),
        Err(e) => {
            warn!(error = %e, "IGMP sockets unavailable: IGMP is off");
            None
        }
    };
    let mld_io = match mld_io::MldIo::open() {
        Ok(io) => Some(io),
        Err(e) => {
            warn!(error = %e, "MLD sockets unavailable: MLD is off");
            None
        }
    };
    let api_socket = config.daemon.api_socket_path();
    let metrics_config = config.metrics.clone();
    let daemon_config = config.daemon.clone();
    let realtime_priority = config.daemon.realtime_priority;
    let mut router = Router::new(config, plane, igmp_io, mld_io)?;
    let (present_routes, route_events) = routes::watch::<std::net::Ipv4Addr>(&netlink).await?;
    router.routes_present(present_routes);
    let (present_routes6, route_events6) = routes::watch::<std::net::Ipv6Addr>(&netlink).await?;
    router.routes_present6(present_routes6);
    let (present_links, link_events) = links::watch(&netlink).await?;
    drop(netlink);
    for link in present_links {
        router.link_changed(link, std::time::Instant::now());
    }
    router.log_waiting_interfaces();
    router.reconcile_renamed(pins.renamed());
    let (commands_tx, mut commands) = mpsc::channel(256);
    let server = server::serve(
        &api_socket,
        &daemon_config,
        commands_tx,
        router.monitor().clone(),
    )?;
    info!(socket = %api_socket.display(), "API listening");
    let metrics = match metrics_config {
        Some(m) => Some(
            metrics::serve(m.listen, api_socket.clone(), m.max_entries)
                .await
                .with_context(|| format!("[metrics] listen = \"{}\"", m.listen))?,
        ),
        None => None,
    };
    let mut mirror_watch = match router.mirrors() {
        true => Some(open_mirror(&mut router)?),
        false => None,
    };
    let (igmp_io, mld_io) = (router.igmp_io(), router.mld_io());
    let (sockets, buffer) = router.punt_reader();
    let shared = creation::Shared::new(router, reports);
    let (wake, mut woken) = mpsc::channel(1);
    let creation = creation::Creation::spawn(shared.clone(), sockets, buffer, wake)
        .context("starting the creation thread")?;
    let mut heartbeat = tokio::time::interval(mirror::HEARTBEAT_INTERVAL);
    let mut resync = tokio::time::interval(mirror::RESYNC_INTERVAL);
    notify::ready();
    let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut link_events = pin!(link_events);
    let mut route_events = pin!(route_events);
    let mut route_events6 = pin!(route_events6);
    let mut sessions: HashMap<ConnectionId, ProtocolHandle> = HashMap::new();
    let mut stats_timer = tokio::time::interval(STATS_INTERVAL);
    let mut stats_walk: Option<router::StatsWalk> = None;
    let mut stats_slices = tokio::time::interval(STATS_SLICE_PAUSE);
    stats_slices.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    // Its first tick, at once, is the start's pass (off the start's path: forwarding and the
    // API come first).
    let mut collect_stale_pins = tokio::time::interval(pins::COLLECT_INTERVAL);
    collect_stale_pins.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reporting = dispatch::Reporting {
        pins,
        rates: mfe_rates::MfeRates::default(),
        config: Box::new(ConfigFile {
            options: &options,
            server: &server,
            realtime_priority,
        }),
    };
    loop {
        let deadline = shared
            .next_deadline(&shared.router())
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        // The core reads no clock: each input carries the time it happened.
        let now = std::time::Instant::now;
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => {
                let _ = dispatch::reload(&mut shared.router(), reporting.config.as_mut(), now());
            }
            Some(()) = woken.recv() => shared.catch_up(&mut shared.router()),
            datagram = igmp_recv(igmp_io.as_deref()) => match datagram {
                Ok(igmp_io::Received::Datagram(ifindex, bytes)) => {
                    shared.router().igmp_datagram(ifindex, &bytes, now())
                }
                Ok(igmp_io::Received::Dropped(ifindex, reason)) => {
                    shared.router().igmp_dropped(ifindex, reason)
                }
                Ok(igmp_io::Received::Overflowed(dropped)) => {
                    shared.router().igmp_overflowed(dropped, now())
                }
                Err(e) => warn!(error = %e, "IGMP receive failed"),
            },
            packet = mld_recv(mld_io.as_deref()) => match packet {
                Ok(mld_io::Received::Packet(ifindex, bytes)) => {
                    shared.router().mld_packet(ifindex, &bytes, now())
                }
                Ok(mld_io::Received::Dropped(ifindex, reason)) => {
                    shared.router().mld_dropped(ifindex, reason)
                }
                Ok(mld_io::Received::Overflowed(dropped)) => {
                    shared.router().mld_overflowed(dropped, now())
                }
                Err(e) => warn!(error = %e, "MLD receive failed"),
            },
            Some(event) = link_events.next() => {
                let mut router = shared.router();
                match event {
                    LinkEvent::Changed(link) => router.link_changed(link, now()),
                    LinkEvent::Removed { name, .. } => router.link_removed(&name, now()),
                    LinkEvent::Ipv4Addresses(ifindex) => {
                        router.ipv4_addresses_changed(ifindex, now())
                    }
                    LinkEvent::Ipv6Addresses(ifindex) => {
                        router.ipv6_addresses_changed(ifindex, now())
                    }
                }
            }
            Some(event) = route_events.next() => shared.router().route_event(event, now()),
            Some(event) = route_events6.next() => shared.router().route_event6(event, now()),
            Some(command) = commands.recv() => {
                let mut router = shared.router();
                router.advance(now());
                match command {
                    Command::Request { connection, request, events, reply } => {
                        let response =
                            dispatch::handle(&mut router, &mut reporting, &mut sessions, connection, request, events, now());
                        let _ = reply.send(response);
                    }
                    Command::Closed(connection) => {
                        dispatch::closed(&mut router, &mut sessions, connection)
                    }
                }
            },
            _ = stats_timer.tick() => {
                // A walk still under way when the next is due goes on (it is not restarted).
                stats_walk.get_or_insert_with(router::StatsWalk::default);
            }
            _ = stats_slices.tick(), if stats_walk.is_some() => {
                let mut router = shared.router();
                let started = now();
                let walk = stats_walk.as_mut().expect("checked by the branch's condition");
                let done = router.stats_walk_step(walk, started, router::SLICE_ENTRIES);
                router.stats_refresh_took(started.elapsed());
                if done {
                    stats_walk = None;
                    // The statistics refresh also samples the rates of `show mfe`.
                    reporting.rates.sample(router.mfe_traffic().into_iter(), now());
                    router.log_refusals();
                    release_free_heap();
                }
            }
            _ = housekeeping.tick() => shared.router().housekeeping(now()),
            _ = collect_stale_pins.tick() => reporting.pins.collect_stale(),
            _ = tokio::time::sleep_until(deadline) => shared.router().tick(now()),
            _ = watchdog_tick(&mut watchdog) => notify::watchdog_ping(),
            received = mirror_recv(mirror_watch.as_mut()) => {
                let mut router = shared.router();
                match received {
                Ok(mirror::socket::Received::Events(events, events6)) => {
                    tracing::debug!(?events, ?events6, "kernel multicast route messages");
                    for event in events {
                        match event {
                            mirror::mfc::MfcEvent::Resync => redump(&mut router),
                            event => router.mirror_event(event, now()),
                        }
                    }
                    for event in events6 {
                        match event {
                            mirror::mfc::MfcEvent::Resync => redump6(&mut router),
                            event => router.mirror_event6(event, now()),
                        }
                    }
                }
                Ok(mirror::socket::Received::Overflow) => {
                    router.mirror_overflowed();
                    redump(&mut router);
                    redump6(&mut router);
                }
                Err(e) => {
                    error!(error = %e, "following the kernel's multicast routes failed: stopping");
                    break;
                }
                }
            }
            _ = heartbeat.tick(), if mirror_watch.is_some() => shared.router().mirror_heartbeat(),
            _ = resync.tick(), if mirror_watch.is_some() => {
                let mut router = shared.router();
                redump(&mut router);
                redump6(&mut router);
            }
        }
    }
    notify::stopping();
    creation.stop();
    // The pins outlive the stop: under `ip netns exec` they hold what reaches the pin
    // directory (the host's bpffs, through a descriptor), which `on_stop = "detach"` removes,
    // and the claim on it, so that no other mgmd takes it over before.
    let pins = reporting.into_pins();
    server.stop();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    shared.router().shutdown();
    drop(pins);
    Ok(())
}

/// Subscribes to the kernel's multicast route changes, then reads the tables of both families
/// (the IPv6 one may fail, e.g. with IPv6 off: logged, and tried again at the next re-sync).
fn open_mirror(router: &mut Router) -> Result<mirror::socket::MfcWatch> {
    let watch = mirror::socket::MfcWatch::open()
        .context("subscribing to the kernel's multicast routes (rtnetlink)")?;
    let entries = mirror::socket::dump().context("reading the kernel's multicast routes")?;
    info!(
        entries = entries.len(),
        "mirroring the kernel's multicast routes"
    );
    router.mirror_dumped(entries, std::time::Instant::now());
    redump6(router);
    Ok(watch)
}

/// Reads the kernel's IPv4 table again (a failure is logged; the next re-sync tries again).
fn redump(router: &mut Router) {
    match mirror::socket::dump() {
        Ok(entries) => router.mirror_dumped(entries, std::time::Instant::now()),
        Err(e) => warn!(error = %e, "reading the kernel's multicast routes failed"),
    }
}

/// Reads the kernel's IPv6 table again (as [`redump`]).
fn redump6(router: &mut Router) {
    match mirror::socket::dump() {
        Ok(entries) => router.mirror_dumped6(entries, std::time::Instant::now()),
        Err(e) => warn!(error = %e, "reading the kernel's IPv6 multicast routes failed"),
    }
}

async fn mirror_recv(
    watch: Option<&mut mirror::socket::MfcWatch>,
) -> std::io::Result<mirror::socket::Received> {
    match watch {
        Some(watch) => watch.recv().await,
        None => std::future::pending().await,
    }
}

async fn mld_recv(io: Option<&mld_io::MldIo>) -> std::io::Result<mld_io::Received> {
    match io {
        Some(io) => io.recv().await,
        None => std::future::pending().await,
    }
}

async fn igmp_recv(io: Option<&igmp_io::IgmpIo>) -> std::io::Result<igmp_io::Received> {
    match io {
        Some(io) => io.recv().await,
        None => std::future::pending().await,
    }
}

/// mgmd's configuration file, as a reload reads it: re-read with the command line's
/// additions, its `[daemon]` scheduling and API access settings applied on the way.
struct ConfigFile<'a> {
    options: &'a Options,
    server: &'a server::ApiServer,
    /// The scheduling priority in force.
    realtime_priority: Option<u8>,
}

impl dispatch::ConfigSource for ConfigFile<'_> {
    fn reread(&mut self) -> Result<Config> {
        let config = load_config(self.options)?;
        let priority = config.daemon.realtime_priority;
        if priority != self.realtime_priority {
            match realtime::apply(priority) {
                Ok(()) => self.realtime_priority = priority,
                Err(e) => error!(error = %e, "reload: keeping the scheduling policy"),
            }
        }
        self.server.reconfigure(&config.daemon);
        Ok(config)
    }
}

/// The systemd watchdog's next ping, or never without one.
async fn watchdog_tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Forwards aya-log records of the XDP program into this process's log.
fn forward_ebpf_logs(dataplane: &mut DataPlane) {
    match aya_log::EbpfLogger::init(dataplane.ebpf_mut()) {
        Ok(logger) => {
            // SAFETY: the logger owns the ring's fd, and the AsyncFd owns the logger, so the
            // fd stays open for as long as it is registered.
            let registered = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    logger,
                    tokio::io::Interest::READABLE,
                )
            };
            let Ok(mut fd) = registered else {
                warn!("cannot poll the eBPF log ring");
                return;
            };
            tokio::spawn(async move {
                loop {
                    let Ok(mut guard) = fd.readable_mut().await else {
                        return;
                    };
                    guard.get_inner_mut().flush();
                    guard.clear_ready();
                }
            });
        }
        Err(e) => tracing::debug!(error = %e, "the XDP program has no log ring"),
    }
}

/// Gives the heap's free pages back to the system (glibc keeps those below its top): the
/// transient allocations of a burst (punted frames, held packets, API replies) leave whole
/// free pages between the long-lived entries (README, "Memory"). Run after each statistics
/// refresh, whose transient vectors are gone by then.
fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
