//! One test per alert rule of spec §6.3 (W1–W6, S1–S2, A1, M1–M3), through the public API.

use mgm_user::mgm::{protocol_id, MemberFlags, ProtocolHandle, Sg};

use super::support::*;

for_both_families!(
    w1_first_wildcard_join_alerts_all_other_clients,
    w2_second_wildcard_join_alerts_only_the_first,
    w3_third_or_repeated_wildcard_join_alerts_nobody,
    w4_last_wildcard_leave_with_one_left_alerts_it,
    w5_last_wildcard_leave_router_wide_alerts_all_other_clients,
    w6_non_last_leave_or_two_remaining_alerts_nobody,
    a1_star_star_follows_the_w_rules,
    s1_first_source_join_alerts_the_rpf_owner,
    s2_last_source_leave_alerts_the_rpf_owner,
    m1_oif_list_becoming_non_empty_alerts_the_iif_owner,
    m2_oif_list_becoming_empty_alerts_the_iif_owner_and_sets_the_lifetime,
    m3_mfe_created_empty_alerts_the_iif_owner,
);

/// Three protocols X, Y, Z owning if1, if2, if3 (the RPF interface toward S is if3).
fn xyz<A: Family>() -> (Lab<A>, ProtocolHandle, ProtocolHandle, ProtocolHandle) {
    let mut lab = Lab::<A>::family();
    let x = lab.register("X", protocol_id(1, 0, 1));
    let y = lab.register("Y", protocol_id(1, 0, 2));
    let z = lab.register("Z", protocol_id(1, 0, 3));
    for (h, i) in [(x, 1), (y, 2), (z, 3)] {
        lab.take(h, i).unwrap();
    }
    lab.take(x, 11).unwrap();
    lab.take(y, 12).unwrap();
    (lab, x, y, z)
}

fn w1_first_wildcard_join_alerts_all_other_clients<A: Family>() {
    let (mut lab, x, _, _) = xyz::<A>();
    lab.add(x, star(A::G), 1).unwrap();
    assert_eq!(
        lab.calls(),
        ["Y: join (*,G) member", "Z: join (*,G) member"]
    );
}

