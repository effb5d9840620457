//! Host-side joins of the router itself, one reference-counted set for their two holders: the
//! API (`mgmctl join`) and the built-in proxy (its upstream memberships, see
//! [`crate::daemon::proxy`]). The core keeps the set; the I/O side holds one socket per join
//! ([`RouterIo::host_join`]).
//!
//! A join is made when its first holder wants it and left when its last holder lets it go, so
//! neither holder undoes the other's join of the same (interface, group, source). The API's
//! joins are made at once (a failure is the call's error); the proxy's are recomputed when its
//! change flag is up (its receivers, its upstream interface or that interface's service
//! changed): its new joins are made before its dropped ones are left, and a dropped join stays
//! while a join of the same interface and group still waits, so a change between
//! source-specific and any-source never leaves the group in between. The proxy's joins exist
//! while its upstream interface is in service (and `[proxy]` configured).
//!
//! Every join follows its interface's link: the kernel drops a socket's memberships on an
//! interface that goes away, so when the interface is deleted (or comes back under another
//! ifindex) its joins are left and made again once an interface of that name exists. A link
//! going down and up keeps them (the kernel keeps the memberships and reports them again). A
//! join that fails other than by the API's call is counted (`host_join_failures`), logged,
//! and retried with backoff (`host_joins_waiting_now`) for as long as it is wanted; one whose
//! failure the full retry list refuses (`host_join_retries_refused`) is attempted again only
//! when its interface's link changes. The set is bounded: the API holds at most
//! [`MAX_API_HOST_JOINS`] (each is a socket, a descriptor of mgmd's), the proxy what IGMP and
//! MLD accept downstream.
use super::{
    log_pace::LogPace,
    ports::HostJoin,
    retries::{Retries, RETRY_FIRST, RETRY_MAX},
    RouterCore, RouterIo,
};
use crate::{
    api::proto::Response,
    daemon::{links::Link, proxy::ProxyProtocol},
    dataplane::ForwardingBackend,
    mgm::Address,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::Instant,
};
use tracing::{info, warn};

/// Who wants a host join, and whether the I/O side holds it.
#[derive(Clone, Copy, Debug, Default)]
struct Held {
    api: bool,
    proxy: bool,
    /// A `[[join]]` of the configuration file.
    file: bool,
    /// The ifindex of the interface it was made on; `None`: not made.
    joined: Option<u32>,
    /// Its last attempt failed with the retry list full: not attempted again until its
    /// interface's link changes.
    refused: bool,
}

impl Held {
    fn wanted(&self) -> bool {
        self.api || self.proxy || self.file
    }
}

/// Failed host joins waiting for a retry at the most.
pub(super) const HOST_JOIN_RETRIES: usize = 4096;

/// Joins the API (`mgmctl join`) holds at the most, each a socket of mgmd's: one more is
/// refused with 1003, counted (`host_joins_refused`) and logged at most once per 10 s.
pub(super) const MAX_API_HOST_JOINS: usize = 1024;

/// The router's host joins.
#[derive(Debug)]
pub(super) struct HostJoins {
    joins: BTreeMap<HostJoin, Held>,
    /// Joins that failed (other than by the API's call), waiting for a retry.
    retries: Retries<HostJoin>,
    /// The API's joins that failed (the call's error).
    api_failures: u64,
    /// The API's joins refused at [`MAX_API_HOST_JOINS`], and the pace of their log lines.
    api_refused: u64,
    api_refused_log: LogPace,
    /// How many times the proxy's wanted joins were recomputed.
    pub(super) proxy_recomputes: u64,
}

impl Default for HostJoins {
    fn default() -> Self {
        Self {
            joins: BTreeMap::new(),
            retries: Retries::new(RETRY_FIRST, RETRY_MAX, HOST_JOIN_RETRIES),
            api_failures: 0,
            api_refused: 0,
            api_refused_log: LogPace::default(),
            proxy_recomputes: 0,
        }
    }
}

