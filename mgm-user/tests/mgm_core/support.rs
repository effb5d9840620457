//! A lab around `Mgm`: in-process test clients that log every callback as a short line and
//! answer out-parameter callbacks as configured, plus a log of backend actions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use mgm_user::mgm::{
    Action, CallbackSet, Config, IfEntry, IfId, MemberFlags, Mgm, MgmClient, MgmError,
    ProtocolHandle, RpfAnswer, Sg, StaticRib, Timestamp, MS_IP_IGMP,
};

pub const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const S3: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);
pub const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
pub const G2: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 2);
pub const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// Interface `n` with next hop 0.
pub fn ifx(n: u32) -> IfId {
    IfId::index(n)
}

/// (S,G).
pub fn sg(s: Ipv4Addr, g: Ipv4Addr) -> Sg {
    Sg::new(s, g)
}

/// (\*,G).
pub fn star(g: Ipv4Addr) -> Sg {
    Sg::star_g(g)
}

/// A RIB where S and S2 are reached through `ifindex` and S3 through `ifindex + 1`.
pub fn rib_via(ifindex: u32) -> StaticRib {
    let mut rib = StaticRib::new();
    rib.insert(
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        ifx(ifindex),
        Ipv4Addr::new(10, 9, 9, 9),
    );
    rib.insert(Ipv4Addr::new(172, 16, 0, 0), 12, ifx(ifindex + 1), ANY);
    rib
}

fn addr_name(a: Ipv4Addr) -> String {
    match a {
        S => "S".into(),
        S2 => "S2".into(),
        S3 => "S3".into(),
        G => "G".into(),
        G2 => "G2".into(),
        a if a.is_unspecified() => "*".into(),
        a => a.to_string(),
    }
}

fn sg_name(x: Sg) -> String {
    format!("({},{})", addr_name(x.source), addr_name(x.group))
}

pub type Log = Rc<RefCell<Vec<String>>>;

/// A protocol that logs its callbacks and answers questions as configured.
pub struct TestClient {
    name: String,
    log: Log,
    /// Interfaces this client vetoes in creation alerts.
    pub veto: Vec<IfId>,
    /// Timeout answered to FALSE prune alerts.
    pub prune_timeout: Option<u32>,
    /// IIF answered to RPF questions.
    pub rpf_iif: Option<IfId>,
    /// Return value of the RPF callback.
    pub rpf_status: u32,
}

impl TestClient {
    fn push(&self, line: String) {
        self.log
            .borrow_mut()
            .push(format!("{}: {}", self.name, line));
    }
}

impl MgmClient for TestClient {
    fn rpf(&mut self, sg: Sg, _header: &[u8], answer: &mut RpfAnswer) -> u32 {
        self.push(format!("rpf {} iif={}", sg_name(sg), answer.iif));
        if let Some(iif) = self.rpf_iif {
            answer.iif = iif;
        }
        self.rpf_status
    }
    fn creation_alert(&mut self, sg: Sg, iif: IfId, entries: &mut [IfEntry]) {
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
    fn prune_alert(&mut self, sg: Sg, ifid: IfId, member_delete: bool, timeout_s: &mut u32) {
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
    fn join_alert(&mut self, sg: Sg, member_update: bool) {
        let kind = if member_update { "member" } else { "mfe" };
        self.push(format!("join {} {}", sg_name(sg), kind));
    }
    fn wrong_if(&mut self, source: Ipv4Addr, group: Ipv4Addr, ifid: IfId, _header: &[u8]) {
        self.push(format!(
            "wrong-if {} {} {}",
            addr_name(source),
            addr_name(group),
            ifid
        ));
    }
    fn local_join(&mut self, sg: Sg, ifid: IfId) {
        self.push(format!("local-join {} {}", sg_name(sg), ifid));
    }
    fn local_leave(&mut self, sg: Sg, ifid: IfId) {
        self.push(format!("local-leave {} {}", sg_name(sg), ifid));
    }
    fn disable_igmp(&mut self, ifid: IfId) {
        self.push(format!("disable {ifid}"));
    }
    fn enable_igmp(&mut self, ifid: IfId) {
        self.push(format!("enable {ifid}"));
    }
}

/// An `Mgm` with logged in-process clients, driven after every call.
pub struct Lab {
    pub mgm: Mgm,
    pub clients: BTreeMap<ProtocolHandle, TestClient>,
    pub log: Log,
    pub backend: Vec<Action>,
    pub now: Timestamp,
}

impl Lab {
    /// Default config, S via if3.
    pub fn new() -> Self {
        Lab::with(Config::default(), rib_via(3))
    }

    pub fn with(config: Config, rib: StaticRib) -> Self {
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

    pub fn client(&mut self, h: ProtocolHandle) -> &mut TestClient {
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

    pub fn add(&mut self, h: ProtocolHandle, key: Sg, i: u32) -> Result<(), MgmError> {
        self.add_flags(h, key, i, MemberFlags::JOIN)
    }

    pub fn delete(&mut self, h: ProtocolHandle, key: Sg, i: u32) -> Result<(), MgmError> {
        self.delete_flags(h, key, i, MemberFlags::JOIN)
    }

    pub fn add_flags(
        &mut self,
        h: ProtocolHandle,
        key: Sg,
        i: u32,
        f: MemberFlags,
    ) -> Result<(), MgmError> {
        let r = self.mgm.add_membership(h, key, ifx(i), f, self.now);
        self.done(r)
    }

    pub fn delete_flags(
        &mut self,
        h: ProtocolHandle,
        key: Sg,
        i: u32,
        f: MemberFlags,
    ) -> Result<(), MgmError> {
        let r = self.mgm.delete_membership(h, key, ifx(i), f, self.now);
        self.done(r)
    }

    /// A packet miss for (s,g) arriving on `ifindex`.
    pub fn packet(&mut self, s: Ipv4Addr, g: Ipv4Addr, ifindex: u32) {
        let r = self
            .mgm
            .packet_miss(s, g, ifindex, &[0x45, 0, 0, 20], self.now);
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
    pub fn actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.backend)
    }

    /// Interface indexes of the MFE's OIF list, or `None` without an MFE.
    pub fn oifs(&self, key: Sg) -> Option<Vec<u32>> {
        self.mgm
            .mfe(key)
            .map(|m| m.oifs().iter().map(|i| i.ifindex).collect())
    }
}

impl Lab {
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

impl Lab {
    /// Polls every queued action without delivering anything.
    pub fn poll_all(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.mgm.poll_action()).collect()
    }
}
