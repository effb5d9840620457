//! Root lab test of the MGM API over mgmd's socket: a protocol that disconnects in every state
//! leaves nothing behind.
mod api_support;
mod support;

use anyhow::{ensure, Result};
use api_support::{
    ifid, ifindex, refusal, star_g, Protocol, ANY, HOST, IGMP_ID, PROTOCOL_ID, SOURCE,
};
use mgm_user::{
    api::proto::{ApiAnswer, ApiMasks, Event},
    lab::{Host, Lab},
    mgm::win32,
};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd, EXTERNAL, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 1);

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_protocol_that_disconnects_in_every_state_leaves_nothing_behind() -> Result<()> {
    // Every interface is left to external protocols, one of them made after mgmd started and
    // deleted while owned.
    let gone = "apigone0";
    let up0_config = format!("{EXTERNAL}\n{NO_IGMP}");
    let config = support::interfaces(&[
        ("up0", &up0_config),
        ("rcv1", EXTERNAL),
        ("rcv2", EXTERNAL),
        (gone, EXTERNAL),
    ]);
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let [up0, rcv1, rcv2] = [
        ifindex(&mgmd, "up0")?,
        ifindex(&mgmd, "rcv1")?,
        ifindex(&mgmd, "rcv2")?,
    ];
    let socket = mgmd.socket();
    let add = [
        "ip", "link", "add", gone, "type", "veth", "peer", "name", "apigone1",
    ];
    mgmd.lab.run(Host::Router, &add)?;
    let gone_index = wait_for("mgmd to see apigone0", Duration::from_secs(5), || {
        Ok(ifindex(&mgmd, gone).ok().filter(|&i| i != 0))
    })?;
    let neighbour = ifid(rcv1);
    let pair = mgm_user::api::proto::ApiIfId::new(neighbour.ifindex, Ipv4Addr::new(10, 1, 0, 1));

    // Another protocol owns the incoming interface and answers its RPF questions.
    let mut q = Protocol::register_taking(&socket, 9, 10_000, &[ifid(up0)])?;
    let mut p =
        Protocol::register_taking(&socket, 2, 10_000, &[ifid(rcv2), pair, ifid(gone_index)])?;
    let masks = ApiMasks {
        source_mask: ANY.into(),
        group_mask: HOST.into(),
    };
    let (g1, g2) = (GROUP, Ipv4Addr::new(239, 5, 0, 2));
    p.run(|c| c.add_membership_entry(star_g(g1), masks, ifid(rcv2), 1))?;
    p.run(|c| c.add_membership_entry(star_g(g2), masks, pair, 1))?;
    mgmd.lab.run(Host::Router, &["ip", "link", "del", gone])?;
    // Flow 1 forwards on rcv2 by the protocol's membership.
    mgmd.send_in_background(Host::Source, g1, 3, 20)?;
    answer_rpf(&mut q, g1)?;
    let Event::CreationAlert { query, entries, .. } = p.expect(
        "creation alert",
        |e| matches!(e, Event::CreationAlert { sg, .. } if sg.group == g1),
    )?
    else {
        unreachable!()
    };
    p.run(|c| c.answer(ApiAnswer::CreationAlert { query, entries }))?;
    wait_for("flow 1 forwarded on rcv2", Duration::from_secs(5), || {
        Ok((mgmd.oifs(SOURCE, g1)? == ["rcv2"]).then_some(()))
    })?;
    // Flow 2 waits for the protocol's answer about the (rcv1, next hop) pair: unanswered.
    mgmd.send_in_background(Host::Source, g2, 3, 20)?;
    answer_rpf(&mut q, g2)?;
    p.expect(
        "creation alert",
        |e| matches!(e, Event::CreationAlert { sg, .. } if sg.group == g2),
    )?;
    drop(p);

    let again = wait_for(
        "the same ids to register again",
        Duration::from_secs(5),
        || Ok(Protocol::try_register(&socket, 2, 1000)?.ok()),
    )?;
    drop(again);
    for i in [pair, ifid(gone_index)] {
        let owner = q.run(|c| c.protocol_on_interface(i));
        ensure!(
            refusal(owner)? == win32::ERROR_NOT_FOUND,
            "{i:?} still owned"
        );
    }
    let owner = q.run(|c| c.protocol_on_interface(ifid(rcv2)))?;
    ensure!(owner == (IGMP_ID, 0), "rcv2 owner {owner:?}");
    ensure!(
        mgmd.groups()?
            .iter()
            .all(|g| g.protocol != format!("external:{PROTOCOL_ID:#x}") || g.group != g1),
        "memberships left: {:?}",
        mgmd.groups()?
    );
    // Interfaces were released before memberships: the flow's entry was deleted, not made
    // negative by a FALSE prune alert to the incoming interface's owner (with 900 s).
    q.drain()?;
    let spurious: Vec<&Event> = q
        .backlog
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::PruneAlert {
                    member_delete: false,
                    ..
                }
            )
        })
        .collect();
    ensure!(spurious.is_empty(), "FALSE prune alerts: {spurious:?}");
    ensure!(mgmd.mfe(SOURCE, g1)?.is_none(), "{:?}", mgmd.mfes()?);
    ensure!(mgmd.mfe(SOURCE, g2)?.is_none(), "{:?}", mgmd.mfes()?);
    Ok(())
}

/// Answers the RPF question about (`SOURCE`, `group`) with the RIB's proposal.
fn answer_rpf(q: &mut Protocol, group: Ipv4Addr) -> Result<()> {
    let rpf = q.expect(
        "rpf",
        |e| matches!(e, Event::Rpf { sg, .. } if sg.group == group),
    )?;
    let Event::Rpf {
        query,
        iif,
        upstream,
        ..
    } = rpf
    else {
        unreachable!()
    };
    q.run(|c| {
        c.answer(ApiAnswer::Rpf {
            query,
            iif,
            upstream,
            route: None,
            reject: false,
        })
    })?;
    Ok(())
}
