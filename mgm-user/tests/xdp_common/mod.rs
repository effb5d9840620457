//! Helpers of the BPF_PROG_TEST_RUN tests (`xdp_prog`, `xdp_fuzz`): test frames, running the
//! ingress program on a frame, and a data plane in a namespace of the test's own thread; and
//! of the XDP lab tests ([`lab`]). Each test binary uses a part of them.
#![allow(dead_code)]
pub mod lab;
pub mod rig;
pub mod v6;

use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
use mgm_common::{SgKey, XdpMeta};
use mgm_user::dataplane::{
    DataPlane, DataPlaneReport, ForwardingBackend, GlobalStats, IfaceSettings, ReportReader,
    XdpBackend,
};
use mgm_user::rawio::{self, Framing, PacketSocket};
use std::net::Ipv4Addr;

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_REDIRECT: u32 = 4;

/// The ingress interface of the test runs: `lo`, which exists in every namespace.
pub const LO: u32 = 1;
pub const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);

/// A test frame: Ethernet (optionally tagged), IPv4 (optionally with options), UDP.
#[derive(Clone)]
pub struct Frame {
    pub vlan: bool,
    pub options: Vec<u8>,
    pub ttl: u8,
    pub protocol: u8,
    pub source: Ipv4Addr,
    pub group: Ipv4Addr,
    pub frag_off: u16,
    pub payload: usize,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            vlan: false,
            options: Vec::new(),
            ttl: 64,
            protocol: 17,
            source: SOURCE,
            group: GROUP,
            frag_off: 0,
            payload: 18,
        }
    }
}

