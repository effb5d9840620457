//! Property test: random sequences of ownership, membership, packet and timer operations are
//! run against `Mgm` and against a brute-force reference model of spec §6 (the OIL formula
//! recomputed from scratch, the W/S/M/local alert rules, A-22 deletions, lifetimes). After
//! every step the results, memberships, MFEs and the emitted callbacks must match. The same
//! model runs over IPv4 and IPv6 addresses. Here the operations and their strategies; the model
//! in [`reference`], the implementation side and the property tests in [`run`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use mgm_user::mgm::{
    protocol_id, Action, Address, Callback, CallbackSet, Config, IfEntry, IfId, MemberFlags, Mgm,
    MgmClient, MgmError, ProtocolHandle, Sg, StaticRib, Timestamp, MS_IP_IGMP,
};
use proptest::prelude::*;

use super::support::Family;

/// Client index: 0 = P1, 1 = P2, 2 = IGMP (registration order).
type C = usize;
const IGMP: C = 2;
const CLIENTS: C = 3;
/// A fourth protocol, R, that owns nothing and comes and goes (it only hears W alerts).
const LISTENER: C = 3;

/// RPF: S via if1, S2 via if2, S3 unrouted.
fn rpf_if<A: Family>(s: A) -> Option<u32> {
    if s == A::S {
        Some(1)
    } else if s == A::S2 {
        Some(2)
    } else {
        None
    }
}

#[derive(Clone, Debug)]
enum Op<A: Address> {
    Take(C, u32),
    Release(C, u32),
    Add(C, Sg<A>, u32, MemberFlags),
    Delete(C, Sg<A>, u32, MemberFlags),
    Packet(A, A, u32),
    Advance(u64),
    /// Registers R if absent, else deregisters it.
    ToggleListener,
}

fn key<A: Family>() -> impl Strategy<Value = Sg<A>> {
    prop::sample::select(vec![
        Sg::new(A::S, A::G),
        Sg::new(A::S2, A::G),
        Sg::new(A::S3, A::G),
        Sg::new(A::S, A::G2),
        Sg::new(A::S3, A::G2),
        Sg::star_g(A::G),
        Sg::star_g(A::G2),
        Sg::STAR_STAR,
        Sg::new(A::S, A::UNSPECIFIED),
    ])
}

fn flags() -> impl Strategy<Value = MemberFlags> {
    prop::sample::select(vec![
        MemberFlags::JOIN,
        MemberFlags::JOIN,
        MemberFlags::JOIN,
        MemberFlags::FORWARD,
        MemberFlags::JOIN | MemberFlags::FORWARD,
    ])
}

fn op<A: Family>() -> impl Strategy<Value = Op<A>> {
    let c = 0..CLIENTS;
    let i = 1u32..=4;
    prop_oneof![
        2 => (c.clone(), i.clone()).prop_map(|(c, i)| Op::Take(c, i)),
        1 => (c.clone(), i.clone()).prop_map(|(c, i)| Op::Release(c, i)),
        5 => (c.clone(), key(), i.clone(), flags()).prop_map(|(c, k, i, f)| Op::Add(c, k, i, f)),
        3 => (c, key(), i.clone(), flags()).prop_map(|(c, k, i, f)| Op::Delete(c, k, i, f)),
        2 => (prop::sample::select(vec![A::S, A::S2, A::S3]), prop::sample::select(vec![A::G, A::G2]), i)
            .prop_map(|(s, g, i)| Op::Packet(s, g, i)),
        1 => (0u64..1000).prop_map(Op::Advance),
        1 => Just(Op::ToggleListener),
    ]
}

mod reference;
mod run;

/// Every client vetoes this interface in creation alerts.
const VETOED: u32 = 4;
