//! One test per decision of the register (spec §11) that changes behaviour, plus the
//! out-of-process answer path and re-entrancy (§6.11).

use std::net::Ipv4Addr;
use std::time::Duration;

use mgm_user::mgm::{
    protocol_id, sizeof_mib_mfe, sizeof_mib_mfe_stats, sizeof_mib_mfe_stats_ex, win32, Action,
    Answer, Callback, CallbackSet, Config, EnumType, IfEntry, IfId, IgmpTakeover, MemberFlags,
    MfeCounters, MfeKind, MgmError, ProtocolHandle, StaticRib, Timestamp,
};

use super::support::*;

for_both_families!(
    a09_missing_callbacks_take_their_defaults,
    a10_rpf_rejection_is_ignored_unless_opted_in,
    a11_bigmp_marks_igmp_interfaces_and_igmp_only_ones_go_to_igmp,
    a20_group_enumeration_is_a_deduplicated_snapshot,
    a21_deregistration_kills_enumerations_and_queued_callbacks,
    a24_igmp_inside_the_disable_window_cannot_complete_and_reentry_works,
    a25_duplicate_add_is_a_silent_no_op,
    a26_forward_disabled_mark_persists_until_an_exact_add,
    a29_set_mfe_strict_mode_limits_it_to_the_iif_owner,
    a31_rpf_callback_goes_to_the_rpf_interface_owner,
    a33_creation_alerts_precede_the_install_in_registration_order,
    a35_member_delete_prune_ignores_the_timeout,
    a47_m_alerts_reach_the_client_that_caused_them,
    a48_lifetime_is_absolute_unless_refresh_is_enabled,
    a56_keep_mode_reports_igmp_re_adds_as_local_join_once,
    out_of_process_answers_arrive_late_or_take_defaults_at_the_deadline,
    ownership_change_cancels_a_creation_waiting_for_answers,
);

const P_ID: u32 = protocol_id(1, 0, 1);
const Q_ID: u32 = protocol_id(1, 0, 2);

/// P owns if1, if2, if11; Q owns if3 (RPF toward S) and if13; IGMP co-owns if1, owns if4.
fn lab_with<A: Family>(config: Config) -> (Lab<A>, ProtocolHandle, ProtocolHandle, ProtocolHandle) {
    let mut lab = Lab::with(config, A::rib_via(3));
    let p = lab.register("P", P_ID);
    let q = lab.register("Q", Q_ID);
    let igmp = lab.register_igmp();
    for (h, i) in [
        (p, 1),
        (p, 2),
        (p, 11),
        (q, 3),
        (q, 13),
        (igmp, 1),
        (igmp, 4),
    ] {
        lab.take(h, i).unwrap();
    }
    lab.calls();
    (lab, p, q, igmp)
}

fn std_lab<A: Family>() -> (Lab<A>, ProtocolHandle, ProtocolHandle, ProtocolHandle) {
    lab_with::<A>(Config::default())
}

fn a09_missing_callbacks_take_their_defaults<A: Family>() {
    let mut lab = Lab::<A>::family();
    let p = lab.register_with("P", P_ID, CallbackSet::empty());
    let q = lab.register_with("Q", Q_ID, CallbackSet::JOIN_ALERT);
    lab.take(p, 1).unwrap();
    lab.take(q, 3).unwrap();
    lab.add(p, star(A::G), 1).unwrap();
    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.calls(),
        ["Q: join (*,G) member"],
        "only supplied callbacks are called"
    );
    let m = lab.mgm.mfe(sg(A::S, A::G)).unwrap();
    assert_eq!((m.iif(), m.oifs().as_slice()), (ifx(3), &[ifx(1)][..]));
    lab.delete(p, star(A::G), 1).unwrap();
    assert_eq!(
        lab.mgm.mfe(sg(A::S, A::G)).unwrap().timeout_s(),
        900,
        "prune default"
    );
}

fn a10_rpf_rejection_is_ignored_unless_opted_in<A: Family>() {
    let (mut lab, p, q, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.client(q).rpf_status = 1;
    lab.packet(A::S, A::G, 3);
    assert_eq!(lab.mgm.mfe(sg(A::S, A::G)).unwrap().kind(), MfeKind::Normal);

    let config = Config {
        rpf_reject_creates_negative: true,
        ..Config::default()
    };
    let (mut lab, p, q, _) = lab_with::<A>(config);
    lab.add(p, star(A::G), 1).unwrap();
    lab.client(q).rpf_status = 1;
    lab.calls();
    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.calls(),
        ["Q: rpf (S,G) iif=if3"],
        "no creation or prune alerts"
    );
    let m = lab.mgm.mfe(sg(A::S, A::G)).unwrap();
    assert_eq!((m.kind(), m.is_negative()), (MfeKind::Rejected, true));
}

