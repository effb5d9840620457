//! Decisions on group enumerations, deregistration and ownership changes, and IGMP inside
//! the disable window (A-20..A-24).
use super::*;

for_both_families!(
    a20_group_enumeration_is_a_deduplicated_snapshot,
    a21_deregistration_kills_enumerations_and_queued_callbacks,
    a24_igmp_inside_the_disable_window_cannot_complete_and_reentry_works,
);

fn a20_group_enumeration_is_a_deduplicated_snapshot<A: Family>() {
    let (mut lab, p, q, igmp) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.add(igmp, star(A::G), 1).unwrap();
    lab.add(igmp, star(A::G), 4).unwrap();
    lab.add(p, sg(A::S, A::G), 2).unwrap();
    let any = lab
        .mgm
        .group_enumeration_start(q, EnumType::AnySource)
        .unwrap();
    let all = lab
        .mgm
        .group_enumeration_start(q, EnumType::AllSources)
        .unwrap();
    lab.add(p, star(A::G2), 2).unwrap();
    assert_eq!(
        lab.mgm.group_enumeration_next(any, 9).unwrap().entries,
        [star(A::G)]
    );
    assert_eq!(
        lab.mgm.group_enumeration_next(all, 9).unwrap().entries,
        [star(A::G), sg(A::S, A::G)]
    );
}

fn a21_deregistration_kills_enumerations_and_queued_callbacks<A: Family>() {
    let (mut lab, p, _, _) = std_lab::<A>();
    let r = lab.register("R", protocol_id(1, 0, 7));
    let eh = lab
        .mgm
        .group_enumeration_start(r, EnumType::AllSources)
        .unwrap();
    lab.mgm
        .add_membership(p, star(A::G), ifx(1), MemberFlags::JOIN, lab.now)
        .unwrap();
    lab.mgm.deregister(r).unwrap();
    lab.run();
    let calls = lab.calls();
    assert!(calls.iter().all(|c| !c.starts_with("R:")), "{calls:?}");
    assert_eq!(
        lab.mgm.group_enumeration_next(eh, 1),
        Err(MgmError::InvalidParameter)
    );
}

#[test]
fn a22_any_ownership_change_deletes_referencing_mfes_silently() {
    let (mut lab, p, q, igmp) = std_lab::<Ipv4Addr>();
    lab.add(p, star(G), 2).unwrap();
    lab.add(q, star(G), 13).unwrap();
    lab.packet(S, G, 3);
    lab.packet(S2, G, 3);
    lab.calls();
    lab.actions();
    // IGMP co-owning an OIF interface of P deletes both MFEs, with no callbacks.
    lab.take(igmp, 2).unwrap();
    assert!(lab.calls().is_empty());
    assert_eq!(
        lab.actions(),
        [
            Action::DeleteMfe { sg: sg(S, G) },
            Action::DeleteMfe { sg: sg(S2, G) }
        ]
    );
    // Re-created under the new ownership; bIGMP now set on if2.
    lab.packet(S, G, 3);
    assert!(lab
        .calls()
        .contains(&"P: creation (S,G) iif=if3 [if2+igmp]".to_string()));
    // A fresh take of an interface only a no-route MFE referenced deletes that entry.
    let far = sg(Ipv4Addr::new(192, 168, 1, 1), G);
    lab.packet(far.source, G, 9);
    assert_eq!(lab.mgm.mfe(far).unwrap().kind(), MfeKind::NoRoute);
    lab.take(q, 9).unwrap();
    assert!(lab.mgm.mfe(far).is_none());
}

#[test]
fn a23_co_owned_interface_reports_the_routing_protocol() {
    let (lab, _, _, _) = std_lab::<Ipv4Addr>();
    assert_eq!(lab.mgm.protocol_on_interface(ifx(1)), Ok((P_ID, 1)));
    assert_eq!(
        lab.mgm.protocol_on_interface(ifx(4)),
        Ok((mgm_user::mgm::MS_IP_IGMP, 1))
    );
}

fn a24_igmp_inside_the_disable_window_cannot_complete_and_reentry_works<A: Family>() {
    let mut lab = Lab::<A>::family();
    let igmp = lab.register_igmp();
    let p = lab.register("P", P_ID);
    lab.take(igmp, 1).unwrap();
    lab.mgm
        .take_interface_ownership(p, ifx(1), lab.now)
        .unwrap();
    let now = lab.now;
    let mut results = Vec::new();
    while let Some(action) = lab.mgm.poll_action() {
        // A handler calling back into the manager (§6.11): state is committed, no deadlock.
        let r = lab
            .mgm
            .add_membership(igmp, star(A::G), ifx(1), MemberFlags::JOIN, now);
        let done = r.is_ok();
        results.push((format!("{action:?}").contains("Disable"), r));
        if done {
            break;
        }
    }
    assert_eq!(
        results[0],
        (true, Err(MgmError::CanNotComplete)),
        "inside the window"
    );
    assert_eq!(results[1].1, Ok(()), "after Enable-IGMP was polled");
    lab.run();
    assert_eq!(
        lab.calls(),
        ["P: join (*,G) member", "P: local-join (*,G) if1"]
    );
}
