//! Root lab test (no packet lost at creation): a receiver joined before the first packet of a
//! new stream gets every packet from the very first one, in order and exactly once, through
//! mgmd's punt-and-hold path — for a paced stream and for a back-to-back burst.
use mgm_user::{
    api::{
        client::Client,
        proto::{Request, Response},
    },
    lab::{root_or_skip, Host, Lab},
};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

const GROUP: &str = "239.7.7.7";

/// Starts mgmd on the lab's router serving `up0` and `rcv1`; returns its API socket.
fn start_mgmd(lab: &mut Lab) -> PathBuf {
    let dir = std::env::temp_dir().join(lab.prefix());
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("api.sock");
    let config = dir.join("mgmd.toml");
    let text = format!(
        "[daemon]\napi_socket = {:?}\n[[interface]]\nname = \"up0\"\n[[interface]]\nname = \"rcv1\"\n",
        socket.display().to_string()
    );
    std::fs::write(&config, text).expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();
    lab.spawn(
        Host::Router,
        &[
            env!("CARGO_BIN_EXE_mgmd"),
            "--config",
            &config,
            "--log",
            "warn",
        ],
    )
    .expect("mgmd");
    socket
}

fn call(socket: &Path, request: Request) -> Response {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Client::connect(socket).await {
                Ok(mut c) => return c.call(&request).await.expect("call"),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("mgmd did not answer: {e}"),
            }
        }
    })
}

/// Sends `count` packets `interval_ms` apart to a group a receiver joined beforehand; returns
/// the sequence numbers the receiver got, in arrival order, and mgmd's counters.
fn first_packets(count: u32, interval_ms: u32) -> (Vec<u64>, Response) {
    let mut lab = Lab::star(1).expect("lab");
    let _ = lab.sysctl(Host::Receiver(1), "net.core.rmem_max", "33554432");
    let socket = start_mgmd(&mut lab);
    // mgmd listens for IGMP before the receiver joins, so it hears the unsolicited reports.
    call(&socket, Request::Status);
    let mcast = env!("CARGO_BIN_EXE_mcast");
    let count_text = count.to_string();
    let receiver = lab
        .command(
            Host::Receiver(1),
            &[mcast, "join", GROUP, "--iface", "eth0", "--json"],
        )
        .args(["--count", &count_text, "--timeout", "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("receiver");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Response::Groups { rows } = call(&socket, Request::ShowGroups) {
            if rows.iter().any(|r| r.group.to_string() == GROUP) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the receiver's IGMP report never reached mgmd"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = lab
        .command(
            Host::Source,
            &[mcast, "send", GROUP, "--iface", "eth0", "--ttl", "8"],
        )
        .args([
            "--count",
            &count_text,
            "--interval-ms",
            &interval_ms.to_string(),
        ])
        .status()
        .expect("sender");
    assert!(sent.success());
    // The receiver ends by itself: after `count` datagrams or its 8 s timeout.
    let output = receiver.wait_with_output().expect("receiver output");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let seqs = report["packets"]
        .as_array()
        .map(|p| p.iter().filter_map(|d| d["seq"].as_u64()).collect())
        .unwrap_or_default();
    (seqs, call(&socket, Request::Stats))
}

fn assert_complete(seqs: &[u64], count: u32, stats: &Response) {
    let expected: Vec<u64> = (0..u64::from(count)).collect();
    assert_eq!(
        seqs.len(),
        expected.len(),
        "received {} of {count}; mgmd counters: {stats:?}",
        seqs.len()
    );
    let misplaced = seqs.iter().zip(&expected).filter(|(a, b)| a != b).count();
    assert_eq!(
        misplaced, 0,
        "{misplaced} packets out of order or duplicated"
    );
}

#[test]
fn a_paced_new_stream_loses_nothing_from_its_first_packet() {
    if !root_or_skip("a_paced_new_stream_loses_nothing_from_its_first_packet").expect("root") {
        return;
    }
    let (seqs, stats) = first_packets(200, 1);
    assert_complete(&seqs, 200, &stats);
}

#[test]
fn a_back_to_back_burst_of_a_new_stream_loses_nothing() {
    if !root_or_skip("a_back_to_back_burst_of_a_new_stream_loses_nothing").expect("root") {
        return;
    }
    let (seqs, stats) = first_packets(5000, 0);
    assert_complete(&seqs, 5000, &stats);
}
