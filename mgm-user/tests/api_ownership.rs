//! Root lab test of interface ownership over the API socket against the configuration's
//! owners: an interface the configuration gives to a built-in protocol (here `static`) is
//! theirs with every next hop, so a protocol taking it with a point-to-multipoint next hop of
//! either family gets ERROR_ALREADY_EXISTS (183) naming the owner, as a take without next hop
//! does, and `static` keeps it. On an interface left to external protocols
//! (`owner = "external"`) a next hop is taken and released as the MGM says.
mod support;

use anyhow::{ensure, Result};
use mgm_user::{
    api::{
        proto::ApiIfId,
        protocol::{ProtocolClient, ProtocolError},
    },
    lab::Lab,
};
use std::net::IpAddr;
use support::{Mgmd, EXTERNAL, NO_IGMP};

/// The protocol id of the built-in `static` protocol.
const STATIC: u32 = mgm_user::daemon::STATIC_PROTOCOL_ID;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_next_hop_on_an_interface_of_the_configuration_is_refused_and_its_owner_keeps_it() -> Result<()>
{
    let config = support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL)]);
    let mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut p = runtime.block_on(ProtocolClient::register(
        &mgmd.socket(),
        0x0137_0091,
        0,
        &[],
    ))?;
    let up0 = runtime.block_on(p.interface_index("up0"))?;
    let rcv1 = runtime.block_on(p.interface_index("rcv1"))?;
    let ifid = |ifindex: u32, next_hop: &str| -> Result<ApiIfId> {
        Ok(ApiIfId {
            ifindex,
            next_hop: next_hop.parse::<IpAddr>()?,
        })
    };
    for next_hop in ["0.0.0.0", "10.0.0.9", "fe80::9"] {
        let taken = runtime.block_on(p.take(ifid(up0, next_hop)?));
        ensure!(
            matches!(&taken, Err(ProtocolError::Refused { code: 183, message })
                if message.contains(&format!("{STATIC:#x}"))),
            "take of up0 with next hop {next_hop}: {taken:?}"
        );
    }
    for next_hop in ["0.0.0.0", "::"] {
        let owner = runtime.block_on(p.protocol_on_interface(ifid(up0, next_hop)?))?;
        ensure!(
            owner.0 == STATIC,
            "up0 ({next_hop}) is no longer static's: {owner:?}"
        );
    }
    // An interface left to external protocols: its next hops are the protocol's to take.
    runtime.block_on(p.take(ifid(rcv1, "10.0.0.9")?))?;
    let owner = runtime.block_on(p.protocol_on_interface(ifid(rcv1, "10.0.0.9")?))?;
    ensure!(owner.0 == 0x0137_0091, "rcv1/10.0.0.9: {owner:?}");
    runtime.block_on(p.release(ifid(rcv1, "10.0.0.9")?))?;
    Ok(())
}
