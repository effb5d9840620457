//! The client scenarios of spec §7, one test each, and the worked trace of §7.7.

use std::net::Ipv4Addr;

use mgm_user::mgm::{
    protocol_id, sizeof_mib_mfe, win32, Action, EnumType, MemberFlags, ProtocolHandle, Sg,
    SOURCE_GROUP_ENTRY_SIZE,
};

use super::support::*;

for_both_families!(
    s7_7_worked_callback_trace,
    s7_1_routing_protocol_startup,
    s7_2_processing_groups_and_callbacks,
    s7_4_shutdown_releases_then_deregisters,
);

const DVMRP: u32 = protocol_id(1, 0, 4);
const PIM: u32 = protocol_id(1, 0, 5);

/// §7.7 setup: P1 owns if1 and if2, P2 owns if3, IGMP co-owns if1 and owns if4; RPF(S) = if3.
fn trace_lab<A: Family>() -> (Lab<A>, [ProtocolHandle; 3]) {
    let mut lab = Lab::<A>::family();
    let p1 = lab.register("P1", DVMRP);
    let p2 = lab.register("P2", PIM);
    let igmp = lab.register_igmp();
    lab.take(p1, 1).unwrap();
    lab.take(p1, 2).unwrap();
    lab.take(p2, 3).unwrap();
    lab.take(igmp, 1).unwrap();
    lab.take(igmp, 4).unwrap();
    assert!(
        lab.calls().is_empty(),
        "taking without IGMP present needs no callbacks"
    );
    (lab, [p1, p2, igmp])
}

fn s7_7_worked_callback_trace<A: Family>() {
    let (mut lab, [p1, p2, igmp]) = trace_lab::<A>();
    let mfe = sg(A::S, A::G);

    lab.add(igmp, star(A::G), 4).unwrap();
    assert_eq!(
        lab.calls(),
        ["P1: join (*,G) member", "P2: join (*,G) member"]
    );
    assert_eq!(lab.oifs(mfe), None);

    lab.add(igmp, star(A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["P1: local-join (*,G) if1"]);

    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.calls(),
        [
            "P2: rpf (S,G) iif=if3",
            "P1: creation (S,G) iif=if3 [if1+igmp]",
            "IGMP: creation (S,G) iif=if3 [if4+igmp]",
        ]
    );
    assert_eq!(lab.oifs(mfe), Some(vec![1, 4]));
    assert_eq!(
        lab.actions(),
        [Action::InstallMfe {
            sg: mfe,
            iif: ifx(3),
            oifs: [ifx(1), ifx(4)].into_iter().collect(),
        }]
    );

    lab.add(p1, mfe, 2).unwrap();
    assert_eq!(lab.calls(), ["P2: join (S,G) member"]);
    assert_eq!(lab.oifs(mfe), Some(vec![1, 2, 4]));

    lab.delete(igmp, star(A::G), 4).unwrap();
    assert!(lab.calls().is_empty());
    assert_eq!(lab.oifs(mfe), Some(vec![1, 2]));

    lab.delete(p1, mfe, 2).unwrap();
    assert_eq!(lab.calls(), ["P2: prune (S,G) if2 member"]);
    assert_eq!(lab.oifs(mfe), Some(vec![1]));

    lab.client(p2).prune_timeout = Some(120);
    lab.delete(igmp, star(A::G), 1).unwrap();
    assert_eq!(
        lab.calls(),
        [
            "P1: prune (*,G) if1 member",
            "P2: prune (*,G) if1 member",
            "P1: local-leave (*,G) if1",
            "P2: prune (S,G) if3 mfe timeout=900",
        ]
    );
    let m = lab.mgm.mfe(mfe).unwrap();
    assert!(m.is_negative());
    assert_eq!(m.timeout_s(), 120, "lifetime as returned by P2");

    lab.add(p2, star(A::G), 3).unwrap();
    assert_eq!(
        lab.calls(),
        ["P1: join (*,G) member", "IGMP: join (*,G) member"]
    );
    assert_eq!(lab.oifs(mfe), Some(vec![]), "if3 is the IIF");
}

