//! Decisions on memberships and the MFE calls: duplicate adds, the FORWARD-disabled mark,
//! batch status codes, statistics records, strict Set-MFE (A-25..A-29).
use super::*;

for_both_families!(
    a25_duplicate_add_is_a_silent_no_op,
    a26_forward_disabled_mark_persists_until_an_exact_add,
    a29_set_mfe_strict_mode_limits_it_to_the_iif_owner,
);

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
