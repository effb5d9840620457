//! Every API misuse returns its documented error and changes no state.

use std::net::Ipv4Addr;

use mgm_user::mgm::{
    protocol_id, win32, Action, Answer, Callback, CallbackSet, EnumType, MemberFlags, MgmClient,
    MgmError, ProtocolHandle, PruneReply, Sg, MS_IP_IGMP,
};

use super::support::*;

for_both_families!(
    unknown_handle_is_invalid_parameter_everywhere,
    double_registration_is_rejected,
    ownership_conflicts_are_rejected,
    membership_calls_validate_interface_shape_and_flags,
    interface_index_0_and_0xffffffff_are_invalid_parameters,
);

/// Asserts `f` fails with `want` and leaves the lab's state as it was.
fn rejects<A: Family, T: std::fmt::Debug>(
    lab: &mut Lab<A>,
    want: MgmError,
    f: impl FnOnce(&mut Lab<A>) -> Result<T, MgmError>,
) {
    let before = lab.fingerprint();
    let got = f(lab);
    assert_eq!(got.unwrap_err(), want);
    assert_eq!(lab.fingerprint(), before, "state changed by a failed call");
    lab.run();
    assert!(lab.calls().is_empty() && lab.actions().is_empty());
}

fn populated<A: Family>() -> (Lab<A>, [ProtocolHandle; 3]) {
    let mut lab = Lab::<A>::family();
    let p = lab.register("P", protocol_id(1, 0, 1));
    let q = lab.register("Q", protocol_id(1, 0, 2));
    let igmp = lab.register_igmp();
    lab.take(p, 1).unwrap();
    lab.take(q, 3).unwrap();
    lab.take(igmp, 1).unwrap();
    lab.take(igmp, 4).unwrap();
    lab.add(p, star(A::G), 1).unwrap();
    lab.add(igmp, star(A::G), 4).unwrap();
    lab.packet(A::S, A::G, 3);
    lab.calls();
    lab.actions();
    (lab, [p, q, igmp])
}