fn a11_bigmp_marks_igmp_interfaces_and_igmp_only_ones_go_to_igmp<A: Family>() {
    let (mut lab, p, _, igmp) = std_lab::<A>();
    lab.add(p, star(A::G), 2).unwrap();
    lab.add(igmp, star(A::G), 1).unwrap();
    lab.add(igmp, star(A::G), 4).unwrap();
    lab.calls();
    lab.packet(A::S, A::G, 3);
    let calls = lab.calls();
    assert!(calls.contains(&"P: creation (S,G) iif=if3 [if1+igmp if2]".to_string()));
    assert!(calls.contains(&"IGMP: creation (S,G) iif=if3 [if4+igmp]".to_string()));
}

#[test]
fn a12_iif_next_hop_is_kept_internally() {
    let nh = Ipv4Addr::new(10, 3, 0, 1);
    let mut rib = StaticRib::new();
    rib.insert(Ipv4Addr::new(10, 0, 0, 0), 8, IfId::new(3, nh), nh);
    let mut lab = Lab::with(Config::default(), rib);
    let q = lab.register("Q", Q_ID);
    lab.mgm
        .take_interface_ownership(q, IfId::new(3, nh), lab.now)
        .unwrap();
    lab.packet(S, G, 3);
    assert_eq!(lab.mgm.mfe(sg(S, G)).unwrap().iif(), IfId::new(3, nh));
}

#[test]
fn a16_reported_oif_list_is_the_effective_one() {
    let (mut lab, p, _, _) = std_lab::<Ipv4Addr>();
    lab.client(p).veto = vec![ifx(2)];
    lab.add(p, star(G), 1).unwrap();
    lab.add(p, star(G), 2).unwrap();
    lab.packet(S, G, 3);
    let mut buf = vec![0u8; 256];
    let mut size = 256u32;
    assert_eq!(
        lab.mgm.get_mfe_raw(sg(S, G), &mut size, &mut buf, lab.now),
        win32::NO_ERROR
    );
    let num_out = u32::from_ne_bytes(buf[48..52].try_into().unwrap());
    assert_eq!(num_out, 1);
    assert_eq!(u32::from_ne_bytes(buf[60..64].try_into().unwrap()), 1);
}

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

