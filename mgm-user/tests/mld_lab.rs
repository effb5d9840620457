//! Root lab test of the MLD router side (`mgm_core::mld`) against a real Linux host: the host's
//! kernel, forced to MLDv1 or MLDv2, reports what its sockets join and leave; the router state
//! machine, fed by a packet socket in the router's namespace and sending its queries through
//! it, must accept the kernel's packets through every receive check (link-local source, hop
//! limit 1, Router Alert, ICMPv6 checksum), turn them into the right membership changes and end
//! them after a leave. The kernel in turn must answer the router's general query (MLDv2
//! current-state records are only ever sent in answer to a query), so it accepts the queries
//! this crate builds. A third test puts two routers on one link and checks the querier
//! election by the lowest link-local address and the takeover.
use mgm_core::mld::{
    self, Action, ChangeKind, DropReason, FilterMode, IfaceConfig, MembershipChange, Router,
    Version,
};
use mgm_core::wire::mld::{RecordType, Repr};
use mgm_user::lab::{Host, Lab, Stack};
use mgm_user::leaf::{Channel, Iface, Receiver};
use mgm_user::rawio::{Framing, PacketSocket};
use std::io;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x10, 1);
const SSM_GROUP: Ipv6Addr = Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0x10, 1);
const SSM_SOURCE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const PORT: u16 = 5010;
const HOST: Host = Host::Receiver(1);
/// The router's side of the link to the host.
const ROUTER_IF: &str = "rcv1";
/// EtherType of IPv6.
const ETH_P_IPV6: u16 = 0x86dd;
/// How long the test waits for an event: it bounds a failure only, so it is generous.
const BOUND: Duration = Duration::from_secs(15);

/// Short timers so that leaves complete in well under a second: LLQT = 2 × 0.2 s.
fn config(version: Version) -> IfaceConfig {
    IfaceConfig {
        version,
        robustness: 2,
        query_interval: Duration::from_secs(2),
        query_response_interval: Duration::from_secs(1),
        startup_query_interval: Duration::from_millis(500),
        startup_query_count: 2,
        last_listener_query_interval: Duration::from_millis(200),
        last_listener_query_count: 2,
        ..IfaceConfig::default()
    }
}

/// A socket of the host joined to `group` (from `source` only, when given) on `eth0`, with the
/// leaf library (IPV6_JOIN_GROUP or MCAST_JOIN_SOURCE_GROUP).
fn join(lab: &Lab, group: Ipv6Addr, source: Option<Ipv6Addr>) -> Receiver {
    lab.in_ns(HOST, || {
        Receiver::join(Channel { group, source }, PORT, Iface::lookup("eth0")?)
    })
    .expect("enter the host")
    .expect("join")
}

/// Sets the host's MLD version on its link to the router (in a dual-stack lab, where both
/// ends have usable link-local addresses) with short unsolicited report intervals, and
/// returns the router's link-local address on that link.
fn host_mld(lab: &Lab, force_mld_version: u8) -> Ipv6Addr {
    lab.force_mld_version(HOST, "eth0", force_mld_version)
        .expect("sysctl");
    for key in [
        "mldv1_unsolicited_report_interval",
        "mldv2_unsolicited_report_interval",
    ] {
        lab.sysctl(HOST, &format!("net.ipv6.conf.eth0.{key}"), "100")
            .expect("sysctl");
    }
    lab.link_local(Host::Router, ROUTER_IF).expect("link-local")
}

/// The router under test: the MLD state machine on a packet socket.
struct Rtr {
    router: Router,
    socket: PacketSocket,
    ifindex: u32,
    changes: Vec<MembershipChange>,
    /// Current-state records (IS_IN / IS_EX) about [`GROUP`] heard from the host.
    current_state_records: u32,
}

impl Rtr {
    fn start(lab: &Lab, addr: Ipv6Addr, config: IfaceConfig) -> Rtr {
        Self::start_on(lab, Host::Router, ROUTER_IF, addr, config)
    }

