//! The out-of-process answer path and its deadlines, a creation cancelled by an ownership
//! change, and the shutdown that deletes every MFE without callbacks (§6.5, §6.11).
use super::*;

for_both_families!(
    out_of_process_answers_arrive_late_or_take_defaults_at_the_deadline,
    ownership_change_cancels_a_creation_waiting_for_answers,
);

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
