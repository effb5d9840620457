//! Root lab tests of faults: an outgoing interface deleted under traffic, and a bpffs that is
//! not there. Each has a defined outcome that mgmd reports and keeps to.
use mgm_user::{
    api::{
        client::Client,
        proto::{Request, Response},
    },
    lab::{lab_bpffs, root_or_skip, Host, Lab},
};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

const GROUP: &str = "239.6.6.6";

fn call(socket: &Path, request: &Request) -> Response {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Client::connect(socket).await {
                Ok(mut c) => return c.call(request).await.expect("call"),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("mgmd did not answer: {e}"),
            }
        }
    })
}

/// Starts mgmd routing GROUP from up0 to every receiver; `bpffs` as given.
fn start(lab: &mut Lab, bpffs: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(lab.prefix());
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("api.sock");
    let config = dir.join("mgmd.toml");
    let receivers: Vec<String> = (1..=lab.receivers())
        .map(|n| format!("\"rcv{n}\""))
        .collect();
    let mut text = format!(
        "[daemon]\napi_socket = {:?}\nbpffs = {bpffs:?}\n[[interface]]\nname = \"up0\"\n",
        socket.display().to_string()
    );
    for n in 1..=lab.receivers() {
        text += &format!("[[interface]]\nname = \"rcv{n}\"\n");
    }
    text += &format!(
        "[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [{}]\n",
        receivers.join(", ")
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
    call(&socket, &Request::Status);
    socket
}

#[test]
fn deleting_an_outgoing_interface_under_traffic_spares_the_others() {
    if !root_or_skip("deleting_an_outgoing_interface_under_traffic_spares_the_others")
        .expect("root")
    {
        return;
    }
    let mut lab = Lab::star(2).expect("lab");
    let socket = start(&mut lab, lab_bpffs().expect("lab bpffs"));
    let mcast = env!("CARGO_BIN_EXE_mcast");
    let receiver = lab
        .command(
            Host::Receiver(1),
            &[mcast, "join", GROUP, "--iface", "eth0", "--json"],
        )
        .args(["--count", "2000", "--timeout", "15"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("receiver");
    std::thread::sleep(Duration::from_millis(300));
    let mut sender = lab
        .command(
            Host::Source,
            &[mcast, "send", GROUP, "--iface", "eth0", "--ttl", "8"],
        )
        .args(["--count", "2000", "--interval-ms", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("sender");
    std::thread::sleep(Duration::from_millis(700));
    lab.ip(Host::Router, &["link", "del", "rcv2"])
        .expect("delete rcv2");
    assert!(sender.wait().expect("sender").success());
    let output = receiver.wait_with_output().expect("receiver");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(report["received"].as_u64(), Some(2000), "rcv1 lost packets");
    let Response::Interfaces { rows } = call(&socket, &Request::ShowInterfaces) else {
        panic!("interfaces");
    };
    let rcv2 = rows
        .iter()
        .find(|r| r.name == "rcv2")
        .expect("rcv2 stays configured");
    assert!(!rcv2.up && rcv2.xdp.is_none(), "{rcv2:?}");
    let Response::Mfes { rows } = call(&socket, &Request::ShowMfe) else {
        panic!("mfe");
    };
    let oifs: Vec<&str> = rows[0].oifs.iter().map(|o| o.iface.as_str()).collect();
    assert_eq!(
        oifs,
        ["rcv1"],
        "the entry forwards to the remaining interface only"
    );
}

#[test]
fn without_bpffs_mgmd_forwards_unpinned() {
    if !root_or_skip("without_bpffs_mgmd_forwards_unpinned").expect("root") {
        return;
    }
    let mut lab = Lab::star(1).expect("lab");
    // Inside `ip netns exec`, /sys/fs/bpf is not a bpffs: pinning fails, mgmd says so and
    // forwards unpinned.
    let socket = start(&mut lab, "/sys/fs/bpf/mgm");
    let mcast = env!("CARGO_BIN_EXE_mcast");
    let receiver = lab
        .command(
            Host::Receiver(1),
            &[mcast, "join", GROUP, "--iface", "eth0", "--json"],
        )
        .args(["--count", "50", "--timeout", "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("receiver");
    std::thread::sleep(Duration::from_millis(300));
    lab.run(
        Host::Source,
        &[
            mcast,
            "send",
            GROUP,
            "--iface",
            "eth0",
            "--ttl",
            "8",
            "--count",
            "50",
            "--interval-ms",
            "2",
        ],
    )
    .expect("send");
    let output = receiver.wait_with_output().expect("receiver");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(report["received"].as_u64(), Some(50));
    assert!(matches!(
        call(&socket, &Request::Status),
        Response::Status { .. }
    ));
}
