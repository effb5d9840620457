//! The results of one invocation: JSON for machines, Markdown for people, SVG charts, written to
//! the results folder. IPv6 line-rate runs get a table of their own, compared with IPv4's in the
//! same configuration, and share the line-rate charts (`latest.json`, `latest.md`,
//! `linerate-<size>.svg`, `latency.svg`, `first-packet.svg`).
use crate::{
    first_packet::FirstPacket, frame::Family, latency::Latency, linerate::Run, load::Load,
    micro::Micro, paths::Path, plot,
};
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::{fmt::Write as _, path::Path as FsPath, process::Command};

/// A path carrying one IP version's traffic.
type Carried = (Family, Path);

/// The machine the figures come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// When the run ended (UTC).
    pub date: String,
    /// The 1-minute load average when the run ended (other work sharing the machine).
    pub load: f64,
}

impl Machine {
    /// Describes the running machine.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        let shell = |argv: &[&str]| {
            Command::new(argv[0])
                .args(&argv[1..])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: shell(&["uname", "-r"]),
            date: shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]),
            load: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next()?.parse().ok())
                .unwrap_or(0.0),
        }
    }
}

/// Everything one invocation measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// Whether this was the short smoke run.
    pub quick: bool,
    /// How the line-rate runs were made.
    pub method: String,
    /// Line-rate runs.
    pub line_rate: Vec<Run>,
    /// Per-packet costs.
    pub micro: Vec<Micro>,
    /// Line rate on one and on two CPUs.
    pub scale: Vec<crate::scale::Scale>,
    /// End-to-end latency.
    pub latency: Vec<Latency>,
    /// Miss to first forwarded packet.
    pub first_packet: Vec<FirstPacket>,
    /// Jumbo frames against the kernel.
    pub jumbo: Vec<crate::jumbo::Jumbo>,
}

