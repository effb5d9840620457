//! Root lab test of mgmd's built-in `static` protocol end to end: routes from the
//! configuration file forward every packet of a stream to the routes' receivers and no others;
//! `mgmctl remove` stops them, `mgmctl add` at run time starts them again and extends a flow
//! already forwarded; SIGHUP with an edited file changes only the edited routes: a continuous
//! stream on an unchanged route loses nothing, nor one through an interface whose IGMP version
//! the reload changes (whose querier then queries in the new version).
mod support;

use anyhow::{ensure, Result};
use mgm_user::{
    igmp,
    lab::{Host, Lab},
    rawio::PacketSocket,
    wire::igmp::Repr,
};
use std::{io, net::Ipv4Addr, time::Duration};
use support::{capture, wait_for, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// A group of the prefix route.
const PREFIX_GROUP: Ipv4Addr = Ipv4Addr::new(239, 2, 0, 1);
/// The group of the route no reload touches.
const STEADY_GROUP: Ipv4Addr = Ipv4Addr::new(239, 4, 0, 1);

const STEADY_ROUTE: &str = r#"
[[route]]
from = "up0"
group = "239.4.0.1"
to = ["rcv3"]
"#;

fn config(prefix_route_to: &str) -> String {
    let interfaces = support::interfaces(&[
        ("up0", NO_IGMP),
        ("rcv1", NO_IGMP),
        ("rcv2", NO_IGMP),
        ("rcv3", NO_IGMP),
    ]);
    format!(
        "{interfaces}[[route]]\nfrom = \"up0\"\ngroup = \"239.2.0.0/16\"\nto = {prefix_route_to}\n{STEADY_ROUTE}"
    )
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn static_routes_forward_and_follow_mgmctl_and_sighup() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(3)?, &config(r#"["rcv1", "rcv2"]"#))?;
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    ensure!(
        routes.contains("up0 * 239.2.0.0/16 rcv1 rcv2")
            && routes.contains("up0 * 239.4.0.1/32 rcv3"),
        "show routes: {routes}"
    );

    // The configuration's prefix route: rcv1 and rcv2 get every packet, rcv3 none.
    mgmd.expect_delivery(PREFIX_GROUP, 50, &[1, 2], "configured route")?;
    let mfe = mgmd.mgmctl_ok(&["show", "mfe"])?;
    ensure!(
        mfe.lines()
            .any(|l| l.contains("239.2.0.1") && l.contains("rcv1(") && l.contains("rcv2(")),
        "show mfe: {mfe}"
    );

    // mgmctl remove: the flow's entry loses its outgoing interfaces; nobody gets anything.
    mgmd.mgmctl_ok(&["remove", "up0", "239.2.0.0/16", "rcv1", "rcv2"])?;
    ensure!(mgmd.oifs(SOURCE, PREFIX_GROUP)?.is_empty());
    mgmd.expect_delivery(PREFIX_GROUP, 20, &[], "after remove")?;
    let again = mgmd.mgmctl(&["remove", "up0", "239.2.0.0/16", "rcv1", "rcv2"])?;
    ensure!(again.status.code() == Some(1), "removing twice: {again:?}");

    // mgmctl add at run time, for the flow whose entry exists (negative) ...
    mgmd.mgmctl_ok(&["add", "up0", "239.2.0.0/16", "rcv2"])?;
    mgmd.expect_delivery(PREFIX_GROUP, 30, &[2], "after add")?;
    // ... and a source-specific route extending a flow already forwarded.
    mgmd.mgmctl_ok(&["add", "up0", "10.0.0.1", "239.2.0.1", "rcv3"])?;
    ensure!(
        mgmd.oifs(SOURCE, PREFIX_GROUP)? == ["rcv2", "rcv3"],
        "the forwarded flow picks up the new route: {:?}",
        mgmd.oifs(SOURCE, PREFIX_GROUP)?
    );
    mgmd.expect_delivery(PREFIX_GROUP, 30, &[2, 3], "after the second add")?;
    let twice = mgmd.mgmctl(&["add", "up0", "239.2.0.0/16", "rcv2"])?;
    ensure!(twice.status.code() == Some(1), "adding twice: {twice:?}");
    let bad = mgmd.mgmctl(&["add", "up0", "10.0.0.1", "rcv1"])?;
    ensure!(
        bad.status.code() == Some(1),
        "a route without a group: {bad:?}"
    );
    // What the configuration refuses, mgmctl add refuses too, with the same words.
    for (words, says) in [
        (
            &["add", "up0", "10.0.0.1", "239.8.8.11", "nosuch"][..],
            "outbound interface nosuch is not a configured [[interface]]",
        ),
        (
            &["add", "up0", "239.8.8.12", "up0"],
            "outbound interface up0 is also the inbound interface",
        ),
        (
            &["add", "up0", "10.0.0.1", "10.1.1.1", "rcv1"],
            "group 10.1.1.1/32 is not inside 224.0.0.0/4",
        ),
    ] {
        let refused = mgmd.mgmctl(words)?;
        let stderr = String::from_utf8_lossy(&refused.stderr);
        ensure!(
            refused.status.code() == Some(1) && stderr.contains(says),
            "mgmctl {words:?} must be refused with {says:?}: {refused:?}"
        );
    }
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    ensure!(
        !routes.contains("239.8.8."),
        "refused routes are not listed: {routes}"
    );

    // SIGHUP with the prefix route edited (and the run-time routes gone) while a stream flows
    // on the steady route: the edited flow changes, the steady stream loses nothing.
    stream_across_reload(&mut mgmd, 3, &config(r#"["rcv1"]"#), |mgmd| {
        wait_for("the reloaded prefix route", Duration::from_secs(30), || {
            Ok((mgmd.oifs(SOURCE, PREFIX_GROUP)? == ["rcv1"]).then_some(()))
        })
    })?;
    mgmd.expect_delivery(PREFIX_GROUP, 30, &[1], "after SIGHUP")?;
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    ensure!(
        routes.lines().count() == 2 && routes.contains("up0 * 239.2.0.0/16 rcv1\n"),
        "show routes after SIGHUP: {routes}"
    );
    Ok(())
}

/// Streams to the steady group while receiver `n` listens, reloads `body` once the flow is
/// forwarded, waits for what the reload brings (`settled`), and checks that the receiver got
/// every packet once and in order.
fn stream_across_reload(
    mgmd: &mut Mgmd,
    n: u8,
    body: &str,
    settled: impl FnOnce(&Mgmd) -> Result<()>,
) -> Result<()> {
    let steady = 400;
    let listener = mgmd.listen(Host::Receiver(n), STEADY_GROUP, steady, 30.0)?;
    mgmd.send_in_background(Host::Source, STEADY_GROUP, steady, 5)?;
    wait_for("the steady flow's entry", Duration::from_secs(30), || {
        Ok(mgmd
            .mfe(SOURCE, STEADY_GROUP)?
            .filter(|m| m.packets > 0)
            .map(drop))
    })?;
    mgmd.reload(body)?;
    settled(mgmd)?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(u64::from(steady)),
        "the steady stream lost, duplicated or reordered packets across SIGHUP: got {} of {steady}: {:?}",
        received.seqs.len(),
        missing(&received.seqs, u64::from(steady))
    );
    Ok(())
}

/// Reads what `capture` holds now: whether an IGMPv2 general query is among it.
fn igmpv2_general_query_in(capture: &PacketSocket) -> Result<bool> {
    let mut buffer = [0u8; 2048];
    let mut seen = false;
    loop {
        match capture.recv_from(&mut buffer) {
            Ok((len, _)) => {
                seen |= igmp::parse(&buffer[..len]).is_ok_and(|m| {
                    matches!(m.igmp, Repr::Query { max_resp_code, group, v3: None }
                        if max_resp_code != 0 && group.is_unspecified())
                })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(seen),
            Err(e) => return Err(e.into()),
        }
    }
}

/// A reload changing the IGMP version of the interface a stream goes out of keeps it in
/// service: the stream loses nothing, and its querier queries in IGMPv2 at once.
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_reload_changing_igmp_version_keeps_the_stream_and_queries_in_the_new_version() -> Result<()> {
    let body = |version: u8| {
        let rcv3 = format!("igmp_version = {version}");
        let interfaces = support::interfaces(&[("up0", NO_IGMP), ("rcv3", &rcv3)]);
        format!("{interfaces}{STEADY_ROUTE}")
    };
    let mut mgmd = Mgmd::start(Lab::star(3)?, &body(3))?;
    let queries = capture(&mgmd.lab, Host::Receiver(3), libc::ETH_P_IP)?;
    stream_across_reload(&mut mgmd, 3, &body(2), |_| {
        wait_for("an IGMPv2 general query", Duration::from_secs(30), || {
            Ok(igmpv2_general_query_in(&queries)?.then_some(()))
        })
    })
}

/// The sequence numbers below `count` that are not in `seqs`.
fn missing(seqs: &[u64], count: u64) -> Vec<u64> {
    (0..count).filter(|s| !seqs.contains(s)).collect()
}

/// `mgmctl reload` (smcroutectl reload's counterpart): a file that does not load is refused with
/// its line and key on mgmctl's own output (exit code 1) and the running configuration kept; a
/// good one is applied as SIGHUP applies it.
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmctl_reload_applies_a_good_file_and_refuses_a_bad_one_with_its_line_and_key() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(3)?, &config(r#"["rcv1"]"#))?;
    mgmd.write_config(&format!(
        "{}\n[[route]]\nfrom = \"up0\"\ngroup = \"10.9.9.9\"\nto = [\"rcv2\"]\n",
        config(r#"["rcv1"]"#)
    ))?;
    let refused = mgmd.mgmctl(&["reload"])?;
    let said = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        refused.status.code() == Some(1) && said.contains("route.group"),
        "reload of a bad file: {refused:?}"
    );
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    ensure!(
        routes.contains("up0 * 239.2.0.0/16 rcv1") && !routes.contains("10.9.9.9"),
        "the running routes after a refused reload: {routes}"
    );
    // A reload makes the routes the file's, as `smcroutectl reload` does: one added with
    // mgmctl goes.
    mgmd.mgmctl_ok(&["add", "up0", "239.3.0.1", "rcv3"])?;
    mgmd.write_config(&config(r#"["rcv2"]"#))?;
    mgmd.mgmctl_ok(&["reload"])?;
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    ensure!(
        routes.contains("up0 * 239.2.0.0/16 rcv2") && !routes.contains("239.3.0.1"),
        "routes after reload: {routes}"
    );
    mgmd.expect_delivery(PREFIX_GROUP, 20, &[2], "after mgmctl reload")?;
    Ok(())
}
