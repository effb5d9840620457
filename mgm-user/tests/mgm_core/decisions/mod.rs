//! One test per decision of the register (spec §11) that changes behaviour, plus the
//! out-of-process answer path and re-entrancy (§6.11), one submodule per area of the register;
//! here the protocols and interfaces their labs share.

use std::net::Ipv4Addr;
use std::time::Duration;

use mgm_user::mgm::{
    protocol_id, sizeof_mib_mfe, sizeof_mib_mfe_stats, sizeof_mib_mfe_stats_ex, win32, Action,
    Answer, Callback, CallbackSet, Config, EnumType, IfEntry, IfId, IgmpTakeover, MemberFlags,
    MfeCounters, MfeKind, MgmError, ProtocolHandle, StaticRib, Timestamp,
};

use super::support::*;

const P_ID: u32 = protocol_id(1, 0, 1);
const Q_ID: u32 = protocol_id(1, 0, 2);

/// P owns if1, if2, if11; Q owns if3 (RPF toward S) and if13; IGMP co-owns if1, owns if4.
fn lab_with<A: Family>(config: Config) -> (Lab<A>, ProtocolHandle, ProtocolHandle, ProtocolHandle) {
    let mut lab = Lab::with(config, A::rib_via(3));
    let p = lab.register("P", P_ID);
    let q = lab.register("Q", Q_ID);
    let igmp = lab.register_igmp();
    for (h, i) in [
        (p, 1),
        (p, 2),
        (p, 11),
        (q, 3),
        (q, 13),
        (igmp, 1),
        (igmp, 4),
    ] {
        lab.take(h, i).unwrap();
    }
    lab.calls();
    (lab, p, q, igmp)
}

fn std_lab<A: Family>() -> (Lab<A>, ProtocolHandle, ProtocolHandle, ProtocolHandle) {
    lab_with::<A>(Config::default())
}

mod callbacks;
mod creation;
mod igmp_takeover;
mod memberships;
mod out_of_process;
mod ownership;
