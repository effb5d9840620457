//! Decisions on the callbacks and what they report: defaults of missing callbacks, RPF
//! rejections, the B-IGMP mark, the kept next hop of the iif, the effective OIF list (A-09..A-16).
use super::*;

for_both_families!(
    a09_missing_callbacks_take_their_defaults,
    a10_rpf_rejection_is_ignored_unless_opted_in,
    a11_bigmp_marks_igmp_interfaces_and_igmp_only_ones_go_to_igmp,
);

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
