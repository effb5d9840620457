//! The operator's view of the MLD router (`mgmctl show mld [--json]`). Timers are
//! the milliseconds left at the snapshot's `now`; `null` is a stopped timer.
use super::config::{IfaceConfig, Version};
use super::counters::Counters;
use crate::igmp::snapshot::{
    interface, secs, write_counts, write_sources, write_state, write_unknown,
};
use crate::igmp::{self, FilterMode, SourceSnapshot};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv6Addr;

/// The whole router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// One entry per MLD interface, by ifindex.
    pub interfaces: Vec<IfaceSnapshot>,
    /// Inputs received on interfaces MLD does not run on.
    pub unknown_interface: u64,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceSnapshot {
    /// Interface index.
    pub ifindex: u32,
    /// The interface's name, as the daemon knows it (the core knows ifindexes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// This router's link-local address on the interface.
    pub address: Ipv6Addr,
    /// Configuration in force.
    pub config: IfaceConfig,
    /// The elected querier.
    pub querier: QuerierSnapshot,
    /// Older Version Querier Present timer: the interface runs MLDv1 while it runs.
    pub v1_querier_timer_ms: Option<u64>,
    /// Time to the next general query this router sends (`null` while not querier).
    pub general_query_timer_ms: Option<u64>,
    /// Startup queries still to send.
    pub startup_queries_left: u8,
    /// Groups with listeners.
    pub groups: Vec<GroupSnapshot>,
    /// Counters of the interface.
    pub counters: Counters,
}

/// The querier of an interface.
pub type QuerierSnapshot = igmp::QuerierSnapshot<Ipv6Addr, Version>;

/// One group on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// Multicast address.
    pub group: Ipv6Addr,
    /// Router filter mode.
    pub filter_mode: FilterMode,
    /// Multicast address compatibility mode.
    pub compat_version: Version,
    /// Filter timer (meaningful in EXCLUDE mode).
    pub group_timer_ms: Option<u64>,
    /// Older Version Host Present timer (an MLDv1 listener).
    pub v1_host_timer_ms: Option<u64>,
    /// Source records.
    pub sources: Vec<SourceSnapshot<Ipv6Addr>>,
}

impl From<igmp::GroupSnapshot<Ipv6Addr>> for GroupSnapshot {
    /// The shared state machine's view, with IGMPv2 read as MLDv1 and IGMPv3 as MLDv2.
    fn from(g: igmp::GroupSnapshot<Ipv6Addr>) -> Self {
        GroupSnapshot {
            group: g.group,
            filter_mode: g.filter_mode,
            compat_version: Version::from_igmp(g.compat_version),
            group_timer_ms: g.group_timer_ms,
            v1_host_timer_ms: g.v2_host_timer_ms,
            sources: g.sources,
        }
    }
}

impl fmt::Display for Snapshot {
    /// A human-readable table, one block per interface.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.interfaces {
            let q = &i.querier;
            writeln!(
                f,
                "{} {} MLD{:?}: querier {}{} {:?} (other-querier {}, v1-querier {}, next query {})",
                interface(i.ifindex, i.name.as_deref()),
                i.address,
                i.config.version,
                q.address,
                if q.is_self { " (self)" } else { "" },
                q.version,
                secs(q.other_querier_timer_ms),
                secs(i.v1_querier_timer_ms),
                secs(i.general_query_timer_ms),
            )?;
            let sources: usize = i.groups.iter().map(|g| g.sources.len()).sum();
            write_state(
                f,
                i.groups.len(),
                sources,
                i.config.max_groups,
                i.config.max_sources,
            )?;
            write_counts(f, "dropped", &i.counters.dropped)?;
            write_counts(f, "ignored", &i.counters.ignored)?;
            for g in &i.groups {
                writeln!(
                    f,
                    "  {} {:?} compat MLD{:?} timer {} v1-host {}",
                    g.group,
                    g.filter_mode,
                    g.compat_version,
                    secs(g.group_timer_ms),
                    secs(g.v1_host_timer_ms),
                )?;
                write_sources(f, &g.sources)?;
            }
        }
        write_unknown(f, self.unknown_interface)
    }
}
