//! The Prometheus endpoint during a lab run: scraped over HTTP inside the router's network
//! namespace, its numbers agree with `mgmctl --json show mfe` / `show stats` and with what the
//! receivers got, and the exposition passes `promtool check metrics`. The IGMP and MLD series
//! agree with `show igmp` and `show mld` while a host listens with both.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::{
    api::proto::{Request, Response},
    lab::{Host, Lab, Stack},
    leaf::{Channel, Iface, Receiver},
};
use std::{
    io::{Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream},
    process::{Command, Stdio},
    time::Duration,
};
use support::{interfaces, wait_for, Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);
const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PACKETS: u32 = 40;

/// `GET /metrics` on the router's loopback: (status line, body).
fn scrape(mgmd: &Mgmd) -> Result<(String, String)> {
    mgmd.lab
        .in_ns(Host::Router, || -> Result<(String, String)> {
            let mut stream = TcpStream::connect(("127.0.0.1", 9641)).context("connecting")?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: mgm\r\nConnection: close\r\n\r\n")?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            let (head, body) = reply.split_once("\r\n\r\n").context("no header end")?;
            Ok((
                head.lines().next().unwrap_or_default().to_owned(),
                body.to_owned(),
            ))
        })?
}

/// The value of the sample whose name and labels start `prefix` (e.g. `name{a="b"`).
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn metrics_agree_with_mgmctl_and_the_receivers() -> Result<()> {
    let config = format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n\n[metrics]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    );
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    mgmd.expect_delivery(GROUP, PACKETS, &[1], "before scraping")?;

    // Counters keep moving (hosts' own IGMP, for one): the scrape lies between two readings.
    let stats_before = mgmd.stats()?;
    let (status, body) = scrape(&mgmd)?;
    let stats = mgmd.stats()?;
    ensure!(status.contains(" 200 "), "{status}\n{body}");
    let mfe = mgmd.mfe(SOURCE, GROUP)?.context("the flow's entry")?;
    let entry = [
        ("source", "10.0.0.1"),
        ("group", "239.7.7.7"),
        ("iif", "up0"),
    ];
    ensure!(
        sample(&body, "mgm_mfe_in_packets_total", &entry) == Some(mfe.packets),
        "in packets: mgmctl says {}\n{body}",
        mfe.packets
    );
    let oif = &mfe.oifs[0];
    let mut to_rcv1 = entry.to_vec();
    to_rcv1.push(("oif", "rcv1"));
    ensure!(
        sample(&body, "mgm_mfe_out_packets_total", &to_rcv1) == Some(oif.packets),
        "out packets: mgmctl says {}\n{body}",
        oif.packets
    );
    ensure!(
        sample(
            &body,
            "mgm_interface_out_packets_total",
            &[("interface", "rcv1")]
        ) == Some(oif.packets),
        "per-interface sum\n{body}"
    );
    // The receiver got every packet: the fast path's copies plus those the hold queue sent
    // while the entry was created (whether or not they are in the entry's counters).
    let held = stats.get("hold_copies").copied().unwrap_or(0);
    let forwarded = u64::from(PACKETS);
    ensure!(
        oif.packets <= forwarded && forwarded <= oif.packets + held,
        "receiver got {forwarded}; rcv1 counted {} with {held} copies from the hold queue",
        oif.packets
    );
    ensure!(
        stats.get("veth_rcv1_peer_ready") == Some(&1),
        "the lab's veths are watched, their peers ready: {stats:?}"
    );
    for (name, after) in &stats {
        if name == "hold_queued_now" {
            continue;
        }
        if let Some(veth) = name
            .strip_suffix("_peer_ready")
            .and_then(|n| n.strip_prefix("veth_"))
        {
            let scraped = sample(
                &body,
                "mgm_veth",
                &[("interface", veth), ("counter", "peer_ready")],
            );
            ensure!(
                scraped == Some(*after),
                "{name}: {after}, scraped {scraped:?}\n{body}"
            );
            continue;
        }
        // A veth's own drop counters only go up: a counter, by direction.
        if let Some((veth, direction)) = name
            .strip_prefix("veth_")
            .and_then(|n| n.strip_suffix("_dropped"))
            .and_then(|n| n.rsplit_once('_'))
        {
            ensure!(
                body.contains("# TYPE mgm_veth_dropped_total counter")
                    && sample(
                        &body,
                        "mgm_veth_dropped_total",
                        &[("interface", veth), ("direction", direction)]
                    )
                    .is_some_and(|v| v <= *after),
                "{name}: {after}, a counter of mgm_veth_dropped_total\n{body}"
            );
            continue;
        }
        if name.starts_with("veth_") {
            continue;
        }
        // What a `show stats` name ending in `_now` counts goes up and down: a gauge.
        if name.ends_with("_now") {
            ensure!(
                sample(&body, "mgm_state", &[("counter", name)]).is_some()
                    && sample(&body, "mgm_dataplane_events_total", &[("counter", name)]).is_none(),
                "{name} is a gauge of mgm_state\n{body}"
            );
            continue;
        }
        let before = stats_before.get(name).copied().unwrap_or(0);
        let scraped = sample(&body, "mgm_dataplane_events_total", &[("counter", name)]);
        ensure!(
            scraped.is_some_and(|v| before <= v && v <= *after),
            "stats counter {name}: {before}..={after}, scraped {scraped:?}\n{body}"
        );
    }
    ensure!(
        sample(&body, "mgm_interface_xdp_attached", &[("interface", "up0")]) == Some(1),
        "{body}"
    );

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting promtool (Debian package prometheus; cargo xtask setup installs it)")?;
    promtool
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(body.as_bytes())?;
    let checked = promtool.wait_with_output()?;
    ensure!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    Ok(())
}

