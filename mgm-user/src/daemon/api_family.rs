//! How one API connection meets two MGMs: a request's addresses choose the MGM it
//! reaches, and the ids mgmd gives out (questions, enumeration handles) say which MGM they
//! belong to.
//!
//! * Every address of a request is of one family: an IPv6 one (`"ff0e::1"`, `"::"`) reaches the
//!   IPv6 MGM. A request without addresses reaches the MGM its `family` names (default IPv4).
//!   An unspecified next hop (`0.0.0.0`, the default, or `::`) means "none" in both families.
//!   Anything else mixed is `ERROR_INVALID_PARAMETER` saying which addresses disagree.
//! * The two MGMs number their questions and enumeration handles independently; mgmd gives an
//!   IPv6 one to the protocol with [`IPV6_ID`] set, so that an answer or a `get_next` finds its
//!   MGM by the id alone.
use crate::{
    api::proto::{ApiFamily, ApiIfEntry, ApiIfId, ApiRoute, ApiSg, Response},
    mgm::{win32, Address, IfEntry, IfId, RouteInfo, Sg},
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Set in the ids (questions, enumeration handles) of the IPv6 MGM as the API shows them. The
/// MGMs count their ids from 1, so neither reaches this bit, nor the prune-alert ids mgmd
/// numbers from 2^62 itself.
pub const IPV6_ID: u64 = 1 << 61;

/// An address family of the API: the [`Address`] of its MGM, with its name and conversions.
pub trait ApiAddress: Address + Into<IpAddr> {
    /// The family's name in requests.
    const FAMILY: ApiFamily;
    /// `addr` if it is of this family.
    fn from_ip(addr: IpAddr) -> Option<Self>;
}

impl ApiAddress for Ipv4Addr {
    const FAMILY: ApiFamily = ApiFamily::Ipv4;
    fn from_ip(addr: IpAddr) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

impl ApiAddress for Ipv6Addr {
    const FAMILY: ApiFamily = ApiFamily::Ipv6;
    fn from_ip(addr: IpAddr) -> Option<Self> {
        match addr {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// The API id of the MGM id `raw` of `family`.
pub fn api_id(family: ApiFamily, raw: u64) -> u64 {
    match family {
        ApiFamily::Ipv4 => raw,
        ApiFamily::Ipv6 => raw | IPV6_ID,
    }
}

/// The family and MGM id of the API id `id`.
pub fn split_id(id: u64) -> (ApiFamily, u64) {
    if id & IPV6_ID != 0 {
        (ApiFamily::Ipv6, id & !IPV6_ID)
    } else {
        (ApiFamily::Ipv4, id)
    }
}

fn invalid(message: String) -> Response {
    Response::error(win32::ERROR_INVALID_PARAMETER, message)
}

/// The family of a request whose addresses are `addresses` and whose `family` field is
/// `named`: the addresses' one family, else the named one, else IPv4. Mixed families, or
/// addresses of another family than the named one, are 87.
pub fn family_of(addresses: &[IpAddr], named: Option<ApiFamily>) -> Result<ApiFamily, Response> {
    let mut family = named;
    for &a in addresses {
        let of = ApiFamily::of(a);
        match family {
            Some(f) if f != of => {
                return Err(invalid(format!(
                    "mixed address families: {a} is {} but the request is {} (every address of \
                     a request is of one family; it chooses the MGM)",
                    of.name(),
                    f.name()
                )))
            }
            _ => family = Some(of),
        }
    }
    Ok(family.unwrap_or_default())
}

/// `addr` as an address of family `A` (87 if it is of the other).
pub fn addr<A: ApiAddress>(addr: IpAddr) -> Result<A, Response> {
    A::from_ip(addr).ok_or_else(|| {
        invalid(format!(
            "{addr} is not an {} address (every address of a request is of one family)",
            A::FAMILY.name()
        ))
    })
}

/// `sg` in family `A`.
pub fn sg<A: ApiAddress>(sg: ApiSg) -> Result<Sg<A>, Response> {
    Ok(Sg::new(addr(sg.source)?, addr(sg.group)?))
}

/// `ifid` in family `A`: an unspecified next hop of either family is "none".
pub fn ifid<A: ApiAddress>(ifid: ApiIfId) -> Result<IfId<A>, Response> {
    if ifid.next_hop.is_unspecified() {
        return Ok(IfId::index(ifid.ifindex));
    }
    Ok(IfId::new(ifid.ifindex, addr(ifid.next_hop)?))
}

/// `route` in family `A`.
pub fn route<A: ApiAddress>(route: ApiRoute) -> Result<RouteInfo<A>, Response> {
    Ok(RouteInfo {
        protocol: route.protocol,
        network: addr(route.network)?,
        mask: addr(route.mask)?,
    })
}

/// A creation-alert entry in family `A`.
pub fn entry<A: ApiAddress>(e: ApiIfEntry) -> Result<IfEntry<A>, Response> {
    Ok(IfEntry {
        ifid: ifid(e.ifid)?,
        igmp: e.igmp,
        enabled: e.enabled,
    })
}

/// The API form of an interface of either family.
pub fn api_ifid<A: ApiAddress>(ifid: IfId<A>) -> ApiIfId {
    ApiIfId::new(ifid.ifindex, ifid.next_hop)
}

/// The API form of an (S,G) of either family.
pub fn api_sg<A: ApiAddress>(sg: Sg<A>) -> ApiSg {
    ApiSg::new(sg.source, sg.group)
}

/// The API form of a route of either family.
pub fn api_route<A: ApiAddress>(route: RouteInfo<A>) -> ApiRoute {
    ApiRoute {
        protocol: route.protocol,
        network: route.network.into(),
        mask: route.mask.into(),
    }
}

/// The API form of a creation-alert entry of either family.
pub fn api_entry<A: ApiAddress>(e: &IfEntry<A>) -> ApiIfEntry {
    ApiIfEntry {
        ifid: api_ifid(e.ifid),
        igmp: e.igmp,
        enabled: e.enabled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_addresses_choose_the_family_and_may_not_mix() {
        assert_eq!(family_of(&[], None), Ok(ApiFamily::Ipv4));
        assert_eq!(family_of(&[], Some(ApiFamily::Ipv6)), Ok(ApiFamily::Ipv6));
        let v6 = [ip("::"), ip("ff0e::1")];
        assert_eq!(family_of(&v6, None), Ok(ApiFamily::Ipv6));
        let mixed = family_of(&[ip("0.0.0.0"), ip("ff0e::1")], None);
        assert!(
            matches!(&mixed, Err(Response::Error { code: 87, message }) if message.contains("mixed")),
            "{mixed:?}"
        );
        assert!(family_of(&[ip("239.1.1.1")], Some(ApiFamily::Ipv6)).is_err());
    }

    #[test]
    fn an_unspecified_next_hop_is_none_in_both_families() {
        let default = ApiIfId::index(3);
        assert_eq!(ifid::<Ipv6Addr>(default), Ok(IfId::index(3)));
        assert_eq!(
            ifid::<Ipv4Addr>(ApiIfId::new(3, Ipv6Addr::UNSPECIFIED)),
            Ok(IfId::index(3))
        );
        assert!(ifid::<Ipv6Addr>(ApiIfId::new(3, Ipv4Addr::new(10, 0, 0, 1))).is_err());
    }

    #[test]
    fn ipv6_ids_carry_their_family() {
        let id = api_id(ApiFamily::Ipv6, 17);
        assert_eq!(split_id(id), (ApiFamily::Ipv6, 17));
        assert_eq!(split_id(api_id(ApiFamily::Ipv4, 17)), (ApiFamily::Ipv4, 17));
        assert_eq!(split_id(1 << 62), (ApiFamily::Ipv4, 1 << 62));
    }
}
