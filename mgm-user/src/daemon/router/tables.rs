//! The API tables (interfaces, protocols, MFEs, groups, IGMP, routes).
use super::{
    family::Family, forwarded, ExternalFamily, RouterCore, RouterIo, KERNEL_PROTOCOL_ID,
    PROXY_PROTOCOL_ID, STATIC_PROTOCOL_ID,
};
use crate::{
    api::proto::{GroupRow, InterfaceRow, MfeRow, OifRow, ProtocolRow},
    dataplane::{ForwardingBackend, MfeStats, OifStats},
    igmp::{ChangeKind, MembershipChange},
    mgm::{self, Address, IfId, MemberFlags, ProtocolHandle, Sg},
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The interfaces table.
    pub fn interfaces(&self) -> Vec<InterfaceRow> {
        self.config
            .interfaces
            .iter()
            .map(|cfg| {
                let link = self.links.get(&cfg.name);
                let active = self.active.get(&cfg.name);
                InterfaceRow {
                    name: cfg.name.clone(),
                    ifindex: link.map_or(0, |l| l.ifindex),
                    up: link.is_some_and(|l| l.up),
                    xdp: active.map(|a| format!("{:?}", a.1).to_lowercase()),
                    igmp: active.is_some_and(|a| self.igmp.memberships(a.0).is_ok()),
                    mld: active.is_some_and(|a| self.v6.mld.memberships(a.0).is_ok()),
                    owner: active
                        .and_then(|a| self.shown_owner(a.0))
                        .map(|(p, _)| self.protocol_name(p))
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The (protocol id, component id) owning the interface `ifindex` (no next hop) in the
    /// IPv4 and in the IPv6 MGM; MLD owns under IGMP's id.
    fn owners_of(&self, ifindex: u32) -> [Option<(u32, u32)>; 2] {
        [
            self.mgm.protocol_on_interface(IfId::index(ifindex)).ok(),
            self.v6.mgm.protocol_on_interface(IfId::index(ifindex)).ok(),
        ]
    }

    /// The owner of the interface `ifindex` in either MGM: a routing protocol (which owns it
    /// in both) before IGMP or MLD, which co-own it in theirs.
    fn shown_owner(&self, ifindex: u32) -> Option<(u32, u32)> {
        let [v4, v6] = self.owners_of(ifindex);
        let routing = |o: &(u32, u32)| o.0 != mgm::MS_IP_IGMP;
        v4.filter(routing).or(v6.filter(routing)).or(v4).or(v6)
    }

    pub(super) fn protocol_name(&self, protocol_id: u32) -> String {
        match protocol_id {
            mgm::MS_IP_IGMP => "igmp".into(),
            STATIC_PROTOCOL_ID => "static".into(),
            PROXY_PROTOCOL_ID => "proxy".into(),
            KERNEL_PROTOCOL_ID => "kernel".into(),
            other => format!("external:{other:#x}"),
        }
    }

    pub(super) fn name_of(&self, ifindex: u32) -> String {
        self.active
            .iter()
            .find(|(_, a)| a.0 == ifindex)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

    /// The protocols table.
    pub fn protocols(&self) -> Vec<ProtocolRow> {
        let mut rows = vec![(mgm::MS_IP_IGMP, 0, 0), (STATIC_PROTOCOL_ID, 0, 0)];
        if self.builtins.proxy.is_some() {
            rows.push((PROXY_PROTOCOL_ID, 0, 0));
        }
        if self.builtins.kernel.is_some() {
            rows.push((KERNEL_PROTOCOL_ID, 0, 0));
        }
        rows.extend(
            self.externals
                .values()
                .map(|e| (e.protocol_id, e.component_id, e.missed_answers)),
        );
        rows.into_iter()
            .map(|(protocol_id, component_id, missed_answers)| ProtocolRow {
                missed_answers,
                name: self.protocol_name(protocol_id),
                protocol_id,
                component_id,
                interfaces: self
                    .active
                    .iter()
                    .filter(|(_, a)| {
                        self.owners_of(a.0)
                            .contains(&Some((protocol_id, component_id)))
                    })
                    .map(|(n, _)| n.clone())
                    .collect(),
            })
            .collect()
    }

    /// The MFE table with fresh counters (which also refresh active entries' lifetimes): the
    /// IPv4 entries, then the IPv6 ones.
    pub fn mfes(&mut self) -> Vec<MfeRow> {
        self.refresh_stats(self.clock);
        let mut rows = self.mfe_rows::<Ipv4Addr>();
        rows.extend(self.mfe_rows::<Ipv6Addr>());
        self.drive();
        rows
    }

    /// The MFE rows of family `F`: the MGM's entries, then those adopted from the previous run
    /// that forward untouched until their reconciliation (ORIGIN `adopted`, as the data plane
    /// holds them, expiring at the reconciliation).
    fn mfe_rows<F: Family>(&self) -> Vec<MfeRow> {
        let mut rows = self.mgm_mfe_rows::<F>();
        let now = self.clock;
        let window = Duration::from_secs(self.config.daemon.adopt_window_s.into());
        let adopted_at = self.reconcile_at.checked_sub(window).unwrap_or(now);
        let mgm = F::mgm(self);
        rows.extend(
            F::adopted(self)
                .iter()
                .filter(|&&(sg, _)| mgm.mfe(sg).is_none())
                .map(|&(sg, iif)| {
                    let stats = self.entry_stats(sg);
                    MfeRow {
                        source: sg.source.into(),
                        group: sg.group.into(),
                        iif: self.name_of(iif),
                        origin: "adopted".into(),
                        oifs: stats
                            .oifs
                            .iter()
                            .map(|&(ifindex, s)| self.oif_row(ifindex, s))
                            .collect(),
                        packets: stats.packets,
                        bytes: stats.bytes,
                        wrong_if: stats.wrong_if,
                        age_s: now.saturating_duration_since(adopted_at).as_secs(),
                        expires_s: self.reconcile_at.saturating_duration_since(now).as_secs(),
                    }
                }),
        );
        rows
    }

    /// The counters of the entry for `sg`: the fast path's and those of its packets the hold
    /// queues sent on (none if the backend cannot read them).
    fn entry_stats<F: Family>(&self, sg: Sg<F>) -> MfeStats {
        let mut stats = F::stats(&self.backend, F::key(sg)).unwrap_or_default();
        self.hold.add_to_stats(F::flow(sg), &mut stats);
        stats
    }

    /// One outgoing interface's row from its counters.
    fn oif_row(&self, ifindex: u32, stats: OifStats) -> OifRow {
        OifRow {
            iface: self.name_of(ifindex),
            packets: stats.packets,
            bytes: stats.bytes,
            drops: stats.drops,
        }
    }

    /// The rows of the MGM's entries of family `F`, with a row per interface the entry sends
    /// copies out of ([`forwarded`]): the next hops of one interface share its row.
    fn mgm_mfe_rows<F: Family>(&self) -> Vec<MfeRow> {
        let now = self.now();
        F::mgm(self)
            .mfes()
            .map(|m| {
                let stats = self.entry_stats(m.sg());
                MfeRow {
                    source: m.sg().source.into(),
                    group: m.sg().group.into(),
                    iif: self.name_of(m.iif().ifindex),
                    origin: self.protocol_name(m.iif_protocol()),
                    oifs: forwarded(m.iif().ifindex, m.oifs().iter().map(|o| o.ifindex))
                        .into_iter()
                        .map(|ifindex| {
                            let s = stats
                                .oifs
                                .iter()
                                .find(|(i, _)| *i == ifindex)
                                .map(|(_, s)| *s)
                                .unwrap_or_default();
                            self.oif_row(ifindex, s)
                        })
                        .collect(),
                    packets: stats.packets,
                    bytes: stats.bytes,
                    wrong_if: stats.wrong_if,
                    age_s: m.up_time(now).as_secs(),
                    expires_s: m.expiry_time(now).as_secs(),
                }
            })
            .collect()
    }

    /// Every entry's (source, group), packets and bytes as the counters were last read (what
    /// [`RouterCore::mfes`] counts, without its rows).
    pub fn mfe_traffic(&self) -> Vec<((IpAddr, IpAddr), u64, u64)> {
        let mut traffic = self.traffic_of::<Ipv4Addr>();
        traffic.extend(self.traffic_of::<Ipv6Addr>());
        traffic
    }

    /// The (source, group), packets and bytes of the entries of family `F`.
    fn traffic_of<F: Family>(&self) -> Vec<((IpAddr, IpAddr), u64, u64)> {
        F::mgm(self)
            .mfes()
            .map(|m| {
                let c = m.counters();
                let sg = m.sg();
                ((sg.source.into(), sg.group.into()), c.in_pkts, c.in_octets)
            })
            .collect()
    }

    /// The drop counters of the veths in service, by name.
    pub fn veth_counters(&self) -> BTreeMap<String, u64> {
        let io = &self.io;
        self.veths
            .counters(|name, ifindex| io.read_veth(name, ifindex))
    }

    /// The memberships table, with each one's FORWARD state, filter mode and (for the EXCLUDE-mode
    /// groups of IGMP and MLD) excluded sources: the IPv4 memberships, then the IPv6 ones.
    pub fn groups(&self) -> Vec<GroupRow> {
        let mut rows = self.group_rows::<Ipv4Addr>(
            self.builtins.igmp.0,
            |ifindex| excluded_by_group(self.igmp.memberships(ifindex)),
            |h| self.protocol_id_of(h).map(|p| self.protocol_name(p)),
        );
        rows.extend(self.group_rows::<Ipv6Addr>(
            self.v6.mld_client.0,
            |ifindex| excluded_by_group(self.v6.mld.memberships(ifindex)),
            |h| self.protocol_name6(h),
        ));
        rows
    }

    /// The membership rows of family `F`: `local` is the handle of its IGMP (or MLD), whose
    /// sources `excluded` from each (\*,G) membership of an interface the rows list (asked
    /// once per interface: a group's row looks its sources up there, so that the table takes
    /// time in proportion to its rows), and `protocol` names the protocol of a handle.
    pub(super) fn group_rows<F: Family>(
        &self,
        local: ProtocolHandle,
        excluded: impl Fn(u32) -> BTreeMap<F, Vec<F>>,
        protocol: impl Fn(ProtocolHandle) -> Option<String>,
    ) -> Vec<GroupRow> {
        let mgm = F::mgm(self);
        let mut excluded_on: BTreeMap<u32, BTreeMap<F, Vec<F>>> = BTreeMap::new();
        mgm.memberships()
            .into_iter()
            .map(|m| {
                let forward_disabled = mgm
                    .mfe(m.sg)
                    .is_some_and(|e| e.forward_disabled().contains(m.ifid));
                let flags = if forward_disabled {
                    MemberFlags::JOIN
                } else {
                    MemberFlags::JOIN | MemberFlags::FORWARD
                };
                let any_source = m.sg.source == F::UNSPECIFIED;
                let excluded = if any_source && m.protocol == local {
                    let ifindex = m.ifid.ifindex;
                    let of_iface = excluded_on
                        .entry(ifindex)
                        .or_insert_with(|| excluded(ifindex));
                    of_iface.get(&m.sg.group).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                };
                let iface = self.name_of(m.ifid.ifindex);
                GroupRow {
                    source: m.sg.source.into(),
                    group: m.sg.group.into(),
                    // An (interface, next hop) pair's membership names its next hop.
                    iface: match m.ifid.next_hop {
                        hop if hop == F::UNSPECIFIED => iface,
                        hop => format!("{iface}/{hop}"),
                    },
                    protocol: protocol(m.protocol).unwrap_or_default(),
                    flags: flags.bits(),
                    mode: if any_source { "exclude" } else { "include" }.into(),
                    excluded: excluded.into_iter().map(Into::into).collect(),
                }
            })
            .collect()
    }

    /// The name of the protocol of handle `h` in the IPv6 MGM.
    pub(super) fn protocol_name6(&self, h: ProtocolHandle) -> Option<String> {
        if h == self.v6.statics.0 {
            return Some("static".into());
        }
        if self.v6.proxy.as_ref().is_some_and(|p| p.0 == h) {
            return Some("proxy".into());
        }
        if self.v6.kernel.as_ref().is_some_and(|k| k.0 == h) {
            return Some("kernel".into());
        }
        if h == self.v6.mld_client.0 {
            return Some("mld".into());
        }
        let external = self.externals.get(&Ipv6Addr::external_of(self, h)?)?;
        Some(self.protocol_name(external.protocol_id))
    }

    pub(super) fn protocol_id_of(&self, h: ProtocolHandle) -> Option<u32> {
        if h == self.builtins.igmp.0 {
            return Some(mgm::MS_IP_IGMP);
        }
        if h == self.builtins.statics.0 {
            return Some(STATIC_PROTOCOL_ID);
        }
        if self.builtins.proxy.as_ref().is_some_and(|p| p.0 == h) {
            return Some(PROXY_PROTOCOL_ID);
        }
        if self.builtins.kernel.as_ref().is_some_and(|k| k.0 == h) {
            return Some(KERNEL_PROTOCOL_ID);
        }
        self.externals.get(&h).map(|e| e.protocol_id)
    }

    /// The IGMP snapshot.
    pub fn igmp_snapshot(&self) -> serde_json::Value {
        let mut snapshot = self.igmp.snapshot(self.clock);
        for i in &mut snapshot.interfaces {
            i.name = Some(self.name_of(i.ifindex));
        }
        serde_json::to_value(snapshot).unwrap_or_default()
    }

    /// Static routes in smcroute words.
    pub fn routes(&self) -> Vec<String> {
        self.builtins
            .statics
            .1
            .routes()
            .chain(self.v6.statics.1.routes())
            .map(|r| {
                let source = r.source.map_or("*".to_owned(), |s| s.to_string());
                format!("{} {} {} {}", r.from, source, r.group, r.to.join(" "))
            })
            .collect()
    }
}

/// The sources each group of an interface excludes, from its IGMP's (MLD's) memberships.
fn excluded_by_group<A: Address, E>(
    changes: Result<Vec<MembershipChange<A>>, E>,
) -> BTreeMap<A, Vec<A>> {
    let mut by_group: BTreeMap<A, Vec<A>> = BTreeMap::new();
    for change in changes.unwrap_or_default() {
        if let ChangeKind::Block(source) = change.kind {
            by_group.entry(change.group).or_default().push(source);
        }
    }
    by_group
}
