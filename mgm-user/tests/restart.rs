//! Root lab test (hitless restart): `kill -9` of mgmd under a continuous stream loses and
//! duplicates nothing — forwarding goes on from the pinned maps, program and links, and the
//! next mgmd adopts the entries, then re-derives them through the MGM.
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

const GROUP: &str = "239.4.4.4";
const PACKETS: u32 = 3000;

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

fn start_mgmd(lab: &mut Lab, config: &Path) -> u32 {
    let config = config.to_str().expect("utf-8 path");
    lab.spawn(
        Host::Router,
        &[
            env!("CARGO_BIN_EXE_mgmd"),
            "--config",
            config,
            "--log",
            "warn",
        ],
    )
    .expect("mgmd")
}

#[test]
fn kill_9_of_mgmd_loses_and_duplicates_nothing_on_established_flows() {
    if !root_or_skip("kill_9_of_mgmd_loses_and_duplicates_nothing_on_established_flows")
        .expect("root")
    {
        return;
    }
    let mut lab = Lab::star(2).expect("lab");
    let dir = std::env::temp_dir().join(lab.prefix());
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket: PathBuf = dir.join("api.sock");
    let config = dir.join("mgmd.toml");
    let text = format!(
        "[daemon]\napi_socket = {:?}\nbpffs = {:?}\nadopt_window_s = 1\n\
         [[interface]]\nname = \"up0\"\n[[interface]]\nname = \"rcv1\"\n[[interface]]\nname = \"rcv2\"\n\
         [[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\", \"rcv2\"]\n",
        socket.display().to_string(),
        lab_bpffs().expect("lab bpffs"),
    );
    std::fs::write(&config, text).expect("config");
    let first = start_mgmd(&mut lab, &config);
    call(&socket, &Request::Status);

    let mcast = env!("CARGO_BIN_EXE_mcast");
    let count = PACKETS.to_string();
    let receivers: Vec<_> = [1, 2]
        .map(|n| {
            lab.command(
                Host::Receiver(n),
                &[mcast, "join", GROUP, "--iface", "eth0", "--json"],
            )
            .args(["--count", &count, "--timeout", "15"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("receiver")
        })
        .into();
    std::thread::sleep(Duration::from_millis(300));
    let mut sender = lab
        .command(
            Host::Source,
            &[mcast, "send", GROUP, "--iface", "eth0", "--ttl", "8"],
        )
        .args(["--count", &count, "--interval-ms", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("sender");

    // The stream runs for several seconds; restart mgmd the hard way in the middle of it.
    std::thread::sleep(Duration::from_millis(800));
    let entries_before = match call(&socket, &Request::ShowMfe) {
        Response::Mfes { rows } => rows.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        entries_before, 1,
        "the flow has its entry before the restart"
    );
    // SAFETY: signalling a process this test started (by PID).
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    start_mgmd(&mut lab, &config);
    call(&socket, &Request::Status);

    assert!(sender.wait().expect("sender").success());
    for (n, receiver) in receivers.into_iter().enumerate() {
        let output = receiver.wait_with_output().expect("receiver output");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let seqs: Vec<u64> = report["packets"]
            .as_array()
            .map(|p| p.iter().filter_map(|d| d["seq"].as_u64()).collect())
            .unwrap_or_default();
        let expected: Vec<u64> = (0..u64::from(PACKETS)).collect();
        assert_eq!(
            seqs.len(),
            expected.len(),
            "receiver {}: lost packets",
            n + 1
        );
        let misplaced: Vec<(usize, u64)> = seqs
            .iter()
            .enumerate()
            .filter(|(i, s)| **s != *i as u64)
            .map(|(i, s)| (i, *s))
            .collect();
        assert!(
            misplaced.is_empty(),
            "receiver {}: at (position, seq) {misplaced:?}",
            n + 1
        );
    }
    // After the adoption window the new mgmd knows the entry as its own.
    match call(&socket, &Request::ShowMfe) {
        Response::Mfes { rows } => {
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(rows[0].oifs.len(), 2, "{rows:?}");
        }
        other => panic!("{other:?}"),
    }
}
