//! Root lab tests of IPv6 through mgmd's API socket: an external protocol registered once owns
//! its interfaces in both MGMs, adds IPv6 memberships, answers the IPv6 MGM's RPF question and
//! creation alert for a real IPv6 flow from the source host, which the XDP program then
//! forwards to the member interface only; it walks the IPv6 MFEs and groups with small buffers
//! (the IPv6 records of protocol.md §6). A Python protocol makes the IPv6 calls from another
//! language.
mod api_support;
mod support;

use anyhow::{ensure, Context as _, Result};
use api_support::{
    all_external, enumerations_up_to_the_limit, ifid, ifindex, mfes, refusal, run_python_protocol,
    set_upstream, walk_groups, walk_protocol, Protocol, PROTOCOL_ID,
};
use mgm_user::{
    api::proto::{ApiAnswer, ApiFamily, ApiIfId, ApiMasks, ApiSg, Event, Request, Response},
    daemon::STATIC_PROTOCOL_ID,
    lab::{Host, Lab, Stack},
    mgm::{mfe_record_size, mfe_stats_ex_record_size, source_group_entry_size, win32},
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use support::{interfaces, Mgmd, EXTERNAL, NO_LISTENERS};

/// The source host's address in the dual-stack lab.
const SOURCE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// The IPv6 wildcard.
const ANY6: Ipv6Addr = Ipv6Addr::UNSPECIFIED;
/// An IPv6 host mask.
const HOST6: Ipv6Addr = Ipv6Addr::new(
    0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
);

fn group6(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 6, n)
}