    /// A router on `iface` of `host`.
    fn start_on(lab: &Lab, host: Host, iface: &str, addr: Ipv6Addr, config: IfaceConfig) -> Rtr {
        let ifindex = lab.ifindex(host, iface).expect("ifindex");
        let socket = lab
            .in_ns(host, || -> io::Result<PacketSocket> {
                let socket = PacketSocket::open(Framing::Cooked, ETH_P_IPV6)?;
                socket.bind(ifindex)?;
                Ok(socket)
            })
            .expect("enter the router")
            .expect("packet socket");
        let mut rtr = Rtr {
            router: Router::new(),
            socket,
            ifindex,
            changes: Vec::new(),
            current_state_records: 0,
        };
        let first = rtr
            .router
            .add_interface(ifindex, addr, config, Instant::now())
            .expect("add interface");
        rtr.apply(first);
        rtr
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(t) => {
                    let d = t.dst.octets();
                    let mac = [0x33, 0x33, d[12], d[13], d[14], d[15]];
                    self.socket
                        .send_to(t.ifindex, mac, &t.packet)
                        .expect("send a query");
                }
                Action::Membership(c) => self.changes.push(c),
                Action::LimitReached(n) => panic!("no bound is reached in this lab: {n:?}"),
                Action::QuerierChanged(_) => {}
            }
        }
    }

    /// Runs the router until `done` holds (then true) or for [`BOUND`] (then false).
    fn pump_until(&mut self, done: impl Fn(&Rtr) -> bool) -> bool {
        let end = Instant::now() + BOUND;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            self.step(end);
        }
    }

    /// Waits for one packet (at most until the next timer or `end`), handles it and runs the
    /// timers that are due.
    fn step(&mut self, end: Instant) {
        let mut buffer = vec![0u8; 65536];
        let now = Instant::now();
        let until = self.router.next_timeout().map_or(end, |t| t.min(end));
        let wait = until
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        self.socket
            .socket()
            .set_read_timeout(Some(wait))
            .expect("timeout");
        match self.socket.recv_from(&mut buffer) {
            Ok((len, arrival)) if !arrival.outgoing => {
                let packet = &buffer[..len];
                if let Ok(msg) = mld::parse(packet) {
                    self.current_state_records += current_state(&msg.mld);
                }
                let actions = self
                    .router
                    .handle_packet(self.ifindex, packet, Instant::now());
                self.apply(actions);
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("recv: {e}"),
        }
        let actions = self.router.tick(Instant::now());
        self.apply(actions);
    }

    fn has(&self, group: Ipv6Addr, kind: ChangeKind) -> bool {
        self.changes
            .iter()
            .any(|c| c.group == group && c.kind == kind)
    }

    fn group(&self, group: Ipv6Addr) -> Option<mld::GroupSnapshot> {
        self.router
            .snapshot(Instant::now())
            .interfaces
            .into_iter()
            .flat_map(|i| i.groups)
            .find(|g| g.group == group)
    }

    fn querier(&self) -> mld::QuerierSnapshot {
        self.router.snapshot(Instant::now()).interfaces[0]
            .querier
            .clone()
    }

    fn counters(&self) -> mld::Counters {
        self.router.snapshot(Instant::now()).interfaces[0]
            .counters
            .clone()
    }
}

