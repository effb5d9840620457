//! Root lab tests of the leaf tool over IPv6 (and of source-specific joins over both families,
//! which use MCAST_JOIN_SOURCE_GROUP): two dual-stack hosts joined by a plain veth link, no
//! router in between (the lab's router namespace is only a host here; no mgmd runs), exchange
//! numbered datagrams with `mcast`, and exactly the datagrams asked for arrive. The dual-stack
//! lab itself (addresses, sysctls) and its IPv6 traffic helpers are checked here too.
use mgm_user::lab::{Host, Lab, McastSend, Stack};
use mgm_user::leaf::{Channel, Iface, Payload, Receiver};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Child, Stdio};
use std::time::Duration;

const MCAST: &str = env!("CARGO_BIN_EXE_mcast");
const SENDS: u64 = 5;

/// Starts `mcast join ARGS --json` on receiver 1's eth0 and returns once it has joined.
fn start_join(lab: &Lab, args: &[&str]) -> Child {
    let mut argv = vec![MCAST, "join"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--iface", "eth0", "--timeout", "30", "--json"]);
    let mut child = lab
        .command(Host::Receiver(1), &argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcast join");
    let mut ready = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut ready)
        .expect("read stderr");
    assert!(ready.starts_with("joined"), "{ready}");
    child
}

/// The router namespace, a plain host here, sends `SENDS` datagrams to `group` out of rcv1.
fn send_from_router(lab: &Lab, group: &str, ttl: u8, port: &str) {
    lab.run(
        Host::Router,
        &[
            MCAST,
            "send",
            group,
            "--iface",
            "rcv1",
            "--ttl",
            &ttl.to_string(),
            "--count",
            &SENDS.to_string(),
            "--interval-ms",
            "0",
            "--port",
            port,
        ],
    )
    .expect("mcast send");
}

/// The JSON report of a finished `mcast join`, which must have succeeded.
fn report(join: Child) -> serde_json::Value {
    let out = join.wait_with_output().expect("join exits");
    assert!(out.status.success(), "join failed: {out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Asserts that `report` holds exactly datagrams 0..SENDS from `sender`, in order, with `ttl`.
fn assert_numbered(report: &serde_json::Value, sender: IpAddr, ttl: u8) {
    assert_eq!(report["received"], SENDS, "{report}");
    let by_sender = report["by_sender"].as_object().expect("by_sender");
    assert_eq!(by_sender.len(), 1, "{report}");
    assert_eq!(by_sender[&sender.to_string()], SENDS, "{report}");
    let packets = report["packets"].as_array().expect("packets");
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p["seq"], i as u64, "{report}");
        assert_eq!(p["ttl"], ttl, "{report}");
        assert_eq!(p["sent_ttl"], ttl, "{report}");
        assert_eq!(p["len"], Payload::LEN, "{report}");
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_any_source_join_counts_numbered_datagrams() {
    let lab = Lab::star_with(1, Stack::Dual).expect("lab");
    let join = start_join(&lab, &["ff0e::10:1", "--port", "5401", "--count", "5"]);
    send_from_router(&lab, "ff0e::10:1", 7, "5401");
    let report = report(join);
    assert_eq!(report["group"], "ff0e::10:1");
    assert_eq!(report["source"], serde_json::Value::Null);
    // A global-scope group is sent from the router's global address on the link.
    let router = Lab::router_address6_towards(Host::Receiver(1)).expect("dual stack");
    assert_numbered(&report, router.into(), 7);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_link_local_group_is_sent_from_the_link_local_address() {
    let lab = Lab::star_with(1, Stack::Dual).expect("lab");
    let join = start_join(&lab, &["ff02::10:2", "--port", "5402", "--count", "5"]);
    send_from_router(&lab, "ff02::10:2", 1, "5402");
    let router = lab.link_local(Host::Router, "rcv1").expect("link-local");
    assert_numbered(&report(join), router.into(), 1);
}

/// A source-specific join through `mcast` gets exactly what its source sends, while a socket
/// on the same host joined to the same group for another source gets nothing.
fn ssm_gets_only_its_source(stack: Stack, group: IpAddr, source: IpAddr, other: IpAddr) {
    let lab = Lab::star_with(1, stack).expect("lab");
    let port = "5403";
    let (group_text, source_text) = (group.to_string(), source.to_string());
    let join = start_join(
        &lab,
        &[
            &group_text,
            "--source",
            &source_text,
            "--port",
            port,
            "--count",
            "5",
        ],
    );
    let other_source = lab
        .in_ns(Host::Receiver(1), || {
            let channel = Channel {
                group,
                source: Some(other),
            };
            Receiver::join(channel, 5403, Iface::lookup("eth0").expect("eth0"))
        })
        .expect("enter the host")
        .expect("join for another source");
    send_from_router(&lab, &group_text, 2, port);
    let report = report(join);
    assert_eq!(report["source"], source_text);
    assert_numbered(&report, source, 2);
    // The kernel hands a datagram to every matching socket of the host at once: once the
    // first socket has them all, the second one would have them queued.
    assert_eq!(
        other_source.recv(Duration::from_millis(200)).expect("recv"),
        None
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_source_specific_join_gets_only_its_source() {
    let router = Lab::router_address6_towards(Host::Receiver(1)).expect("dual stack");
    ssm_gets_only_its_source(
        Stack::Dual,
        "ff3e::10:3".parse::<Ipv6Addr>().expect("group").into(),
        router.into(),
        "2001:db8:1::99".parse::<Ipv6Addr>().expect("source").into(),
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv4_source_specific_join_gets_only_its_source() {
    ssm_gets_only_its_source(
        Stack::V4,
        Ipv4Addr::new(232, 1, 1, 3).into(),
        Ipv4Addr::new(10, 1, 0, 254).into(),
        Ipv4Addr::new(10, 1, 0, 99).into(),
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn dual_stack_lab_addresses_are_usable_at_once_and_ipv4_labs_stay_ipv4_only() {
    let mut lab = Lab::star_with(2, Stack::Dual).expect("lab");
    lab.add_upstream().expect("upstream");
    for host in [
        Host::Source,
        Host::Receiver(1),
        Host::Receiver(2),
        Host::Upstream,
    ] {
        let router = Lab::router_address6_towards(host).expect("dual stack");
        let router4 = match host {
            Host::Upstream => Ipv4Addr::new(10, 255, 0, 2),
            Host::Receiver(n) => Ipv4Addr::new(10, n, 0, 254),
            _ => Lab::address_of(Host::Router),
        };
        let out = lab
            .ip(host, &["-6", "-o", "addr", "show", "dev", "eth0"])
            .expect("ip addr");
        let text = String::from_utf8_lossy(&out.stdout);
        let own = Lab::address6_of(host).expect("dual stack");
        assert!(text.contains(&format!("{own}/64")), "{host:?}: {text}");
        assert!(!text.contains("tentative"), "{host:?}: {text}");
        lab.link_local(host, "eth0").expect("link-local");
        // Unicast across the link works at once (no DAD), and IPv4 is unchanged.
        lab.run(host, &["ping", "-6", "-c1", "-W5", &router.to_string()])
            .expect("ping the router over IPv6");
        lab.run(host, &["ping", "-c1", "-W5", &router4.to_string()])
            .expect("ping the router over IPv4");
        let accept_ra = lab
            .run(host, &["cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra"])
            .expect("sysctl");
        assert_eq!(String::from_utf8_lossy(&accept_ra.stdout).trim(), "0");
    }
    lab.force_mld_version(Host::Receiver(1), "eth0", 1)
        .expect("force MLDv1");
    let forced = lab
        .run(
            Host::Receiver(1),
            &["cat", "/proc/sys/net/ipv6/conf/eth0/force_mld_version"],
        )
        .expect("sysctl");
    assert_eq!(String::from_utf8_lossy(&forced.stdout).trim(), "1");

    let v4 = Lab::star(1).expect("IPv4 lab");
    let disabled = v4
        .run(
            Host::Receiver(1),
            &["cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"],
        )
        .expect("sysctl");
    assert_eq!(String::from_utf8_lossy(&disabled.stdout).trim(), "1");
}

/// The lab's traffic helpers take IPv6 groups: [`Lab::send`] from the source host reaches a
/// socket on the router's side of the link, and [`Lab::listen`] on a receiver counts what the
/// router's namespace sends to it.
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn lab_send_and_listen_take_ipv6_groups() {
    let mut lab = Lab::star_with(1, Stack::Dual).expect("lab");
    let group: IpAddr = "ff0e::10:5".parse().expect("group");
    let on_router = lab
        .in_ns(Host::Router, || {
            let channel = Channel {
                group,
                source: None,
            };
            Receiver::join(channel, 5000, Iface::lookup("up0").expect("up0"))
        })
        .expect("enter the router")
        .expect("join on up0");
    lab.send(
        Host::Source,
        McastSend {
            mcast: MCAST,
            group,
            ttl: 4,
            count: SENDS as u32,
            interval_ms: 0,
        },
    )
    .expect("lab send");
    let mut seqs = Vec::new();
    while seqs.len() < SENDS as usize {
        let datagram = on_router
            .recv(Duration::from_secs(30))
            .expect("recv")
            .expect("a datagram within 30 s");
        assert_eq!(
            datagram.from.ip(),
            IpAddr::from(Lab::address6_of(Host::Source).expect("dual stack"))
        );
        assert_eq!(datagram.ttl, Some(4));
        seqs.extend(Payload::decode(&datagram.payload).map(|p| p.seq));
    }
    assert_eq!(seqs, (0..SENDS).collect::<Vec<_>>());

    let listener = lab
        .listen(Host::Receiver(1), MCAST, group, SENDS as u32, 30.0)
        .expect("listen");
    send_from_router(&lab, "ff0e::10:5", 1, "5000");
    let received = listener.finish().expect("report");
    assert!(received.is_complete(SENDS), "{received:?}");
}