fn a25_duplicate_add_is_a_silent_no_op<A: Family>() {
    let (mut lab, p, _, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.calls();
    lab.add(p, star(A::G), 1).unwrap();
    assert!(lab.calls().is_empty());
    assert_eq!(lab.mgm.memberships().len(), 1);
}

fn a26_forward_disabled_mark_persists_until_an_exact_add<A: Family>() {
    let (mut lab, p, q, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.add(p, star(A::G), 2).unwrap();
    lab.packet(A::S, A::G, 3);
    // FORWARD on a missing MFE and with wildcards: no error, no effect.
    lab.add_flags(p, sg(A::S2, A::G), 1, MemberFlags::FORWARD)
        .unwrap();
    lab.delete_flags(p, star(A::G), 1, MemberFlags::FORWARD)
        .unwrap();
    assert_eq!(lab.oifs(sg(A::S, A::G)), Some(vec![1, 2]));
    // FORWARD delete marks if1; a (*,G) churn does not bring it back.
    lab.delete_flags(p, sg(A::S, A::G), 1, MemberFlags::FORWARD)
        .unwrap();
    assert_eq!(lab.oifs(sg(A::S, A::G)), Some(vec![2]));
    lab.delete(p, star(A::G), 1).unwrap();
    lab.add(p, star(A::G), 1).unwrap();
    assert_eq!(lab.oifs(sg(A::S, A::G)), Some(vec![2]));
    assert!(lab
        .mgm
        .mfe(sg(A::S, A::G))
        .unwrap()
        .forward_disabled()
        .contains(ifx(1)));
    // An exact (S,G) JOIN add clears it.
    lab.add(p, sg(A::S, A::G), 1).unwrap();
    assert_eq!(lab.oifs(sg(A::S, A::G)), Some(vec![1, 2]));
    // FORWARD add clears it too, and never adds the IIF.
    lab.delete_flags(p, sg(A::S, A::G), 2, MemberFlags::FORWARD)
        .unwrap();
    lab.add_flags(p, sg(A::S, A::G), 2, MemberFlags::FORWARD)
        .unwrap();
    lab.add_flags(q, sg(A::S, A::G), 3, MemberFlags::FORWARD)
        .unwrap();
    assert_eq!(lab.oifs(sg(A::S, A::G)), Some(vec![1, 2]));
}

#[test]
fn a27_batch_status_codes() {
    let (mut lab, p, _, _) = std_lab::<Ipv4Addr>();
    let (mut size, mut n) = (0u32, 7u32);
    let st = lab
        .mgm
        .get_first_mfe_raw(&mut size, &mut [], &mut n, lab.now);
    assert_eq!(
        (st, n, size),
        (win32::ERROR_NO_MORE_ITEMS, 0, 0),
        "empty table"
    );
    lab.add(p, star(G), 1).unwrap();
    lab.packet(S, G, 3);
    lab.packet(S2, G, 3);
    let st = lab
        .mgm
        .get_first_mfe_raw(&mut size, &mut [], &mut n, lab.now);
    assert_eq!(
        (st, size),
        (win32::ERROR_INSUFFICIENT_BUFFER, sizeof_mib_mfe(1) as u32)
    );
    // Strictly after a start key that no longer exists.
    lab.mgm.route_changed(S, Ipv4Addr::BROADCAST);
    let mut buf = vec![0u8; 512];
    let mut size = 512;
    let st = lab
        .mgm
        .get_next_mfe_raw(sg(S, G), &mut size, &mut buf, &mut n, lab.now);
    assert_eq!((st, n), (win32::ERROR_NO_MORE_ITEMS, 1));
    assert_eq!(&buf[4..8], &S2.octets());
}

#[test]
fn a28_stats_flags_select_the_record() {
    let (mut lab, p, _, _) = std_lab::<Ipv4Addr>();
    lab.add(p, star(G), 1).unwrap();
    lab.packet(S, G, 3);
    let mut buf = vec![0u8; 512];
    for (flags, want) in [
        (0, sizeof_mib_mfe_stats(1)),
        (1, sizeof_mib_mfe_stats(1)),
        (2, sizeof_mib_mfe_stats_ex(1)),
    ] {
        let mut size = 1u32;
        let st = lab
            .mgm
            .get_mfe_stats_raw(sg(S, G), &mut size, &mut buf, flags, lab.now);
        assert_eq!(
            (st, size as usize),
            (win32::ERROR_INSUFFICIENT_BUFFER, want)
        );
    }
    let mut size = 512u32;
    let st = lab
        .mgm
        .get_mfe_stats_raw(sg(S, G), &mut size, &mut buf, 3, lab.now);
    assert_eq!(st, win32::ERROR_INVALID_PARAMETER);
}

fn a29_set_mfe_strict_mode_limits_it_to_the_iif_owner<A: Family>() {
    let (mut lab, p, q, _) = std_lab::<A>();
    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.mgm.set_mfe_upstream(p, sg(A::S, A::G), A::S2),
        Ok(()),
        "any client by default"
    );
    let config = Config {
        strict_set_mfe: true,
        ..Config::default()
    };
    let (mut lab, p, q2, _) = lab_with::<A>(config);
    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.mgm.set_mfe_upstream(p, sg(A::S, A::G), A::S2),
        Err(MgmError::InvalidParameter)
    );
    assert_eq!(lab.mgm.set_mfe_upstream(q2, sg(A::S, A::G), A::S2), Ok(()));
    let _ = q;
}

#[test]
fn a30_route_change_deletes_dependent_mfes() {
    let (mut lab, _, _, _) = std_lab::<Ipv4Addr>();
    lab.packet(S, G, 3);
    lab.packet(S3, G, 4);
    lab.actions();
    lab.mgm
        .route_changed(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 0, 0, 0));
    lab.run();
    assert_eq!(lab.actions(), [Action::DeleteMfe { sg: sg(S, G) }]);
    assert!(lab.mgm.mfe(sg(S3, G)).is_some());
}