impl HostJoins {
    /// When the next retry is due.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.retries.next_deadline()
    }

    /// Joins waiting for a retry.
    pub(super) fn waiting(&self) -> usize {
        self.retries.len()
    }

    /// Joins that failed (the API's and the proxy's, first attempts and retries).
    pub(super) fn failures(&self) -> u64 {
        self.api_failures + self.retries.failures()
    }

    /// The API's joins refused at [`MAX_API_HOST_JOINS`].
    pub(super) fn refused(&self) -> u64 {
        self.api_refused
    }

    /// The refusal of one more of the API's joins at `now`: counted and logged at its pace.
    fn refuse_api(&mut self, now: Instant) -> Response {
        self.api_refused += 1;
        if self.api_refused_log.due(now) {
            warn!(
                limit = MAX_API_HOST_JOINS,
                refused = self.api_refused,
                "host join refused: the API holds as many as it may (counted in \
                 host_joins_refused; logged at most every 10 s)"
            );
        }
        Response::error(
            1003,
            format!("mgmd holds {MAX_API_HOST_JOINS} joins of the API already: leave one first"),
        )
    }

    /// Failed joins not retried because the retry list was full.
    pub(super) fn retries_refused(&self) -> u64 {
        self.retries.refused()
    }

    /// Marks exactly the joins in `wanted` as the proxy's; whether anything changed.
    fn set_proxy(&mut self, wanted: &BTreeSet<HostJoin>) -> bool {
        self.set_holder(wanted, |held| &mut held.proxy)
    }

    /// Marks exactly the joins in `wanted` as held by the holder `flag` selects; whether
    /// anything changed.
    fn set_holder(
        &mut self,
        wanted: &BTreeSet<HostJoin>,
        flag: impl Fn(&mut Held) -> &mut bool,
    ) -> bool {
        let mut changed = false;
        for (join, held) in &mut self.joins {
            let holds = wanted.contains(join);
            changed |= *flag(held) != holds;
            *flag(held) = holds;
        }
        for join in wanted {
            if !self.joins.contains_key(join) {
                let mut held = Held::default();
                *flag(&mut held) = true;
                self.joins.insert(join.clone(), held);
                changed = true;
            }
        }
        changed
    }

    /// Leaves the joins made on interface `name` unless they were made on `link`, its current
    /// link; they wait to be made again.
    fn follow_link(&mut self, io: &mut impl RouterIo, name: &str, link: Option<u32>) {
        for (join, held) in &mut self.joins {
            if join.0 == name {
                held.refused = false;
            }
            let Some(on) = held.joined.filter(|_| join.0 == name) else {
                continue;
            };
            match link {
                Some(ifindex) if on == ifindex => {}
                _ => {
                    io.host_leave(join);
                    held.joined = None;
                    let (iface, group, source) = join;
                    info!(%iface, %group, ?source, "host join left with its interface; made again when it is back");
                }
            }
        }
    }

    /// Makes the wanted joins whose interface exists (in `links`) and that are due, then leaves
    /// the joins nobody wants unless a join of their interface and group still waits.
    fn settle(&mut self, io: &mut impl RouterIo, links: &BTreeMap<String, Link>, now: Instant) {
        let due: Vec<(HostJoin, u32)> = self
            .joins
            .iter()
            .filter(|(join, held)| {
                held.wanted()
                    && held.joined.is_none()
                    && !held.refused
                    && self.retries.may_try(join, now)
            })
            .filter_map(|(join, _)| Some((join.clone(), links.get(&join.0)?.ifindex)))
            .collect();
        for (join, ifindex) in due {
            self.make(io, join, ifindex, now);
        }
        let waiting: BTreeSet<(&str, IpAddr)> = self
            .joins
            .iter()
            .filter(|(_, held)| held.wanted() && held.joined.is_none())
            .map(|((iface, group, _), _)| (iface.as_str(), *group))
            .collect();
        let unwanted: Vec<HostJoin> = self
            .joins
            .iter()
            .filter(|((iface, group, _), held)| {
                !held.wanted() && !waiting.contains(&(iface.as_str(), *group))
            })
            .map(|(join, _)| join.clone())
            .collect();
        for join in unwanted {
            if self
                .joins
                .remove(&join)
                .is_some_and(|held| held.joined.is_some())
            {
                io.host_leave(&join);
                let (iface, group, source) = &join;
                info!(%iface, %group, ?source, "left a host join");
            }
        }
        let joins = &self.joins;
        self.retries.retain(|join| {
            joins
                .get(join)
                .is_some_and(|h| h.wanted() && h.joined.is_none())
        });
    }

    /// Makes `join` on its interface, `ifindex`; a failure is retried later.
    fn make(&mut self, io: &mut impl RouterIo, join: HostJoin, ifindex: u32, now: Instant) {
        let (iface, group, source) = &join;
        match io.host_join(&join) {
            Ok(()) => {
                info!(%iface, %group, ?source, "joined as a host");
                self.retries.succeed(&join);
                if let Some(held) = self.joins.get_mut(&join) {
                    held.joined = Some(ifindex);
                }
            }
            Err(e) => match self.retries.fail(join.clone(), now) {
                Some(retry) => warn!(
                    %iface, %group, ?source, error = %e, attempts = retry.attempts,
                    retry_in_ms = retry.wait.as_millis() as u64,
                    "host join failed; retrying"
                ),
                None => {
                    warn!(
                        %iface, %group, ?source, error = %e,
                        "host join failed, and the retry list is full: not retried until \
                         its interface's link changes (host_join_retries_refused)"
                    );
                    if let Some(held) = self.joins.get_mut(&join) {
                        held.refused = true;
                    }
                }
            },
        }
    }
}

