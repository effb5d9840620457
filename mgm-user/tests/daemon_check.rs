//! Root lab test of `mgmctl check` against the real maps, and of the repair of an entry the data
//! plane lost: with a flow forwarded, the check finds the maps as the MGM has them; once the
//! flow's entry is deleted from the pinned map behind mgmd's back, the check names it missing
//! (exit code 4), the flow's next packet (a miss) makes mgmd write it again without losing a
//! packet, and the check is clean again.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_common::{MfeValue, SgKey, MFE_FLAG_HOLD};
use mgm_user::{
    dataplane::map_name,
    lab::{lab_bpffs, Host, Lab},
};
use std::{net::Ipv4Addr, os::unix::fs::MetadataExt as _, path::PathBuf, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 2, 1);

/// mgmd's pinned `MFES` map: `<bpffs>/net-<router namespace inode>/MFES` (the inode as the
/// calling thread sees it inside the router's namespace).
fn pinned_mfes(lab: &Lab) -> Result<PathBuf> {
    let netns = lab
        .in_ns(Host::Router, || {
            std::fs::metadata("/proc/thread-self/ns/net")
        })??
        .ino();
    Ok(PathBuf::from(lab_bpffs()?)
        .join(format!("net-{netns}"))
        .join(map_name::MFES))
}

/// Runs `mgmctl check`: (exit code, output).
fn check(mgmd: &Mgmd) -> Result<(i32, String)> {
    let out = mgmd.mgmctl(&["check"])?;
    let code = out.status.code().context("mgmctl killed")?;
    Ok((code, String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn check_finds_a_lost_entry_and_the_next_miss_restores_it() -> Result<()> {
    let config = support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
        + "[[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\"]\n";
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    mgmd.expect_delivery(GROUP, 30, &[1], "at start")?;
    let (code, text) = check(&mgmd)?;
    ensure!(code == 0, "check at start: exit {code}: {text}");

    let data = aya::maps::MapData::from_pin(pinned_mfes(&mgmd.lab)?)?;
    let mut mfes: aya::maps::HashMap<_, SgKey, MfeValue> =
        aya::maps::Map::HashMap(data).try_into()?;
    // The new entry's hold mode is over (it ends by rewriting the entry).
    let key = SgKey::new(SOURCE, GROUP);
    wait_for(
        "the entry out of hold mode",
        Duration::from_secs(30),
        || Ok((mfes.get(&key, 0)?.flags & MFE_FLAG_HOLD == 0).then_some(())),
    )?;
    mfes.remove(&key)?;
    let (code, text) = check(&mgmd)?;
    ensure!(
        code == 4 && text.contains(&format!("({SOURCE}, {GROUP}) missing")),
        "check after the loss: exit {code}: {text}"
    );

    mgmd.expect_delivery(GROUP, 30, &[1], "after the loss")?;
    let (code, text) = check(&mgmd)?;
    ensure!(code == 0, "check after the repair: exit {code}: {text}");
    let repaired = mgmd.stats()?.get("backend_repaired").copied();
    ensure!(repaired == Some(1), "backend_repaired {repaired:?}");
    Ok(())
}
