//! The `mcast` tool: its help documents the loopback semantics, and (root, lab) a join on one
//! host counts numbered datagrams sent from the next hop with their TTL and sequence.
use mgm_user::lab::{Host, Lab};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const MCAST: &str = env!("CARGO_BIN_EXE_mcast");

#[test]
fn help_documents_where_ip_multicast_loop_acts() {
    let out = Command::new(MCAST)
        .args(["send", "--help"])
        .output()
        .expect("run mcast");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("IP_MULTICAST_LOOP"), "{help}");
    assert!(help.contains("SENDING socket"), "{help}");
    assert!(help.contains("Winsock"), "{help}");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn join_counts_numbered_datagrams() {
    let lab = Lab::star(1).expect("lab");
    let mut join = lab
        .command(
            Host::Receiver(1),
            &[
                MCAST,
                "join",
                "239.3.3.3",
                "--iface",
                "eth0",
                "--port",
                "5300",
                "--count",
                "3",
                "--timeout",
                "10",
                "--json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn join");
    let mut ready = String::new();
    BufReader::new(join.stderr.take().expect("stderr"))
        .read_line(&mut ready)
        .expect("read stderr");
    assert!(ready.starts_with("joined 239.3.3.3"), "{ready}");
    lab.run(
        Host::Router,
        &[
            MCAST,
            "send",
            "239.3.3.3",
            "--iface",
            "rcv1",
            "--ttl",
            "3",
            "--count",
            "3",
            "--interval-ms",
            "20",
            "--port",
            "5300",
        ],
    )
    .expect("send");
    let out = join.wait_with_output().expect("join exits");
    assert!(out.status.success(), "join failed: {out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["received"], 3);
    assert_eq!(report["by_sender"]["10.1.0.254"], 3);
    for (i, p) in report["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .enumerate()
    {
        assert_eq!(p["seq"], i as u64);
        assert_eq!(p["ttl"], 3);
        assert_eq!(p["sent_ttl"], 3);
    }
}

/// Runs `mcast ARGS` and returns its stderr, asserting that it failed.
fn fails(args: &[&str]) -> String {
    let out = Command::new(MCAST).args(args).output().expect("run mcast");
    assert!(!out.status.success(), "mcast {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_groups_and_sources_are_refused_clearly() {
    let err = fails(&["send", "2001:db8::1", "--iface", "lo"]);
    assert!(
        err.contains("2001:db8::1 is not a multicast group"),
        "{err}"
    );
    let err = fails(&["join", "10.0.0.1", "--iface", "lo"]);
    assert!(err.contains("10.0.0.1 is not a multicast group"), "{err}");
    let err = fails(&["join", "ff3e::1", "--source", "10.0.0.1", "--iface", "lo"]);
    assert!(err.contains("different address families"), "{err}");
    let err = fails(&[
        "join",
        "232.1.1.1",
        "--source",
        "239.1.1.1",
        "--iface",
        "lo",
    ]);
    assert!(err.contains("239.1.1.1 is not a unicast address"), "{err}");
    let err = fails(&["join", "ff0e::1", "--iface", "no-such-if0"]);
    assert!(err.contains("interface no-such-if0"), "{err}");
    let err = fails(&["send", "ff0e::1", "--iface", "lo", "--ttl", "256"]);
    assert!(err.contains("--ttl"), "{err}");
}

#[test]
fn help_documents_both_families() {
    let out = Command::new(MCAST)
        .args(["send", "--help"])
        .output()
        .expect("run mcast");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("IPV6_MULTICAST_HOPS"), "{help}");
    assert!(help.contains("IPV6_MULTICAST_IF"), "{help}");
    assert!(help.contains("IPV6_MULTICAST_LOOP"), "{help}");
}