fn a31_rpf_callback_goes_to_the_rpf_interface_owner<A: Family>() {
    let (mut lab, _, _, _) = std_lab::<A>();
    lab.packet(A::S, A::G, 1);
    assert_eq!(
        lab.calls()[0],
        "Q: rpf (S,G) iif=if3",
        "not P, owner of the arrival if1"
    );
    assert_eq!(lab.mgm.mfe(sg(A::S, A::G)).unwrap().iif(), ifx(3));
}

#[test]
fn a32_no_route_makes_a_short_negative_mfe_without_callbacks() {
    let (mut lab, p, _, _) = std_lab::<Ipv4Addr>();
    lab.packet(Ipv4Addr::new(192, 168, 1, 1), G, 1);
    assert!(lab.calls().is_empty());
    let key = sg(Ipv4Addr::new(192, 168, 1, 1), G);
    let m = lab.mgm.mfe(key).unwrap();
    assert_eq!(
        (m.kind(), m.iif(), m.timeout_s()),
        (MfeKind::NoRoute, ifx(1), 60)
    );
    lab.add(p, star(G), 2).unwrap();
    assert_eq!(
        lab.oifs(key),
        Some(vec![]),
        "membership changes leave drop entries alone"
    );
    lab.advance(60);
    assert!(lab.mgm.mfe(key).is_none());
    // An RPF answer naming an interface MGM does not know is treated the same way.
    lab.client(lab.mgm.igmp().unwrap()).rpf_iif = None;
    let q = *lab.clients.keys().nth(1).unwrap();
    lab.client(q).rpf_iif = Some(ifx(29));
    lab.packet(S, G, 3);
    let m = lab.mgm.mfe(sg(S, G)).unwrap();
    assert_eq!((m.kind(), m.iif()), (MfeKind::NoRoute, ifx(3)));
}

fn a33_creation_alerts_precede_the_install_in_registration_order<A: Family>() {
    let (mut lab, p, _, igmp) = std_lab::<A>();
    lab.add(igmp, star(A::G), 4).unwrap();
    lab.add(p, star(A::G), 2).unwrap();
    lab.calls();
    lab.mgm.packet_miss(A::S, A::G, 3, &[], lab.now).unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        for action in lab.poll_all() {
            match action {
                Action::Callback { to, callback } => {
                    order.push(format!("{to:?}"));
                    let client = lab.clients.get_mut(&to).unwrap();
                    if let Some(a) = callback.deliver(client) {
                        lab.mgm.answer(a, lab.now).unwrap();
                    }
                }
                other => order.push(format!("{other:?}")),
            }
        }
    }
    let install = order
        .iter()
        .position(|o| o.starts_with("InstallMfe"))
        .unwrap();
    assert_eq!(install, 3, "{order:?}");
    assert_eq!(order[1], format!("{p:?}"));
    assert_eq!(order[2], format!("{igmp:?}"));
}

