//! What only the IPv6 manager shows: 128-bit ordering, prefixes and masks, IPv6 next hops and
//! the size of an IPv6 group-enumeration entry. The family-independent rules run for both
//! families through `for_both_families!` in the other files.

use std::net::{Ipv4Addr, Ipv6Addr};

use mgm_user::mgm::{
    protocol_id, Action, Address, EnumType, IfId, MfeKind, Mgm, MgmError, Sg, StaticRib,
};

use super::support::*;

const PIM: u32 = protocol_id(1, 0, 5);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// P owns if1 to if3 and joins (\*,\*) on if2; 2001:db8::/32 is reached through if3.
fn star_star_lab() -> (Lab<Ipv6Addr>, mgm_user::mgm::ProtocolHandle) {
    let mut lab = Lab::<Ipv6Addr>::family();
    let p = lab.register("P", PIM);
    lab.take(p, 1).unwrap();
    lab.take(p, 2).unwrap();
    lab.take(p, 3).unwrap();
    lab.add(p, Sg::STAR_STAR, 2).unwrap();
    lab.calls();
    (lab, p)
}

#[test]
fn mfes_enumerate_by_group_then_source_in_128_bit_order() {
    let (mut lab, _) = star_star_lab();
    // Numeric order, not text order: ff05:: < ff0e::, and ::9 < ::10 < ::a:0.
    let (site, global) = (v6("ff05::1:3"), v6("ff0e::1"));
    let sources = [v6("2001:db8::10"), v6("2001:db8::9"), v6("2001:db8::a:0")];
    for g in [global, site] {
        for s in sources {
            lab.packet(s, g, 3);
        }
    }
    let order: Vec<Sg<Ipv6Addr>> = lab.mgm.mfes().map(|m| m.sg()).collect();
    let mut expected = Vec::new();
    for g in [site, global] {
        for s in ["2001:db8::9", "2001:db8::10", "2001:db8::a:0"] {
            expected.push(Sg::new(v6(s), g));
        }
    }
    assert_eq!(order, expected);
    let after: Vec<_> = lab.mgm.mfes_after(expected[2]).map(|m| m.sg()).collect();
    assert_eq!(after, expected[3..]);
    assert!(lab.mgm.mfes().all(|m| m.oifs().as_slice() == [ifx(2)]));
}

#[test]
fn a_route_change_deletes_the_mfes_under_its_ipv6_prefix_only() {
    let (mut lab, _) = star_star_lab();
    let g = <Ipv6Addr as Family>::G;
    let (inside, outside) = (v6("2001:db8:1::5"), v6("2001:db8:2::5"));
    lab.packet(inside, g, 3);
    lab.packet(outside, g, 3);
    lab.actions();
    lab.calls();
    lab.mgm
        .route_changed(v6("2001:db8:1::"), v6("ffff:ffff:ffff::"));
    lab.run();
    assert_eq!(lab.actions(), [Action::DeleteMfe { sg: sg(inside, g) }]);
    assert!(lab.mgm.mfe(sg(outside, g)).is_some());
    assert!(lab.calls().is_empty(), "no callbacks (A-30)");
}

#[test]
fn a_source_without_an_ipv6_route_gets_a_no_route_negative_entry() {
    let (mut lab, _) = star_star_lab();
    let (s, g) = (v6("2001:db8:ffff::1"), <Ipv6Addr as Family>::G);
    let mut rib = StaticRib::new();
    rib.insert(v6("2001:db8::"), 48, ifx(1), Ipv6Addr::UNSPECIFIED);
    lab.mgm.set_rpf_provider(Box::new(rib));
    lab.packet(s, g, 3);
    let m = lab.mgm.mfe(sg(s, g)).unwrap();
    assert_eq!(
        (m.kind(), m.iif(), m.is_negative()),
        (MfeKind::NoRoute, ifx(3), true)
    );
    assert!(lab.calls().is_empty(), "no callbacks (A-32)");
}

