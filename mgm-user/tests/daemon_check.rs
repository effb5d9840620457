//! Root lab test of `mgmctl check` against the real maps, and of the repair of an entry the data
//! plane lost: with a flow forwarded, the check finds the maps as the MGM has them; once the
//! flow's entry is deleted from the pinned maps (the hash map and its probe bucket) behind
//! mgmd's back, the check names it missing
//! (exit code 4), the flow's next packet (a miss) makes mgmd write it again without losing a
//! packet, and the check is clean again.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_common::{MfeValue, ProbeBucket, ProbeWay, SgKey, MFE_FLAG_HOLD};
use mgm_user::{dataplane::map_name, lab::Lab};
use std::net::Ipv4Addr;
use support::{pinned_map, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 2, 1);

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

    let data = aya::maps::MapData::from_pin(pinned_map(&mgmd.lab, map_name::MFES)?)?;
    let mut mfes: aya::maps::HashMap<_, SgKey, MfeValue> =
        aya::maps::Map::HashMap(data).try_into()?;
    let key = SgKey::new(SOURCE, GROUP);
    // A young entry may still be in hold mode, whose release writes it again: lose it after.
    support::wait_for(
        "the entry to leave hold mode",
        std::time::Duration::from_secs(10),
        || Ok((mfes.get(&key, 0)?.flags & MFE_FLAG_HOLD == 0).then_some(())),
    )?;
    mfes.remove(&key)?;
    lose_from_probe(&mgmd, key)?;
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

/// Removes `key`'s entry from its bucket of mgmd's pinned probe array (`MFE_PROBE`), as mgmd
/// rewrites a bucket: `seq` odd, the body, `seq` even.
fn lose_from_probe(mgmd: &Mgmd, key: SgKey) -> Result<()> {
    let data = aya::maps::MapData::from_pin(pinned_map(&mgmd.lab, map_name::MFE_PROBE)?)?;
    let mut buckets: aya::maps::Array<_, ProbeBucket<SgKey>> =
        aya::maps::Map::Array(data).try_into()?;
    let index = key.probe_bucket();
    let mut bucket = buckets.get(&index, 0)?;
    let way = (0..bucket.ways.len())
        .find(|&w| bucket.used & (1 << w) != 0 && bucket.ways[w].key == key)
        .context("the entry is not in its probe bucket")?;
    bucket.seq += 1;
    buckets.set(index, bucket, 0)?;
    bucket.used &= !(1 << way);
    bucket.ways[way] = ProbeWay::default();
    buckets.set(index, bucket, 0)?;
    bucket.seq += 1;
    buckets.set(index, bucket, 0)?;
    Ok(())
}