fn s7_1_routing_protocol_startup<A: Family>() {
    let mut lab = Lab::<A>::family();
    let igmp = lab.register_igmp();
    let p0 = lab.register("P0", DVMRP);
    lab.take(igmp, 1).unwrap();
    lab.take(igmp, 2).unwrap();
    lab.take(p0, 5).unwrap();
    lab.add(igmp, star(A::G), 1).unwrap();
    lab.add(igmp, sg(A::S, A::G2), 2).unwrap();
    lab.add(p0, Sg::STAR_STAR, 5).unwrap();
    lab.calls();

    // 1. Register: a handle, no callbacks.
    let p = lab.register("P", PIM);
    assert!(lab.calls().is_empty());
    // 2. Owner lookup: IGMP alone owns if1; nobody owns if3.
    assert_eq!(
        lab.mgm.protocol_on_interface(ifx(1)),
        Ok((mgm_user::mgm::MS_IP_IGMP, 1))
    );
    assert_eq!(
        lab.mgm.protocol_on_interface(ifx(3)),
        Err(mgm_user::mgm::MgmError::NotFound)
    );
    // 3. Take ownership: if1 has IGMP, so Disable/Enable bracket it; if3 is free.
    lab.take(p, 1).unwrap();
    lab.take(p, 3).unwrap();
    assert_eq!(lab.calls(), ["IGMP: disable if1", "IGMP: enable if1"]);
    assert_eq!(lab.mgm.protocol_on_interface(ifx(1)), Ok((PIM, 1)));
    // IGMP re-adds after Enable: the new owner hears of it once.
    lab.add(igmp, star(A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["P: local-join (*,G) if1"]);
    lab.add(igmp, star(A::G), 1).unwrap();
    assert!(lab.calls().is_empty());
    // 4. Group enumeration until NO_MORE_ITEMS, then End.
    let eh = lab
        .mgm
        .group_enumeration_start(p, EnumType::AllSources)
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = lab.mgm.group_enumeration_next(eh, 2).unwrap();
        seen.extend(batch.entries);
        if batch.done {
            break;
        }
    }
    lab.mgm.group_enumeration_end(eh).unwrap();
    seen.sort();
    assert_eq!(seen, [Sg::STAR_STAR, star(A::G), sg(A::S, A::G2)]);
    let eh = lab
        .mgm
        .group_enumeration_start(p, EnumType::AnySource)
        .unwrap();
    let batch = lab.mgm.group_enumeration_next(eh, 10).unwrap();
    assert!(batch.done);
    assert_eq!(batch.entries, [Sg::STAR_STAR, star(A::G), star(A::G2)]);
}

/// §7.2 up to the creation of three MFEs: (S,G) and (S,G2) through if3, (S3,G) through if4.
fn s7_2_flows<A: Family>() -> (Lab<A>, [ProtocolHandle; 3]) {
    let (mut lab, [p1, p2, igmp]) = trace_lab::<A>();
    // Membership changes by another protocol: join/prune alerts.
    lab.add(p1, star(A::G), 2).unwrap();
    assert_eq!(
        lab.calls(),
        ["P2: join (*,G) member", "IGMP: join (*,G) member"]
    );
    // Local join/leave from IGMP on a co-owned interface.
    lab.add(igmp, star(A::G2), 1).unwrap();
    assert_eq!(
        lab.calls(),
        [
            "P1: join (*,G2) member",
            "P2: join (*,G2) member",
            "P1: local-join (*,G2) if1"
        ]
    );
    // Creation and RPF when data arrives.
    lab.packet(A::S, A::G, 3);
    lab.packet(A::S, A::G2, 3);
    lab.packet(A::S3, A::G, 4);
    assert_eq!(
        lab.calls(),
        [
            "P2: rpf (S,G) iif=if3",
            "P1: creation (S,G) iif=if3 [if2]",
            "P2: rpf (S,G2) iif=if3",
            "P1: creation (S,G2) iif=if3 [if1+igmp]",
            "IGMP: rpf (S3,G) iif=if4",
            "P1: creation (S3,G) iif=if4 [if2]",
        ]
    );
    (lab, [p1, p2, igmp])
}