/// Current-state records about [`GROUP`] in an MLDv2 report.
fn current_state(msg: &Repr) -> u32 {
    match msg {
        Repr::ReportV2 { records } => records
            .iter()
            .filter(|r| {
                r.group == GROUP
                    && matches!(r.record_type, RecordType::IsInclude | RecordType::IsExclude)
            })
            .count() as u32,
        _ => 0,
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mldv2_host_joins_and_leaves_and_answers_queries() {
    let lab = Lab::star_with(1, Stack::Dual).expect("lab");
    let addr = host_mld(&lab, 2);
    let mut rtr = Rtr::start(&lab, addr, config(Version::V2));

    // An any-source join: EXCLUDE {}, a (*,G) join for the MGM.
    let member = join(&lab, GROUP, None);
    assert!(
        rtr.pump_until(|r| r.has(GROUP, ChangeKind::JoinAny)),
        "join not seen: {:?}",
        rtr.counters()
    );
    let g = rtr.group(GROUP).expect("group");
    assert_eq!(
        (g.filter_mode, g.compat_version),
        (FilterMode::Exclude, Version::V2)
    );

    // The host answers the router's periodic general query with a current-state record.
    assert!(
        rtr.pump_until(|r| r.current_state_records > 0),
        "no answer to the router's queries: {:?}",
        rtr.counters()
    );

    // A source-specific join: an (S,G) join.
    let ssm = join(&lab, SSM_GROUP, Some(SSM_SOURCE));
    assert!(rtr.pump_until(|r| r.has(SSM_GROUP, ChangeKind::JoinSource(SSM_SOURCE))));

    // Leaving: TO_IN {} and BLOCK {S}; the router's specific queries go unanswered and the
    // memberships end.
    drop(member);
    drop(ssm);
    assert!(rtr.pump_until(|r| r.has(GROUP, ChangeKind::LeaveAny)
        && r.has(SSM_GROUP, ChangeKind::LeaveSource(SSM_SOURCE))));
    assert!(rtr.group(GROUP).is_none() && rtr.group(SSM_GROUP).is_none());
    let c = rtr.counters();
    assert_eq!(c.dropped.get(&DropReason::MldChecksum), None, "{c:?}");
    assert_eq!(c.dropped.get(&DropReason::NoRouterAlert), None, "{c:?}");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mldv1_host_joins_and_leaves() {
    let lab = Lab::star_with(1, Stack::Dual).expect("lab");
    let addr = host_mld(&lab, 1);
    let mut rtr = Rtr::start(&lab, addr, config(Version::V2));

    let member = join(&lab, GROUP, None);
    assert!(
        rtr.pump_until(|r| r.has(GROUP, ChangeKind::JoinAny)),
        "join not seen: {:?}",
        rtr.counters()
    );
    let g = rtr.group(GROUP).expect("group");
    assert_eq!(
        (g.filter_mode, g.compat_version),
        (FilterMode::Exclude, Version::V1)
    );
    assert!(g.v1_host_timer_ms.is_some());

    // An MLDv1 host cannot ask for a source: the SSM join reaches the router as nothing it
    // may act on (RFC 4604), and no (S,G) join appears.
    let ssm = join(&lab, SSM_GROUP, Some(SSM_SOURCE));

    // Done: the router's group-specific queries go unanswered and the (*,G) join ends.
    drop(member);
    assert!(rtr.pump_until(|r| r.has(GROUP, ChangeKind::LeaveAny)));
    assert!(rtr.group(GROUP).is_none());
    assert!(!rtr.changes.iter().any(|c| c.group == SSM_GROUP));
    drop(ssm);
    let c = rtr.counters();
    assert!(
        c.received.contains_key(&mld::MessageKind::ReportV1),
        "{c:?}"
    );
    assert!(c.received.contains_key(&mld::MessageKind::Done), "{c:?}");
    assert_eq!(c.dropped.get(&DropReason::MldChecksum), None, "{c:?}");
}

/// Two routers on one link, each a state machine on its own packet socket: the one with the
/// lower link-local address is querier, the other falls silent and takes over once the
/// querier is gone for the Other Querier Present Interval (2 × 2 s + 0.5 s here).
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn querier_election_between_two_routers_on_a_link() {
    let lab = Lab::star_with(1, Stack::Dual).expect("lab");
    let router_addr = host_mld(&lab, 2);
    let host_addr = lab.link_local(HOST, "eth0").expect("link-local");
    let mut a = Rtr::start(&lab, router_addr, config(Version::V2));
    let mut b = Rtr::start_on(&lab, HOST, "eth0", host_addr, config(Version::V2));
    let (low, high) = if router_addr < host_addr {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let (low_addr, high_addr) = (router_addr.min(host_addr), router_addr.max(host_addr));
    let end = Instant::now() + BOUND;
    while high.querier().is_self && Instant::now() < end {
        low.step(end);
        high.step(end);
    }
    let q = high.querier();
    assert_eq!((q.address, q.is_self), (low_addr, false));
    assert!(low.querier().is_self);
    assert_eq!(low.querier().address, low_addr);
    // The querier stops (nothing runs it any more): the other one takes over.
    assert!(high.pump_until(|r| r.querier().is_self));
    assert_eq!(high.querier().address, high_addr);
}
