//! Host-side joins of the router itself, one reference-counted set for their two holders: the
//! API (`mgmctl join`) and the built-in proxy (its upstream memberships, see
//! [`crate::daemon::proxy`]). The core keeps the set; the I/O side holds one socket per join
//! ([`RouterIo::host_join`]).
//!
//! A join is made when its first holder wants it and left when its last holder lets it go, so
//! neither holder undoes the other's join of the same (interface, group, source). The API's
//! joins are made at once (a failure is the call's error); the proxy's are reconciled after
//! every drive of the MGMs: its new joins are made before its dropped ones are left, and a
//! dropped join stays while a join of the same interface and group still waits, so a change
//! between source-specific and any-source never leaves the group in between. A proxy join that
//! fails is counted (`host_join_failures`), logged, and retried with backoff
//! (`host_joins_waiting_now`) for as long as the proxy wants it. The proxy's joins exist while
//! its upstream interface is in service (and `[proxy]` configured); when it leaves service or
//! comes back under another ifindex they are left, and made again once it is in service. The set is bounded by the
//! API's calls and the memberships IGMP and MLD accept downstream.
use super::{
    ports::HostJoin,
    sync::{backoff, RETRY_FIRST, RETRY_MAX},
    RouterCore, RouterIo,
};
use crate::{
    api::proto::Response, daemon::proxy::ProxyProtocol, dataplane::ForwardingBackend, mgm::Address,
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
    joined: bool,
}

impl Held {
    fn wanted(&self) -> bool {
        self.api || self.proxy
    }
}

/// The router's host joins.
#[derive(Debug, Default)]
pub(super) struct HostJoins {
    joins: BTreeMap<HostJoin, Held>,
    /// Proxy joins that failed: (failed attempts, next attempt).
    retries: BTreeMap<HostJoin, (u32, Instant)>,
    /// Joins that failed (the API's and the proxy's, first attempts and retries).
    pub(super) failures: u64,
    /// The proxy's upstream interface its joins were made on, (name, ifindex) (`None`: out
    /// of service, or no `[proxy]`).
    proxy_upstream: Option<(String, u32)>,
}

