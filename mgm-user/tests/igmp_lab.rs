//! Root lab tests of the IGMP router against real Linux hosts: the host's kernel, forced to
//! IGMPv2 or v3, reports what the leaf sockets join and leave; the router state machine, fed
//! by a raw IGMP socket in the router's namespace, must track it, turn it into the right
//! membership changes, honour leaves within the last member query time and expire a vanished
//! host's group after the group membership interval. A second test puts two routers on one
//! link and checks the querier election and the takeover.
use mgm_user::igmp::{
    self, Action, ChangeKind, FilterMode, IfaceConfig, MembershipChange, MessageKind,
    QuerierNotice, Router, Snapshot, Transmit, Version,
};
use mgm_user::lab::{Host, Lab};
use mgm_user::leaf::{Channel, Iface, Receiver};
use mgm_user::rawio;
use mgm_user::wire::igmp::{Repr, ALL_ROUTERS, ALL_V3_ROUTERS};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 10, 0, 1);
const SSM_GROUP: Ipv4Addr = Ipv4Addr::new(232, 10, 0, 1);
const SSM_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PORT: u16 = 5010;

/// Short timers so that the test runs in seconds: GMI = 2 × 2 + 1 = 5 s, LMQT = 2 × 0.2 s.
fn config() -> IfaceConfig {
    IfaceConfig {
        version: Version::V3,
        robustness: 2,
        query_interval: Duration::from_secs(2),
        query_response_interval: Duration::from_secs(1),
        startup_query_interval: Duration::from_millis(500),
        startup_query_count: 2,
        last_member_query_interval: Duration::from_millis(200),
        last_member_query_count: 2,
        ..IfaceConfig::default()
    }
}

const GMI: Duration = Duration::from_secs(5);
const LMQT: Duration = Duration::from_millis(400);
/// Scheduling and kernel delays tolerated on top of protocol times in lower bounds.
const SLACK: Duration = Duration::from_millis(700);
/// How long the test waits for an event beyond its protocol time: it bounds a failure only,
/// so it is generous (a loaded machine delays events, it must not fail the test).
const BOUND: Duration = Duration::from_secs(10);

/// The memberships the MGM core would hold, built from the change events alone; every event
/// must be consistent with the set (no double join, no leave of nothing).
#[derive(Debug, Default, PartialEq, Eq)]
struct Memberships(BTreeSet<(Ipv4Addr, ChangeKind)>);

impl Memberships {
    fn apply(&mut self, c: &MembershipChange) {
        let (undo, is_add) = match c.kind {
            ChangeKind::JoinAny => (ChangeKind::JoinAny, true),
            ChangeKind::LeaveAny => (ChangeKind::JoinAny, false),
            ChangeKind::JoinSource(s) => (ChangeKind::JoinSource(s), true),
            ChangeKind::LeaveSource(s) => (ChangeKind::JoinSource(s), false),
            ChangeKind::Block(s) => (ChangeKind::Block(s), true),
            ChangeKind::Unblock(s) => (ChangeKind::Block(s), false),
        };
        let key = (c.group, undo);
        if is_add {
            assert!(self.0.insert(key), "duplicate {c:?}");
        } else {
            assert!(self.0.remove(&key), "removal of absent {c:?}");
        }
    }

    fn of(items: &[(Ipv4Addr, ChangeKind)]) -> Self {
        Memberships(items.iter().copied().collect())
    }
}

/// `MRT_INIT` of linux/mroute.h: become the multicast routing daemon.
const MRT_INIT: libc::c_int = 200;
/// `MRT_ADD_VIF`: add a virtual interface.
const MRT_ADD_VIF: libc::c_int = 202;
/// `VIFF_USE_IFINDEX`: the VIF names its device by ifindex.
const VIFF_USE_IFINDEX: u8 = 0x8;

/// `struct vifctl` of linux/mroute.h, with the ifindex arm of its union.
#[repr(C)]
#[derive(Clone, Copy)]
struct VifCtl {
    vifi: u16,
    flags: u8,
    threshold: u8,
    rate_limit: u32,
    lcl_ifindex: libc::c_int,
    rmt_addr: u32,
}

/// A raw IGMP socket (IP_HDRINCL, IP_PKTINFO, loopback off) listening on one interface.
///
/// Linux hands a raw IGMP socket only the IGMP it delivers locally: v3 reports (to
/// 224.0.0.22) and v2 leaves (to 224.0.0.2) once the router has joined those groups on the
/// interface. v1/v2 reports go to the reported group itself; the kernel passes them to the
/// socket registered as multicast router (MRT_INIT) when the interface is one of its virtual
/// interfaces, which `mroute` arranges. (mgmd reads IGMP with a packet socket instead.)
struct IgmpSocket {
    socket: Socket,
}

