//! A lab around `Mgm`: in-process test clients that log every callback as a short line and
//! answer out-parameter callbacks as configured, plus a log of backend actions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use mgm_user::mgm::{
    Action, Address, CallbackSet, Config, IfEntry, IfId, MemberFlags, Mgm, MgmClient, MgmError,
    ProtocolHandle, RpfAnswer, Sg, StaticRib, Timestamp, MS_IP_IGMP,
};

pub const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const S3: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);
pub const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
pub const G2: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 2);
pub const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// An address family the scenarios run over. Its sources and groups are in the same order as
/// the IPv4 ones (S < S2 < S3, G < G2), so a scenario's log lines, which name them, and the
/// orders it checks read the same in both families.
pub trait Family: Address {
    /// Sources reached through one interface (S, S2) and through the next one (S3).
    const S: Self;
    const S2: Self;
    const S3: Self;
    /// Groups.
    const G: Self;
    const G2: Self;
    /// The network of S and S2, with its prefix length, and the upstream toward it.
    const NET: (Self, u8);
    const UPSTREAM: Self;
    /// The network of S3, with its prefix length.
    const NET3: (Self, u8);
    /// The first bytes of a packet of the family, as a miss report carries them.
    const HEADER: &'static [u8];

    /// Address `n` of S's network (S itself is 1).
    fn source(n: u8) -> Self;
    /// Address `n` of a network no route of [`Family::rib_via`] covers.
    fn unroutable(n: u8) -> Self;

    /// A RIB where S and S2 are reached through `ifindex` and S3 through `ifindex + 1`.
    fn rib_via(ifindex: u32) -> StaticRib<Self> {
        let mut rib = StaticRib::new();
        rib.insert(Self::NET.0, Self::NET.1, ifx(ifindex), Self::UPSTREAM);
        let any = <Self as Address>::UNSPECIFIED;
        rib.insert(Self::NET3.0, Self::NET3.1, ifx(ifindex + 1), any);
        rib
    }
}

impl Family for Ipv4Addr {
    const S: Self = S;
    const S2: Self = S2;
    const S3: Self = S3;
    const G: Self = G;
    const G2: Self = G2;
    const NET: (Self, u8) = (Ipv4Addr::new(10, 0, 0, 0), 8);
    const UPSTREAM: Self = Ipv4Addr::new(10, 9, 9, 9);
    const NET3: (Self, u8) = (Ipv4Addr::new(172, 16, 0, 0), 12);
    const HEADER: &'static [u8] = &[0x45, 0, 0, 20];

    fn source(n: u8) -> Self {
        Ipv4Addr::new(10, 0, 0, n)
    }
    fn unroutable(n: u8) -> Self {
        Ipv4Addr::new(192, 168, 0, n)
    }
}

impl Family for Ipv6Addr {
    const S: Self = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const S2: Self = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    const S3: Self = Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 1);
    const G: Self = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 1, 1);
    const G2: Self = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 1, 2);
    const NET: (Self, u8) = (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32);
    const UPSTREAM: Self = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    const NET3: (Self, u8) = (Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 0), 32);
    const HEADER: &'static [u8] = &[0x60, 0, 0, 0];

    fn source(n: u8) -> Self {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n.into())
    }
    fn unroutable(n: u8) -> Self {
        Ipv6Addr::new(0x2001, 0xdba, 0, 0, 0, 0, 0, n.into())
    }
}

/// Runs each named generic scenario `fn name<A: Family>()` once per family, as the tests
/// `name::ipv4` and `name::ipv6`.
macro_rules! for_both_families {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn ipv4() {
                super::$name::<std::net::Ipv4Addr>()
            }
            #[test]
            fn ipv6() {
                super::$name::<std::net::Ipv6Addr>()
            }
        }
    )*};
}
pub(crate) use for_both_families;

/// Interface `n` with no next hop.
pub fn ifx<A: Address>(n: u32) -> IfId<A> {
    IfId::index(n)
}

/// (S,G).
pub fn sg<A: Address>(s: A, g: A) -> Sg<A> {
    Sg::new(s, g)
}

/// (\*,G).
pub fn star<A: Address>(g: A) -> Sg<A> {
    Sg::star_g(g)
}

/// The IPv4 RIB of [`Family::rib_via`].
pub fn rib_via(ifindex: u32) -> StaticRib {
    Ipv4Addr::rib_via(ifindex)
}

fn addr_name<A: Family>(a: A) -> String {
    match a {
        a if a == A::S => "S".into(),
        a if a == A::S2 => "S2".into(),
        a if a == A::S3 => "S3".into(),
        a if a == A::G => "G".into(),
        a if a == A::G2 => "G2".into(),
        a if a.is_unspecified() => "*".into(),
        a => a.to_string(),
    }
}

