//! The event monitor's messages ([`MonitorEvent`]) and their one-line text form, as
//! `mgmctl monitor` prints them.
use super::proto::{ApiAnswer, ApiIfId, ApiSg, Event};
use serde::{Deserialize, Serialize};
use std::{fmt, net::IpAddr};

/// The (S,G) of an entry of either family (an IPv4 one reads as [`ApiSg`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorSg {
    /// Source, unspecified for any.
    pub source: IpAddr,
    /// Group.
    pub group: IpAddr,
}

impl From<ApiSg> for MonitorSg {
    fn from(sg: ApiSg) -> Self {
        MonitorSg {
            source: sg.source,
            group: sg.group,
        }
    }
}

/// One line of the event monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "monitor", rename_all = "snake_case")]
pub enum MonitorEvent {
    /// The MGM called a protocol (built-in or external); built-in answers come with it.
    Callback {
        /// The recipient ("igmp", "mld", "static", "proxy", "kernel", "external:0x...").
        protocol: String,
        /// Its component id.
        component_id: u32,
        /// The callback and its arguments.
        event: Event,
        /// Out-parameters of a built-in protocol's answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<ApiAnswer>,
    },
    /// An external protocol answered a question.
    Answer {
        /// Who answered.
        protocol: String,
        /// Its component id.
        component_id: u32,
        /// The answer.
        answer: ApiAnswer,
    },
    /// An external protocol missed its answer deadline; the documented default applied.
    DeadlineMissed {
        /// Who missed it.
        protocol: String,
        /// Its component id.
        component_id: u32,
        /// The question.
        query: u64,
        /// The deadline in ms.
        deadline_ms: u64,
    },
    /// An MFE was created, changed or deleted.
    Mfe {
        /// "created", "changed" or "deleted".
        change: String,
        /// Its key (IPv4 or IPv6).
        sg: MonitorSg,
        /// Incoming ifindex (0 for deletions).
        iif: u32,
        /// Outgoing ifindexes (empty: negative entry, or deleted).
        oifs: Vec<u32>,
    },
    /// This monitor fell behind and lost `missed` events (mgmd never waits for a monitor).
    Lagged {
        /// Events lost.
        missed: u64,
    },
}

/// Names an interface by its ifindex in monitor lines.
pub type IfName<'a> = &'a dyn Fn(u32) -> String;

impl MonitorEvent {
    /// The one-line form, interfaces named by `name`.
    pub fn text(&self, name: IfName<'_>) -> String {
        let mut f = String::new();
        let _ = self.write(&mut f, name);
        f
    }

    fn write(&self, f: &mut impl std::fmt::Write, name: IfName<'_>) -> fmt::Result {
        match self {
            MonitorEvent::Callback {
                protocol,
                component_id,
                event,
                answer,
            } => {
                write!(
                    f,
                    "callback {protocol}/{component_id}: {}",
                    describe(event, name)
                )?;
                match answer {
                    Some(a) => write!(f, " -> {}", describe_answer(a, name)),
                    None => Ok(()),
                }
            }
            MonitorEvent::Answer {
                protocol,
                component_id,
                answer,
            } => write!(
                f,
                "answer {protocol}/{component_id}: {}",
                describe_answer(answer, name)
            ),
            MonitorEvent::DeadlineMissed {
                protocol,
                component_id,
                query,
                deadline_ms,
            } => write!(
                f,
                "deadline missed {protocol}/{component_id}: query {query} unanswered after \
                 {deadline_ms} ms, default applied"
            ),
            MonitorEvent::Mfe {
                change,
                sg,
                iif,
                oifs,
            } if *iif == 0 && oifs.is_empty() => write!(f, "mfe {change} {}", sg_text(*sg)),
            MonitorEvent::Mfe {
                change,
                sg,
                iif,
                oifs,
            } => {
                let oifs: Vec<String> = oifs.iter().map(|&i| name(i)).collect();
                write!(
                    f,
                    "mfe {change} {} iif {} oifs [{}]",
                    sg_text(*sg),
                    name(*iif),
                    oifs.join(" ")
                )
            }
            MonitorEvent::Lagged { missed } => write!(f, "lagged: {missed} events lost"),
        }
    }
}