impl IgmpSocket {
    fn open(ifindex: u32, mroute: bool) -> io::Result<IgmpSocket> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_IGMP)),
        )?;
        socket.set_header_included_v4(true)?;
        socket.set_multicast_loop_v4(false)?;
        rawio::set_opt(
            &socket,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            &1 as &libc::c_int,
        )?;
        let iface = InterfaceIndexOrAddress::Index(ifindex);
        socket.join_multicast_v4_n(&ALL_V3_ROUTERS, &iface)?;
        socket.join_multicast_v4_n(&ALL_ROUTERS, &iface)?;
        if mroute {
            rawio::set_opt(&socket, libc::IPPROTO_IP, MRT_INIT, &1 as &libc::c_int)?;
            let vif = VifCtl {
                vifi: 0,
                flags: VIFF_USE_IFINDEX,
                threshold: 1,
                rate_limit: 0,
                lcl_ifindex: libc::c_int::try_from(ifindex).expect("ifindex"),
                rmt_addr: 0,
            };
            rawio::set_opt(&socket, libc::IPPROTO_IP, MRT_ADD_VIF, &vif)?;
        }
        Ok(IgmpSocket { socket })
    }

    /// The next IGMP datagram within `timeout`: interface of arrival and bytes.
    fn recv(&self, timeout: Duration) -> io::Result<Option<(u32, Vec<u8>)>> {
        Ok(rawio::recv(&self.socket, timeout)?.map(|r| (r.ifindex.unwrap_or(0), r.data)))
    }

    fn send(&self, transmit: &Transmit) -> io::Result<()> {
        let mreqn = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr { s_addr: 0 },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: libc::c_int::try_from(transmit.ifindex).expect("ifindex"),
        };
        rawio::set_opt(
            &self.socket,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn,
        )?;
        let to = SockAddr::from(SocketAddrV4::new(transmit.dst, 0));
        self.socket.send_to(&transmit.datagram, &to)?;
        Ok(())
    }
}

/// The router under test: the state machine driven by a raw IGMP socket.
struct Rtr {
    router: Router,
    socket: IgmpSocket,
    memberships: Memberships,
    changes: Vec<(Instant, MembershipChange)>,
    querier_notices: Vec<QuerierNotice>,
    last_report: Option<Instant>,
    send_errors: u32,
}

impl Rtr {
    fn start(lab: &Lab, host: Host, iface: &str, addr: Ipv4Addr, mroute: bool) -> Rtr {
        let ifindex = lab.ifindex(host, iface).expect("ifindex");
        let socket = lab
            .in_ns(host, || IgmpSocket::open(ifindex, mroute))
            .expect("enter namespace")
            .expect("raw IGMP socket");
        let mut rtr = Rtr {
            router: Router::new(),
            socket,
            memberships: Memberships::default(),
            changes: Vec::new(),
            querier_notices: Vec::new(),
            last_report: None,
            send_errors: 0,
        };
        let first = rtr
            .router
            .add_interface(ifindex, addr, 24, config(), Instant::now())
            .expect("add interface");
        rtr.apply(first);
        rtr
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(t) => {
                    if self.socket.send(&t).is_err() {
                        self.send_errors += 1;
                    }
                }
                Action::Membership(c) => {
                    self.memberships.apply(&c);
                    self.changes.push((Instant::now(), c));
                }
                Action::LimitReached(n) => panic!("no bound is reached in this lab: {n:?}"),
                Action::QuerierChanged(n) => self.querier_notices.push(n),
            }
        }
    }

    /// Runs the router for `d`.
    fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        self.pump_until(end, |_| false);
    }

    /// Runs the router until `done` holds for its snapshot (then returns the instant) or
    /// until `end`.
    fn pump_until(&mut self, end: Instant, done: impl Fn(&Snapshot) -> bool) -> Option<Instant> {
        loop {
            let now = Instant::now();
            if done(&self.router.snapshot(now)) {
                return Some(now);
            }
            if now >= end {
                return None;
            }
            let until = self.router.next_timeout().map_or(end, |t| t.min(end));
            let wait = until.saturating_duration_since(now);
            if let Some((ifindex, bytes)) = self.socket.recv(wait).expect("recv") {
                let now = Instant::now();
                let is_report = igmp::parse(&bytes).is_ok_and(|m| reports(&m.igmp, GROUP));
                if is_report {
                    self.last_report = Some(now);
                }
                let actions = self.router.handle_packet(ifindex, &bytes, now);
                self.apply(actions);
            }
            let actions = self.router.tick(Instant::now());
            self.apply(actions);
        }
    }

    fn group(&self, group: Ipv4Addr) -> Option<igmp::GroupSnapshot> {
        group_of(&self.router.snapshot(Instant::now()), group)
    }
}

