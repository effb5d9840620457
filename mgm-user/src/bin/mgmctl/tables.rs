//! The tables of mgmctl's answers for people: one per response, rates with SI prefixes, the
//! `show stats` column.
use super::*;
use mgm_user::api::proto::OifRow;

pub(super) fn print_table(response: Response) {
    match response {
        Response::Ok | Response::Error { .. } => {}
        Response::Status {
            version,
            interfaces,
            pinned,
            pin_dir,
            pinned_in,
        } => {
            outln!("mgmd {version}");
            outln!("interfaces: {}", interfaces.join(" "));
            match (pinned, pin_dir) {
                (true, Some(dir)) => {
                    let place = pinned_in.unwrap_or_default();
                    outln!("pinned: yes, {dir} ({place})")
                }
                _ => outln!("pinned: no (running unpinned: forwarding stops with mgmd)"),
            }
        }
        Response::Stats { counters } => {
            for line in stats_lines(&counters) {
                outln!("{line}");
            }
        }
        Response::Interfaces { rows } => {
            outln!(
                "{:<16} {:>7} {:<5} {:<8} {:<5} {:<5} OWNER",
                "INTERFACE",
                "IFINDEX",
                "STATE",
                "XDP",
                "IGMP",
                "MLD"
            );
            for r in rows {
                let state = if r.up { "up" } else { "down" };
                let xdp = r.xdp.unwrap_or_else(|| "-".into());
                let on = |b: bool| if b { "on" } else { "off" };
                outln!(
                    "{:<16} {:>7} {:<5} {:<8} {:<5} {:<5} {}",
                    r.name,
                    r.ifindex,
                    state,
                    xdp,
                    on(r.igmp),
                    on(r.mld),
                    r.owner
                );
            }
        }
        Response::Protocols { rows } => {
            outln!(
                "{:<20} {:>12} {:>10} INTERFACES",
                "PROTOCOL",
                "ID",
                "COMPONENT"
            );
            for r in rows {
                outln!(
                    "{:<20} {:>#12x} {:>10} {}",
                    r.name,
                    r.protocol_id,
                    r.component_id,
                    r.interfaces.join(" ")
                );
            }
        }
        Response::Groups { rows } => {
            let w = address_width(rows.iter().flat_map(|r| [r.source, r.group]));
            outln!(
                "{:<w$} {:<w$} {:<12} {:<10} {:<12} {:<8} EXCLUDED",
                "SOURCE",
                "GROUP",
                "INTERFACE",
                "PROTOCOL",
                "FLAGS",
                "MODE"
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
                outln!(
                    "{:<w$} {:<w$} {:<12} {:<10} {:<12} {:<8} {}",
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
            let w = address_width(rows.iter().flat_map(|r| [r.entry.source, r.entry.group]));
            outln!(
                "{:<w$} {:<w$} {:<10} {:>10} {:>12} {:>7} {:>7} {:>8} {:>6} {:>7}  {:<8} OUTBOUND (packets[, dropped])",
                "SOURCE",
                "GROUP",
                "INBOUND",
                "PACKETS",
                "BYTES",
                "PPS",
                "BPS",
                "WRONGIF",
                "AGE",
                "EXPIRES",
                "ORIGIN"
            );
            for shown in rows {
                let (pps, bps) = rate_columns(shown.rate);
                let r = shown.entry;
                let oifs = if r.oifs.is_empty() {
                    "(negative: dropped)".to_owned()
                } else {
                    r.oifs.iter().map(oif_cell).collect::<Vec<_>>().join(" ")
                };
                outln!(
                    "{:<w$} {:<w$} {:<10} {:>10} {:>12} {:>7} {:>7} {:>8} {:>5}s {:>6}s  {:<8} {}",
                    r.source,
                    r.group,
                    r.iif,
                    r.packets,
                    r.bytes,
                    pps,
                    bps,
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
                Ok(snapshot) => out!("{snapshot}"),
                Err(e) => eprintln!("mgmctl: mgmd sent an IGMP view this mgmctl cannot read: {e}"),
            }
        }
        Response::Mld { snapshot } => {
            match serde_json::from_value::<mgm_user::mld::Snapshot>(snapshot) {
                Ok(snapshot) => out!("{snapshot}"),
                Err(e) => eprintln!("mgmctl: mgmd sent an MLD view this mgmctl cannot read: {e}"),
            }
        }
        Response::Routes { routes: lines } | Response::Joins { joins: lines } => {
            for line in lines {
                outln!("{line}");
            }
        }
        Response::Check {
            entries,
            differences,
        } => {
            for d in &differences {
                outln!("{d}");
            }
            outln!(
                "{entries} entries checked, {} difference(s)",
                differences.len()
            );
        }
        Response::Registered { handle } | Response::EnumHandle { handle } => {
            outln!("handle {handle}")
        }
        Response::Buffer {
            status,
            num_entries,
            entries,
            ..
        } => {
            outln!("status {status}, {num_entries} entries");
            for e in entries {
                outln!("{}", serde_json::to_string(&e).unwrap_or_default());
            }
        }
        Response::Owner {
            protocol_id,
            component_id,
        } => {
            outln!("protocol {protocol_id:#x} component {component_id}")
        }
    }
}

/// The PPS and BPS columns: SI-scaled numbers ("-" without a rate yet).
fn rate_columns(rate: Option<MfeRate>) -> (String, String) {
    match rate {
        Some(r) => (si(r.pps), si(r.bps)),
        None => ("-".into(), "-".into()),
    }
}

/// `n` with an SI prefix and three significant digits: 999, 1.23k, 45.6M.
fn si(n: u64) -> String {
    let mut value = n as f64;
    for prefix in ["", "k", "M", "G", "T"] {
        if value < 999.5 {
            return match prefix {
                "" => format!("{n}"),
                _ if value < 9.995 => format!("{value:.2}{prefix}"),
                _ if value < 99.95 => format!("{value:.1}{prefix}"),
                _ => format!("{value:.0}{prefix}"),
            };
        }
        value /= 1000.0;
    }
    format!("{:.0}P", value)
}

/// The width of the address columns of `show groups` and `show mfe`: 16, or the longest
/// address shown (IPv6).
fn address_width(addresses: impl Iterator<Item = std::net::IpAddr>) -> usize {
    addresses
        .map(|a| a.to_string().len())
        .max()
        .unwrap_or(0)
        .max(16)
}

/// The lines of `show stats`: a header, then one counter a line, the values in one column
/// past the longest name.
fn stats_lines(counters: &std::collections::BTreeMap<String, u64>) -> Vec<String> {
    let width = counters.keys().map(String::len).max().unwrap_or(0).max(24);
    std::iter::once(format!("{:<width$} {:>14}", "COUNTER", "VALUE"))
        .chain(
            counters
                .iter()
                .map(|(name, value)| format!("{name:<width$} {value:>14}")),
        )
        .collect()
}

/// An outgoing interface in `show mfe`'s table: its copies sent, and those its rules
/// dropped (TTL threshold, MTU) when there are any, so that a dropped copy does not read as
/// nothing sent.
fn oif_cell(oif: &OifRow) -> String {
    match oif.drops {
        0 => format!("{}({})", oif.iface, oif.packets),
        drops => format!("{}({}, {drops} dropped)", oif.iface, oif.packets),
    }
}

#[cfg(test)]
mod tests {
    use super::{oif_cell, si, stats_lines, OifRow};

    #[test]
    fn an_interface_shows_the_copies_its_rules_dropped() {
        let oif = |packets, drops| OifRow {
            iface: "rcv2".into(),
            packets,
            bytes: packets * 100,
            drops,
        };
        assert_eq!(oif_cell(&oif(49, 0)), "rcv2(49)");
        assert_eq!(oif_cell(&oif(0, 49)), "rcv2(0, 49 dropped)");
    }

    #[test]
    fn stats_values_line_up_past_the_longest_name() {
        let counters = [
            ("api_enumerated_keys6_refused_and_more", 7),
            ("rx", 123_456),
        ]
        .map(|(name, value)| (name.to_owned(), value))
        .into();
        let lines = stats_lines(&counters);
        assert_eq!(lines.len(), 3);
        assert!(
            lines.iter().all(|l| l.len() == lines[0].len()),
            "one column: {lines:#?}"
        );
        assert!(lines[1].ends_with(" 7") && lines[2].ends_with(" 123456"));
    }

    #[test]
    fn rates_print_with_si_prefixes() {
        assert_eq!(si(0), "0");
        assert_eq!(si(999), "999");
        assert_eq!(si(1000), "1.00k");
        assert_eq!(si(12_345), "12.3k");
        assert_eq!(si(999_499), "999k");
        assert_eq!(si(999_500), "1.00M");
        assert_eq!(si(45_600_000), "45.6M");
    }
}
