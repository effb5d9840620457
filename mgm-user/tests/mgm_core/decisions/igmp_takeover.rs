//! Decisions on IGMP's recognition and on interfaces taken over from it.
use super::*;

for_both_families!(a56_keep_mode_reports_igmp_re_adds_as_local_join_once,);

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
