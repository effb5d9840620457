//! Root lab tests (IPv6 through mgmd): a static IPv6 route forwards a new stream from its very
//! first packet, every packet once and in order, to both receivers; copies of the flow arriving
//! on another interface and packets with hop limit 1 are not forwarded. IPv6 routes added and
//! removed with `mgmctl add`/`remove` take effect on the running flow.
mod support;

use anyhow::{bail, ensure, Context, Result};
use mgm_user::{
    lab::{Host, Lab, Stack},
    rawio,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::{
    net::{Ipv6Addr, SocketAddrV6},
    time::Duration,
};
use support::{interfaces, wait_for, Mgmd, NO_IGMP, NO_LISTENERS};

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 1);
const SOURCE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const PORT: u16 = 5007;
/// How long a receiver waits for the next packet before it gives up.
const QUIET: Duration = Duration::from_secs(10);
/// Sequence numbers of packets that must not arrive.
const BAD: u64 = 1 << 32;

/// Turns IPv6 on (without DAD) for `iface` of `host`: the lab disables it everywhere.
fn enable_ipv6(lab: &Lab, host: Host, iface: &str) -> Result<()> {
    lab.sysctl(host, "net.ipv6.conf.all.disable_ipv6", "0")?;
    for (key, value) in [("accept_dad", "0"), ("disable_ipv6", "0")] {
        lab.sysctl(host, &format!("net.ipv6.conf.{iface}.{key}"), value)?;
    }
    Ok(())
}

/// Adds `source` to the eth0 of `host`.
fn add_address(lab: &Lab, host: Host, source: Ipv6Addr) -> Result<()> {
    let out = lab.ip(
        host,
        &[
            "-6",
            "addr",
            "add",
            &format!("{source}/64"),
            "dev",
            "eth0",
            "nodad",
        ],
    )?;
    if !out.status.success() {
        bail!("ip addr add: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A UDP socket of `host` sending from `source` (an address of its eth0) with hop limit
/// `hops`.
fn sender(lab: &Lab, host: Host, source: Ipv6Addr, hops: u32) -> Result<Socket> {
    lab.in_ns(host, || -> Result<Socket> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind(&SockAddr::from(SocketAddrV6::new(source, 0, 0, 0)))?;
        socket.set_multicast_if_v6(rawio::ifindex("eth0")?)?;
        socket.set_multicast_hops_v6(hops)?;
        // Receiver 1's own socket hears only what the router forwards.
        socket.set_multicast_loop_v6(false)?;
        Ok(socket)
    })?
}

/// Sends the sequence numbers `seqs` to the group.
fn send(socket: &Socket, seqs: impl Iterator<Item = u64>) -> Result<()> {
    let to = SockAddr::from(SocketAddrV6::new(GROUP, PORT, 0, 0));
    for seq in seqs {
        socket.send_to(&seq.to_be_bytes(), &to)?;
    }
    Ok(())
}

/// A UDP socket of receiver `n` joined to the group on its eth0.
fn receiver(lab: &Lab, n: u8) -> Result<Socket> {
    lab.in_ns(Host::Receiver(n), || -> Result<Socket> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_recv_buffer_size(16 << 20)?;
        socket.bind(&SockAddr::from(SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            PORT,
            0,
            0,
        )))?;
        socket.join_multicast_v6(&GROUP, rawio::ifindex("eth0")?)?;
        socket.set_read_timeout(Some(QUIET))?;
        Ok(socket)
    })?
}

