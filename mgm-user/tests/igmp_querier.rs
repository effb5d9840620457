//! Root lab test of mgmd beside another IGMP querier on its link: an IGMPv2 router with a lower
//! address (igmpproxy, an IGMPv2-only router) queries; mgmd (igmp_version 3) stops querying, says
//! in `show igmp` (by interface name) who the querier is, logs one warning that the link runs an
//! older version than its own (RFC 3376 §7.3.1), and takes the role back once the other's queries
//! stop (logged at level info, which the tests' mgmd does not write).
mod support;

use anyhow::{bail, Context, Result};
use mgm_user::api::proto::{Request, Response};
use mgm_user::igmp::{QuerierSnapshot, Snapshot, Version};
use mgm_user::lab::{Host, Lab};
use mgm_user::rawio::{Framing, PacketSocket};
use mgm_user::wire::igmp::{Repr, ALL_SYSTEMS};
use std::time::Duration;
use support::Mgmd;

/// mgmd's timers here: the other querier present interval is 2 × 4 s + 2 s / 2 = 9 s.
const TIMERS: &str = "igmp_query_interval_s = 4\nigmp_query_response_ms = 2000";
const OLDER_QUERIER: &str = "queries in an older version than igmp_version";

fn querier(mgmd: &Mgmd) -> Result<QuerierSnapshot> {
    match mgmd.call(&Request::ShowIgmp)? {
        Response::Igmp { snapshot } => {
            let snapshot: Snapshot = serde_json::from_value(snapshot)?;
            let iface = snapshot.interfaces.into_iter().next();
            Ok(iface.context("no IGMP interface")?.querier)
        }
        other => bail!("unexpected answer {other:?}"),
    }
}

/// An IGMPv2 general query from the host, sent on its link to 224.0.0.1.
fn v2_query(mgmd: &Mgmd) -> Result<()> {
    let host = Lab::address_of(Host::Receiver(1));
    let query = Repr::Query {
        max_resp_code: 100,
        group: std::net::Ipv4Addr::UNSPECIFIED,
        v3: None,
    };
    let datagram = query.to_datagram(host, ALL_SYSTEMS)?;
    let ifindex = mgmd.lab.ifindex(Host::Receiver(1), "eth0")?;
    mgmd.lab.in_ns(Host::Receiver(1), || {
        let socket = PacketSocket::open(Framing::Cooked, libc::ETH_P_IP as u16)?;
        socket.send_to(ifindex, [0x01, 0x00, 0x5e, 0, 0, 1], &datagram)
    })??;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_older_querier_with_a_lower_address_is_followed_and_logged() -> Result<()> {
    let mgmd = Mgmd::start_logged(Lab::star(1)?, &support::interfaces(&[("rcv1", TIMERS)]))?;
    let host = Lab::address_of(Host::Receiver(1));
    assert!(querier(&mgmd)?.is_self, "mgmd starts as querier");
    // The operator's table names the interface, not only its ifindex.
    let shown = mgmd.mgmctl_ok(&["show", "igmp"])?;
    assert!(shown.starts_with("rcv1 (ifindex "), "show igmp:\n{shown}");

    v2_query(&mgmd)?;
    let yielded = support::wait_for("mgmd yields", Duration::from_secs(10), || {
        let q = querier(&mgmd)?;
        Ok((!q.is_self).then_some(q))
    })?;
    assert_eq!((yielded.address, yielded.version), (host, Version::V2));
    v2_query(&mgmd)?;
    support::wait_for("the warning", Duration::from_secs(10), || {
        Ok((mgmd.log_lines(OLDER_QUERIER)? > 0).then_some(()))
    })?;

    // The other router's queries stop: mgmd is querier again after 9 s, and says so.
    support::wait_for("the takeover", Duration::from_secs(60), || {
        Ok(querier(&mgmd)?.is_self.then_some(()))
    })?;
    assert_eq!(
        mgmd.log_lines(OLDER_QUERIER)?,
        1,
        "the same querier heard again is no new change"
    );
    Ok(())
}
