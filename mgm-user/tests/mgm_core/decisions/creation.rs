//! Decisions on the creation of MFEs: route changes, the RPF callback, negative MFEs without
//! a route, creation alerts, prunes, wrong-interface rate limits, next hops, M alerts and lifetimes
//! (A-30..A-48).
use super::*;

for_both_families!(
    a31_rpf_callback_goes_to_the_rpf_interface_owner,
    a33_creation_alerts_precede_the_install_in_registration_order,
    a35_member_delete_prune_ignores_the_timeout,
    a47_m_alerts_reach_the_client_that_caused_them,
    a48_lifetime_is_absolute_unless_refresh_is_enabled,
);

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