fn s7_2_processing_groups_and_callbacks<A: Family>() {
    let (mut lab, [p1, p2, _igmp]) = s7_2_flows::<A>();
    // MFE enumeration: group, then source.
    let order: Vec<Sg<A>> = lab.mgm.mfes().map(|m| m.sg()).collect();
    assert_eq!(
        order,
        [sg(A::S, A::G), sg(A::S3, A::G), sg(A::S, A::G2)],
        "group, then source"
    );
    let after: Vec<Sg<A>> = lab
        .mgm
        .mfes_after(sg(A::S3, A::G))
        .map(|m| m.sg())
        .collect();
    assert_eq!(after, [sg(A::S, A::G2)]);
    assert!(lab.mgm.mfes_after(sg(A::S, A::G2)).next().is_none());

    // MgmSetMfe: only the upstream neighbour changes, no callbacks.
    let nbr = A::S2;
    lab.mgm.set_mfe_upstream(p2, sg(A::S, A::G), nbr).unwrap();
    lab.run();
    assert_eq!(lab.mgm.mfe(sg(A::S, A::G)).unwrap().upstream(), nbr);
    assert!(lab.calls().is_empty());
    assert!(lab
        .actions()
        .iter()
        .all(|a| !matches!(a, Action::UpdateMfe { .. })));

    // Forward-state pruning by the owner of an OIF: M2 to the IIF owner.
    lab.delete_flags(p1, sg(A::S, A::G), 2, MemberFlags::FORWARD)
        .unwrap();
    assert_eq!(lab.calls(), ["P2: prune (S,G) if3 mfe timeout=900"]);
    // Wrong interface: the arrival interface's owner hears it.
    lab.mgm.wrong_interface(A::S, A::G, 2, A::HEADER, lab.now);
    lab.run();
    assert_eq!(lab.calls(), ["P1: wrong-if S G if2"]);
}

/// §7.2's MFE enumeration first/next/get through the Windows buffers (IPv4 only).
#[test]
fn s7_2_mfe_buffers() {
    let (lab, _) = s7_2_flows::<Ipv4Addr>();
    let mut buf = vec![0u8; 4096];
    let (mut size, mut n) = (buf.len() as u32, 0u32);
    let st = lab
        .mgm
        .get_first_mfe_raw(&mut size, &mut buf, &mut n, lab.now);
    assert_eq!((st, n), (win32::ERROR_NO_MORE_ITEMS, 3));
    let one = sizeof_mib_mfe(1) as u32;
    let mut size = one;
    let st = lab
        .mgm
        .get_first_mfe_raw(&mut size, &mut buf, &mut n, lab.now);
    assert_eq!((st, n, size), (win32::ERROR_MORE_DATA, 1, one));
    let st = lab
        .mgm
        .get_next_mfe_raw(sg(S, G), &mut size, &mut buf, &mut n, lab.now);
    assert_eq!((st, n), (win32::ERROR_MORE_DATA, 1));
    let st = lab
        .mgm
        .get_next_mfe_raw(sg(S3, G), &mut size, &mut buf, &mut n, lab.now);
    assert_eq!((st, n), (win32::ERROR_NO_MORE_ITEMS, 1));
    let st = lab
        .mgm
        .get_next_mfe_raw(sg(S, G2), &mut size, &mut buf, &mut n, lab.now);
    assert_eq!((st, n), (win32::ERROR_NO_MORE_ITEMS, 0));
    let st = lab.mgm.get_mfe_raw(sg(S2, G), &mut size, &mut buf, lab.now);
    assert_eq!(st, win32::ERROR_NOT_FOUND);
    let st = lab.mgm.get_mfe_raw(sg(S, G), &mut size, &mut buf, lab.now);
    assert_eq!(st, win32::NO_ERROR);
}