/// Whether `msg` is a report (or leave) about `group`.
fn reports(msg: &Repr, group: Ipv4Addr) -> bool {
    match msg {
        Repr::ReportV1 { group: g } | Repr::ReportV2 { group: g } | Repr::Leave { group: g } => {
            *g == group
        }
        Repr::ReportV3 { records } => records.iter().any(|r| r.group == group),
        Repr::Query { .. } => false,
    }
}

fn group_of(snapshot: &Snapshot, group: Ipv4Addr) -> Option<igmp::GroupSnapshot> {
    snapshot
        .interfaces
        .iter()
        .flat_map(|i| i.groups.iter())
        .find(|g| g.group == group)
        .cloned()
}

fn join(lab: &Lab, channel: Channel) -> Receiver {
    lab.in_ns(Host::Receiver(1), || {
        Receiver::join(channel, PORT, Iface::lookup("eth0")?)
    })
    .expect("enter host")
    .expect("join")
}

fn any(group: Ipv4Addr) -> Channel {
    Channel {
        group,
        source: None,
    }
}

fn run_host_scenario(version: u8) {
    let lab = Lab::star(1).expect("lab");
    let host = Host::Receiver(1);
    lab.sysctl(
        host,
        "net.ipv4.conf.eth0.force_igmp_version",
        &version.to_string(),
    )
    .expect("force IGMP version");
    let mut rtr = Rtr::start(
        &lab,
        Host::Router,
        "rcv1",
        Ipv4Addr::new(10, 1, 0, 254),
        true,
    );
    rtr.pump(Duration::from_millis(300));
    assert!(rtr.group(GROUP).is_none());

    // 1. The host joins GROUP: EXCLUDE {} on the router, a (*,G) join for the core.
    let member = join(&lab, any(GROUP));
    let seen = rtr.pump_until(Instant::now() + BOUND, |s| group_of(s, GROUP).is_some());
    assert!(seen.is_some(), "v{version}: join not seen");
    let g = rtr.group(GROUP).expect("group");
    assert_eq!(g.filter_mode, FilterMode::Exclude);
    assert!(g.sources.is_empty());
    let expect_compat = if version == 2 {
        Version::V2
    } else {
        Version::V3
    };
    assert_eq!(g.compat_version, expect_compat);
    assert_eq!(
        rtr.memberships,
        Memberships::of(&[(GROUP, ChangeKind::JoinAny)])
    );

    // 2. A source-specific join: v3 makes INCLUDE {S}; v2 cannot express it and the report
    //    for an SSM group is ignored (RFC 4604).
    let ssm = join(
        &lab,
        Channel {
            group: SSM_GROUP,
            source: Some(SSM_SOURCE),
        },
    );
    let ssm_seen = |s: &Snapshot| {
        let ignored = &s.interfaces[0].counters.ignored;
        if version == 3 {
            group_of(s, SSM_GROUP).is_some_and(|g| !g.sources.is_empty())
        } else {
            ignored
                .get(&igmp::IgnoreReason::SsmAnySource)
                .copied()
                .unwrap_or(0)
                >= 1
        }
    };
    rtr.pump_until(Instant::now() + BOUND, ssm_seen)
        .expect("the source-specific report handled");
    if version == 3 {
        let g = rtr.group(SSM_GROUP).expect("SSM group");
        assert_eq!(g.filter_mode, FilterMode::Include);
        assert_eq!(
            g.sources.iter().map(|s| s.source).collect::<Vec<_>>(),
            vec![SSM_SOURCE]
        );
        assert_eq!(
            rtr.memberships,
            Memberships::of(&[
                (GROUP, ChangeKind::JoinAny),
                (SSM_GROUP, ChangeKind::JoinSource(SSM_SOURCE))
            ])
        );
    } else {
        assert!(rtr.group(SSM_GROUP).is_none());
        let snap = rtr.router.snapshot(Instant::now());
        assert!(snap.interfaces[0].counters.ignored[&igmp::IgnoreReason::SsmAnySource] >= 1);
    }
    let left = Instant::now();
    ssm.leave().expect("leave SSM");
    // A leave ends the group after the last member queries (LMQT, 0.4 s), well before the
    // group membership interval (5 s) would: waiting up to GMI tells the two apart with a
    // margin no load reaches.
    rtr.pump_until(left + GMI, |s| group_of(s, SSM_GROUP).is_none());
    assert!(
        rtr.group(SSM_GROUP).is_none(),
        "v{version}: SSM leave not honoured"
    );

    // 3. The host leaves GROUP: the router queries it and drops it after LMQT.
    let left = Instant::now();
    member.leave().expect("leave");
    let gone = rtr
        .pump_until(left + GMI, |s| group_of(s, GROUP).is_none())
        .expect("leave honoured before the group membership interval");
    eprintln!("v{version}: leave took {:?} (LMQT {LMQT:?})", gone - left);
    assert_eq!(rtr.memberships, Memberships::default());
    let snap = rtr.router.snapshot(Instant::now());
    assert!(snap.interfaces[0].counters.sent[&MessageKind::GroupQuery] >= 1);

    // 4. The host joins again and vanishes without leaving: the group lives for the group
    //    membership interval after the last report.
    let _member = join(&lab, any(GROUP));
    rtr.pump_until(Instant::now() + BOUND, |s| group_of(s, GROUP).is_some())
        .expect("join seen again");
    rtr.pump(Duration::from_secs(3));
    lab.ip(host, &["link", "set", "eth0", "down"])
        .expect("host down");
    let gone = rtr
        .pump_until(Instant::now() + GMI + BOUND, |s| {
            group_of(s, GROUP).is_none()
        })
        .expect("vanished host's group expires");
    let last = rtr.last_report.expect("reports were seen");
    let lived = gone - last;
    // Never before the group membership interval; how long after depends on the load.
    assert!(
        lived + Duration::from_millis(50) >= GMI,
        "v{version}: group lived {lived:?} after the last report"
    );
    assert_eq!(rtr.memberships, Memberships::default());
    let snap = rtr.router.snapshot(Instant::now());
    let dropped: u64 = snap.interfaces[0].counters.dropped.values().sum();
    assert_eq!(
        dropped, 0,
        "valid traffic dropped: {:?}",
        snap.interfaces[0].counters
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn igmpv3_host_join_leave_and_expiry() {
    run_host_scenario(3);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn igmpv2_host_join_leave_and_expiry() {
    run_host_scenario(2);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn two_routers_elect_the_lower_address_and_take_over() {
    let lab = Lab::star(1).expect("lab");
    let high_addr = Ipv4Addr::new(10, 1, 0, 254);
    let low_addr = Lab::address_of(Host::Receiver(1));
    let mut high = Rtr::start(&lab, Host::Router, "rcv1", high_addr, false);
    let mut low = Rtr::start(&lab, Host::Receiver(1), "eth0", low_addr, false);
    // Both start as queriers; the higher one yields once it hears the lower one's query.
    let yielded = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            high.pump_until(Instant::now() + BOUND, |s| {
                let querier = &s.interfaces[0].querier;
                querier.address == low_addr && !querier.is_self
            });
            yielded.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        s.spawn(|| {
            while !yielded.load(std::sync::atomic::Ordering::Relaxed) {
                low.pump(Duration::from_millis(100));
            }
        });
    });
    let now = Instant::now();
    let h = &high.router.snapshot(now).interfaces[0].querier;
    let l = &low.router.snapshot(now).interfaces[0].querier;
    assert_eq!(
        (h.address, h.is_self),
        (low_addr, false),
        "higher router yields"
    );
    assert_eq!(
        (l.address, l.is_self),
        (low_addr, true),
        "lower router is querier"
    );
    let ifindex = lab.ifindex(Host::Router, "rcv1").expect("ifindex");
    let yielded_to = QuerierNotice {
        ifindex,
        other: Some((low_addr, Version::V3)),
        configured: Version::V3,
    };
    assert_eq!(
        high.querier_notices,
        [yielded_to],
        "the yield is logged once"
    );
    assert_eq!(low.querier_notices, [], "the querier saw no change");
    let quiet_since = Instant::now();
    let sent_before = high.router.snapshot(now).interfaces[0]
        .counters
        .sent
        .clone();
    high.pump(Duration::from_secs(1));
    assert_eq!(
        high.router.snapshot(Instant::now()).interfaces[0]
            .counters
            .sent,
        sent_before,
        "the non-querier is quiet"
    );
    // The lower router goes away; the other takes over within the other querier present
    // interval (2 × 2 s + 1 s / 2 = 4.5 s) of its last query.
    drop(low);
    let oqpi = Duration::from_millis(4500);
    let took_over = high
        .pump_until(Instant::now() + oqpi + BOUND, |s| {
            s.interfaces[0].querier.is_self
        })
        .expect("takeover");
    // Not before the interval has run from the last query heard, which came at most one
    // query interval (2 s) before the quiet began; how long after depends on the load.
    let waited = took_over - quiet_since;
    assert!(
        waited + Duration::from_secs(2) + SLACK >= oqpi,
        "takeover after {waited:?}"
    );
    let sent = high.router.snapshot(Instant::now()).interfaces[0]
        .counters
        .sent[&MessageKind::GeneralQuery];
    assert!(
        sent > sent_before[&MessageKind::GeneralQuery],
        "it queries again"
    );
    let back = QuerierNotice {
        other: None,
        ..yielded_to
    };
    assert_eq!(
        high.querier_notices,
        [yielded_to, back],
        "the takeover is logged"
    );
    assert_eq!(high.send_errors, 0);
}