fn w2_second_wildcard_join_alerts_only_the_first<A: Family>() {
    let (mut lab, x, y, _) = xyz::<A>();
    lab.add(y, star(A::G), 2).unwrap();
    lab.calls();
    lab.add(x, star(A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["Y: join (*,G) member"]);
}

fn w3_third_or_repeated_wildcard_join_alerts_nobody<A: Family>() {
    let (mut lab, x, y, z) = xyz::<A>();
    lab.add(y, star(A::G), 2).unwrap();
    lab.add(z, star(A::G), 3).unwrap();
    lab.calls();
    lab.add(x, star(A::G), 1).unwrap();
    assert!(lab.calls().is_empty(), "two already present");
    lab.add(x, star(A::G), 11).unwrap();
    assert!(lab.calls().is_empty(), "X already present");
}

fn w4_last_wildcard_leave_with_one_left_alerts_it<A: Family>() {
    let (mut lab, x, y, _) = xyz::<A>();
    lab.add(x, star(A::G), 1).unwrap();
    lab.add(y, star(A::G), 2).unwrap();
    lab.calls();
    lab.delete(x, star(A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["Y: prune (*,G) if1 member"]);
}

fn w5_last_wildcard_leave_router_wide_alerts_all_other_clients<A: Family>() {
    let (mut lab, x, _, _) = xyz::<A>();
    lab.add(x, star(A::G), 1).unwrap();
    lab.calls();
    lab.delete(x, star(A::G), 1).unwrap();
    assert_eq!(
        lab.calls(),
        ["Y: prune (*,G) if1 member", "Z: prune (*,G) if1 member"]
    );
}

fn w6_non_last_leave_or_two_remaining_alerts_nobody<A: Family>() {
    let (mut lab, x, y, z) = xyz::<A>();
    lab.add(x, star(A::G), 1).unwrap();
    lab.add(x, star(A::G), 11).unwrap();
    lab.add(y, star(A::G), 2).unwrap();
    lab.add(z, star(A::G), 3).unwrap();
    lab.calls();
    lab.delete(x, star(A::G), 1).unwrap();
    assert!(lab.calls().is_empty(), "not X's last");
    lab.delete(x, star(A::G), 11).unwrap();
    assert!(lab.calls().is_empty(), "Y and Z remain");
}

fn a1_star_star_follows_the_w_rules<A: Family>() {
    let (mut lab, x, y, _) = xyz::<A>();
    lab.add(x, Sg::STAR_STAR, 1).unwrap();
    assert_eq!(
        lab.calls(),
        ["Y: join (*,*) member", "Z: join (*,*) member"]
    );
    lab.add(y, Sg::STAR_STAR, 2).unwrap();
    assert_eq!(lab.calls(), ["X: join (*,*) member"]);
    lab.delete(y, Sg::STAR_STAR, 2).unwrap();
    assert_eq!(lab.calls(), ["X: prune (*,*) if2 member"]);
}

fn s1_first_source_join_alerts_the_rpf_owner<A: Family>() {
    let (mut lab, x, y, z) = xyz::<A>();
    lab.add(x, sg(A::S, A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["Z: join (S,G) member"]);
    lab.add(y, sg(A::S, A::G), 2).unwrap();
    assert!(lab.calls().is_empty(), "not the first");
    lab.add(z, sg(A::S2, A::G), 3).unwrap();
    assert!(lab.calls().is_empty(), "the RPF owner itself joined (A-44)");
}

fn s2_last_source_leave_alerts_the_rpf_owner<A: Family>() {
    let (mut lab, x, y, _) = xyz::<A>();
    lab.add(x, sg(A::S, A::G), 1).unwrap();
    lab.add(y, sg(A::S, A::G), 2).unwrap();
    lab.calls();
    lab.delete(x, sg(A::S, A::G), 1).unwrap();
    assert!(lab.calls().is_empty(), "not the last");
    lab.delete(y, sg(A::S, A::G), 2).unwrap();
    assert_eq!(lab.calls(), ["Z: prune (S,G) if2 member"]);
}

fn m1_oif_list_becoming_non_empty_alerts_the_iif_owner<A: Family>() {
    let (mut lab, x, _, _) = xyz::<A>();
    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.calls(),
        ["Z: rpf (S,G) iif=if3", "Z: prune (S,G) if3 mfe timeout=900"]
    );
    lab.add(x, sg(A::S, A::G), 1).unwrap();
    assert_eq!(lab.calls(), ["Z: join (S,G) member", "Z: join (S,G) mfe"]);
    lab.add_flags(x, sg(A::S, A::G), 11, MemberFlags::FORWARD)
        .unwrap();
    assert!(lab.calls().is_empty(), "already non-empty");
    assert_eq!(lab.oifs(sg(A::S, A::G)), Some(vec![1, 11]));
}

fn m2_oif_list_becoming_empty_alerts_the_iif_owner_and_sets_the_lifetime<A: Family>() {
    let (mut lab, x, _, z) = xyz::<A>();
    lab.add(x, star(A::G), 1).unwrap();
    lab.packet(A::S, A::G, 3);
    lab.calls();
    lab.client(z).prune_timeout = Some(30);
    lab.delete(x, star(A::G), 1).unwrap();
    assert_eq!(
        lab.calls(),
        [
            "Y: prune (*,G) if1 member",
            "Z: prune (*,G) if1 member",
            "Z: prune (S,G) if3 mfe timeout=900",
        ]
    );
    assert_eq!(lab.mgm.mfe(sg(A::S, A::G)).map(|m| m.timeout_s()), Some(30));
    lab.advance(29);
    assert!(lab.mgm.mfe(sg(A::S, A::G)).is_some());
    lab.advance(1);
    assert!(
        lab.mgm.mfe(sg(A::S, A::G)).is_none(),
        "deleted when the returned lifetime ends"
    );
    assert!(lab.calls().is_empty(), "MFE deletion sends no callbacks");
}

fn m3_mfe_created_empty_alerts_the_iif_owner<A: Family>() {
    let (mut lab, x, _, z) = xyz::<A>();
    lab.client(x).veto = vec![ifx(1)];
    lab.client(z).prune_timeout = Some(45);
    lab.add(x, star(A::G), 1).unwrap();
    lab.calls();
    lab.packet(A::S, A::G, 3);
    assert_eq!(
        lab.calls(),
        [
            "Z: rpf (S,G) iif=if3",
            "X: creation (S,G) iif=if3 [if1]",
            "Z: prune (S,G) if3 mfe timeout=900",
        ]
    );
    let m = lab.mgm.mfe(sg(A::S, A::G)).unwrap();
    assert!(m.is_negative());
    assert_eq!(m.timeout_s(), 45);
    assert!(m.forward_disabled().contains(ifx(1)));
}
