//! Interface ownership of external protocols across the two MGMs: an interface belongs
//! to the same protocol in both, so a protocol that takes an interface forwards both families
//! there and hears both MGMs' callbacks about it.
//!
//! * `take_interface` of an interface without next hop takes it in both MGMs, or in neither:
//!   another routing protocol's ownership in either is refused (183) before anything changes,
//!   and so is a second take by its owner (183, saying so).
//! * `release_interface` releases it in every MGM where the caller owns it (87 if in none).
//! * An (ifindex, next hop) pair belongs to the next hop's family: it is taken and released
//!   in that MGM only. An interface of a built-in protocol of the configuration (`static`,
//!   `proxy`, `kernel`) is theirs with every next hop: a take of a pair on it is refused (183,
//!   A-58), and so is any take of it while it is out of service (down, without carrier).
//! * An interface the configuration does not have (`lo`, a link mgmd was not given) is
//!   nobody's to take: refused (87) naming it, with or without next hop.
//! * `protocol_on_interface` answers from the MGM of the next hop's family (`0.0.0.0`, the
//!   default: IPv4; `::`: IPv6).
use super::{ExternalFamily, RouterCore, RouterIo, BUILTIN_PROTOCOL_IDS};
use crate::{
    api::proto::{ApiFamily, ApiIfId, Response},
    config::Owner,
    daemon::api_family,
    dataplane::ForwardingBackend,
    mgm::{self, IfId, ProtocolHandle},
};
use std::net::{Ipv4Addr, Ipv6Addr};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// `MgmTakeInterfaceOwnership` for the external protocol `h`.
    pub fn external_take(&mut self, h: ProtocolHandle, ifid: ApiIfId) -> Response {
        if !ifid.next_hop.is_unspecified() {
            return match ApiFamily::of(ifid.next_hop) {
                ApiFamily::Ipv4 => self.take_pair_in::<Ipv4Addr>(h, ifid),
                ApiFamily::Ipv6 => self.take_pair_in::<Ipv6Addr>(h, ifid),
            };
        }
        if self.owns::<Ipv4Addr>(h, ifid.ifindex) || self.owns::<Ipv6Addr>(h, ifid.ifindex) {
            return Response::error(
                mgm::win32::ERROR_ALREADY_EXISTS,
                format!("interface {} is already this protocol's", ifid.ifindex),
            );
        }
        if let Some(refusal) = self.owned_by::<Ipv6Addr>(ifid.ifindex, |id| id != mgm::MS_IP_IGMP) {
            return refusal;
        }
        if let Some(refusal) = self.not_external(ifid.ifindex) {
            return refusal;
        }
        let taken = self.take_in::<Ipv4Addr>(h, ifid);
        if taken != Response::Ok {
            return taken;
        }
        let taken6 = self.take_in::<Ipv6Addr>(h, ifid);
        if taken6 != Response::Ok {
            // Not reached while both MGMs agree on the owners; never leave them disagreeing.
            let _ = self.release_in::<Ipv4Addr>(h, ifid);
        }
        taken6
    }

    /// `MgmReleaseInterfaceOwnership` for the external protocol `h`.
    pub fn external_release(&mut self, h: ProtocolHandle, ifid: ApiIfId) -> Response {
        if !ifid.next_hop.is_unspecified() {
            return match ApiFamily::of(ifid.next_hop) {
                ApiFamily::Ipv4 => self.release_in::<Ipv4Addr>(h, ifid),
                ApiFamily::Ipv6 => self.release_in::<Ipv6Addr>(h, ifid),
            };
        }
        let owns6 = self.owns::<Ipv6Addr>(h, ifid.ifindex);
        if !self.owns::<Ipv4Addr>(h, ifid.ifindex) && owns6 {
            return self.release_in::<Ipv6Addr>(h, ifid);
        }
        let released = self.release_in::<Ipv4Addr>(h, ifid);
        if released == Response::Ok && owns6 {
            return self.release_in::<Ipv6Addr>(h, ifid);
        }
        released
    }

    /// `MgmGetProtocolOnInterface` in the MGM of the next hop's family.
    pub fn external_protocol_on_interface(&self, ifid: ApiIfId) -> Response {
        match ApiFamily::of(ifid.next_hop) {
            ApiFamily::Ipv4 => self.protocol_on_interface_in::<Ipv4Addr>(ifid),
            ApiFamily::Ipv6 => self.protocol_on_interface_in::<Ipv6Addr>(ifid),
        }
    }

    fn protocol_on_interface_in<A: ExternalFamily>(&self, ifid: ApiIfId) -> Response {
        let ifid = match api_family::ifid::<A>(ifid) {
            Ok(ifid) => ifid,
            Err(refusal) => return refusal,
        };
        match A::mgm_of(self).protocol_on_interface(ifid) {
            Ok((protocol_id, component_id)) => Response::Owner {
                protocol_id,
                component_id,
            },
            Err(e) => Response::error(e.win32_code(), e.to_string()),
        }
    }

    /// A take of an (ifindex, next hop) pair in the MGM of family `A`, refused (183) on an
    /// interface of a built-in protocol, and (87) on one mgmd does not serve.
    fn take_pair_in<A: ExternalFamily>(&mut self, h: ProtocolHandle, ifid: ApiIfId) -> Response {
        let builtin = |id| BUILTIN_PROTOCOL_IDS.contains(&id);
        let refusal = self.owned_by::<A>(ifid.ifindex, builtin);
        match refusal.or_else(|| self.not_external(ifid.ifindex)) {
            Some(refusal) => refusal,
            None => self.take_in::<A>(h, ifid),
        }
    }

    /// The refusal of a take on `ifindex` when it is not an interface mgmd serves for external
    /// protocols (one the configuration marks `owner = "external"`): 87 when the configuration
    /// has no interface on that link (`lo`, a link mgmd was not given: nothing would be sent
    /// there); 183 when it gives the interface to the built-in protocols and it is out of
    /// service (down, without carrier, XDP not attached), as it is theirs again once in
    /// service.
    fn not_external(&self, ifindex: u32) -> Option<Response> {
        let name = self
            .links
            .iter()
            .find(|(_, l)| l.ifindex == ifindex)
            .map(|(name, _)| name);
        let configured = name.and_then(|name| Some((name, self.config.interface(name)?)));
        match configured {
            Some((_, interface)) if interface.owner == Owner::External => None,
            Some((name, _)) => Some(Response::error(
                mgm::win32::ERROR_ALREADY_EXISTS,
                format!(
                    "interface {ifindex} ({name}) is configured for mgmd's built-in protocols \
                     (not owner = \"external\"); out of service now, it is theirs once in service"
                ),
            )),
            None => Some(Response::error(
                mgm::win32::ERROR_INVALID_PARAMETER,
                format!(
                    "interface {ifindex}{} is not in mgmd's configuration: external protocols \
                     take the interfaces it marks owner = \"external\"",
                    name.map_or(String::new(), |name| format!(" ({name})"))
                ),
            )),
        }
    }

    fn take_in<A: ExternalFamily>(&mut self, h: ProtocolHandle, ifid: ApiIfId) -> Response {
        match api_family::ifid::<A>(ifid) {
            Ok(ifid) => self
                .external_call_in::<A>(h, |m, ha, now| m.take_interface_ownership(ha, ifid, now)),
            Err(refusal) => refusal,
        }
    }

    fn release_in<A: ExternalFamily>(&mut self, h: ProtocolHandle, ifid: ApiIfId) -> Response {
        match api_family::ifid::<A>(ifid) {
            Ok(ifid) => {
                let released = self.external_call_in::<A>(h, |m, ha, now| {
                    m.release_interface_ownership(ha, ifid, now)
                });
                self.naming_the_owner::<A>(h, ifid, released)
            }
            Err(refusal) => refusal,
        }
    }

    /// `response` to a call of `h` about `ifid` in the MGM of family `A`; a refusal (87) of
    /// an interface `h` does not own names who does, which the MGM's own error does not.
    pub fn naming_the_owner<A: ExternalFamily>(
        &self,
        h: ProtocolHandle,
        ifid: IfId<A>,
        response: Response,
    ) -> Response {
        let mgm = A::mgm_of(self);
        let refused = matches!(response, Response::Error { code, .. }
            if code == mgm::win32::ERROR_INVALID_PARAMETER);
        let owned =
            A::handle_in(self, h).is_some_and(|ha| mgm.owned_interfaces(ha).contains(&ifid));
        if !refused || owned {
            return response;
        }
        let owner = match mgm.protocol_on_interface(ifid) {
            Ok((protocol_id, component_id)) => {
                format!("protocol {protocol_id:#x}/{component_id} owns it")
            }
            Err(_) => "nobody owns it".to_owned(),
        };
        Response::error(
            mgm::win32::ERROR_INVALID_PARAMETER,
            format!(
                "{ifid} is not this protocol's in the {} MGM: {owner}",
                A::FAMILY.name()
            ),
        )
    }

    /// Whether `h` owns the interface `ifindex` (no next hop) in the MGM of family `A`.
    fn owns<A: ExternalFamily>(&self, h: ProtocolHandle, ifindex: u32) -> bool {
        A::handle_in(self, h).is_some_and(|ha| {
            A::mgm_of(self)
                .owned_interfaces(ha)
                .contains(&IfId::index(ifindex))
        })
    }

    /// The refusal (183) of a take on `ifindex` that a protocol `refuses` (by its id) holds
    /// (without next hop) in the MGM of family `A`.
    fn owned_by<A: ExternalFamily>(
        &self,
        ifindex: u32,
        refuses: impl Fn(u32) -> bool,
    ) -> Option<Response> {
        let (protocol_id, component_id) = A::mgm_of(self)
            .protocol_on_interface(IfId::index(ifindex))
            .ok()?;
        refuses(protocol_id).then(|| {
            Response::error(
                mgm::win32::ERROR_ALREADY_EXISTS,
                format!(
                    "interface {ifindex} is owned in the {} MGM by protocol {protocol_id:#x}/\
                     {component_id}",
                    A::FAMILY.name()
                ),
            )
        })
    }
}
