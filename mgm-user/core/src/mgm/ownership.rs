//! Interface ownership (spec §4.3, §4.4, §6.7): take and release, one routing protocol plus
//! IGMP per interface, the Disable-IGMP/Enable-IGMP bracket, and the deletion of every MFE that
//! references an interface whose ownership changes.

use super::action::Callback;
use super::address::Address;
use super::config::IgmpTakeover;
use super::error::MgmError;
use super::outbox::Phase;
use super::registry::IfState;
use super::types::{IfId, ProtocolHandle, Timestamp};
use super::Mgm;

impl<A: Address> Mgm<A> {
    /// `MgmTakeInterfaceOwnership`. A routing protocol taking an interface IGMP owns is
    /// bracketed by Disable-IGMP/Enable-IGMP; IGMP taking a routing protocol's interface
    /// becomes co-owner without callbacks. `AlreadyExists` when the caller already owns it or
    /// another routing protocol does; `InvalidParameter` for ifindex 0 or 0xFFFFFFFF. MFEs
    /// referencing the interface are deleted.
    pub fn take_interface_ownership(
        &mut self,
        h: ProtocolHandle,
        ifid: IfId<A>,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let (is_igmp, state) = self.ownership_call(h, ifid)?;
        let state = state.unwrap_or_default();
        if (is_igmp && state.igmp) || (!is_igmp && state.owner.is_some()) {
            return Err(MgmError::AlreadyExists);
        }
        let bracket = if is_igmp {
            None
        } else {
            self.registry.igmp.filter(|_| state.igmp)
        };
        if let Some(igmp) = bracket {
            self.send(Phase::Open, igmp, Callback::DisableIgmp { ifid });
        }
        let entry = self.registry.interfaces.entry(ifid).or_default();
        if is_igmp {
            entry.igmp = true;
        } else {
            entry.owner = Some(h);
        }
        self.own(h, ifid, true);
        self.forget_interface(ifid);
        if let Some(igmp) = bracket {
            match self.config.igmp_takeover {
                IgmpTakeover::Keep => self.mark_igmp_unreported(igmp, ifid),
                IgmpTakeover::Literal => self.remove_memberships_on(igmp, ifid, now),
            }
            self.send(Phase::Close, igmp, Callback::EnableIgmp { ifid });
        }
        self.out.commit();
        Ok(())
    }

    /// `MgmReleaseInterfaceOwnership`. `InvalidParameter` for a bad handle, an unknown
    /// interface or one the caller does not own. A routing protocol's release deletes the MFEs
    /// referencing the interface, then removes its memberships there (W/S prune alerts), inside
    /// the IGMP bracket when IGMP co-owns it; IGMP stays as sole owner. IGMP's release removes
    /// its memberships there (LocalLeave, W/S, M2) and then the MFEs.
    pub fn release_interface_ownership(
        &mut self,
        h: ProtocolHandle,
        ifid: IfId<A>,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let (is_igmp, state) = self.ownership_call(h, ifid)?;
        let state = state.ok_or(MgmError::InvalidParameter)?;
        let owns = if is_igmp {
            state.igmp
        } else {
            state.owner == Some(h)
        };
        if !owns {
            return Err(MgmError::InvalidParameter);
        }
        if is_igmp {
            self.remove_memberships_on(h, ifid, now);
            self.set_interface(ifid, state.owner, false);
            self.own(h, ifid, false);
            self.forget_interface(ifid);
        } else {
            let bracket = self.registry.igmp.filter(|_| state.igmp);
            if let Some(igmp) = bracket {
                self.send(Phase::Open, igmp, Callback::DisableIgmp { ifid });
            }
            self.forget_interface(ifid);
            self.remove_memberships_on(h, ifid, now);
            self.set_interface(ifid, None, state.igmp);
            self.own(h, ifid, false);
            if let Some(igmp) = bracket {
                self.send(Phase::Close, igmp, Callback::EnableIgmp { ifid });
            }
        }
        self.out.commit();
        Ok(())
    }

    /// Releases every interface `h` owns, whatever their state (the interface may have gone
    /// away, or be an (ifindex, next hop) pair), each through the full sequence of
    /// [`Mgm::release_interface_ownership`]: the §6.8 shutdown, after which
    /// [`Mgm::deregister`] succeeds. `InvalidParameter` for a bad handle.
    pub fn release_all_interfaces(
        &mut self,
        h: ProtocolHandle,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let owned: Vec<IfId<A>> = self.registry.client(h)?.owned.iter().copied().collect();
        for ifid in owned {
            self.release_interface_ownership(h, ifid, now)?;
        }
        Ok(())
    }

    /// Whether `h` (which must be registered) is IGMP, and the current owners of `ifid`
    /// (which must be a valid index, [`IfId::is_valid`]).
    fn ownership_call(
        &self,
        h: ProtocolHandle,
        ifid: IfId<A>,
    ) -> Result<(bool, Option<IfState>), MgmError> {
        let is_igmp = self.registry.client(h)?.is_igmp;
        if !ifid.is_valid() {
            return Err(MgmError::InvalidParameter);
        }
        Ok((is_igmp, self.registry.interfaces.get(&ifid).copied()))
    }

    /// Records the new owners of `ifid`, dropping the record when nobody is left.
    fn set_interface(&mut self, ifid: IfId<A>, owner: Option<ProtocolHandle>, igmp: bool) {
        if owner.is_none() && !igmp {
            self.registry.interfaces.remove(&ifid);
        } else if let Some(s) = self.registry.interfaces.get_mut(&ifid) {
            s.owner = owner;
            s.igmp = igmp;
        }
    }

    /// Adds or removes `ifid` in the client's own list.
    fn own(&mut self, h: ProtocolHandle, ifid: IfId<A>, owned: bool) {
        if let Some(c) = self.registry.clients.get_mut(&h) {
            if owned {
                c.owned.insert(ifid);
            } else {
                c.owned.remove(&ifid);
            }
        }
    }

    /// An ownership change of `ifid`: delete the MFEs referencing it (no callbacks) and abandon
    /// creations that involve it.
    fn forget_interface(&mut self, ifid: IfId<A>) {
        self.delete_mfes_referencing(ifid);
        self.cancel_creations_involving(ifid);
    }
}
