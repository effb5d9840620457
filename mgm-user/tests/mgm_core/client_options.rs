//! Per-protocol options and the shutdown helpers the API socket relies on: answer deadlines
//! per protocol, the A-10 opt-in per protocol, the RIB route an RPF answer keeps, and
//! releasing every ownership (interfaces of any state, next-hop pairs) before deregistering
//! (§6.8).
use mgm_user::mgm::{
    Action, Answer, Callback, CallbackSet, ClientOptions, Config, IfId, MemberFlags, MfeKind, Mgm,
    MgmError, ProtocolHandle, QueryId, RpfAnswer, Sg, StaticRib, Timestamp,
};
use std::{net::Ipv4Addr, time::Duration};

const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);

/// A manager whose RIB puts 10/8 behind ifindex 2, with a protocol owning 1 and 2 and a
/// (\*,G) membership on 1.
fn setup(options: ClientOptions) -> (Mgm, ProtocolHandle) {
    let mut rib = StaticRib::new();
    rib.insert(
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        IfId::index(2),
        Ipv4Addr::UNSPECIFIED,
    );
    let mut mgm = Mgm::new(Config::default(), Box::new(rib));
    let h = mgm.register(0x4137_0077, 0, CallbackSet::all()).unwrap();
    mgm.set_client_options(h, options).unwrap();
    let now = Timestamp::from_secs(1);
    for i in [1, 2] {
        mgm.take_interface_ownership(h, IfId::index(i), now)
            .unwrap();
    }
    mgm.add_membership(h, Sg::star_g(G), IfId::index(1), MemberFlags::JOIN, now)
        .unwrap();
    while mgm.poll_action().is_some() {}
    (mgm, h)
}

/// Starts a creation and returns the RPF question's id.
fn rpf_question(mgm: &mut Mgm) -> QueryId {
    mgm.packet_miss(S, G, 2, &[0x45; 20], Timestamp::from_secs(1))
        .unwrap();
    loop {
        match mgm.poll_action() {
            Some(Action::Callback {
                callback: Callback::Rpf(q),
                ..
            }) => return q.query,
            Some(_) => continue,
            None => panic!("no RPF question"),
        }
    }
}

#[test]
fn a_protocols_answer_deadline_replaces_the_default() {
    let options = ClientOptions {
        answer_deadline: Some(Duration::from_secs(5)),
        ..ClientOptions::default()
    };
    let (mut mgm, _) = setup(options);
    rpf_question(&mut mgm);
    let sg = Sg::new(S, G);
    // RPF at 1 s, then the creation alert, each waiting 5 s.
    mgm.tick(Timestamp::from_millis(2_500));
    assert!(mgm.is_resolving(sg), "the default 1 s deadline applied");
    mgm.tick(Timestamp::from_secs(6));
    mgm.tick(Timestamp::from_secs(11));
    assert!(!mgm.is_resolving(sg));

    let (mut mgm, _) = setup(ClientOptions::default());
    rpf_question(&mut mgm);
    mgm.tick(Timestamp::from_millis(2_000));
    mgm.tick(Timestamp::from_millis(3_000));
    assert!(!mgm.is_resolving(sg), "the default deadline is 1 s");
}

#[test]
fn a10_rejection_is_a_per_protocol_opt_in() {
    for (opted, expected) in [(false, MfeKind::Normal), (true, MfeKind::Rejected)] {
        let options = ClientOptions {
            rpf_reject_creates_negative: opted,
            ..ClientOptions::default()
        };
        let (mut mgm, _) = setup(options);
        let query = rpf_question(&mut mgm);
        let route = mgm.open_rpf_route(query).expect("the RIB's route");
        assert_eq!(route.network, Ipv4Addr::new(10, 0, 0, 0));
        let answer = RpfAnswer {
            iif: IfId::index(2),
            upstream: Ipv4Addr::UNSPECIFIED,
            route,
            reject: true,
        };
        let now = Timestamp::from_secs(1);
        mgm.answer(Answer::Rpf { query, answer }, now).unwrap();
        assert_eq!(mgm.open_rpf_route(query), None, "answered");
        mgm.tick(Timestamp::from_secs(3)); // creation alerts take their default
        let mfe = mgm.mfe(Sg::new(S, G)).expect("an entry");
        assert_eq!(mfe.kind(), expected, "opted in: {opted}");
    }
}

#[test]
fn release_all_interfaces_frees_pairs_and_gone_interfaces_so_deregister_succeeds() {
    let (mut mgm, h) = setup(ClientOptions::default());
    let now = Timestamp::from_secs(2);
    let pair = IfId::new(1, Ipv4Addr::new(10, 1, 0, 1));
    let vanished = IfId::index(77);
    for i in [pair, vanished] {
        mgm.take_interface_ownership(h, i, now).unwrap();
    }
    assert_eq!(mgm.deregister(h), Err(MgmError::CanNotComplete));
    assert_eq!(mgm.owned_interfaces(h).len(), 4);
    mgm.release_all_interfaces(h, now).unwrap();
    assert!(mgm.owned_interfaces(h).is_empty());
    assert!(mgm.memberships().is_empty(), "released with its interfaces");
    for i in [IfId::index(1), IfId::index(2), pair, vanished] {
        assert_eq!(mgm.protocol_on_interface(i), Err(MgmError::NotFound));
    }
    mgm.deregister(h).unwrap();
    assert!(mgm.register(0x4137_0077, 0, CallbackSet::all()).is_ok());
}