#[test]
fn a_route_through_an_ipv6_neighbour_names_it_upstream_and_in_the_route() {
    let mut rib = StaticRib::new();
    let nbr = v6("fe80::1");
    rib.insert(v6("2001:db8:5::"), 48, ifx(1), nbr);
    let mut lab = Lab::with(mgm_user::mgm::Config::default(), rib);
    let p = lab.register("P", PIM);
    lab.take(p, 1).unwrap();
    lab.take(p, 2).unwrap();
    lab.add(p, star(<Ipv6Addr as Family>::G), 2).unwrap();
    lab.packet(v6("2001:db8:5::7"), <Ipv6Addr as Family>::G, 1);
    let m = lab
        .mgm
        .mfe(sg(v6("2001:db8:5::7"), <Ipv6Addr as Family>::G))
        .unwrap();
    assert_eq!((m.iif(), m.upstream()), (ifx(1), nbr));
    let route = m.route();
    assert_eq!(
        (route.protocol, route.network, route.mask),
        (3, v6("2001:db8:5::"), v6("ffff:ffff:ffff::"))
    );
}

#[test]
fn a_point_to_multipoint_ipv6_neighbour_is_its_own_interface() {
    let (mut lab, p) = star_star_lab();
    let nbr: IfId<Ipv6Addr> = IfId::new(2, v6("fe80::2"));
    lab.mgm
        .take_interface_ownership(p, nbr, lab.now)
        .expect("(if2, fe80::2) is not (if2, ::)");
    lab.mgm
        .add_membership(
            p,
            Sg::STAR_STAR,
            nbr,
            mgm_user::mgm::MemberFlags::JOIN,
            lab.now,
        )
        .unwrap();
    lab.run();
    lab.packet(<Ipv6Addr as Family>::S, <Ipv6Addr as Family>::G, 3);
    let key = sg(<Ipv6Addr as Family>::S, <Ipv6Addr as Family>::G);
    let oifs = lab.mgm.mfe(key).unwrap().oifs().clone();
    assert_eq!(oifs.as_slice(), [ifx(2), nbr]);
    assert_eq!(nbr.to_string(), "if2/fe80::2");
}

#[test]
fn ipv6_keys_validate_masks_and_print_with_wildcards() {
    let host = <Ipv6Addr as Address>::HOST_MASK;
    let any = Ipv6Addr::UNSPECIFIED;
    let (s, g) = (v6("2001:db8::1"), v6("ff3e::8000:1"));
    assert_eq!(Sg::from_masked(s, host, g, host), Ok(Sg::new(s, g)));
    assert_eq!(Sg::from_masked(any, any, g, host), Ok(Sg::star_g(g)));
    let prefix = <Ipv6Addr as Address>::prefix_mask(64);
    assert_eq!(
        Sg::from_masked(s, prefix, g, host),
        Err(MgmError::InvalidParameter)
    );
    assert_eq!(
        Sg::from_masked(s, host, any, any),
        Err(MgmError::InvalidParameter)
    );
    assert_eq!(Sg::new(s, g).to_string(), "(2001:db8::1,ff3e::8000:1)");
    assert_eq!(Sg::star_g(g).to_string(), "(*,ff3e::8000:1)");
    assert_eq!(Sg::<Ipv6Addr>::STAR_STAR.to_string(), "(*,*)");
}

/// A zero-entry batch asks for room for one entry of four addresses: 16 bytes for IPv4 (the
/// `SOURCE_GROUP_ENTRY`), 64 for IPv6.
#[test]
fn an_empty_group_batch_asks_for_one_entry_of_the_family() {
    fn needed<A: Family>() -> MgmError {
        let mut lab = Lab::<A>::family();
        let p = lab.register("P", PIM);
        lab.take(p, 1).unwrap();
        lab.add(p, star(A::G), 1).unwrap();
        let eh = lab
            .mgm
            .group_enumeration_start(p, EnumType::AnySource)
            .unwrap();
        lab.mgm.group_enumeration_next(eh, 0).unwrap_err()
    }
    assert_eq!(
        needed::<Ipv4Addr>(),
        MgmError::InsufficientBuffer { needed: 16 }
    );
    assert_eq!(
        needed::<Ipv6Addr>(),
        MgmError::InsufficientBuffer { needed: 64 }
    );
}

/// The two managers a dual-stack router runs are independent: one family's calls leave the
/// other's state alone.
#[test]
fn the_ipv4_and_ipv6_managers_keep_separate_state() {
    let config = mgm_user::mgm::Config::default();
    let mut v4: Mgm = Mgm::new(config.clone(), Box::new(rib_via(3)));
    let mut v6m: Mgm<Ipv6Addr> = Mgm::new(config, Box::new(Ipv6Addr::rib_via(3)));
    let now = mgm_user::mgm::Timestamp::from_secs(1);
    let all = mgm_user::mgm::CallbackSet::all();
    let p4 = v4.register(PIM, 1, all).unwrap();
    let p6 = v6m.register(PIM, 1, all).unwrap();
    v4.take_interface_ownership(p4, ifx(1), now).unwrap();
    v6m.take_interface_ownership(p6, ifx(1), now).unwrap();
    let g6 = <Ipv6Addr as Family>::G;
    let join = mgm_user::mgm::MemberFlags::JOIN;
    v6m.add_membership(p6, star(g6), ifx(1), join, now).unwrap();
    assert!(v4.memberships().is_empty());
    assert_eq!(v6m.memberships().len(), 1);
    v4.release_interface_ownership(p4, ifx(1), now).unwrap();
    assert_eq!(v6m.protocol_on_interface(ifx(1)), Ok((PIM, 1)));
}