/// The IPv4 header checksum of `header` (with its checksum field as it is).
pub fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Frame {
    pub fn l3_offset(&self) -> usize {
        if self.vlan {
            18
        } else {
            14
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let g = self.group.octets();
        let mut f = vec![0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3], 2, 0, 0, 0, 0, 1];
        if self.vlan {
            // A priority tag (VLAN ID 0, priority 7): the port's own LAN.
            f.extend_from_slice(&[0x81, 0x00, 0xe0, 0x00]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let header_len = 20 + self.options.len();
        let total = header_len + 8 + self.payload;
        let mut ip = vec![0x40 | (header_len / 4) as u8, 0];
        ip.extend_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&0x1234u16.to_be_bytes());
        ip.extend_from_slice(&self.frag_off.to_be_bytes());
        ip.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        ip.extend_from_slice(&self.source.octets());
        ip.extend_from_slice(&self.group.octets());
        ip.extend_from_slice(&self.options);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x13, 0x88, 0x13, 0x89]);
        f.extend_from_slice(&((8 + self.payload) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend(std::iter::repeat_n(0xab, self.payload));
        f
    }
}

/// The MAC the fixture gives its veth number `i`.
pub fn mac_of(i: usize) -> [u8; 6] {
    [0x02, 0x4d, 0x47, 0x4d, 0, i as u8 + 1]
}

/// The copies' description (an `XdpMeta`) at the start of `out`, as a `JumboMeta` in front of
/// a frame passed to the TC program carries it, and the bytes behind it.
pub fn metadata_of(out: &[u8]) -> (XdpMeta, &[u8]) {
    let size = std::mem::size_of::<XdpMeta>();
    let m = out.get(..size).expect("metadata in front of the frame");
    let word = |at: usize| u32::from_ne_bytes(m[at..at + 4].try_into().expect("4 bytes"));
    let meta = XdpMeta {
        stats_slot: word(0),
        len: word(4),
        hops: m[8],
        scope: m[9],
        reserved: [m[10], m[11]],
    };
    (meta, &out[size..])
}

/// `struct xdp_md` as BPF_PROG_TEST_RUN takes it.
pub fn xdp_md(data: u32, data_end: u32, ingress_ifindex: u32) -> Vec<u8> {
    [data, data_end, 0, ingress_ifindex, 0, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
}

/// What one BPF_PROG_TEST_RUN returned.
pub struct Run {
    pub verdict: u32,
    /// The frame as the program left it (from the metadata on).
    pub out: Vec<u8>,
    /// Time per repetition.
    pub duration: std::time::Duration,
}

/// Runs `program` `repeat` times on `input` with the context `ctx`.
pub fn test_run(
    program: &Xdp,
    input: &[u8],
    ctx: &[u8],
    repeat: u32,
) -> Result<Run, aya::programs::ProgramError> {
    let mut out = vec![0u8; input.len() + 256];
    let result = program.test_run(TestRunOptions {
        data_in: Some(input),
        data_out: Some(&mut out),
        ctx_in: Some(ctx),
        repeat,
        ..TestRunOptions::new()
    })?;
    out.truncate(result.data_size_out as usize);
    Ok(Run {
        verdict: result.return_value,
        out,
        duration: result.duration,
    })
}

/// Runs `program` once on `input` in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES): a
/// redirect really happens, through devmaps and their egress programs onto the interfaces.
/// The kernel reports no verdict in this mode: the counters tell what happened.
pub fn live_run(
    program: &Xdp,
    input: &[u8],
    ctx: &[u8],
) -> Result<(), aya::programs::ProgramError> {
    program.test_run(TestRunOptions {
        data_in: Some(input),
        ctx_in: Some(ctx),
        repeat: 1,
        attrs: TestRunAttrs::new().xdp_live_frames(1),
        ..TestRunOptions::new()
    })?;
    Ok(())
}

/// Runs `ip` with `args` in the calling thread's network namespace; panics if it fails.
pub fn ip(args: &[&str]) {
    ip_tool("ip", args);
}

/// Runs `tool` with `args` in the calling thread's network namespace; panics if it fails.
pub fn ip_tool(tool: &str, args: &[&str]) {
    let status = std::process::Command::new(tool)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(status.success(), "{tool} {args:?}: {status}");
}

/// Brings the fixture's veths (o0/p0, o1/p1) up with NAPI on the peers (a veth takes
/// redirected frames only when its peer runs NAPI, GRO on; the devmap skips it, and its
/// egress program, otherwise) and opens a non-blocking capture of what arrives on p0.
pub fn capture_on_p0() -> PacketSocket {
    for link in ["o0", "p0", "o1", "p1"] {
        ip(&["link", "set", link, "up"]);
    }
    for peer in ["p0", "p1"] {
        ip_tool("ethtool", &["-K", peer, "gro", "on"]);
    }
    let capture = PacketSocket::open(Framing::Frames, libc::ETH_P_ALL as u16).expect("capture");
    capture
        .bind(rawio::ifindex("p0").expect("p0"))
        .expect("bind p0");
    capture.socket().set_nonblocking(true).expect("nonblocking");
    capture
}

/// The data plane with its backend and report reader, unpinned, in a network namespace of the
/// test's own thread (devmaps accept only existing interfaces: `oifs` are veths made there).
pub struct Fixture {
    pub plane: DataPlane,
    pub backend: XdpBackend,
    pub reports: ReportReader,
    pub oifs: Vec<u32>,
}

impl Fixture {
    /// A fixture with `count` veths (needs root).
    pub fn with_oifs(count: usize) -> Self {
        // SAFETY: moves only this thread (one test) into a new network namespace, which goes
        // away with the thread.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
        let oifs: Vec<u32> = (0..count)
            .map(|i| {
                let name = format!("o{i}");
                let status = std::process::Command::new("ip")
                    .args([
                        "link",
                        "add",
                        &name,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        &format!("p{i}"),
                    ])
                    .status()
                    .expect("run ip");
                assert!(status.success(), "ip link add {name}");
                let c_name = std::ffi::CString::new(name).expect("name");
                // SAFETY: a valid NUL-terminated name.
                unsafe { libc::if_nametoindex(c_name.as_ptr()) }
            })
            .collect();
        let mut plane = DataPlane::load().expect("load the XDP object");
        let mut backend = XdpBackend::new(&mut plane).expect("backend");
        for (i, ifindex) in oifs.iter().enumerate() {
            backend
                .configure_interface(
                    *ifindex,
                    IfaceSettings {
                        mac: mac_of(i),
                        ..IfaceSettings::default()
                    },
                )
                .expect("configure");
        }
        let reports = ReportReader::new(&mut plane).expect("report ring");
        Self {
            plane,
            backend,
            reports,
            oifs,
        }
    }

    /// Runs the ingress program on `frame` arriving on `ifindex`; returns the verdict and the
    /// frame as the program left it.
    pub fn run_on(&mut self, frame: &[u8], ifindex: u32) -> (u32, Vec<u8>) {
        let ctx = xdp_md(0, frame.len() as u32, ifindex);
        let program = self.plane.ingress_program().expect("program");
        let run = test_run(program, frame, &ctx, 1).expect("test run");
        (run.verdict, run.out)
    }

    pub fn run(&mut self, frame: &[u8]) -> (u32, Vec<u8>) {
        self.run_on(frame, LO)
    }

    /// Runs a frame that must be forwarded (to a single interface: no metadata in front).
    pub fn forward(&mut self, frame: &[u8]) -> Vec<u8> {
        let (verdict, out) = self.run(frame);
        assert_eq!(verdict, XDP_REDIRECT);
        out
    }

    pub fn stats(&self) -> GlobalStats {
        self.plane.global_stats().expect("stats")
    }

    pub fn drain_reports(&mut self) -> Vec<DataPlaneReport> {
        std::iter::from_fn(|| self.reports.try_next()).collect()
    }
}

pub fn sg() -> SgKey {
    SgKey::new(SOURCE, GROUP)
}

/// A fresh fixture with two veths.
pub fn fixture() -> Fixture {
    Fixture::with_oifs(2)
}

/// A fresh fixture with the test (S,G) installed: from `lo` to the first veth.
pub fn forwarding_fixture() -> Fixture {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    fx
}

/// A bpffs directory for one test's pinned state, removed (with everything pinned in it) on
/// drop, also when the test fails.
pub struct PinDir(pub std::path::PathBuf);

impl PinDir {
    pub fn new() -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(format!("/sys/fs/bpf/mgm-test-{}-{n}", std::process::id()).into())
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