/// Answers the IPv6 RPF questions (keeping the proposal) and creation alerts (vetoing
/// nothing) of `flows` new flows.
fn answer_flows(p: &mut Protocol, flows: usize) -> Result<()> {
    let mut created = 0;
    while created < flows {
        let event = p.expect("an RPF question or creation alert", |e| {
            matches!(e, Event::Rpf { .. } | Event::CreationAlert { .. })
        })?;
        let answer = match event {
            Event::Rpf {
                query,
                iif,
                upstream,
                ..
            } => ApiAnswer::Rpf {
                query,
                iif,
                upstream,
                route: None,
                reject: false,
            },
            Event::CreationAlert { query, entries, .. } => {
                created += 1;
                ApiAnswer::CreationAlert { query, entries }
            }
            _ => unreachable!(),
        };
        p.run(|c| c.answer(answer))?;
    }
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_external_protocol_routes_ipv6_flows_and_walks_the_ipv6_tables() -> Result<()> {
    let owned = format!("{EXTERNAL}\n{NO_LISTENERS}");
    let body = interfaces(&[("up0", &owned), ("rcv1", &owned), ("rcv2", NO_LISTENERS)]);
    let mut mgmd = Mgmd::start(Lab::star_with(2, Stack::Dual)?, &body)?;
    let (up0, rcv1, rcv2) = (
        ifindex(&mgmd, "up0")?,
        ifindex(&mgmd, "rcv1")?,
        ifindex(&mgmd, "rcv2")?,
    );
    let mut p = Protocol::register_taking(&mgmd.socket(), 0, 5000, &[ifid(up0), ifid(rcv1)])?;

    // One take owns the interface in both MGMs; the built-in static owns rcv2 in both.
    for next_hop in [IpAddr::from(Ipv4Addr::UNSPECIFIED), ANY6.into()] {
        let owner = p.run(|c| c.protocol_on_interface(ApiIfId::new(rcv1, next_hop)))?;
        ensure!(owner == (PROTOCOL_ID, 0), "{next_hop}: {owner:?}");
        let owner = p.run(|c| c.protocol_on_interface(ApiIfId::new(rcv2, next_hop)))?;
        ensure!(owner == (STATIC_PROTOCOL_ID, 0), "{next_hop}: {owner:?}");
    }
    let mut other = Protocol::register(&mgmd.socket(), 1, 5000)?;
    let code = refusal(other.run(|c| c.take(ifid(rcv1))))?;
    ensure!(
        code == win32::ERROR_ALREADY_EXISTS,
        "a second owner: {code}"
    );

    // IPv6 memberships; one family per request, IPv6 masks.
    let masks = ApiMasks {
        source_mask: ANY6.into(),
        group_mask: HOST6.into(),
    };
    let groups = [group6(1), group6(2), group6(3)];
    for g in groups {
        p.run(|c| c.add_membership_entry(ApiSg::new(ANY6, g), masks, ifid(rcv1), 1))?;
    }
    let shown = mgmd.groups()?;
    let held_by = |g: Ipv6Addr| {
        shown
            .iter()
            .find(|r| r.group == IpAddr::from(g) && r.iface == "rcv1")
            .map(|r| r.protocol.clone())
    };
    let name = format!("external:{PROTOCOL_ID:#x}");
    ensure!(
        groups.iter().all(|&g| held_by(g).as_ref() == Some(&name)),
        "show groups: {shown:?}"
    );
    let mixed = ApiSg::new(Ipv4Addr::UNSPECIFIED, group6(9));
    let code = refusal(p.run(|c| c.add_membership(mixed, rcv1, 1)))?;
    ensure!(
        code == win32::ERROR_INVALID_PARAMETER,
        "mixed families: {code}"
    );
    let range = ApiMasks {
        source_mask: ANY6.into(),
        group_mask: "ffff:ffff::".parse::<Ipv6Addr>()?.into(),
    };
    let code = refusal(
        p.run(|c| c.add_membership_entry(ApiSg::new(ANY6, group6(9)), range, ifid(rcv1), 1)),
    )?;
    ensure!(
        code == win32::ERROR_INVALID_PARAMETER,
        "a range mask: {code}"
    );

    // A new IPv6 source: the RPF question and the creation alert carry IPv6 addresses; the
    // answers are taken; receiver 1 gets every packet, receiver 2 none.
    let count = 30;
    let listener1 = mgmd.listen(Host::Receiver(1), groups[0], count, 10.0)?;
    let listener2 = mgmd.listen(Host::Receiver(2), groups[0], count, 4.0)?;
    mgmd.send_in_background(Host::Source, groups[0], count, 20)?;
    let Event::Rpf {
        query,
        sg,
        iif,
        upstream,
        route,
        ..
    } = p.expect("rpf", |e| matches!(e, Event::Rpf { .. }))?
    else {
        unreachable!()
    };
    ensure!(
        sg == ApiSg::new(SOURCE6, groups[0]) && iif == ApiIfId::new(up0, ANY6),
        "{sg:?} {iif:?}"
    );
    ensure!(
        upstream.is_ipv6() && route.network.is_ipv6() && route.mask.is_ipv6(),
        "{upstream} {route:?}"
    );
    let neighbour: IpAddr = "fe80::1".parse::<Ipv6Addr>()?.into();
    p.run(|c| {
        c.answer(ApiAnswer::Rpf {
            query,
            iif,
            upstream: neighbour,
            route: None,
            reject: false,
        })
    })?;
    let Event::CreationAlert {
        query, sg, entries, ..
    } = p.expect("creation alert", |e| {
        matches!(e, Event::CreationAlert { .. })
    })?
    else {
        unreachable!()
    };
    ensure!(sg == ApiSg::new(SOURCE6, groups[0]), "{sg:?}");
    let offered: Vec<ApiIfId> = entries.iter().map(|e| e.ifid).collect();
    ensure!(offered == [ApiIfId::new(rcv1, ANY6)], "offered {offered:?}");
    p.run(|c| c.answer(ApiAnswer::CreationAlert { query, entries }))?;
    ensure!(
        listener1.finish()?.is_complete(u64::from(count)),
        "rcv1 incomplete"
    );
    let got2 = listener2.finish()?;
    ensure!(
        got2.seqs.is_empty(),
        "rcv2 is no member, got {:?}",
        got2.seqs
    );
    // The entry forwards in XDP, to the member interface only.
    mgmd.expect_delivery(groups[0], 20, &[1], "the established IPv6 entry")?;
    mgmd.wait_for_forwarded(SOURCE6, groups[0], 20)?;
    ensure!(mgmd.oifs(SOURCE6, groups[0])? == ["rcv1"]);

    // Two more flows, then the IPv6 MFE walk: too small (122, the size of one 132 + 28-byte
    // record), one record per call (234) up to the last (259), all at once.
    for g in &groups[1..] {
        mgmd.send(Host::Source, *g, 3, 5)?;
    }
    answer_flows(&mut p, 2)?;
    let one = mfe_record_size::<Ipv6Addr>(1) as u32;
    let a = p.run(|c| c.get_first_mfe_in(ApiFamily::Ipv6, one - 1))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == one && a.num_entries == 0,
        "{a:?}"
    );
    let mut a = p.run(|c| c.get_first_mfe_in(ApiFamily::Ipv6, one))?;
    let mut walked = Vec::new();
    loop {
        ensure!(
            a.num_entries == 1 && a.records.len() == one as usize,
            "{a:?}"
        );
        let m = &mfes(&a)[0];
        ensure!(
            m.head.source == IpAddr::from(SOURCE6) && m.oifs == [ApiIfId::new(rcv1, ANY6)],
            "{m:?}"
        );
        walked.push(m.head.group);
        if a.status == win32::ERROR_NO_MORE_ITEMS {
            break;
        }
        ensure!(a.status == win32::ERROR_MORE_DATA, "{a:?}");
        let (s, g) = a.last_mfe().context("no key")?;
        a = p.run(|c| c.get_next_mfe(s, g, one))?;
    }
    let expected: Vec<IpAddr> = groups.iter().map(|&g| g.into()).collect();
    ensure!(walked == expected, "walked {walked:?}");
    let all = p.run(|c| c.get_first_mfe_in(ApiFamily::Ipv6, 65536))?;
    ensure!(
        all.status == win32::ERROR_NO_MORE_ITEMS && all.num_entries == 3,
        "{all:?}"
    );
    let ex = mfe_stats_ex_record_size::<Ipv6Addr>(1) as u32;
    let a = p.run(|c| c.get_first_mfe_stats_in(ApiFamily::Ipv6, 0, 2))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == ex,
        "{a:?}"
    );
    // The IPv4 MGM has none of them.
    let v4 = p.run(|c| c.get_first_mfe(65536))?;
    ensure!(
        v4.status == win32::ERROR_NO_MORE_ITEMS && v4.num_entries == 0,
        "{v4:?}"
    );

    // The walk_protocol example walks the IPv6 tables from a 16-byte buffer.
    let (text, lines) = walk_protocol(&mgmd, &["--buffer", "16", "--family", "ipv6"])?;
    let walked_groups = |record: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["record"] == record)
            .filter_map(|l| l["group"].as_str().map(str::to_owned))
            .collect()
    };
    let names: Vec<String> = groups.iter().map(ToString::to_string).collect();
    ensure!(walked_groups("mfe") == names, "{text}");
    ensure!(walked_groups("source_group") == names, "{text}");
    ensure!(
        lines
            .iter()
            .any(|l| l["call"] == "get_first_mfe" && l["status"] == 122 && l["buffer_size"] == one),
        "{text}"
    );

    // GetMfe's bytes: the group's 16 octets first; SetMfe takes an IPv6 upstream.
    let a = p.run(|c| c.get_mfe(SOURCE6, groups[0], one))?;
    ensure!(a.status == win32::NO_ERROR, "{a:?}");
    ensure!(a.records[..16] == groups[0].octets(), "{a:?}");
    ensure!(
        mfes(&a)[0].head.upstream == neighbour,
        "the answered upstream: {a:?}"
    );
    let upstream: Ipv6Addr = "fe80::2".parse()?;
    set_upstream(&mut p, SOURCE6, groups[0], upstream)?;
    let code = refusal(p.run(|c| c.set_mfe(SOURCE6, groups[0], Ipv4Addr::new(10, 0, 0, 2))))?;
    ensure!(
        code == win32::ERROR_INVALID_PARAMETER,
        "mixed set_mfe: {code}"
    );

    // The IPv6 groups in 64-byte entries: 122 first, then one per batch.
    let h = p.run(|c| c.group_enumeration_start_in(ApiFamily::Ipv6, 1))?;
    let entry = source_group_entry_size::<Ipv6Addr>() as u32;
    let a = p.run(|c| c.group_enumeration_get_next(h, 0))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == entry,
        "{a:?}"
    );
    let seen = walk_groups::<Ipv6Addr>(&mut p, h, entry, 1)?;
    let joined: Vec<(Ipv6Addr, Ipv6Addr)> = groups.iter().map(|&g| (ANY6, g)).collect();
    ensure!(seen == joined, "enumerated {seen:?}");
    p.run(|c| c.group_enumeration_end(h))?;
    let a = p.run(|c| c.group_enumeration_get_next(h, entry))?;
    ensure!(
        a.status == win32::ERROR_INVALID_PARAMETER,
        "an ended handle: {a:?}"
    );
    // At most 64 open enumerations in the IPv6 MGM too, refusals counted apart from IPv4's.
    let open = enumerations_up_to_the_limit(&mgmd, &mut p, ApiFamily::Ipv6, Vec::new())?;
    for h in open {
        p.run(|c| c.group_enumeration_end(h))?;
    }

    // Releasing rcv1 releases it in both MGMs; deregistering needs every interface released.
    p.run(|c| c.release_interface(rcv1))?;
    for next_hop in [IpAddr::from(Ipv4Addr::UNSPECIFIED), ANY6.into()] {
        let code = refusal(p.run(|c| c.protocol_on_interface(ApiIfId::new(rcv1, next_hop))))?;
        ensure!(code == win32::ERROR_NOT_FOUND, "{next_hop}: {code}");
    }
    let refused = p.request(Request::Deregister)?;
    ensure!(
        matches!(
            refused,
            Response::Error {
                code: win32::ERROR_CAN_NOT_COMPLETE,
                ..
            }
        ),
        "deregister owning up0: {refused:?}"
    );
    p.run(|c| c.release_interface(up0))?;
    ensure!(p.request(Request::Deregister)? == Response::Ok);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_python_protocol_makes_ipv6_calls() -> Result<()> {
    let mgmd = Mgmd::start(Lab::star(2)?, &all_external())?;
    run_python_protocol(&mgmd, "api_client6.py")
}