impl HostJoins {
    /// When the next retry is due.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.retries.values().map(|(_, at)| *at).min()
    }

    /// Proxy joins waiting for a retry.
    pub(super) fn waiting(&self) -> usize {
        self.retries.len()
    }

    /// Marks exactly the joins in `wanted` as the proxy's; whether anything changed.
    fn set_proxy(&mut self, wanted: &BTreeSet<HostJoin>) -> bool {
        let mut changed = false;
        for (join, held) in &mut self.joins {
            let proxy = wanted.contains(join);
            changed |= held.proxy != proxy;
            held.proxy = proxy;
        }
        for join in wanted {
            if !self.joins.contains_key(join) {
                let held = Held {
                    proxy: true,
                    ..Held::default()
                };
                self.joins.insert(join.clone(), held);
                changed = true;
            }
        }
        changed
    }

    /// Makes the wanted joins that are due (the proxy's; the API's are made by their call),
    /// then leaves the joins nobody wants unless a join of their interface and group still
    /// waits.
    fn settle(&mut self, io: &mut impl RouterIo, now: Instant) {
        let due: Vec<HostJoin> = self
            .joins
            .iter()
            .filter(|(join, held)| {
                held.proxy
                    && !held.joined
                    && self.retries.get(*join).is_none_or(|(_, at)| *at <= now)
            })
            .map(|(join, _)| join.clone())
            .collect();
        for join in due {
            self.join_for_proxy(io, join, now);
        }
        let waiting: BTreeSet<(&str, IpAddr)> = self
            .joins
            .iter()
            .filter(|(_, held)| held.wanted() && !held.joined)
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
            if self.joins.remove(&join).is_some_and(|held| held.joined) {
                io.host_leave(&join);
                let (iface, group, source) = &join;
                info!(%iface, %group, ?source, "left a host join");
            }
        }
        let joins = &self.joins;
        self.retries
            .retain(|join, _| joins.get(join).is_some_and(|h| h.proxy && !h.joined));
    }

    fn join_for_proxy(&mut self, io: &mut impl RouterIo, join: HostJoin, now: Instant) {
        let (iface, group, source) = &join;
        match io.host_join(&join) {
            Ok(()) => {
                info!(%iface, %group, ?source, "proxy: joined upstream");
                self.retries.remove(&join);
                if let Some(held) = self.joins.get_mut(&join) {
                    held.joined = true;
                }
            }
            Err(e) => {
                self.failures += 1;
                let attempts = self.retries.get(&join).map_or(0, |r| r.0) + 1;
                let backoff = backoff(RETRY_FIRST, attempts, RETRY_MAX);
                warn!(
                    %iface, %group, ?source, error = %e, attempts,
                    retry_in_ms = backoff.as_millis() as u64,
                    "proxy: upstream join failed; retrying"
                );
                self.retries.insert(join, (attempts, now + backoff));
            }
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
    /// The router joins a group on an interface as a host.
    pub fn host_join(&mut self, iface: String, group: IpAddr, source: Option<IpAddr>) -> Response {
        let join = (iface, group, source);
        let joins = &mut self.host_joins;
        let held = joins.joins.get(&join).copied().unwrap_or_default();
        if held.api {
            return Response::error(183, "already joined");
        }
        if !held.joined {
            if let Err(e) = self.io.host_join(&join) {
                joins.failures += 1;
                return Response::error(87, format!("joining {} on {}: {e}", join.1, join.0));
            }
        }
        let held = Held {
            api: true,
            joined: true,
            ..held
        };
        joins.joins.insert(join, held);
        Response::Ok
    }

    /// Leaves a host join made with [`RouterCore::host_join`] (the proxy's stays).
    pub fn host_leave(&mut self, iface: String, group: IpAddr, source: Option<IpAddr>) -> Response {
        let join = (iface, group, source);
        match self.host_joins.joins.get_mut(&join) {
            Some(held) if held.api => held.api = false,
            _ => return Response::error(1168, "not joined"),
        }
        self.host_joins.settle(&mut self.io, self.clock);
        Response::Ok
    }

    /// Brings the host joins in line with the upstream memberships both proxy instances want
    /// (after every drive of the MGMs), and retries the failed ones that are due.
    pub(super) fn sync_proxy_joins(&mut self) {
        let upstream = self.config.proxy.as_ref().and_then(|p| {
            let (name, (ifindex, _)) = self.active.get_key_value(&p.upstream)?;
            Some((name.as_str(), *ifindex))
        });
        let mut changed = false;
        for proxy_changed in [
            self.builtins.proxy.as_mut().map(|(_, p)| p.take_changed()),
            self.v6.proxy.as_mut().map(|(_, p)| p.take_changed()),
        ] {
            changed |= proxy_changed.unwrap_or(false);
        }
        let clock = self.clock;
        let joins = &mut self.host_joins;
        let joined_on = joins.proxy_upstream.as_ref().map(|(n, i)| (n.as_str(), *i));
        if upstream != joined_on {
            // The joins made on the old interface are left before the new one gets them.
            joins.proxy_upstream = upstream.map(|(name, ifindex)| (name.to_owned(), ifindex));
            if joins.set_proxy(&BTreeSet::new()) {
                joins.settle(&mut self.io, clock);
            }
            changed = true;
        }
        if changed {
            let wanted: BTreeSet<HostJoin> = match upstream {
                Some((name, _)) => {
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
            changed = self.host_joins.set_proxy(&wanted);
        }
        if changed || self.host_joins.next_retry().is_some_and(|at| at <= clock) {
            self.host_joins.settle(&mut self.io, clock);
        }
    }
}