#[test]
fn s4_13_enumerating_groups() {
    let (mut lab, [p1, p2, igmp]) = trace_lab::<Ipv4Addr>();
    lab.add(igmp, star(G), 4).unwrap();
    lab.add(p1, sg(S, G), 2).unwrap();
    lab.add(p1, star(G2), 1).unwrap();
    let eh = lab
        .mgm
        .group_enumeration_start(p2, EnumType::AllSources)
        .unwrap();
    let mut buf = [0u8; 64];
    let (mut size, mut n) = (8u32, 0u32);
    let st = lab
        .mgm
        .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n);
    assert_eq!((st, n, size), (win32::ERROR_INSUFFICIENT_BUFFER, 0, 16));
    let mut got = Vec::new();
    loop {
        let st = lab
            .mgm
            .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n);
        assert_eq!(size, 16, "size changes only on INSUFFICIENT_BUFFER");
        got.push(n);
        if st == win32::ERROR_NO_MORE_ITEMS {
            break;
        }
        assert_eq!((st, n), (win32::ERROR_MORE_DATA, 1));
    }
    assert_eq!(got, [1, 1, 1]);
    let st = lab
        .mgm
        .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n);
    assert_eq!((st, n), (win32::ERROR_NO_MORE_ITEMS, 0));
    lab.mgm.group_enumeration_end(eh).unwrap();
    let st = lab
        .mgm
        .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n);
    assert_eq!(st, win32::ERROR_INVALID_PARAMETER);
    assert_eq!(SOURCE_GROUP_ENTRY_SIZE, 16);
}

fn s7_4_shutdown_releases_then_deregisters<A: Family>() {
    let (mut lab, [p1, p2, igmp]) = trace_lab::<A>();
    lab.add(igmp, star(A::G), 4).unwrap();
    lab.add(p1, star(A::G), 2).unwrap();
    lab.packet(A::S, A::G, 3);
    lab.calls();
    lab.actions();
    assert_eq!(
        lab.mgm.deregister(p1),
        Err(mgm_user::mgm::MgmError::CanNotComplete)
    );
    lab.release(p1, 1).unwrap();
    assert_eq!(lab.calls(), ["IGMP: disable if1", "IGMP: enable if1"]);
    assert!(lab.actions().is_empty(), "no MFE references if1");
    lab.release(p1, 2).unwrap();
    assert_eq!(
        lab.calls(),
        ["IGMP: prune (*,G) if2 member"],
        "W4: IGMP is the one left"
    );
    assert_eq!(lab.actions(), [Action::DeleteMfe { sg: sg(A::S, A::G) }]);
    lab.mgm.deregister(p1).unwrap();
    assert_eq!(
        lab.mgm.take_interface_ownership(p1, ifx(7), lab.now),
        Err(mgm_user::mgm::MgmError::InvalidParameter)
    );
    // IGMP keeps if1 alone.
    assert_eq!(
        lab.mgm.protocol_on_interface(ifx(1)),
        Ok((mgm_user::mgm::MS_IP_IGMP, 1))
    );
    assert_eq!(
        lab.mgm.deregister(p2),
        Err(mgm_user::mgm::MgmError::CanNotComplete)
    );
}

#[test]
fn s7_3_administrative_application_reads_without_a_handle() {
    let (mut lab, [p1, _p2, _igmp]) = trace_lab::<Ipv4Addr>();
    lab.add(p1, star(G), 2).unwrap();
    lab.packet(S, G, 3);
    lab.packet(S2, G, 3);
    let (mut size, mut n) = (0u32, 0u32);
    let mut buf = Vec::new();
    let mut count = 0;
    let mut last: Option<Sg> = None;
    loop {
        let st = match last {
            None => lab
                .mgm
                .get_first_mfe_raw(&mut size, &mut buf, &mut n, lab.now),
            Some(k) => lab
                .mgm
                .get_next_mfe_raw(k, &mut size, &mut buf, &mut n, lab.now),
        };
        if st == win32::ERROR_INSUFFICIENT_BUFFER {
            buf.resize(size as usize, 0);
            continue;
        }
        count += n;
        if n > 0 {
            let group = std::net::Ipv4Addr::new(buf[0], buf[1], buf[2], buf[3]);
            let source = std::net::Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7]);
            last = Some(sg(source, group));
        }
        if st == win32::ERROR_NO_MORE_ITEMS {
            break;
        }
    }
    assert_eq!(count, 2);
}