/// Reads until `count` packets arrived, or none for [`QUIET`]: their sequence numbers, in
/// arrival order.
fn receive(socket: &Socket, count: usize) -> Result<Vec<u64>> {
    let mut seqs = Vec::with_capacity(count);
    let mut buf = [std::mem::MaybeUninit::new(0u8); 64];
    while seqs.len() < count {
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e).context("receiving"),
        };
        if n != 8 {
            bail!("a datagram of {n} bytes");
        }
        // SAFETY: `recv` initialised the first `n` bytes.
        let bytes: Vec<u8> = buf[..8]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        seqs.push(u64::from_be_bytes(bytes.try_into().expect("8 bytes")));
    }
    Ok(seqs)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_static_ipv6_route_forwards_every_packet_from_the_first_in_order_and_nothing_else() -> Result<()>
{
    const COUNT: u64 = 5000;
    let lab = Lab::star(2)?;
    let _ = lab.sysctl(Host::Receiver(1), "net.core.rmem_max", "33554432");
    let _ = lab.sysctl(Host::Receiver(2), "net.core.rmem_max", "33554432");
    for host in [Host::Source, Host::Receiver(1), Host::Receiver(2)] {
        enable_ipv6(&lab, host, "eth0")?;
    }
    // The burst goes through mgmd's punt path whole (before the entry exists, then in hold
    // mode). mgmd reads the punt rings between its sends, so they only have to cover its
    // scheduling delays: up0's 8192 frames leave room for a busy CI machine's (with the default
    // 4096 frames, and before those reads, CI twice lost the burst's tail).
    let body = format!(
        "punt_umem_frames = 8192\n{}[[route]]\nfrom = \"up0\"\ngroup = \"ff0e::7:0/112\"\nto = [\"rcv1\", \"rcv2\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP), ("rcv2", NO_IGMP)])
    );
    add_address(&lab, Host::Source, SOURCE)?;
    // A host on receiver 1's link sending as the source: its copies arrive on rcv1.
    add_address(&lab, Host::Receiver(1), SOURCE)?;
    let mgmd = Mgmd::start(lab, &body)?;
    let receivers = [receiver(&mgmd.lab, 1)?, receiver(&mgmd.lab, 2)?];
    let source = sender(&mgmd.lab, Host::Source, SOURCE, 8)?;
    // The first packets of the new flow are held by mgmd until its entry exists. The
    // receivers read while the burst is sent (their socket buffers would not hold it all).
    let received = std::thread::scope(|scope| -> Result<Vec<Vec<u64>>> {
        let readers: Vec<_> = receivers
            .iter()
            .map(|socket| scope.spawn(|| receive(socket, COUNT as usize)))
            .collect();
        send(&source, 0..COUNT)?;
        readers
            .into_iter()
            .map(|r| r.join().expect("reader"))
            .collect()
    })?;
    for (n, seqs) in received.iter().enumerate() {
        let missing: Vec<u64> = (0..COUNT).filter(|s| !seqs.contains(s)).collect();
        assert!(
            seqs.iter().copied().eq(0..COUNT),
            "receiver {}: {} packets, first out of place at {:?}, missing {missing:?}; \
             mgmd counters: {:?}",
            n + 1,
            seqs.len(),
            seqs.iter().enumerate().find(|(i, s)| **s != *i as u64),
            mgmd.stats()?
        );
    }
    eprintln!(
        "{COUNT} packets back to back: all delivered once and in order to both receivers; \
         held packets sent by mgmd {:?}",
        mgmd.stats()?.get("hold_delivered")
    );
    // Copies of the flow arriving from receiver 1's link, and packets with hop limit 1, are
    // dropped by the fast path (counted) and never forwarded.
    let before = mgmd.stats()?;
    let counter = |name: &str, stats: &std::collections::BTreeMap<String, u64>| {
        stats.get(name).copied().unwrap_or(0)
    };
    // The IPv6 table's entries are counted apart from the IPv4 one's.
    assert_eq!(
        counter("mfes6_now", &before),
        1,
        "show stats: the IPv6 entry in mfes6_now"
    );
    let stray = sender(&mgmd.lab, Host::Receiver(1), SOURCE, 8)?;
    send(&stray, BAD..BAD + 10)?;
    let expiring = sender(&mgmd.lab, Host::Source, SOURCE, 1)?;
    send(&expiring, BAD + 10..BAD + 20)?;
    wait_for(
        "the stray copies and expiring packets counted",
        QUIET,
        || {
            let now = mgmd.stats()?;
            let wrong_if = counter("wrong_if", &now) - counter("wrong_if", &before);
            let expired =
                counter("hop_limit_expired", &now) - counter("hop_limit_expired", &before);
            Ok((wrong_if >= 10 && expired >= 10).then_some(()))
        },
    )?;
    // The flow still forwards; whatever arrives next is the flow's next packets only.
    send(&source, COUNT..COUNT + 100)?;
    for socket in &receivers {
        assert_eq!(
            receive(socket, 100)?,
            (COUNT..COUNT + 100).collect::<Vec<_>>()
        );
    }
    // mgmctl shows the entry with its IPv6 addresses, in the table and in JSON.
    let table = mgmctl_row(&mgmd.mgmctl_ok(&["show", "mfe"])?)?;
    assert!(
        table.contains("ff0e::7:1") && table.contains("up0"),
        "{table}"
    );
    let json = mgmd.mgmctl_ok(&["--json", "show", "mfe"])?;
    let json: serde_json::Value = serde_json::from_str(&json)?;
    let text = json.to_string();
    assert!(
        text.contains(&format!("\"source\":\"{SOURCE}\""))
            && text.contains("\"group\":\"ff0e::7:1\""),
        "{text}"
    );
    Ok(())
}

