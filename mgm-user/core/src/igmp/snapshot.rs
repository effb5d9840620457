//! The operator's view of the IGMP router (`mgmctl show igmp [--json]`). Timers are the
//! milliseconds left at the snapshot's `now`; `null` is a stopped timer.
use super::config::{IfaceConfig, Version};
use super::counters::Counters;
use super::group::FilterMode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Instant;

/// The whole router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// One entry per IGMP interface, by ifindex.
    pub interfaces: Vec<IfaceSnapshot>,
    /// Inputs received on interfaces IGMP does not run on.
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
    /// This router's address on the interface.
    pub address: Ipv4Addr,
    /// Prefix length of the interface's subnet.
    pub prefix_len: u8,
    /// Configuration in force.
    pub config: IfaceConfig,
    /// The elected querier.
    pub querier: QuerierSnapshot,
    /// Time to the next general query this router sends (`null` while not querier).
    pub general_query_timer_ms: Option<u64>,
    /// Startup queries still to send.
    pub startup_queries_left: u8,
    /// Groups with receivers.
    pub groups: Vec<GroupSnapshot>,
    /// Counters of the interface.
    pub counters: Counters,
}

/// The querier of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerierSnapshot<A = Ipv4Addr, V = Version> {
    /// Address of the querier.
    pub address: A,
    /// Whether this router is the querier.
    pub is_self: bool,
    /// Version of the querier's queries.
    pub version: V,
    /// Other querier present timer (`null` when this router is querier).
    pub other_querier_timer_ms: Option<u64>,
}

/// One group on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot<A = Ipv4Addr> {
    /// Multicast group.
    pub group: A,
    /// Router filter mode.
    pub filter_mode: FilterMode,
    /// Group compatibility mode.
    pub compat_version: Version,
    /// Group timer (meaningful in EXCLUDE mode).
    pub group_timer_ms: Option<u64>,
    /// IGMPv1 host present timer.
    pub v1_host_timer_ms: Option<u64>,
    /// IGMPv2 host present timer.
    pub v2_host_timer_ms: Option<u64>,
    /// Source records.
    pub sources: Vec<SourceSnapshot<A>>,
}

/// One source record of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSnapshot<A = Ipv4Addr> {
    /// Source address.
    pub source: A,
    /// Source timer (`null`: stopped, the source is excluded).
    pub timer_ms: Option<u64>,
    /// Whether traffic from the source is forwarded.
    pub forwarded: bool,
}

/// Milliseconds from `now` until `t` (0 if past).
pub(crate) fn remaining_ms(t: Instant, now: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
}

/// A timer for the human-readable table: seconds with one decimal, `-` when stopped.
pub(crate) fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "-".to_owned(),
        |ms| format!("{:.1}s", ms as f64 / 1000.0),
    )
}

/// The table's line of an interface's state against its bounds.
pub(crate) fn write_state(
    f: &mut fmt::Formatter<'_>,
    groups: usize,
    sources: usize,
    max_groups: usize,
    max_sources: usize,
) -> fmt::Result {
    writeln!(
        f,
        "  state: {groups} of {max_groups} groups, {sources} of {max_sources} sources",
    )
}

/// The table's lines of a group's source records.
pub(crate) fn write_sources<A: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    sources: &[SourceSnapshot<A>],
) -> fmt::Result {
    for s in sources {
        let state = if s.forwarded { "forward" } else { "block" };
        writeln!(f, "    {} {state} {}", s.source, secs(s.timer_ms))?;
    }
    Ok(())
}

/// The table's last line: the inputs for interfaces the protocol does not run on, if any.
/// One line of counters by reason, `  LABEL: Reason n, Reason n`, unless all are zero.
pub(crate) fn write_counts<R: fmt::Debug>(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    counts: &BTreeMap<R, u64>,
) -> fmt::Result {
    if counts.is_empty() {
        return Ok(());
    }
    let counts: Vec<String> = counts.iter().map(|(r, n)| format!("{r:?} {n}")).collect();
    writeln!(f, "  {label}: {}", counts.join(", "))
}

/// An interface as the tables name it: its name and ifindex, or its ifindex alone.
pub(crate) fn interface(ifindex: u32, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} (ifindex {ifindex})"),
        None => format!("ifindex {ifindex}"),
    }
}

pub(crate) fn write_unknown(f: &mut fmt::Formatter<'_>, unknown_interface: u64) -> fmt::Result {
    if unknown_interface > 0 {
        writeln!(
            f,
            "dropped, received on interfaces it does not run on: {unknown_interface}"
        )?;
    }
    Ok(())
}

impl fmt::Display for Snapshot {
    /// The human-readable table of `mgmctl show igmp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.interfaces {
            let q = &i.querier;
            writeln!(
                f,
                "{} {}/{} {:?}: querier {}{} {:?} (other-querier {}, next query {})",
                interface(i.ifindex, i.name.as_deref()),
                i.address,
                i.prefix_len,
                i.config.version,
                q.address,
                if q.is_self { " (self)" } else { "" },
                q.version,
                secs(q.other_querier_timer_ms),
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
                    "  {} {:?} compat {:?} timer {} v1-host {} v2-host {}",
                    g.group,
                    g.filter_mode,
                    g.compat_version,
                    secs(g.group_timer_ms),
                    secs(g.v1_host_timer_ms),
                    secs(g.v2_host_timer_ms),
                )?;
                write_sources(f, &g.sources)?;
            }
        }
        write_unknown(f, self.unknown_interface)
    }
}
