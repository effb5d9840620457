//! Root lab tests of faults: an outgoing interface deleted under traffic, and a bpffs that is
//! not there. Each has a defined outcome that mgmd reports and keeps to.
mod support;

use mgm_user::{
    api::proto::{Request, Response},
    lab::{Host, Lab},
};
use std::net::Ipv4Addr;
use support::{interfaces, Mgmd};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 6, 6);

/// up0 and every receiver's interface, and a route for GROUP from up0 to all receivers.
fn config(receivers: u8) -> String {
    let names: Vec<String> = (1..=receivers).map(|n| format!("rcv{n}")).collect();
    let mut list = vec![("up0", "")];
    list.extend(names.iter().map(|n| (n.as_str(), "")));
    let to: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [{}]\n",
        interfaces(&list),
        to.join(", ")
    )
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn deleting_an_outgoing_interface_under_traffic_spares_the_others() -> anyhow::Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config(2))?;
    let listener = mgmd.listen(Host::Receiver(1), GROUP, 2000, 30.0)?;
    mgmd.send_in_background(Host::Source, GROUP, 2000, 1)?;
    // Under traffic: the entry exists and has forwarded a tenth of the stream.
    mgmd.wait_for_forwarded(SOURCE, GROUP, 200)?;
    mgmd.lab.ip(Host::Router, &["link", "del", "rcv2"])?;
    let received = listener.finish()?;
    assert!(
        received.is_complete(2000),
        "rcv1 got {} of 2000",
        received.seqs.len()
    );
    let interfaces = mgmd.interfaces()?;
    let rcv2 = interfaces
        .iter()
        .find(|r| r.name == "rcv2")
        .expect("rcv2 stays configured");
    assert!(!rcv2.up && rcv2.xdp.is_none(), "{rcv2:?}");
    assert_eq!(
        mgmd.oifs(SOURCE, GROUP)?,
        ["rcv1"],
        "the entry forwards to the remaining interface only"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn without_bpffs_mgmd_forwards_unpinned() -> anyhow::Result<()> {
    // Told to run unpinned (it would refuse to start without a bpffs that outlives it, see
    // tests/netns_defaults.rs), mgmd forwards, and says it is unpinned.
    let body = format!("unpinned = true\n\n{}", config(1));
    let mut mgmd = Mgmd::start_pinned_under(Lab::star(1)?, &body, "/sys/fs/bpf/mgm")?;
    match mgmd.call(&Request::Status)? {
        Response::Status {
            pinned, pin_dir, ..
        } => assert!(!pinned && pin_dir.is_none(), "{pin_dir:?}"),
        other => anyhow::bail!("unexpected answer {other:?}"),
    }
    let listener = mgmd.listen(Host::Receiver(1), GROUP, 50, 30.0)?;
    mgmd.send(Host::Source, GROUP, 50, 2)?;
    let received = listener.finish()?;
    assert!(
        received.is_complete(50),
        "got {} of 50",
        received.seqs.len()
    );
    Ok(())
}