/// A socket of receiver 1 joined to `group` on its eth0.
fn join(lab: &Lab, group: IpAddr) -> Result<Receiver> {
    lab.in_ns(Host::Receiver(1), || {
        Receiver::join(
            Channel {
                group,
                source: None,
            },
            5777,
            Iface::lookup("eth0")?,
        )
    })?
    .context("join")
}

/// (groups, source records, querier is self) of `ifindex` in a listener snapshot (`show igmp`
/// or `show mld` as JSON).
fn listener_state(snapshot: &serde_json::Value, ifindex: u32) -> Option<(u64, u64, u64)> {
    let iface = snapshot["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["ifindex"].as_u64() == Some(u64::from(ifindex)))?;
    let groups = iface["groups"].as_array()?;
    let sources = groups
        .iter()
        .map(|g| g["sources"].as_array().map_or(0, Vec::len) as u64)
        .sum();
    let is_self = u64::from(iface["querier"]["is_self"].as_bool()?);
    Some((groups.len() as u64, sources, is_self))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn igmp_and_mld_series_agree_with_show_igmp_and_show_mld() -> Result<()> {
    let config = format!("{}[metrics]\n", interfaces(&[("up0", ""), ("rcv1", "")]));
    let mgmd = Mgmd::start(Lab::star_with(1, Stack::Dual)?, &config)?;
    let v4 = IpAddr::V4(Ipv4Addr::new(239, 7, 7, 8));
    let v6 = IpAddr::V6(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x77, 8));
    let _listeners = [join(&mgmd.lab, v4)?, join(&mgmd.lab, v6)?];
    wait_for(
        "both listeners in show groups",
        Duration::from_secs(20),
        || {
            let rows = mgmd.groups()?;
            let listed = |group, protocol| {
                rows.iter()
                    .any(|r| r.group == group && r.iface == "rcv1" && r.protocol == protocol)
            };
            Ok((listed(v4, "igmp") && listed(v6, "mld")).then_some(()))
        },
    )?;
    let rcv1 = mgmd.lab.ifindex(Host::Router, "rcv1")?;
    let (status, body) = scrape(&mgmd)?;
    ensure!(status.contains(" 200 "), "{status}\n{body}");
    for (protocol, request) in [("igmp", Request::ShowIgmp), ("mld", Request::ShowMld)] {
        let snapshot = match mgmd.call(&request)? {
            Response::Igmp { snapshot } | Response::Mld { snapshot } => snapshot,
            other => bail!("unexpected answer {other:?}"),
        };
        let (groups, sources, is_self) =
            listener_state(&snapshot, rcv1).with_context(|| format!("{protocol} on rcv1"))?;
        ensure!(groups >= 1 && is_self == 1, "{protocol}: {snapshot}");
        let ifindex = rcv1.to_string();
        let label = [("interface", "rcv1"), ("ifindex", ifindex.as_str())];
        for (series, want) in [
            ("groups", groups),
            ("sources", sources),
            ("querier_is_self", is_self),
        ] {
            let name = format!("mgm_{protocol}_{series}");
            let scraped = sample(&body, &name, &label);
            ensure!(
                scraped == Some(want),
                "{name}: show {protocol} says {want}, scraped {scraped:?}\n{body}"
            );
        }
    }
    Ok(())
}
