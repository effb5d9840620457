//! The documented deviation `Config::rpf_ask_arrival_owner`: a source the RIB has no route to
//! is offered to the owner of the arrival interface through its RPF callback.

use std::net::Ipv4Addr;

use mgm_user::mgm::{protocol_id, Answer, Callback, CallbackSet, Config, MfeKind, Sg};

use super::support::*;

const FAR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const FAR2: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

fn std_lab(ask_arrival_owner: bool) -> (Lab, mgm_user::mgm::ProtocolHandle) {
    let mut lab = Lab::with(
        Config {
            rpf_ask_arrival_owner: ask_arrival_owner,
            ..Config::default()
        },
        rib_via(3),
    );
    let p = lab.register("P", protocol_id(1, 0, 1));
    for i in [1, 2, 3] {
        lab.take(p, i).unwrap();
    }
    lab.add(p, star(G), 2).unwrap();
    lab.calls();
    (lab, p)
}

#[test]
fn a_no_route_source_is_offered_to_the_arrival_owner_who_may_claim_it() {
    let (mut lab, p) = std_lab(true);
    lab.packet(FAR, G, 1);
    assert_eq!(
        lab.calls(),
        [
            "P: rpf (192.168.1.1,G) iif=if1",
            "P: creation (192.168.1.1,G) iif=if1 [if2]"
        ]
    );
    let m = lab.mgm.mfe(sg(FAR, G)).unwrap();
    assert_eq!((m.kind(), m.iif()), (MfeKind::Normal, ifx(1)));
    assert_eq!(lab.oifs(sg(FAR, G)), Some(vec![2]));

    // A rejecting answer keeps the no-route negative entry on the arrival interface.
    lab.client(p).rpf_status = 1;
    lab.packet(FAR2, G, 1);
    let m = lab.mgm.mfe(sg(FAR2, G)).unwrap();
    assert_eq!(
        (m.kind(), m.iif(), m.timeout_s()),
        (MfeKind::NoRoute, ifx(1), 60)
    );
}

#[test]
fn an_unanswered_or_unsupported_offer_and_the_default_make_the_negative_entry() {
    // Off (the spec's default): no callback, negative at once.
    let (mut lab, _) = std_lab(false);
    lab.packet(FAR, G, 1);
    assert!(lab.calls().is_empty());
    assert_eq!(lab.mgm.mfe(sg(FAR, G)).unwrap().kind(), MfeKind::NoRoute);

    // An owner without an RPF callback cannot claim.
    let mut lab = Lab::with(
        Config {
            rpf_ask_arrival_owner: true,
            ..Config::default()
        },
        rib_via(3),
    );
    let q = lab.register_with("Q", protocol_id(1, 0, 2), CallbackSet::CREATION_ALERT);
    lab.take(q, 1).unwrap();
    lab.take(q, 2).unwrap();
    lab.add(q, star(G), 2).unwrap();
    lab.packet(FAR, G, 1);
    assert!(lab.calls().is_empty());
    assert_eq!(lab.mgm.mfe(sg(FAR, G)).unwrap().kind(), MfeKind::NoRoute);

    // An out-of-process owner that never answers: the deadline applies the proposal, which
    // rejects.
    let (mut lab, _) = std_lab(true);
    let now = lab.now;
    lab.mgm.packet_miss(FAR, G, 1, &[], now).unwrap();
    let question = lab.poll_all().into_iter().find_map(|a| match a {
        mgm_user::mgm::Action::Callback {
            callback: Callback::Rpf(q),
            ..
        } => Some(q),
        _ => None,
    });
    let question = question.expect("an RPF question");
    assert!(question.proposal.reject && question.proposal.iif == ifx(1));
    assert!(lab.mgm.is_resolving(Sg::new(FAR, G)));
    lab.advance(2);
    assert_eq!(lab.mgm.mfe(sg(FAR, G)).unwrap().kind(), MfeKind::NoRoute);
    // Answering it late changes nothing.
    let late = Answer::Rpf {
        query: question.query,
        answer: question.proposal,
    };
    assert!(lab.mgm.answer(late, lab.now).is_err());
}