impl Report {
    /// Writes `latest.json`, `latest.md` and the charts into `dir`; returns the Markdown.
    pub fn write(&self, dir: &FsPath) -> Result<String> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("latest.json"), serde_json::to_string_pretty(self)?)?;
        let mut sizes: Vec<usize> = self.line_rate.iter().map(|r| r.size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            plot::line_rate(
                &self.line_rate,
                size,
                &dir.join(format!("linerate-{size}.svg")),
            )?;
        }
        if !self.latency.is_empty() {
            let series: Vec<plot::Series> = self
                .latency
                .iter()
                .map(|l| (l.label(), l.percentiles.clone()))
                .collect();
            plot::percentiles(
                "end-to-end latency by percentile",
                &series,
                &dir.join("latency.svg"),
            )?;
        }
        if !self.first_packet.is_empty() {
            let series: Vec<plot::Series> = self
                .first_packet
                .iter()
                .map(|f| (f.label(), f.percentiles.clone()))
                .collect();
            plot::percentiles(
                "miss to first forwarded packet by percentile",
                &series,
                &dir.join("first-packet.svg"),
            )?;
        }
        let markdown = self.markdown();
        std::fs::write(dir.join("latest.md"), &markdown)?;
        Ok(markdown)
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(
            md,
            "Machine: {} × {}, Linux {}, {}, load average {:.1} at the end{}.\n",
            m.cpus,
            m.cpu,
            m.kernel,
            m.date,
            m.load,
            if self.quick { " (quick run)" } else { "" }
        );
        md.push_str(&self.targets_table());
        if !self.line_rate.is_empty() {
            let _ = writeln!(md, "\n{}\n", self.method);
            for family in [Family::V4, Family::V6] {
                if !self.line_rate.iter().any(|r| r.family == family) {
                    continue;
                }
                if family == Family::V6 {
                    md.push_str("IPv6:\n\n");
                }
                md.push_str(&self.summary_table(family));
                md.push('\n');
            }
            md.push_str(&self.runs_table());
        }
        if !self.micro.is_empty() {
            md.push('\n');
            md.push_str(&crate::micro::table(&self.micro));
        }
        if !self.scale.is_empty() {
            md.push('\n');
            md.push_str(&crate::scale::table(&self.scale));
        }
        if !self.latency.is_empty() {
            md.push('\n');
            md.push_str(&crate::latency::table(&self.latency));
        }
        if !self.first_packet.is_empty() {
            md.push('\n');
            md.push_str(&crate::first_packet::table(&self.first_packet));
        }
        if !self.jumbo.is_empty() {
            md.push('\n');
            md.push_str(&crate::jumbo::table(&self.jumbo));
        }
        md
    }

    /// The performance targets against the worst case measured for each.
    fn targets_table(&self) -> String {
        let mut rows: Vec<(String, String, bool)> = Vec::new();
        let v4 = |path: Path| (Family::V4, path);
        let worst_replication = self
            .line_rate
            .iter()
            .filter(|r| r.family == Family::V4 && r.path == Path::Mgm && r.fan_out >= 2)
            .filter_map(|r| {
                self.ratio(v4(Path::Mgm), v4(Path::Broadcast), r.size, r.fan_out)
                    .map(|ratio| (ratio, r.size, r.fan_out))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((ratio, size, fan_out)) = worst_replication {
            rows.push((
                "replication ≥ 0.95 of the broadcast ceiling, fan-out 2–16".to_owned(),
                format!("worst {ratio:.2} ({size} B, fan-out {fan_out})"),
                ratio >= 0.95,
            ));
        }
        let worst_mirror = self
            .line_rate
            .iter()
            .filter(|r| r.family == Family::V4 && r.path == Path::Mirror)
            .filter_map(|r| {
                self.ratio(v4(Path::Mirror), v4(Path::Mgm), r.size, r.fan_out)
                    .map(|ratio| (ratio, r.size, r.fan_out))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((ratio, size, fan_out)) = worst_mirror {
            rows.push((
                "mirror within 10 % of mgm's static path (mirror / mgm ≥ 0.90)".to_owned(),
                format!("worst {ratio:.2} ({size} B, fan-out {fan_out})"),
                ratio >= 0.90,
            ));
        }
        rows.extend(self.ipv6_targets());
        rows.extend(crate::scale::target(&self.scale));
        for (prefix, limit) in [("hit", 2.0), ("miss", 2.5)] {
            let worst = self
                .micro
                .iter()
                .filter(|m| m.case.starts_with(prefix))
                .map(|m| m.mgm_ns / m.parse_only_ns.max(f64::MIN_POSITIVE))
                .reduce(f64::max);
            if let Some(ratio) = worst {
                rows.push((
                    format!("{prefix} cost ≤ {limit}× parse-only"),
                    format!("worst {ratio:.2}×"),
                    ratio <= limit,
                ));
            }
        }
        for load in [Load::Idle, Load::Hog] {
            let find = |path: Path| {
                self.first_packet
                    .iter()
                    .find(|f| f.path == path && f.load == load)
            };
            if let (Some(mgm), Some(kernel)) = (find(Path::Mgm), find(Path::Kernel)) {
                rows.push((
                    format!(
                        "miss → first packet p99 ≤ kernel's and < 200 µs{}",
                        load.suffix()
                    ),
                    format!("{:.0} µs (kernel {:.0} µs)", mgm.p99_us, kernel.p99_us),
                    mgm.p99_us <= kernel.p99_us && mgm.p99_us < 200.0,
                ));
                rows.push((
                    format!("first packet kept ≥ kernel's{}", load.suffix()),
                    format!(
                        "{}/{} (kernel {}/{})",
                        mgm.first_packet_kept, mgm.flows, kernel.first_packet_kept, kernel.flows
                    ),
                    mgm.first_packet_kept >= kernel.first_packet_kept,
                ));
            }
            let find = |path: Path| {
                self.latency
                    .iter()
                    .find(|l| l.path == path && l.load == load)
            };
            if let (Some(mgm), Some(kernel)) = (find(Path::Mgm), find(Path::Kernel)) {
                rows.push((
                    format!("latency p99 and p99.9 ≤ kernel's{}", load.suffix()),
                    format!(
                        "{:.0} / {:.0} µs (kernel {:.0} / {:.0} µs)",
                        mgm.p99_us, mgm.p999_us, kernel.p99_us, kernel.p999_us
                    ),
                    mgm.p99_us <= kernel.p99_us && mgm.p999_us <= kernel.p999_us,
                ));
            }
        }
        if rows.is_empty() {
            return String::new();
        }
        let mut md = String::from("| target | measured | met |\n|---|---|---|\n");
        for (target, measured, met) in rows {
            let _ = writeln!(
                md,
                "| {target} | {measured} | {} |",
                if met { "yes" } else { "no" }
            );
        }
        md
    }

    /// The IPv6 target, per fan-out: mgm's IPv6 rate within 10 % of its IPv4 rate in the same
    /// configuration (the worst frame size), with mgm / ip6mr beside it.
    fn ipv6_targets(&self) -> Vec<(String, String, bool)> {
        let mut fan_outs: Vec<u8> = self
            .line_rate
            .iter()
            .filter(|r| r.family == Family::V6)
            .map(|r| r.fan_out)
            .collect();
        fan_outs.sort_unstable();
        fan_outs.dedup();
        let mut rows = Vec::new();
        for fan_out in fan_outs {
            let sizes = self
                .line_rate
                .iter()
                .filter(|r| r.family == Family::V6 && r.path == Path::Mgm && r.fan_out == fan_out)
                .map(|r| r.size);
            let worst = sizes
                .clone()
                .filter_map(|size| {
                    self.ratio(
                        (Family::V6, Path::Mgm),
                        (Family::V4, Path::Mgm),
                        size,
                        fan_out,
                    )
                    .map(|ratio| (ratio, size))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let Some((ratio, size)) = worst else {
                continue;
            };
            let over_kernel: Vec<f64> = sizes
                .filter_map(|size| {
                    self.ratio(
                        (Family::V6, Path::Mgm),
                        (Family::V6, Path::Kernel),
                        size,
                        fan_out,
                    )
                })
                .collect();
            let mut measured = format!("worst {ratio:.2} ({size} B)");
            let low = over_kernel.iter().copied().reduce(f64::min);
            let high = over_kernel.iter().copied().reduce(f64::max);
            match (low, high) {
                (Some(low), Some(high)) if low < high => {
                    let _ = write!(measured, "; mgm / ip6mr {low:.2}–{high:.2}");
                }
                (Some(low), _) => {
                    let _ = write!(measured, "; mgm / ip6mr {low:.2}");
                }
                _ => {}
            }
            rows.push((
                format!("IPv6 pps / IPv4 pps for mgm ≥ 0.90, fan-out {fan_out}"),
                measured,
                ratio >= 0.90,
            ));
        }
        rows
    }

    /// The run of `path` carrying `family` at `size` and `fan_out`.
    fn find(&self, (family, path): Carried, size: usize, fan_out: u8) -> Option<&Run> {
        self.line_rate.iter().find(|r| {
            r.family == family && r.path == path && r.size == size && r.fan_out == fan_out
        })
    }

    /// `a`'s rate over `b`'s at `size` and `fan_out`, if both were measured
    /// ([`paired_ratio`]).
    fn ratio(&self, a: (Family, Path), b: (Family, Path), size: usize, fan_out: u8) -> Option<f64> {
        paired_ratio(self.find(a, size, fan_out)?, self.find(b, size, fan_out)?)
    }

    /// Per frame size and fan-out: kpps per receiver of every path carrying `family`, and the
    /// ratios (for IPv6 also mgm's IPv6 rate over its IPv4 rate).
    fn summary_table(&self, family: Family) -> String {
        let runs = || self.line_rate.iter().filter(move |r| r.family == family);
        let mut paths: Vec<Path> = runs().map(|r| r.path).collect();
        paths.sort();
        paths.dedup();
        let mut keys: Vec<(usize, u8)> = runs().map(|r| (r.size, r.fan_out)).collect();
        keys.sort_unstable();
        keys.dedup();
        let ratios: Vec<(Carried, Carried, String)> = [
            (Path::Mgm, Path::Kernel, ""),
            (Path::Mgm, Path::Tc, ""),
            (
                Path::Mgm,
                Path::Broadcast,
                " (target ≥ 0.95 at fan-out ≥ 2)",
            ),
            (Path::Mirror, Path::Mgm, " (target ≥ 0.90)"),
            (Path::Mirror, Path::Kernel, ""),
        ]
        .into_iter()
        .filter(|(a, b, _)| paths.contains(a) && paths.contains(b))
        .map(|(a, b, target)| {
            let heading = format!("{} / {}{target}", a.short_in(family), b.short_in(family));
            ((family, a), (family, b), heading)
        })
        .chain(
            (family == Family::V6 && paths.contains(&Path::Mgm)).then(|| {
                let heading = "IPv6 mgm / IPv4 mgm (target ≥ 0.90)".to_owned();
                ((Family::V6, Path::Mgm), (Family::V4, Path::Mgm), heading)
            }),
        )
        .collect();
        let mut md = String::from("| frame | fan-out |");
        for path in &paths {
            let _ = write!(md, " {} kpps |", path.label_in(family));
        }
        for (_, _, heading) in &ratios {
            let _ = write!(md, " {heading} |");
        }
        md.push_str("\n|---|---|");
        md.push_str(&"---|".repeat(paths.len() + ratios.len()));
        md.push('\n');
        for (size, fan_out) in keys {
            let _ = write!(md, "| {size} B | {fan_out} |");
            for path in &paths {
                match self.find((family, *path), size, fan_out) {
                    Some(r) => {
                        let _ = write!(md, " {:.0} |", r.delivered_pps / 1e3);
                    }
                    None => md.push_str(" – |"),
                }
            }
            for (a, b, _) in &ratios {
                match self.ratio(*a, *b, size, fan_out) {
                    Some(ratio) => {
                        let _ = write!(md, " {ratio:.2} |");
                    }
                    None => md.push_str(" – |"),
                }
            }
            md.push('\n');
        }
        md
    }

    /// Every run in detail.
    fn runs_table(&self) -> String {
        let mut md = String::from(
            "| path | IP | frame | fan-out | offered kpps | accepted kpps | per receiver kpps | slowest receiver kpps | copies out kpps | loss |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.line_rate {
            let _ = writeln!(
                md,
                "| {} | {} | {} B | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} % |",
                r.path.label_in(r.family),
                r.family.label(),
                r.size,
                r.fan_out,
                r.offered_pps / 1e3,
                r.accepted_pps / 1e3,
                r.delivered_pps / 1e3,
                r.min_receiver_pps / 1e3,
                r.copies_pps / 1e3,
                r.loss * 100.0
            );
        }
        md
    }
}

/// `a`'s rate over `b`'s: the median of their per-round ratios when both ran the same rounds
/// (each round's windows of the two paths are taken back to back), the ratio of their best
/// windows otherwise; `None` if `b` delivered nothing.
pub fn paired_ratio(a: &Run, b: &Run) -> Option<f64> {
    let paired = !a.round_pps.is_empty()
        && a.round_pps.len() == b.round_pps.len()
        && b.round_pps.iter().all(|pps| *pps > 0.0);
    if !paired {
        return (b.delivered_pps > 0.0).then(|| a.delivered_pps / b.delivered_pps);
    }
    let mut ratios: Vec<f64> = a
        .round_pps
        .iter()
        .zip(&b.round_pps)
        .map(|(a, b)| a / b)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let middle = ratios.len() / 2;
    Some(if ratios.len() % 2 == 1 {
        ratios[middle]
    } else {
        (ratios[middle - 1] + ratios[middle]) / 2.0
    })
}

#[cfg(test)]
mod tests;