fn sg_text(sg: impl Into<MonitorSg>) -> String {
    let sg = sg.into();
    let part = |a: IpAddr| {
        if a.is_unspecified() {
            "*".to_owned()
        } else {
            a.to_string()
        }
    };
    format!("({}, {})", part(sg.source), part(sg.group))
}

fn if_text(i: &ApiIfId, name: IfName<'_>) -> String {
    if i.next_hop.is_unspecified() {
        name(i.ifindex)
    } else {
        format!("{}/{}", name(i.ifindex), i.next_hop)
    }
}

fn describe(event: &Event, name: IfName<'_>) -> String {
    match event {
        Event::Rpf {
            query,
            sg,
            iif,
            upstream,
            route,
            header,
            reject,
        } => format!(
            "rpf {} iif {} upstream {upstream} route {}/{} proto {} header {} bytes{} (query {query})",
            sg_text(*sg),
            if_text(iif, name),
            route.network,
            route.mask,
            route.protocol,
            header.len() / 2,
            if *reject { " no-route offer" } else { "" }
        ),
        Event::CreationAlert {
            query,
            sg,
            iif,
            entries,
        } => {
            let list: Vec<String> = entries
                .iter()
                .map(|e| format!("{}{}", if_text(&e.ifid, name), if e.igmp { "(igmp)" } else { "" }))
                .collect();
            format!(
                "creation_alert {} iif {} offered [{}] (query {query})",
                sg_text(*sg),
                if_text(iif, name),
                list.join(" ")
            )
        }
        Event::PruneAlert {
            sg,
            ifid,
            member_delete,
            timeout_s,
            ..
        } => format!(
            "prune_alert {} {} member_delete {member_delete} timeout {timeout_s}s",
            sg_text(*sg),
            if_text(ifid, name)
        ),
        Event::JoinAlert { sg, member_update } => {
            format!("join_alert {} member_update {member_update}", sg_text(*sg))
        }
        Event::WrongIf { sg, ifid, .. } => format!("wrong_if {} {}", sg_text(*sg), if_text(ifid, name)),
        Event::LocalJoin { sg, ifid } => format!("local_join {} {}", sg_text(*sg), if_text(ifid, name)),
        Event::LocalLeave { sg, ifid } => format!("local_leave {} {}", sg_text(*sg), if_text(ifid, name)),
        Event::DisableIgmp { ifid } => format!("disable_igmp {}", if_text(ifid, name)),
        Event::EnableIgmp { ifid } => format!("enable_igmp {}", if_text(ifid, name)),
    }
}

fn describe_answer(answer: &ApiAnswer, name: IfName<'_>) -> String {
    match answer {
        ApiAnswer::Rpf {
            iif,
            upstream,
            reject,
            ..
        } => format!(
            "iif {} upstream {upstream} reject {reject}",
            if_text(iif, name)
        ),
        ApiAnswer::CreationAlert { entries, .. } => {
            let vetoed: Vec<String> = entries
                .iter()
                .filter(|e| !e.enabled)
                .map(|e| if_text(&e.ifid, name))
                .collect();
            format!("vetoed [{}]", vetoed.join(" "))
        }
        ApiAnswer::PruneAlert { timeout_s, .. } => format!("timeout {timeout_s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn mfe(change: &str, iif: u32, oifs: Vec<u32>) -> String {
        let sg = MonitorSg {
            source: Ipv4Addr::new(10, 0, 0, 1).into(),
            group: Ipv4Addr::new(239, 1, 1, 1).into(),
        };
        let change = change.into();
        MonitorEvent::Mfe {
            change,
            sg,
            iif,
            oifs,
        }
        .text(&|i| format!("eth{i}"))
    }

    #[test]
    fn a_deleted_entry_reads_without_the_interfaces_it_no_longer_has() {
        assert_eq!(
            mfe("created", 2, vec![3, 4]),
            "mfe created (10.0.0.1, 239.1.1.1) iif eth2 oifs [eth3 eth4]"
        );
        assert_eq!(
            mfe("deleted", 0, vec![]),
            "mfe deleted (10.0.0.1, 239.1.1.1)"
        );
    }
}