fn sg_name<A: Family>(x: Sg<A>) -> String {
    format!("({},{})", addr_name(x.source), addr_name(x.group))
}

pub type Log = Rc<RefCell<Vec<String>>>;

/// A protocol that logs its callbacks and answers questions as configured.
pub struct TestClient<A: Address = Ipv4Addr> {
    name: String,
    log: Log,
    /// Interfaces this client vetoes in creation alerts.
    pub veto: Vec<IfId<A>>,
    /// Timeout answered to FALSE prune alerts.
    pub prune_timeout: Option<u32>,
    /// IIF answered to RPF questions.
    pub rpf_iif: Option<IfId<A>>,
    /// Return value of the RPF callback.
    pub rpf_status: u32,
}

impl<A: Address> TestClient<A> {
    fn push(&self, line: String) {
        self.log
            .borrow_mut()
            .push(format!("{}: {}", self.name, line));
    }
}

impl<A: Family> MgmClient<A> for TestClient<A> {
    fn rpf(&mut self, sg: Sg<A>, _header: &[u8], answer: &mut RpfAnswer<A>) -> u32 {
        self.push(format!("rpf {} iif={}", sg_name(sg), answer.iif));
        if let Some(iif) = self.rpf_iif {
            answer.iif = iif;
        }
        self.rpf_status
    }
    fn creation_alert(&mut self, sg: Sg<A>, iif: IfId<A>, entries: &mut [IfEntry<A>]) {
        let list: Vec<String> = entries
            .iter()
            .map(|e| format!("{}{}", e.ifid, if e.igmp { "+igmp" } else { "" }))
            .collect();
        self.push(format!(
            "creation {} iif={} [{}]",
            sg_name(sg),
            iif,
            list.join(" ")
        ));
        for e in entries.iter_mut() {
            if self.veto.contains(&e.ifid) {
                e.enabled = false;
            }
        }
    }
    fn prune_alert(&mut self, sg: Sg<A>, ifid: IfId<A>, member_delete: bool, timeout_s: &mut u32) {
        if member_delete {
            self.push(format!("prune {} {} member", sg_name(sg), ifid));
        } else {
            self.push(format!(
                "prune {} {} mfe timeout={}",
                sg_name(sg),
                ifid,
                timeout_s
            ));
        }
        if let Some(t) = self.prune_timeout {
            *timeout_s = t;
        }
    }
    fn join_alert(&mut self, sg: Sg<A>, member_update: bool) {
        let kind = if member_update { "member" } else { "mfe" };
        self.push(format!("join {} {}", sg_name(sg), kind));
    }
    fn wrong_if(&mut self, source: A, group: A, ifid: IfId<A>, _header: &[u8]) {
        self.push(format!(
            "wrong-if {} {} {}",
            addr_name(source),
            addr_name(group),
            ifid
        ));
    }
    fn local_join(&mut self, sg: Sg<A>, ifid: IfId<A>) {
        self.push(format!("local-join {} {}", sg_name(sg), ifid));
    }
    fn local_leave(&mut self, sg: Sg<A>, ifid: IfId<A>) {
        self.push(format!("local-leave {} {}", sg_name(sg), ifid));
    }
    fn disable_igmp(&mut self, ifid: IfId<A>) {
        self.push(format!("disable {ifid}"));
    }
    fn enable_igmp(&mut self, ifid: IfId<A>) {
        self.push(format!("enable {ifid}"));
    }
}

/// An `Mgm` with logged in-process clients, driven after every call.
pub struct Lab<A: Family = Ipv4Addr> {
    pub mgm: Mgm<A>,
    pub clients: BTreeMap<ProtocolHandle, TestClient<A>>,
    pub log: Log,
    pub backend: Vec<Action<A>>,
    pub now: Timestamp,
}

impl Lab {
    /// IPv4, default config, S via if3.
    pub fn new() -> Self {
        Lab::family()
    }
}

impl<A: Family> Lab<A> {
    /// Family `A`, default config, S via if3.
    pub fn family() -> Self {
        Lab::with(Config::default(), A::rib_via(3))
    }

    pub fn with(config: Config, rib: StaticRib<A>) -> Self {
        Lab {
            mgm: Mgm::new(config, Box::new(rib)),
            clients: BTreeMap::new(),
            log: Log::default(),
            backend: Vec::new(),
            now: Timestamp::from_secs(1000),
        }
    }