/// The upstream memberships `proxy` wants, as host joins on interface `upstream`.
fn proxy_joins<'a, A: Address + Into<IpAddr>>(
    proxy: &'a ProxyProtocol<A>,
    upstream: &'a str,
) -> impl Iterator<Item = HostJoin> + 'a {
    proxy
        .upstream_joins()
        .map(|(group, source)| (upstream.to_owned(), group.into(), source.map(Into::into)))
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The router joins a group on an interface as a host: one of the configuration's
    /// interfaces (as a `[[join]]`) that exists now; on any other the call is refused with
    /// 87, the reason and nothing joined.
    pub fn host_join(&mut self, iface: String, group: IpAddr, source: Option<IpAddr>) -> Response {
        if self.config.interface(&iface).is_none() {
            let message = format!(
                "{iface} is not a configured [[interface]]: the router joins only on those \
                 of its configuration file"
            );
            return Response::error(87, message);
        }
        let Some(ifindex) = self.links.get(&iface).map(|l| l.ifindex) else {
            let message = format!(
                "{iface} does not exist: join when it does (a [[join]] of the file waits for it)"
            );
            return Response::error(87, message);
        };
        let join = (iface, group, source);
        let joins = &mut self.host_joins;
        let held = joins.joins.get(&join).copied().unwrap_or_default();
        if held.api {
            return Response::error(183, "already joined");
        }
        if joins.joins.values().filter(|h| h.api).count() >= MAX_API_HOST_JOINS {
            return joins.refuse_api(self.clock);
        }
        if held.joined.is_none() {
            if let Err(e) = self.io.host_join(&join) {
                joins.api_failures += 1;
                return Response::error(87, format!("joining {} on {}: {e}", join.1, join.0));
            }
            joins.retries.succeed(&join);
        }
        let held = Held {
            api: true,
            joined: held.joined.or(Some(ifindex)),
            ..held
        };
        joins.joins.insert(join, held);
        Response::Ok
    }

    /// The host joins, one line each (see [`Response::Joins`]).
    pub fn host_join_lines(&self) -> Vec<String> {
        let line = |((iface, group, source), held): (&HostJoin, &Held)| {
            let source = source.map_or("*".to_owned(), |s| s.to_string());
            let holders = [
                (held.file, "file"),
                (held.api, "join"),
                (held.proxy, "proxy"),
            ];
            let holders: Vec<&str> = holders.iter().filter(|h| h.0).map(|h| h.1).collect();
            let holders = holders.join(",");
            let state = if held.joined.is_some() {
                "joined"
            } else {
                "waiting"
            };
            format!("{iface} {source} {group} {holders} {state}")
        };
        let joins = self.host_joins.joins.iter();
        joins.filter(|(_, held)| held.wanted()).map(line).collect()
    }

    /// Leaves a host join made with [`RouterCore::host_join`] (the proxy's stays).
    pub fn host_leave(&mut self, iface: String, group: IpAddr, source: Option<IpAddr>) -> Response {
        let join = (iface, group, source);
        match self.host_joins.joins.get_mut(&join) {
            Some(held) if held.api => held.api = false,
            _ => return Response::error(1168, "not joined"),
        }
        self.settle_host_joins();
        Response::Ok
    }

    fn settle_host_joins(&mut self) {
        let clock = self.clock;
        self.host_joins.settle(&mut self.io, &self.links, clock);
    }

    /// Holds exactly the configuration file's `[[join]]`s (at start and at each reload) and
    /// makes or leaves what that changes.
    pub(super) fn sync_file_joins(&mut self) {
        let wanted: BTreeSet<HostJoin> = (self.config.joins.iter())
            .map(|j| (j.interface.clone(), j.group, j.source))
            .collect();
        if self.host_joins.set_holder(&wanted, |held| &mut held.file) {
            self.settle_host_joins();
        }
    }

    /// The link of interface `name` changed or went away: the host joins made on it follow.
    pub(super) fn host_joins_follow_link(&mut self, name: &str) {
        self.sync_file_joins();
        let link = self.links.get(name).map(|l| l.ifindex);
        self.host_joins.follow_link(&mut self.io, name, link);
        self.settle_host_joins();
    }

    /// Makes the failed host joins whose retry is due.
    pub(super) fn retry_host_joins(&mut self) {
        if self
            .host_joins
            .next_retry()
            .is_some_and(|at| at <= self.clock)
        {
            self.settle_host_joins();
        }
    }

    /// Recomputes the host joins both proxy instances want when either one's change flag is up
    /// (after a drive of the MGMs): its receivers, its upstream interface or that interface's
    /// service changed. Nothing is recomputed otherwise.
    pub(super) fn sync_proxy_joins(&mut self) {
        let flags = [
            self.builtins.proxy.as_mut().map(|(_, p)| p.take_changed()),
            self.v6.proxy.as_mut().map(|(_, p)| p.take_changed()),
        ];
        if !flags.into_iter().flatten().any(|changed| changed) {
            return;
        }
        self.host_joins.proxy_recomputes += 1;
        let upstream = self
            .config
            .proxy
            .as_ref()
            .map(|p| p.upstream.as_str())
            .filter(|name| self.active.contains_key(*name));
        let wanted: BTreeSet<HostJoin> = match upstream {
            Some(name) => {
                let v4 = self
                    .builtins
                    .proxy
                    .iter()
                    .flat_map(|(_, p)| proxy_joins(p, name));
                let v6 = self.v6.proxy.iter().flat_map(|(_, p)| proxy_joins(p, name));
                v4.chain(v6).collect()
            }
            None => BTreeSet::new(),
        };
        if self.host_joins.set_proxy(&wanted) {
            self.settle_host_joins();
        }
    }
}
