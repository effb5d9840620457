//! Root lab tests of `mgmctl show mfe`'s rates and `--watch`: a source sends at a steady rate
//! through the router, and the rate mgmd reports is compared with what the source's interface
//! sent over a window that contains the measured one.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use serde_json::Value;
use std::{net::Ipv4Addr, time::Instant};
use support::{interfaces, Mgmd};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);

/// mgmd routing GROUP from up0 to rcv1, and a source sending to it every 2 ms (about 500
/// packets/s, for longer than the test; the lab stops it), forwarded by XDP already.
fn streaming() -> Result<Mgmd> {
    let config = format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", ""), ("rcv1", "")])
    );
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    mgmd.send_in_background(Host::Source, GROUP, 100_000, 2)?;
    mgmd.wait_for_forwarded(SOURCE, GROUP, 100)?;
    Ok(mgmd)
}

/// Packets the source's interface has sent.
fn sent(lab: &Lab) -> Result<u64> {
    let out = lab.run(
        Host::Source,
        &["cat", "/sys/class/net/eth0/statistics/tx_packets"],
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// The row of (SOURCE, GROUP) in a `--json show mfe` answer.
fn entry(answer: &Value) -> Result<&Value> {
    answer["rows"]
        .as_array()
        .context("rows")?
        .iter()
        .find(|r| r["source"] == SOURCE.to_string() && r["group"] == GROUP.to_string())
        .context("the entry is listed")
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn show_mfe_reports_the_rate_the_source_sends_at() -> Result<()> {
    let mgmd = streaming()?;
    let (sent_before, start) = (sent(&mgmd.lab)?, Instant::now());
    let out = mgmd.mgmctl_ok(&[
        "--json",
        "show",
        "mfe",
        "--watch",
        "--interval",
        "2",
        "--count",
        "2",
    ])?;
    let (sent_after, window) = (sent(&mgmd.lab)?, start.elapsed());
    let sent_pps = (sent_after - sent_before) as f64 / window.as_secs_f64();

    let answers = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()?;
    ensure!(
        answers.len() == 2,
        "--count 2 gave {} answers",
        answers.len()
    );
    let row = entry(&answers[1])?;
    let rate = &row["rate"];
    let field = |name: &str| {
        rate[name]
            .as_u64()
            .with_context(|| format!("rate.{name}: {row}"))
    };
    let (pps, bps, packets, bytes, interval_ms) = (
        field("pps")?,
        field("bps")?,
        field("packets")?,
        field("bytes")?,
        field("interval_ms")?,
    );
    println!(
        "source sent {sent_pps:.0} packets/s over {window:?}; mgmd: {pps} pps, {bps} bps over {interval_ms} ms"
    );
    // The second answer's sample is at least --interval after the first one's.
    assert!(interval_ms >= 2000, "{rate}");
    assert!(
        (0.5 * sent_pps..=2.0 * sent_pps).contains(&(pps as f64)),
        "mgmd says {pps} pps, the source sent {sent_pps:.0} packets/s"
    );
    // Every packet of the stream has the same size: the bits are the packets' bits.
    let (total_packets, total_bytes) = (
        row["packets"].as_u64().context("packets")?,
        row["bytes"].as_u64().context("bytes")?,
    );
    assert_eq!(total_bytes % total_packets, 0, "{row}");
    assert_eq!(bytes, packets * (total_bytes / total_packets), "{rate}");
    assert_eq!(
        bps,
        (bytes * 8 * 1000 + interval_ms / 2) / interval_ms,
        "{rate}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn show_mfe_watch_prints_one_table_per_refresh() -> Result<()> {
    let mgmd = streaming()?;
    let out = mgmd.mgmctl_ok(&[
        "show",
        "mfe",
        "--watch",
        "--interval",
        "0.5",
        "--count",
        "2",
    ])?;
    // Not a terminal: the tables follow each other, separated by a blank line.
    let tables: Vec<&str> = out.trim_end().split("\n\n").collect();
    assert_eq!(tables.len(), 2, "{out}");
    for (n, table) in tables.iter().enumerate() {
        let mut lines = table.lines();
        let header: Vec<&str> = lines
            .next()
            .context("a header")?
            .split_whitespace()
            .collect();
        assert_eq!(
            header[..7],
            ["SOURCE", "GROUP", "INBOUND", "PACKETS", "BYTES", "PPS", "BPS"]
        );
        let row: Vec<&str> = lines
            .find(|l| l.contains(&GROUP.to_string()))
            .with_context(|| format!("the entry in {table}"))?
            .split_whitespace()
            .collect();
        // The second table is measured against the first one's sample, at least 0.5 s older.
        if n == 1 {
            assert_ne!(row[5], "-", "no rate in {table}");
        }
    }
    Ok(())
}