    /// Registers a protocol supplying every callback.
    pub fn register(&mut self, name: &str, protocol_id: u32) -> ProtocolHandle {
        self.register_with(name, protocol_id, CallbackSet::all())
    }

    pub fn register_with(
        &mut self,
        name: &str,
        protocol_id: u32,
        cbs: CallbackSet,
    ) -> ProtocolHandle {
        let h = self.mgm.register(protocol_id, 1, cbs).expect("register");
        let client = TestClient {
            name: name.into(),
            log: self.log.clone(),
            veto: Vec::new(),
            prune_timeout: None,
            rpf_iif: None,
            rpf_status: 0,
        };
        self.clients.insert(h, client);
        h
    }

    pub fn register_igmp(&mut self) -> ProtocolHandle {
        self.register("IGMP", MS_IP_IGMP)
    }

    pub fn client(&mut self, h: ProtocolHandle) -> &mut TestClient<A> {
        self.clients.get_mut(&h).expect("client")
    }

    /// Delivers queued actions.
    pub fn run(&mut self) {
        let backend = &mut self.backend;
        self.mgm
            .drive(self.now, &mut self.clients, &mut |a| backend.push(a));
    }

    fn done<T>(&mut self, r: Result<T, MgmError>) -> Result<T, MgmError> {
        self.run();
        r
    }

    pub fn take(&mut self, h: ProtocolHandle, i: u32) -> Result<(), MgmError> {
        let r = self.mgm.take_interface_ownership(h, ifx(i), self.now);
        self.done(r)
    }

    pub fn release(&mut self, h: ProtocolHandle, i: u32) -> Result<(), MgmError> {
        let r = self.mgm.release_interface_ownership(h, ifx(i), self.now);
        self.done(r)
    }

    pub fn add(&mut self, h: ProtocolHandle, key: Sg<A>, i: u32) -> Result<(), MgmError> {
        self.add_flags(h, key, i, MemberFlags::JOIN)
    }

    pub fn delete(&mut self, h: ProtocolHandle, key: Sg<A>, i: u32) -> Result<(), MgmError> {
        self.delete_flags(h, key, i, MemberFlags::JOIN)
    }

    pub fn add_flags(
        &mut self,
        h: ProtocolHandle,
        key: Sg<A>,
        i: u32,
        f: MemberFlags,
    ) -> Result<(), MgmError> {
        let r = self.mgm.add_membership(h, key, ifx(i), f, self.now);
        self.done(r)
    }

    pub fn delete_flags(
        &mut self,
        h: ProtocolHandle,
        key: Sg<A>,
        i: u32,
        f: MemberFlags,
    ) -> Result<(), MgmError> {
        let r = self.mgm.delete_membership(h, key, ifx(i), f, self.now);
        self.done(r)
    }

    /// A packet miss for (s,g) arriving on `ifindex`.
    pub fn packet(&mut self, s: A, g: A, ifindex: u32) {
        let r = self.mgm.packet_miss(s, g, ifindex, A::HEADER, self.now);
        self.done(r).expect("packet miss");
    }

    /// Advances the clock and runs the timers.
    pub fn advance(&mut self, secs: u64) {
        self.now = self.now + Duration::from_secs(secs);
        self.mgm.tick(self.now);
        self.run();
    }

    /// Takes the callback lines logged so far.
    pub fn calls(&mut self) -> Vec<String> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    /// Takes the backend actions so far.
    pub fn actions(&mut self) -> Vec<Action<A>> {
        std::mem::take(&mut self.backend)
    }

    /// Interface indexes of the MFE's OIF list, or `None` without an MFE.
    pub fn oifs(&self, key: Sg<A>) -> Option<Vec<u32>> {
        self.mgm
            .mfe(key)
            .map(|m| m.oifs().iter().map(|i| i.ifindex).collect())
    }
}

impl<A: Family> Lab<A> {
    /// Everything observable about the state, for "changes no state" checks.
    pub fn fingerprint(&self) -> String {
        let owners: Vec<_> = (0..32)
            .map(|i| self.mgm.protocol_on_interface(ifx(i)))
            .collect();
        let mfes: Vec<_> = self.mgm.mfes().collect();
        format!(
            "{:?}|{:?}|{:?}|{}",
            self.mgm.memberships(),
            mfes,
            owners,
            self.mgm.queued_actions()
        )
    }
}

impl<A: Family> Lab<A> {
    /// Polls every queued action without delivering anything.
    pub fn poll_all(&mut self) -> Vec<Action<A>> {
        std::iter::from_fn(|| self.mgm.poll_action()).collect()
    }
}
