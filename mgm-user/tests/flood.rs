//! Root lab test (flood): a source spraying packets to random (S,G) as fast as an AF_PACKET
//! sender goes, while an established flow runs. The report rate limit holds, mgmd's memory and
//! hold queues stay bounded, the API keeps answering, and the established flow loses nothing.
use mgm_user::{
    api::{
        client::Client,
        proto::{Request, Response},
    },
    lab::{lab_bpffs, root_or_skip, Host, Lab},
    wire::ipv4,
};
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

const GROUP: &str = "239.5.5.5";
const PACKETS: u32 = 3000;
const FLOOD_FOR: Duration = Duration::from_secs(2);

fn call(socket: &Path, request: &Request) -> (Response, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let started = Instant::now();
            match Client::connect(socket).await {
                Ok(mut c) => {
                    let response = c.call(request).await.expect("call");
                    return (response, started.elapsed());
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("mgmd did not answer: {e}"),
            }
        }
    })
}

fn counters(socket: &Path) -> BTreeMap<String, u64> {
    match call(socket, &Request::Stats).0 {
        Response::Stats { counters } => counters,
        other => panic!("{other:?}"),
    }
}

/// A small xorshift generator: the flood needs speed and variety, not quality.
struct Spray(u64);

impl Spray {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as u32
    }
}

/// Sends UDP frames to random (S,G) (sources in 172.16/12, groups in 239.128/9) out of
/// `eth0` of the calling thread's namespace for `duration`; returns how many were sent.
fn flood(duration: Duration) -> u64 {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET socket");
    let name = std::ffi::CString::new("eth0").expect("name");
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    // SAFETY: sockaddr_ll is plain data.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_ifindex = ifindex as i32;
    to.sll_halen = 6;
    let mut spray = Spray(0x9e37_79b9_7f4a_7c15);
    let mut frame = [0u8; 14 + 20 + 8 + 18];
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let mut sent = 0;
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        for _ in 0..256 {
            let source = Ipv4Addr::from(0xac10_0000 | (spray.next() & 0x000f_ffff));
            let group = Ipv4Addr::from(0xef80_0000 | (spray.next() & 0x007f_ffff));
            let repr = ipv4::Repr {
                src: source,
                dst: group,
                protocol: 17,
                ttl: 16,
                tos: 0,
                router_alert: false,
                payload_len: 26,
            };
            let o = group.octets();
            frame[..6].copy_from_slice(&[0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
            repr.emit(&mut frame[14..]).expect("emit");
            // SAFETY: the frame and address are valid for the lengths passed.
            let n = unsafe {
                libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&to as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if n > 0 {
                sent += 1;
            }
        }
    }
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    sent
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_random_sg_flood_leaves_mgmd_bounded_and_established_flows_whole() {
    if !root_or_skip("a_random_sg_flood_leaves_mgmd_bounded_and_established_flows_whole")
        .expect("root")
    {
        return;
    }
    let mut lab = Lab::star(1).expect("lab");
    let dir = std::env::temp_dir().join(lab.prefix());
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("api.sock");
    let config = dir.join("mgmd.toml");
    let text = format!(
        "[daemon]\napi_socket = {:?}\nbpffs = {:?}\n\
         [[interface]]\nname = \"up0\"\n[[interface]]\nname = \"rcv1\"\n\
         [[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        socket.display().to_string(),
        lab_bpffs().expect("lab bpffs"),
    );
    std::fs::write(&config, text).expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();
    let mgmd = lab
        .spawn(
            Host::Router,
            &[
                env!("CARGO_BIN_EXE_mgmd"),
                "--config",
                &config,
                "--log",
                "error",
            ],
        )
        .expect("mgmd");
    call(&socket, &Request::Status);
    let rss_before = rss_kib(mgmd);

    let mcast = env!("CARGO_BIN_EXE_mcast");
    let count = PACKETS.to_string();
    let receiver = lab
        .command(
            Host::Receiver(1),
            &[mcast, "join", GROUP, "--iface", "eth0", "--json"],
        )
        .args(["--count", &count, "--timeout", "20"])
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
        .args(["--count", &count, "--interval-ms", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("sender");
    std::thread::sleep(Duration::from_millis(500));

    let before = counters(&socket);
    let (sent, slowest_answer) = std::thread::scope(|scope| {
        let flooder = scope.spawn(|| lab.in_ns(Host::Source, || flood(FLOOD_FOR)).expect("ns"));
        let mut slowest = Duration::ZERO;
        let until = Instant::now() + FLOOD_FOR;
        while Instant::now() < until {
            let (response, took) = call(&socket, &Request::Status);
            assert!(matches!(response, Response::Status { .. }), "{response:?}");
            slowest = slowest.max(took);
            std::thread::sleep(Duration::from_millis(100));
        }
        (flooder.join().expect("flooder"), slowest)
    });
    let after = counters(&socket);
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let rss_after = rss_kib(mgmd);
    let rate = sent as f64 / FLOOD_FOR.as_secs_f64();
    eprintln!(
        "flood: {sent} frames ({rate:.0}/s) to random (S,G); XDP misses {}, reports raised {}, \
         rate-limited {}; held now {}, hold overflow {}, aged out {}; API slowest answer {:?}; \
         mgmd RSS {rss_before} -> {rss_after} KiB",
        delta("miss"),
        delta("report_miss"),
        delta("report_rate_limited"),
        after.get("hold_queued_now").copied().unwrap_or(0),
        delta("hold_overflow"),
        delta("hold_aged_out"),
        slowest_answer,
    );

    assert!(sent > 10_000, "the flood sent only {sent} frames");
    assert!(
        delta("report_rate_limited") > 0,
        "the report rate limit must have held back most creation alerts"
    );
    assert!(
        delta("report_miss") < sent / 2,
        "reports were not rate-limited"
    );
    assert!(
        slowest_answer < Duration::from_secs(2),
        "API answered in {slowest_answer:?}"
    );
    assert!(
        rss_after < rss_before + 256 * 1024,
        "mgmd grew from {rss_before} to {rss_after} KiB"
    );

    assert!(sender.wait().expect("sender").success());
    let output = receiver.wait_with_output().expect("receiver output");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let received = report["received"].as_u64().unwrap_or(0);
    assert_eq!(
        received,
        u64::from(PACKETS),
        "the established flow lost packets under the flood"
    );
}