fn a35_member_delete_prune_ignores_the_timeout<A: Family>() {
    let (mut lab, p, q, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.add(p, star(A::G), 2).unwrap();
    lab.packet(A::S, A::G, 3);
    lab.client(q).prune_timeout = Some(5);
    lab.delete(p, star(A::G), 1).unwrap();
    assert_eq!(lab.mgm.mfe(sg(A::S, A::G)).unwrap().timeout_s(), 900);
}

#[test]
fn a37_wrong_if_is_rate_limited_and_configurable() {
    let (mut lab, _, _, _) = std_lab::<Ipv4Addr>();
    assert!(lab.mgm.wants_wrong_if_reports());
    lab.packet(S, G, 3);
    lab.calls();
    for secs in [0, 1, 3] {
        lab.now = Timestamp::from_secs(1000 + secs);
        lab.mgm.wrong_interface(S, G, 2, &[], lab.now);
        lab.run();
    }
    assert_eq!(lab.calls(), ["P: wrong-if S G if2", "P: wrong-if S G if2"]);
    let config = Config {
        wrong_if_enabled: false,
        ..Config::default()
    };
    let (mut lab, _, _, _) = lab_with::<Ipv4Addr>(config);
    assert!(!lab.mgm.wants_wrong_if_reports());
    lab.packet(S, G, 3);
    lab.calls();
    lab.mgm.wrong_interface(S, G, 2, &[], lab.now);
    lab.run();
    assert!(lab.calls().is_empty());
}

#[test]
fn a42_same_ifindex_other_next_hop_is_another_interface() {
    let (mut lab, _, q, _) = std_lab::<Ipv4Addr>();
    let p2mp = IfId::new(3, Ipv4Addr::new(10, 3, 0, 7));
    lab.mgm.take_interface_ownership(q, p2mp, lab.now).unwrap();
    lab.mgm
        .add_membership(q, star(G), p2mp, MemberFlags::JOIN, lab.now)
        .unwrap();
    lab.run();
    lab.packet(S, G, 3);
    assert_eq!(lab.mgm.mfe(sg(S, G)).unwrap().oifs().as_slice(), &[p2mp]);
}

fn a47_m_alerts_reach_the_client_that_caused_them<A: Family>() {
    let (mut lab, _, q, _) = std_lab::<A>();
    lab.packet(A::S, A::G, 3);
    lab.calls();
    lab.add(q, sg(A::S, A::G), 13).unwrap();
    assert_eq!(
        lab.calls(),
        ["Q: join (S,G) mfe"],
        "S1 skipped (caller), M1 sent"
    );
}

fn a48_lifetime_is_absolute_unless_refresh_is_enabled<A: Family>() {
    let (mut lab, p, _, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.packet(A::S, A::G, 3);
    let busy = |n| MfeCounters {
        in_pkts: n,
        ..MfeCounters::default()
    };
    lab.advance(600);
    lab.mgm
        .report_stats(sg(A::S, A::G), busy(10), lab.now)
        .unwrap();
    lab.advance(300);
    assert!(
        lab.mgm.mfe(sg(A::S, A::G)).is_none(),
        "900 s from creation despite traffic"
    );

    let config = Config {
        refresh_on_activity: true,
        ..Config::default()
    };
    let (mut lab, p, _, _) = lab_with::<A>(config);
    lab.add(p, star(A::G), 1).unwrap();
    lab.packet(A::S, A::G, 3);
    lab.advance(600);
    lab.mgm
        .report_stats(sg(A::S, A::G), busy(10), lab.now)
        .unwrap();
    lab.advance(300);
    assert!(lab.mgm.mfe(sg(A::S, A::G)).is_some(), "refreshed at 600 s");
    assert_eq!(
        lab.mgm.next_timeout(),
        Some(lab.now + Duration::from_secs(600))
    );
}

fn a56_keep_mode_reports_igmp_re_adds_as_local_join_once<A: Family>() {
    let mut lab = Lab::<A>::family();
    let igmp = lab.register_igmp();
    let p = lab.register("P", P_ID);
    let q = lab.register("Q", Q_ID);
    lab.take(igmp, 1).unwrap();
    lab.add(igmp, star(A::G), 1).unwrap();
    lab.calls();
    lab.take(p, 1).unwrap();
    assert_eq!(lab.calls(), ["IGMP: disable if1", "IGMP: enable if1"]);
    assert!(lab.mgm.has_membership(igmp, star(A::G), ifx(1)), "kept");
    lab.add(igmp, star(A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["P: local-join (*,G) if1"]);
    lab.add(igmp, star(A::G), 1).unwrap();
    assert!(lab.calls().is_empty());
    // Release: IGMP stays; its re-adds are silent (no routing owner to tell).
    lab.release(p, 1).unwrap();
    assert_eq!(lab.calls(), ["IGMP: disable if1", "IGMP: enable if1"]);
    lab.add(igmp, star(A::G), 1).unwrap();
    assert!(lab.calls().is_empty());
    // The same owner taking it again has to hear of the membership again.
    lab.take(p, 1).unwrap();
    lab.calls();
    lab.add(igmp, star(A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["P: local-join (*,G) if1"]);
    let _ = q;
}

#[test]
fn a56_literal_mode_removes_igmp_memberships_on_takeover() {
    let config = Config {
        igmp_takeover: IgmpTakeover::Literal,
        ..Config::default()
    };
    let mut lab = Lab::with(config, rib_via(3));
    let igmp = lab.register_igmp();
    let p = lab.register("P", P_ID);
    lab.take(igmp, 1).unwrap();
    lab.add(igmp, star(G), 1).unwrap();
    lab.calls();
    lab.take(p, 1).unwrap();
    assert_eq!(
        lab.calls(),
        [
            "IGMP: disable if1",
            "P: prune (*,G) if1 member",
            "IGMP: enable if1"
        ]
    );
    assert!(!lab.mgm.has_membership(igmp, star(G), ifx(1)));
    lab.add(igmp, star(G), 1).unwrap();
    assert_eq!(
        lab.calls(),
        ["P: join (*,G) member", "P: local-join (*,G) if1"]
    );
}

#[test]
fn a19_igmp_is_recognised_by_the_configured_protocol_id() {
    let config = Config {
        igmp_protocol_id: 77,
        ..Config::default()
    };
    let mut lab = Lab::with(config, rib_via(3));
    let h = lab.register("MyIgmp", 77);
    assert_eq!(lab.mgm.igmp(), Some(h));
    assert_eq!(
        lab.mgm.register(77, 2, CallbackSet::all()),
        Err(MgmError::CanNotComplete)
    );
}

fn out_of_process_answers_arrive_late_or_take_defaults_at_the_deadline<A: Family>() {
    let (mut lab, p, _, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.add(p, star(A::G), 2).unwrap();
    lab.mgm
        .packet_miss(A::S, A::G, 3, A::HEADER, lab.now)
        .unwrap();
    let rpf = match lab.poll_all().as_slice() {
        [Action::Callback {
            callback: Callback::Rpf(q),
            ..
        }] => q.clone(),
        other => panic!("{other:?}"),
    };
    assert!(lab.mgm.is_resolving(sg(A::S, A::G)));
    assert_eq!(
        lab.mgm.next_timeout(),
        Some(lab.now + Duration::from_secs(1))
    );
    // No RPF answer: the deadline applies the RIB's values and asks the creation alert.
    lab.now = lab.now + Duration::from_secs(1);
    lab.mgm.tick(lab.now);
    let creation = match lab.poll_all().as_slice() {
        [Action::Callback {
            callback: Callback::CreationAlert(q),
            ..
        }] => q.clone(),
        other => panic!("{other:?}"),
    };
    let late = Answer::Rpf {
        query: rpf.query,
        answer: rpf.proposal,
    };
    assert_eq!(lab.mgm.answer(late, lab.now), Err(MgmError::NotFound));
    // The creation answer arrives later, vetoing if2.
    let entries: Vec<IfEntry<A>> = creation
        .entries
        .iter()
        .map(|e| IfEntry {
            enabled: e.ifid != ifx(2),
            ..*e
        })
        .collect();
    let answer = Answer::CreationAlert {
        query: creation.query,
        entries,
    };
    lab.mgm.answer(answer, lab.now).unwrap();
    assert_eq!(
        lab.poll_all(),
        [Action::InstallMfe {
            sg: sg(A::S, A::G),
            iif: ifx(3),
            oifs: [ifx(1)].into_iter().collect(),
        }]
    );
}

fn ownership_change_cancels_a_creation_waiting_for_answers<A: Family>() {
    let (mut lab, p, q, _) = std_lab::<A>();
    lab.add(p, star(A::G), 1).unwrap();
    lab.mgm.packet_miss(A::S, A::G, 3, &[], lab.now).unwrap();
    let questions = lab.poll_all();
    lab.mgm
        .release_interface_ownership(q, ifx(3), lab.now)
        .unwrap();
    assert_eq!(
        lab.poll_all(),
        [Action::CreationCancelled { sg: sg(A::S, A::G) }]
    );
    for a in questions {
        if let Action::Callback { callback, .. } = a {
            let answer = callback.deliver(lab.clients.get_mut(&q).unwrap()).unwrap();
            assert_eq!(lab.mgm.answer(answer, lab.now), Err(MgmError::NotFound));
        }
    }
    assert!(!lab.mgm.is_resolving(sg(A::S, A::G)));
}

#[test]
fn s6_5_shutdown_deletes_every_mfe_without_callbacks() {
    let (mut lab, p, _, _) = std_lab::<Ipv4Addr>();
    lab.add(p, star(G), 1).unwrap();
    lab.packet(S, G, 3);
    lab.packet(Ipv4Addr::new(192, 168, 1, 1), G, 2);
    lab.mgm.packet_miss(S2, G, 3, &[], lab.now).unwrap();
    lab.poll_all();
    lab.calls();
    lab.actions();
    lab.mgm.shutdown();
    assert_eq!(
        lab.poll_all(),
        [
            Action::DeleteMfe { sg: sg(S, G) },
            Action::DeleteMfe {
                sg: sg(Ipv4Addr::new(192, 168, 1, 1), G)
            },
            Action::CreationCancelled { sg: sg(S2, G) },
        ]
    );
    assert_eq!(lab.mgm.mfe_count(), 0);
    assert!(lab.mgm.has_membership(p, star(G), ifx(1)));
}
