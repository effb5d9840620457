//! Root lab test (hitless restart): `kill -9` of mgmd under a continuous stream loses and
//! duplicates nothing — forwarding goes on from the pinned maps, program and links, and the
//! next mgmd adopts the entries, then re-derives them through the MGM.
mod support;

use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{interfaces, signal_pid, wait_exited, wait_for, Mgmd};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 4, 4, 4);
const PACKETS: u32 = 3000;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn kill_9_of_mgmd_loses_and_duplicates_nothing_on_established_flows() -> anyhow::Result<()> {
    let config = format!(
        "adopt_window_s = 1\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\", \"rcv2\"]\n",
        interfaces(&[("up0", ""), ("rcv1", ""), ("rcv2", "")])
    );
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let listeners = [
        mgmd.listen(Host::Receiver(1), GROUP, PACKETS, 30.0)?,
        mgmd.listen(Host::Receiver(2), GROUP, PACKETS, 30.0)?,
    ];
    // A 3-second stream; mgmd is killed the hard way in the middle of it.
    mgmd.send_in_background(Host::Source, GROUP, PACKETS, 1)?;
    // In the middle of the stream, once the flow is established (XDP forwards it: the new
    // entry's hold mode, in which mgmd sends the packets itself, is over).
    mgmd.wait_for_forwarded(SOURCE, GROUP, 100)?;
    signal_pid(mgmd.pid(), libc::SIGKILL)?;
    // The next mgmd takes over what the killed one held (punt sockets, links): once it is gone.
    wait_exited(mgmd.pid())?;
    mgmd.spawn_daemon()?;

    for (n, listener) in listeners.into_iter().enumerate() {
        let received = listener.finish()?;
        assert!(
            received.is_complete(PACKETS.into()),
            "receiver {}: {} of {PACKETS} packets, {} out of place",
            n + 1,
            received.seqs.len(),
            received
                .seqs
                .iter()
                .enumerate()
                .filter(|(i, s)| **s != *i as u64)
                .count(),
        );
    }
    // After the adoption window the new mgmd knows the entry as its own.
    let oifs = wait_for(
        "the adopted entry re-derived",
        Duration::from_secs(30),
        || {
            let oifs = mgmd.oifs(SOURCE, GROUP)?;
            Ok((!oifs.is_empty()).then_some(oifs))
        },
    )?;
    assert_eq!(oifs, ["rcv1", "rcv2"]);
    Ok(())
}
