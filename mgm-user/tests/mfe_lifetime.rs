//! Root lab test of `[daemon] mfe_lifetime_s`: the entry a flow creates lives that long, not the
//! default 900 s.
mod support;

use anyhow::Result;
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{interfaces, wait_for, Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 0, 1);
const LIFETIME_S: u64 = 30;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_configured_mfe_lifetime_applies() -> Result<()> {
    let body = format!(
        "mfe_lifetime_s = {LIFETIME_S}\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    );
    let mgmd = Mgmd::start(Lab::star(1)?, &body)?;
    mgmd.send(Host::Source, GROUP, 3, 10)?;
    let source = Lab::address_of(Host::Source);
    let entry = wait_for("the flow's entry", Duration::from_secs(30), || {
        mgmd.mfe(source, GROUP)
    })?;
    assert!(
        (1..=LIFETIME_S).contains(&entry.expires_s),
        "the entry expires in {} s, not within the configured {LIFETIME_S} s",
        entry.expires_s
    );
    Ok(())
}