fn unknown_handle_is_invalid_parameter_everywhere<A: Family>() {
    let (mut lab, [p, _, _]) = populated::<A>();
    let gone = lab.register("Gone", protocol_id(1, 0, 9));
    lab.mgm.deregister(gone).unwrap();
    let now = lab.now;
    let e = MgmError::InvalidParameter;
    rejects(&mut lab, e, |l| {
        l.mgm.take_interface_ownership(gone, ifx(9), now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm.release_interface_ownership(gone, ifx(1), now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm
            .add_membership(gone, star(A::G), ifx(1), MemberFlags::JOIN, now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm
            .delete_membership(gone, star(A::G), ifx(1), MemberFlags::JOIN, now)
    });
    rejects(&mut lab, e, |l| l.mgm.deregister(gone));
    rejects(&mut lab, e, |l| {
        l.mgm.group_enumeration_start(gone, EnumType::AllSources)
    });
    rejects(&mut lab, e, |l| {
        l.mgm.set_mfe_upstream(gone, sg(A::S, A::G), A::S2)
    });
    assert_eq!(
        e.win32_code(),
        win32::ERROR_INVALID_PARAMETER,
        "A-01: never 6"
    );
    let _ = p;
}

fn double_registration_is_rejected<A: Family>() {
    let (mut lab, _) = populated::<A>();
    rejects(&mut lab, MgmError::AlreadyExists, |l| {
        l.mgm.register(protocol_id(1, 0, 1), 1, CallbackSet::all())
    });
    rejects(&mut lab, MgmError::AlreadyExists, |l| {
        l.mgm.register(MS_IP_IGMP, 1, CallbackSet::all())
    });
    rejects(&mut lab, MgmError::CanNotComplete, |l| {
        l.mgm.register(MS_IP_IGMP, 2, CallbackSet::all())
    });
}

fn ownership_conflicts_are_rejected<A: Family>() {
    let (mut lab, [p, q, igmp]) = populated::<A>();
    let now = lab.now;
    let e = MgmError::AlreadyExists;
    rejects(&mut lab, e, |l| {
        l.mgm.take_interface_ownership(p, ifx(1), now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm.take_interface_ownership(q, ifx(1), now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm.take_interface_ownership(igmp, ifx(4), now)
    });
    let e = MgmError::InvalidParameter;
    rejects(&mut lab, e, |l| {
        l.mgm.release_interface_ownership(p, ifx(30), now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm.release_interface_ownership(q, ifx(1), now)
    });
    rejects(&mut lab, e, |l| {
        l.mgm.release_interface_ownership(igmp, ifx(3), now)
    });
    rejects(&mut lab, MgmError::CanNotComplete, |l| l.mgm.deregister(p));
}

fn membership_calls_validate_interface_shape_and_flags<A: Family>() {
    let (mut lab, [p, q, igmp]) = populated::<A>();
    let now = lab.now;
    let j = MemberFlags::JOIN;
    rejects(&mut lab, MgmError::NotFound, |l| {
        l.mgm.add_membership(p, star(A::G), ifx(30), j, now)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm.add_membership(q, star(A::G), ifx(1), j, now)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm.add_membership(igmp, star(A::G), ifx(3), j, now)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm
            .add_membership(p, Sg::new(A::S, A::UNSPECIFIED), ifx(1), j, now)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm
            .add_membership(p, star(A::G), ifx(1), MemberFlags::empty(), now)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |_| {
        Sg::from_masked(A::S, A::prefix_mask(16), A::G, A::HOST_MASK)
    });
    rejects(&mut lab, MgmError::NotFound, |l| {
        l.mgm.delete_membership(p, star(A::G2), ifx(1), j, now)
    });
    rejects(&mut lab, MgmError::NotFound, |l| {
        l.mgm
            .delete_membership(p, sg(A::S, A::G), ifx(1), j | MemberFlags::FORWARD, now)
    });
}

#[test]
fn enumeration_handle_reuse_after_end_is_invalid() {
    let (mut lab, [p, _, _]) = populated::<Ipv4Addr>();
    let eh = lab
        .mgm
        .group_enumeration_start(p, EnumType::AnySource)
        .unwrap();
    lab.mgm.group_enumeration_end(eh).unwrap();
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm.group_enumeration_end(eh)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm.group_enumeration_next(eh, 4)
    });
    let (mut size, mut n, mut buf) = (64u32, 0u32, [0u8; 64]);
    let st = lab
        .mgm
        .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n);
    assert_eq!(st, win32::ERROR_INVALID_PARAMETER);
}

#[test]
fn mfe_calls_report_missing_entries_and_bad_flags() {
    let (mut lab, [p, _, _]) = populated::<Ipv4Addr>();
    let now = lab.now;
    rejects(&mut lab, MgmError::NotFound, |l| {
        l.mgm.set_mfe_upstream(p, sg(S2, G), S)
    });
    rejects(&mut lab, MgmError::NotFound, |l| {
        l.mgm.report_stats(sg(S2, G), Default::default(), now)
    });
    rejects(&mut lab, MgmError::InvalidParameter, |l| {
        l.mgm.packet_miss(ANY, G, 3, &[], now)
    });
    let stale = Answer::PruneAlert {
        reply: stale_reply(&mut lab),
        timeout_s: 5,
    };
    rejects(&mut lab, MgmError::NotFound, |l| l.mgm.answer(stale, now));
    rejects(&mut lab, MgmError::NotFound, |l| {
        l.mgm.protocol_on_interface(ifx(30))
    });
    let before = lab.fingerprint();
    let (mut size, mut n, mut buf) = (4096u32, 0u32, vec![0u8; 4096]);
    assert_eq!(
        lab.mgm
            .get_first_mfe_stats_raw(&mut size, &mut buf, &mut n, 3, now),
        win32::ERROR_INVALID_PARAMETER
    );
    assert_eq!(
        lab.mgm.set_mfe_raw(p, &[0u8; 59]),
        win32::ERROR_INVALID_PARAMETER
    );
    assert_eq!(lab.fingerprint(), before);
}

/// A prune reply for an MFE that has since been deleted and re-created.
fn stale_reply(lab: &mut Lab) -> PruneReply {
    struct Nop;
    impl MgmClient for Nop {}
    let mut grab = None;
    lab.mgm.packet_miss(S2, G2, 3, &[], lab.now).unwrap();
    while let Some(a) = lab.mgm.poll_action() {
        if let Action::Callback { callback, .. } = a {
            if let Callback::PruneAlert { reply: Some(r), .. } = &callback {
                grab = Some(*r);
            }
            if let Some(answer) = callback.deliver(&mut Nop) {
                lab.mgm.answer(answer, lab.now).unwrap();
            }
        }
    }
    lab.mgm.route_changed(S2, Ipv4Addr::BROADCAST);
    lab.packet(S2, G2, 3);
    lab.calls();
    lab.actions();
    grab.expect("a prune reply")
}

fn interface_index_0_and_0xffffffff_are_invalid_parameters<A: Family>() {
    let (mut lab, [p, _, igmp]) = populated::<A>();
    let now = lab.now;
    let e = MgmError::InvalidParameter;
    for bad in [0, u32::MAX] {
        for h in [p, igmp] {
            rejects(&mut lab, e, |l| {
                l.mgm.take_interface_ownership(h, ifx(bad), now)
            });
            rejects(&mut lab, e, |l| {
                l.mgm.release_interface_ownership(h, ifx(bad), now)
            });
            for flags in [MemberFlags::JOIN, MemberFlags::FORWARD] {
                rejects(&mut lab, e, |l| {
                    l.mgm.add_membership(h, star(A::G), ifx(bad), flags, now)
                });
                rejects(&mut lab, e, |l| {
                    l.mgm.delete_membership(h, star(A::G), ifx(bad), flags, now)
                });
            }
        }
    }
    assert_eq!(e.win32_code(), win32::ERROR_INVALID_PARAMETER);
}
