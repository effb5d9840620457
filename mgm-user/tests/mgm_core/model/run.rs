//! The implementation side: runs `Mgm` with every callback delivered, compares it with the
//! reference model after every step, and the property tests over both families.
use super::reference::Model;
use super::*;

/// Normalises a delivered callback to the model's line format.
fn line<A: Address>(to: C, cb: &Callback<A>) -> String {
    let text = match cb {
        Callback::Rpf(q) => format!("rpf {}", q.sg),
        Callback::CreationAlert(q) => {
            let list: Vec<String> = q
                .entries
                .iter()
                .map(|e| format!("if{}{}", e.ifid.ifindex, if e.igmp { "+igmp" } else { "" }))
                .collect();
            format!("creation {} [{}]", q.sg, list.join(" "))
        }
        Callback::PruneAlert {
            sg,
            ifid,
            member_delete,
            ..
        } => format!("prune {sg} if{} {member_delete}", ifid.ifindex),
        Callback::JoinAlert { sg, member_update } => format!("join {sg} {member_update}"),
        Callback::LocalJoin { sg, ifid } => format!("local-join {sg} if{}", ifid.ifindex),
        Callback::LocalLeave { sg, ifid } => format!("local-leave {sg} if{}", ifid.ifindex),
        Callback::DisableIgmp { ifid } => format!("disable if{}", ifid.ifindex),
        Callback::EnableIgmp { ifid } => format!("enable if{}", ifid.ifindex),
        Callback::WrongIf { .. } => "wrong-if".into(),
    };
    format!("{to}: {text}")
}

struct Vetoer;
impl<A: Address> MgmClient<A> for Vetoer {
    fn creation_alert(&mut self, _sg: Sg<A>, _iif: IfId<A>, entries: &mut [IfEntry<A>]) {
        for e in entries.iter_mut().filter(|e| e.ifid.ifindex == VETOED) {
            e.enabled = false;
        }
    }
}

/// Runs the implementation side: delivers every callback (answered by [`Vetoer`]) and logs it.
fn drain<A: Address>(
    mgm: &mut Mgm<A>,
    handles: &[ProtocolHandle],
    listener: Option<ProtocolHandle>,
    now: Timestamp,
) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(a) = mgm.poll_action() {
        if let Action::Callback { to, callback } = a {
            let idx = match handles.iter().position(|h| *h == to) {
                Some(i) => i,
                None if listener == Some(to) => LISTENER,
                None => panic!("callback to an unregistered client"),
            };
            out.push(line(idx, &callback));
            if let Some(answer) = callback.deliver(&mut Vetoer) {
                mgm.answer(answer, now).expect("open question");
            }
        }
    }
    out
}

fn run<A: Family>(ops: Vec<Op<A>>) -> Result<(), TestCaseError> {
    let mut rib = StaticRib::new();
    rib.insert(A::S, A::BITS, IfId::index(1), A::UNSPECIFIED);
    rib.insert(A::S2, A::BITS, IfId::index(2), A::UNSPECIFIED);
    let mut mgm = Mgm::new(Config::default(), Box::new(rib));
    let handles: Vec<ProtocolHandle> = [protocol_id(1, 0, 1), protocol_id(1, 0, 2), MS_IP_IGMP]
        .into_iter()
        .map(|id| mgm.register(id, 1, CallbackSet::all()).expect("register"))
        .collect();
    let mut model = Model::<A>::new();
    let mut listener: Option<ProtocolHandle> = None;
    let base = Timestamp::from_secs(0);
    for (step, op) in ops.into_iter().enumerate() {
        let now = base + Duration::from_millis(model.now_ms);
        let (got, want) = match op.clone() {
            Op::Take(c, i) => (
                mgm.take_interface_ownership(handles[c], IfId::index(i), now),
                model.take(c, i),
            ),
            Op::Release(c, i) => (
                mgm.release_interface_ownership(handles[c], IfId::index(i), now),
                model.release(c, i),
            ),
            Op::Add(c, k, i, f) => (
                mgm.add_membership(handles[c], k, IfId::index(i), f, now),
                model.add(c, k, i, f),
            ),
            Op::Delete(c, k, i, f) => (
                mgm.delete_membership(handles[c], k, IfId::index(i), f, now),
                model.delete(c, k, i, f),
            ),
            Op::Packet(s, g, i) => {
                model.packet(s, g, i);
                (mgm.packet_miss(s, g, i, &[], now), Ok(()))
            }
            Op::Advance(secs) => {
                model.advance(secs);
                mgm.tick(base + Duration::from_millis(model.now_ms));
                (Ok(()), Ok(()))
            }
            Op::ToggleListener => {
                model.listener = !model.listener;
                let got = match listener.take() {
                    Some(h) => mgm.deregister(h),
                    None => mgm
                        .register(protocol_id(1, 0, 9), 1, CallbackSet::all())
                        .map(|h| listener = Some(h)),
                };
                (got, Ok(()))
            }
        };
        let now = base + Duration::from_millis(model.now_ms);
        prop_assert_eq!(got, want, "step {} {:?}", step, op);
        let mut got_events = drain(&mut mgm, &handles, listener, now);
        let mut want_events = std::mem::take(&mut model.events);
        got_events.sort();
        want_events.sort();
        prop_assert_eq!(got_events, want_events, "events at step {} {:?}", step, op);

        let got_members: BTreeSet<(C, Sg<A>, u32)> = mgm
            .memberships()
            .iter()
            .map(|m| {
                let c = handles.iter().position(|h| *h == m.protocol).unwrap_or(99);
                (c, m.sg, m.ifid.ifindex)
            })
            .collect();
        let want_members: BTreeSet<(C, Sg<A>, u32)> = model.members.keys().copied().collect();
        prop_assert_eq!(got_members, want_members, "memberships at step {}", step);

        let got_mfes: BTreeMap<Sg<A>, (u32, BTreeSet<u32>, u64)> = mgm
            .mfes()
            .map(|m| {
                let oifs = m.oifs().iter().map(|i| i.ifindex).collect();
                (m.sg(), (m.iif().ifindex, oifs, m.expires_at().as_millis()))
            })
            .collect();
        let want_mfes: BTreeMap<Sg<A>, (u32, BTreeSet<u32>, u64)> = model
            .mfes
            .iter()
            .map(|(sg, m)| (*sg, (m.iif, model.oifs(*sg, m), m.expires_ms)))
            .collect();
        prop_assert_eq!(got_mfes, want_mfes, "MFEs at step {} {:?}", step, op);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn oil_formula_and_alert_rules_match_the_reference_model(ops in prop::collection::vec(op::<Ipv4Addr>(), 1..80)) {
        run(ops)?;
    }

    #[test]
    fn oil_formula_and_alert_rules_match_the_reference_model_over_ipv6(ops in prop::collection::vec(op::<Ipv6Addr>(), 1..80)) {
        run(ops)?;
    }
}