/// The IPv6 buffer records are the IPv4 ones with 16-byte addresses (protocol.md §6): an MFE
/// with one OIF is 132 + 28 bytes, its statistics 136 + 40 (`_EX` 156 + 40), a group entry 64;
/// too small a buffer gets `ERROR_INSUFFICIENT_BUFFER` with the size, `MgmSetMfe` reads the
/// wide upstream field.
#[test]
fn ipv6_buffer_records_hold_16_byte_addresses_at_the_documented_offsets() {
    use mgm_user::mgm::{mfe_record_size, mfe_stats_ex_record_size, mfe_stats_record_size, win32};
    assert_eq!(mfe_record_size::<Ipv6Addr>(1), 160);
    assert_eq!(mfe_stats_record_size::<Ipv6Addr>(1), 176);
    assert_eq!(mfe_stats_ex_record_size::<Ipv6Addr>(1), 196);
    let (mut lab, p) = star_star_lab();
    let (s, g) = (v6("2001:db8::9"), v6("ff0e::1"));
    lab.packet(s, g, 3);
    let field =
        |buf: &[u8], at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&buf[at..at + 16]).unwrap());
    let dword = |buf: &[u8], at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap());
    let mut buf = vec![0u8; 400];
    let mut size = 159;
    assert_eq!(
        lab.mgm.get_mfe_raw(sg(s, g), &mut size, &mut buf, lab.now),
        win32::ERROR_INSUFFICIENT_BUFFER
    );
    assert_eq!(size, 160);
    assert_eq!(
        lab.mgm.get_mfe_raw(sg(s, g), &mut size, &mut buf, lab.now),
        win32::NO_ERROR
    );
    assert_eq!((field(&buf, 0), field(&buf, 16)), (g, s));
    assert_eq!(field(&buf, 32), <Ipv6Addr as Address>::HOST_MASK);
    assert_eq!(dword(&buf, 64), 3, "in ifindex after the four addresses");
    assert_eq!(dword(&buf, 120), 1, "one OIF");
    assert_eq!(dword(&buf, 132), 2, "the OIF's ifindex");
    assert_eq!(field(&buf, 136), Ipv6Addr::UNSPECIFIED, "its next hop");
    let mut n = 0;
    let mut size = 400;
    assert_eq!(
        lab.mgm
            .get_first_mfe_stats_raw(&mut size, &mut buf, &mut n, 2, lab.now),
        win32::ERROR_NO_MORE_ITEMS
    );
    assert_eq!((n, dword(&buf, 116)), (1, 1), "stats: one OIF");
    // MgmSetMfe: the upstream neighbour is the fourth address.
    let mut record = vec![0u8; 160];
    let mut size = 160;
    lab.mgm
        .get_mfe_raw(sg(s, g), &mut size, &mut record, lab.now);
    record[48..64].copy_from_slice(&v6("fe80::7").octets());
    assert_eq!(lab.mgm.set_mfe_raw(p, &record), win32::NO_ERROR);
    assert_eq!(lab.mgm.mfe(sg(s, g)).unwrap().upstream(), v6("fe80::7"));
    assert_eq!(
        lab.mgm.set_mfe_raw(p, &record[..131]),
        win32::ERROR_INVALID_PARAMETER
    );
    // Group entries: source, source mask, group, group mask, 16 bytes each.
    let eh = lab
        .mgm
        .group_enumeration_start(p, EnumType::AllSources)
        .unwrap();
    let mut size = 64;
    assert_eq!(
        lab.mgm
            .group_enumeration_get_next_raw(eh, &mut size, &mut buf, &mut n),
        win32::ERROR_NO_MORE_ITEMS
    );
    assert_eq!(n, 1);
    assert_eq!(
        (field(&buf, 0), field(&buf, 16)),
        (Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED)
    );
}
