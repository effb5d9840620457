//! Root lab test of the MGM API over mgmd's socket: each of the 17 functions and the 9
//! callbacks with a real mgmd, real traffic and an external protocol on a real connection,
//! errors included. Disconnects are in `api_disconnects.rs`; malformed requests, the Python
//! client and missed answer deadlines in `api_requests.rs`.
mod api_support;
mod support;

use anyhow::{ensure, Context as _, Result};
use api_support::{
    ifid, mfes, refusal, set_upstream, source_groups, star_g, start_all_external, Protocol, ANY,
    HOST, IGMP_ID, PROTOCOL_ID, SOURCE,
};
use mgm_user::{
    api::{
        proto::{ApiAnswer, ApiMasks, ApiRecord, ApiRoute, ApiSg, Event, Request, Response},
        protocol::ProtocolError,
        records::from_hex,
    },
    lab::Host,
    mgm::win32,
};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 1);

/// Sends one UDP datagram from `host`'s eth0 with a forged source address (IP_HDRINCL; the
/// kernel fills in the header checksum), so it reaches the router on the wrong interface.
fn send_forged(mgmd: &Mgmd, host: Host, source: Ipv4Addr, group: Ipv4Addr) -> Result<()> {
    let script = "import socket,struct,sys\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\n\
        s.setsockopt(socket.SOL_SOCKET,25,b'eth0')\n\
        ip=struct.pack('!BBHHHBBH4s4s',0x45,0,28,0,0,8,17,0,socket.inet_aton(sys.argv[1]),socket.inet_aton(sys.argv[2]))\n\
        s.sendto(ip+struct.pack('!HHHH',4000,5000,8,0),(sys.argv[2],0))\n";
    let (s, g) = (source.to_string(), group.to_string());
    mgmd.lab.run(host, &["python3", "-c", script, &s, &g])?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn every_function_and_callback_over_the_socket() -> Result<()> {
    let (mut mgmd, [up0, rcv1, rcv2]) = start_all_external()?;
    let socket = mgmd.socket();
    let mut p = Protocol::register(&socket, 1, 5000)?;
    // MgmRegisterMProtocol: the same ids twice is 183.
    let again = Protocol::try_register(&socket, 1, 5000)?;
    ensure!(refusal(again.map(|_| ()))? == win32::ERROR_ALREADY_EXISTS);

    // MgmGetProtocolOnInterface: IGMP alone on rcv1; nobody on up0 (1168).
    let owner = p.run(|c| c.protocol_on_interface(ifid(rcv1)))?;
    ensure!(owner == (IGMP_ID, 0), "rcv1 owner {owner:?}");
    ensure!(refusal(p.run(|c| c.protocol_on_interface(ifid(up0))))? == win32::ERROR_NOT_FOUND);

    // MgmTakeInterfaceOwnership: a missing ifindex is 87; rcv1 is bracketed by IGMP's
    // disable and enable, which reach the protocol before the answer; twice is 183.
    ensure!(refusal(p.run(|c| c.take(ifid(999_999))))? == win32::ERROR_INVALID_PARAMETER);
    for i in [up0, rcv1, rcv2] {
        p.run(|c| c.take(ifid(i)))?;
    }
    let bracket = [p.next()?, p.next()?, p.next()?, p.next()?];
    let expected = [
        Event::DisableIgmp { ifid: ifid(rcv1) },
        Event::EnableIgmp { ifid: ifid(rcv1) },
        Event::DisableIgmp { ifid: ifid(rcv2) },
        Event::EnableIgmp { ifid: ifid(rcv2) },
    ];
    ensure!(bracket == expected, "IGMP bracket {bracket:?}");
    ensure!(refusal(p.run(|c| c.take(ifid(rcv1))))? == win32::ERROR_ALREADY_EXISTS);
    let owner = p.run(|c| c.protocol_on_interface(ifid(rcv1)))?;
    ensure!(owner == (PROTOCOL_ID, 1), "rcv1 owner {owner:?}");

    // MgmAddGroupMembershipEntry / MgmDeleteGroupMembershipEntry with masks.
    let own = Ipv4Addr::new(239, 5, 9, 9);
    let masks = ApiMasks {
        source_mask: ANY.into(),
        group_mask: HOST.into(),
    };
    p.run(|c| c.add_membership_entry(star_g(own), masks, ifid(rcv1), 1))?;
    let range = ApiMasks {
        source_mask: ANY.into(),
        group_mask: Ipv4Addr::new(255, 255, 255, 0).into(),
    };
    let bad = p.run(|c| c.add_membership_entry(star_g(own), range, ifid(rcv1), 1));
    ensure!(
        refusal(bad)? == win32::ERROR_INVALID_PARAMETER,
        "a range mask"
    );
    let source_star = ApiSg::new(SOURCE, ANY);
    let s_masks = ApiMasks {
        source_mask: HOST.into(),
        group_mask: ANY.into(),
    };
    let bad = p.run(|c| c.add_membership_entry(source_star, s_masks, ifid(rcv1), 1));
    ensure!(refusal(bad)? == win32::ERROR_INVALID_PARAMETER, "(S,*)");
    // Without masks too, saying why.
    let bad = p.request(Request::AddMembership {
        sg: source_star,
        ifid: ifid(rcv1),
        flags: 1,
        masks: None,
    })?;
    ensure!(
        matches!(&bad, Response::Error { code, message }
            if *code == win32::ERROR_INVALID_PARAMETER && message.contains("(S,*)")),
        "{bad:?}"
    );
    for flags in [0, 4] {
        let bad = p.run(|c| c.add_membership_entry(star_g(own), masks, ifid(rcv1), flags));
        ensure!(
            refusal(bad)? == win32::ERROR_INVALID_PARAMETER,
            "flags {flags}"
        );
    }
    let missing = p.run(|c| c.delete_membership_entry(star_g(GROUP), masks, ifid(rcv1), 1));
    ensure!(refusal(missing)? == win32::ERROR_NOT_FOUND);
    p.run(|c| c.add_membership_entry(star_g(own), masks, ifid(rcv1), 1))?; // duplicate: no-op
    ensure!(mgmd
        .groups()?
        .iter()
        .any(|g| g.group == own && g.iface == "rcv1" && g.protocol.starts_with("external")));

    // Group enumeration: start, get-next (122 then records), end; a dead handle is 87.
    let bad_type = p.run(|c| c.group_enumeration_start(7));
    ensure!(refusal(bad_type)? == win32::ERROR_INVALID_PARAMETER);
    let h = p.run(|c| c.group_enumeration_start(1))?;
    let a = p.run(|c| c.group_enumeration_get_next(h, 15))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == 16,
        "{a:?}"
    );
    let a = p.run(|c| c.group_enumeration_get_next(h, 1024))?;
    ensure!(a.status == win32::ERROR_NO_MORE_ITEMS, "{a:?}");
    ensure!(source_groups(&a) == [(ANY, own)], "{a:?}");
    ensure!(a.records == from_hex("0000000000000000ef050909ffffffff").context("hex")?);
    p.run(|c| c.group_enumeration_end(h))?;
    let dead = p.run(|c| c.group_enumeration_get_next(h, 1024))?;
    ensure!(dead.status == win32::ERROR_INVALID_PARAMETER, "{dead:?}");
    ensure!(refusal(p.run(|c| c.group_enumeration_end(h)))? == win32::ERROR_INVALID_PARAMETER);

    // The MFE calls on an empty table.
    let a = p.run(|c| c.get_first_mfe(0))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.num_entries == 0,
        "{a:?}"
    );
    let a = p.run(|c| c.get_mfe(SOURCE, GROUP, 1024))?;
    ensure!(a.status == win32::ERROR_NOT_FOUND, "{a:?}");
    let a = p.run(|c| c.get_first_mfe_stats(1024, 3))?;
    ensure!(a.status == win32::ERROR_INVALID_PARAMETER, "{a:?}");
    let missing = p.run(|c| c.set_mfe(SOURCE, GROUP, Ipv4Addr::new(10, 0, 0, 9)));
    ensure!(refusal(missing)? == win32::ERROR_NOT_FOUND);

    // Receivers join: a join alert (IGMP's first (*,G)) and local joins on both interfaces.
    let count = 30;
    let listener1 = mgmd.listen(Host::Receiver(1), GROUP, count, 6.0)?;
    p.expect(
        "join alert",
        |e| matches!(e, Event::JoinAlert { sg, member_update: true } if sg.group == GROUP),
    )?;
    p.expect(
        "local join",
        |e| matches!(e, Event::LocalJoin { sg, ifid } if sg.group == GROUP && ifid.ifindex == rcv1),
    )?;

    // A flow: RPF (with the header and the RIB's route), then the creation alert.
    mgmd.send_in_background(Host::Source, GROUP, count, 20)?;
    let rpf = p.expect("rpf", |e| matches!(e, Event::Rpf { .. }))?;
    let Event::Rpf {
        query,
        sg,
        iif,
        route,
        header,
        ..
    } = rpf
    else {
        unreachable!()
    };
    ensure!(sg.source == SOURCE && sg.group == GROUP && iif.ifindex == up0);
    ensure!(
        route.network == Ipv4Addr::new(10, 0, 0, 0)
            && route.mask == Ipv4Addr::new(255, 255, 255, 0),
        "{route:?}"
    );
    let header = from_hex(&header).context("header hex")?;
    // The packet from its header on, up to the spec's limit (the largest IPv4 header).
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    ensure!(
        header.len() == total.min(60) && header[0] == 0x45,
        "header {header:?}"
    );
    ensure!(header[12..16] == SOURCE.octets() && header[16..20] == GROUP.octets());
    let upstream = Ipv4Addr::new(10, 0, 0, 9);
    let ospf = ApiRoute {
        protocol: 13,
        network: Ipv4Addr::new(10, 0, 0, 0).into(),
        mask: Ipv4Addr::new(255, 255, 0, 0).into(),
    };
    p.run(|c| {
        c.answer(ApiAnswer::Rpf {
            query,
            iif,
            upstream: upstream.into(),
            route: Some(ospf),
            reject: false,
        })
    })?;
    let alert = p.expect("creation alert", |e| {
        matches!(e, Event::CreationAlert { .. })
    })?;
    let Event::CreationAlert { query, entries, .. } = alert else {
        unreachable!()
    };
    ensure!(
        entries.iter().any(|e| e.ifid.ifindex == rcv1 && e.igmp),
        "{entries:?}"
    );
    p.run(|c| c.answer(ApiAnswer::CreationAlert { query, entries }))?;
    // An answer to a question no longer open is 87.
    let late = p.run(|c| {
        c.answer(ApiAnswer::PruneAlert {
            query,
            timeout_s: 5,
        })
    });
    ensure!(refusal(late)? == win32::ERROR_INVALID_PARAMETER);
    ensure!(
        listener1.finish()?.is_complete(u64::from(count)),
        "rcv1 missed packets"
    );

    // MgmGetMfe with a buffer too small, then enough; the answer's route and upstream.
    let a = p.run(|c| c.get_mfe(SOURCE, GROUP, 10))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == 60 + 16,
        "{a:?}"
    );
    let a = p.run(|c| c.get_mfe(SOURCE, GROUP, 76))?;
    ensure!(a.status == win32::NO_ERROR && a.num_entries == 1 && a.records.len() == 76);
    let m = &mfes(&a)[0];
    ensure!(
        m.head.upstream == upstream && m.head.in_ifindex == up0,
        "{m:?}"
    );
    ensure!(m.head.in_protocol == PROTOCOL_ID, "{m:?}");
    ensure!(
        (
            m.head.route_protocol,
            m.head.route_network,
            m.head.route_mask
        ) == (13, ospf.network, ospf.mask),
        "{m:?}"
    );
    ensure!(
        m.oifs.iter().map(|o| o.ifindex).collect::<Vec<_>>() == [rcv1],
        "{m:?}"
    );
    ensure!(m.timeout_s == 900 && m.expiry_time_s <= 900, "{m:?}");
    // MgmGetFirstMfe / MgmGetNextMfe.
    let a = p.run(|c| c.get_first_mfe(76))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.num_entries == 1,
        "{a:?}"
    );
    let a = p.run(|c| c.get_next_mfe(SOURCE, GROUP, 1024))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.num_entries == 0,
        "{a:?}"
    );
    // The stats calls in both formats.
    let a = p.run(|c| c.get_mfe_stats(SOURCE, GROUP, 91, 1))?;
    ensure!(a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == 64 + 28);
    let a = p.run(|c| c.get_mfe_stats(SOURCE, GROUP, 92, 1))?;
    ensure!(a.status == win32::NO_ERROR, "{a:?}");
    let Some(ApiRecord::MfeStats(s)) = a.entries.first() else {
        anyhow::bail!("{a:?}")
    };
    ensure!(s.extended.is_none() && s.oifs.len() == 1, "{s:?}");
    let a = p.run(|c| c.get_first_mfe_stats(1024, 2))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.records.len() == 84 + 28,
        "{a:?}"
    );
    let Some(ApiRecord::MfeStats(s)) = a.entries.first() else {
        anyhow::bail!("{a:?}")
    };
    // ulTotalOutPackets: the copies sent over all outgoing interfaces (the flow's, here).
    let sent: u32 = s.oifs.iter().map(|o| o.out_packets).sum();
    ensure!(
        sent > 0 && s.extended.map(|e| e.total_out_packets) == Some(sent),
        "{s:?}"
    );
    let a = p.run(|c| c.get_next_mfe_stats(ANY, ANY, 1024, 0))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.num_entries == 1,
        "{a:?}"
    );

    // MgmSetMfe: the upstream neighbour changes, nothing else.
    let new_upstream = Ipv4Addr::new(10, 0, 0, 77);
    set_upstream(&mut p, SOURCE, GROUP, new_upstream)?;

    // WrongIf: a packet of the flow arrives on rcv2, which the protocol owns.
    send_forged(&mgmd, Host::Receiver(2), SOURCE, GROUP)?;
    let wrong = p.expect("wrong_if", |e| matches!(e, Event::WrongIf { .. }))?;
    let Event::WrongIf {
        sg,
        ifid: at,
        header,
    } = wrong
    else {
        unreachable!()
    };
    ensure!(sg.source == SOURCE && sg.group == GROUP && at.ifindex == rcv2);
    ensure!(from_hex(&header).is_some_and(|h| h.len() == 28 && h[16..20] == GROUP.octets()));

    // The receiver left: local leave and prune alerts.
    p.expect("local leave", |e| {
        matches!(e, Event::LocalLeave { sg, ifid } if sg.group == GROUP && ifid.ifindex == rcv1)
    })?;
    p.expect("TRUE prune alert", |e| {
        matches!(e, Event::PruneAlert { sg, member_delete: true, ifid, .. }
            if sg.group == GROUP && ifid.ifindex == rcv1)
    })?;
    // The MFE's list became empty: a FALSE prune alert on its IIF, whose answer sets the
    // entry's lifetime.
    let prune = p.expect(
        "FALSE prune alert",
        |e| matches!(e, Event::PruneAlert { sg, member_delete: false, .. } if sg.group == GROUP),
    )?;
    let Event::PruneAlert {
        query: Some(query),
        ifid: at,
        timeout_s: 900,
        ..
    } = prune
    else {
        anyhow::bail!("{prune:?}")
    };
    ensure!(at.ifindex == up0, "{at:?}");
    p.run(|c| {
        c.answer(ApiAnswer::PruneAlert {
            query,
            timeout_s: 30,
        })
    })?;
    let a = p.run(|c| c.get_mfe(SOURCE, GROUP, 1024))?;
    let m = &mfes(&a)[0];
    ensure!(
        m.timeout_s == 30 && m.oifs.is_empty() && m.expiry_time_s <= 30,
        "{m:?}"
    );

    // MgmReleaseInterfaceOwnership: bracketed too; not owned is 87.
    p.backlog.clear();
    p.run(|c| c.release(ifid(rcv1)))?;
    let bracket = [p.next()?, p.next()?];
    ensure!(
        bracket == [expected[0].clone(), expected[1].clone()],
        "release bracket {bracket:?}"
    );
    // Released already: 87, naming who owns rcv1 now (IGMP alone).
    let again = p.run(|c| c.release(ifid(rcv1)));
    ensure!(
        matches!(&again, Err(ProtocolError::Refused { code, message })
            if *code == win32::ERROR_INVALID_PARAMETER
                && message.contains(&format!("{IGMP_ID:#x}/0 owns it"))),
        "{again:?}"
    );

    // MgmDeRegisterMProtocol while owning interfaces: 1003, nothing changes.
    let refused = p.request(Request::Deregister)?;
    ensure!(
        matches!(refused, Response::Error { code: 1003, .. }),
        "{refused:?}"
    );
    for i in [up0, rcv2] {
        p.run(|c| c.release(ifid(i)))?;
    }
    let done = p.request(Request::Deregister)?;
    ensure!(done == Response::Ok, "{done:?}");
    wait_for(
        "the same ids to register again",
        Duration::from_secs(5),
        || Ok(Protocol::try_register(&socket, 1, 1000)?.ok().map(|_| ())),
    )?;
    Ok(())
}