/// MLD's local joins and leaves reach the external protocol that owns the interface (the IPv6
/// MGM's LocalJoin and LocalLeave callbacks, with IPv6 addresses and next hop `::`), as
/// IGMP's do in `api_functions`.
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mld_local_joins_and_leaves_reach_the_owning_protocol() -> Result<()> {
    let body = interfaces(&[
        ("up0", NO_LISTENERS),
        ("rcv1", EXTERNAL),
        ("rcv2", EXTERNAL),
    ]);
    let mut mgmd = Mgmd::start(Lab::star_with(2, Stack::Dual)?, &body)?;
    let rcv1 = ifindex(&mgmd, "rcv1")?;
    let mut p = Protocol::register_taking(&mgmd.socket(), 0, 5000, &[ifid(rcv1)])?;
    let group = group6(7);
    let member = ApiIfId::new(rcv1, ANY6);
    // The host joins with MLD, stays for a second and leaves (MLD Done).
    let listener = mgmd.listen(Host::Receiver(1), group, 1, 1.0)?;
    let joined = p.expect("local join", |e| matches!(e, Event::LocalJoin { .. }))?;
    ensure!(
        joined
            == Event::LocalJoin {
                sg: ApiSg::new(ANY6, group),
                ifid: member
            },
        "{joined:?}"
    );
    listener.finish()?;
    let left = p.expect("local leave", |e| matches!(e, Event::LocalLeave { .. }))?;
    ensure!(
        left == Event::LocalLeave {
            sg: ApiSg::new(ANY6, group),
            ifid: member
        },
        "{left:?}"
    );
    // Nobody joined on rcv2, which the protocol does not own: no callback names it.
    p.drain()?;
    ensure!(
        !p.backlog.iter().any(|e| matches!(
            e,
            Event::LocalJoin { ifid, .. } | Event::LocalLeave { ifid, .. } if ifid.ifindex != rcv1
        )),
        "{:?}",
        p.backlog
    );
    Ok(())
}
