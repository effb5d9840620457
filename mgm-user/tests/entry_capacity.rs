//! Root lab test of `max_entries` in `[daemon]`: mgmd sizes the data plane's entry maps and
//! their per-CPU counters by it and forwards with them; over pins kept from a run with another
//! capacity it refuses to start, naming the key, and the same capacity adopts them.
mod support;

use anyhow::{ensure, Result};
use aya::maps::MapInfo;
use mgm_user::{dataplane::map_name, lab::Lab};
use std::net::Ipv4Addr;
use support::{interfaces, pinned_map, refused_to_start, wait_exited, Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 3, 3);
const SMALL: u32 = 8192;

/// A capacity of `entries`, then up0 and rcv1 and a route for GROUP from up0 to rcv1.
fn config(entries: u32) -> String {
    format!(
        "max_entries = {entries}\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    )
}

/// Kernel memory charged for the BPF maps process `pid` holds open (their `memlock` in
/// `/proc/PID/fdinfo`, each map once), bytes.
fn maps_memlock(pid: u32) -> Result<u64> {
    let mut maps = std::collections::BTreeMap::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        let Ok(info) = std::fs::read_to_string(fd?.path()) else {
            continue;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(id), Some(memlock)) = (field("map_id:"), field("memlock:")) {
            maps.insert(id, memlock);
        }
    }
    Ok(maps.values().sum())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_configured_capacity_sizes_the_entry_maps_and_pins_of_another_are_refused() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config(SMALL))?;
    mgmd.expect_delivery(GROUP, 50, &[1], "with a table of 8192 entries")?;
    for name in map_name::SIZED_BY_ENTRIES {
        let entries = MapInfo::from_pin(pinned_map(&mgmd.lab, name)?)?.max_entries();
        ensure!(
            entries == SMALL,
            "{name} holds {entries} entries, not {SMALL}"
        );
    }
    eprintln!(
        "max_entries = {SMALL}: the BPF maps mgmd holds take {:.1} MiB of kernel memory \
         (possible CPUs {})",
        maps_memlock(mgmd.pid())? as f64 / f64::from(1 << 20),
        std::fs::read_to_string("/sys/devices/system/cpu/possible")?.trim(),
    );

    // Killed, it leaves its pins (and forwarding) behind; a start with another capacity is
    // refused and says which key and what to do.
    mgmd.signal(libc::SIGKILL)?;
    wait_exited(mgmd.pid())?;
    mgmd.write_config(&config(2 * SMALL))?;
    let said = refused_to_start(
        &mgmd.lab,
        &mgmd.config_path(),
        &["daemon.max_entries", "8192", "16384", "on_stop"],
    )?;
    eprintln!("refused: {}", said.trim());

    // The capacity they were made with adopts them.
    mgmd.write_config(&config(SMALL))?;
    mgmd.spawn_daemon()?;
    mgmd.expect_delivery(GROUP, 50, &[1], "after the restart over the kept pins")
}