/// The line of `show mfe`'s table for the IPv6 source.
fn mgmctl_row(table: &str) -> Result<String> {
    table
        .lines()
        .find(|l| l.starts_with(&SOURCE.to_string()))
        .map(str::to_owned)
        .with_context(|| format!("no row for {SOURCE}:\n{table}"))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmctl_adds_and_removes_ipv6_routes_at_run_time() -> Result<()> {
    const ROUTED: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, 5);
    let body = interfaces(&[
        ("up0", NO_LISTENERS),
        ("rcv1", NO_LISTENERS),
        ("rcv2", NO_LISTENERS),
    ]);
    let mut mgmd = Mgmd::start(Lab::star_with(2, Stack::Dual)?, &body)?;
    ensure!(
        mgmd.interfaces()?.iter().all(|i| !i.mld),
        "mld = false: MLD off everywhere"
    );
    // `mgmctl monitor` reports the IPv6 entries' changes as the IPv4 ones'.
    let monitor = mgmd.monitor(&["--json"])?;
    // The flow's RPF interface comes from the kernel's IPv6 routes: it has an entry, without
    // receivers, before any route names it.
    mgmd.expect_delivery(ROUTED, 20, &[], "no route")?;
    let to_rcv1 = ["up0", "ff0e::7:5", "rcv1"];
    mgmd.mgmctl_ok(&[&["add"], &to_rcv1[..]].concat())?;
    mgmd.expect_delivery(ROUTED, 20, &[1], "route to rcv1")?;
    wait_for("the monitor's IPv6 entry change", QUIET, || {
        Ok(monitor.lines.try_iter().find(|line| {
            line.contains("\"monitor\":\"mfe\"") && line.contains("\"group\":\"ff0e::7:5\"")
        }))
    })?;
    drop(monitor);
    let wide = ["up0", "*", "ff0e::7:0/112", "rcv2"];
    mgmd.mgmctl_ok(&[&["add"], &wide[..]].concat())?;
    mgmd.expect_delivery(ROUTED, 20, &[1, 2], "a prefix route to rcv2 too")?;
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    assert!(
        routes.contains("ff0e::7:5") && routes.contains("ff0e::7:0/112"),
        "{routes}"
    );
    mgmd.mgmctl_ok(&[&["remove"], &to_rcv1[..]].concat())?;
    mgmd.expect_delivery(ROUTED, 20, &[2], "the route to rcv1 removed")?;
    mgmd.mgmctl_ok(&[&["remove"], &wide[..]].concat())?;
    mgmd.expect_delivery(ROUTED, 20, &[], "every route removed")?;
    let refused = mgmd.mgmctl(&["remove", "up0", "ff0e::7:5", "rcv1"])?;
    assert!(
        !refused.status.success(),
        "removing a missing route is refused"
    );
    Ok(())
}
