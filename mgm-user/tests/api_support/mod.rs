//! Support for the API tests: an external protocol driven synchronously from a test (its own
//! runtime; events waited for with a bound), the lab configuration those tests share, and
//! address, interface and record helpers. The tests that use it declare `mod support;` too.
#![allow(dead_code)]

use crate::support::{self, Mgmd, EXTERNAL, NO_IGMP};
use anyhow::{bail, Context as _, Result};
use mgm_user::{
    api::{
        proto::{ApiCallback, ApiFamily, ApiIfId, ApiRecord, ApiSg, Event, MfeRecord, Response},
        protocol::{BufferAnswer, ProtocolClient, ProtocolError, RegisterOptions},
    },
    lab::Lab,
    mgm::{protocol_id, win32},
};
use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
    time::Duration,
};

/// Protocol id of the test protocols (vendor 0x137, type 1, id 0x77).
pub const PROTOCOL_ID: u32 = protocol_id(1, 0x137, 0x77);
/// `MS_IP_IGMP`.
pub const IGMP_ID: u32 = 0x4137_000A;
/// The source host's address.
pub const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// How long a test waits for one event.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// The wildcard address.
pub const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
/// A host mask.
pub const HOST: Ipv4Addr = Ipv4Addr::BROADCAST;

/// Every interface is left to external protocols; IGMP runs on the receivers' interfaces.
pub fn all_external() -> String {
    let up0 = format!("{EXTERNAL}\n{NO_IGMP}");
    support::interfaces(&[("up0", &up0), ("rcv1", EXTERNAL), ("rcv2", EXTERNAL)])
}

/// mgmd on a two-receiver star lab with every interface left to external protocols
/// ([`all_external`]), and the ifindexes of up0, rcv1 and rcv2.
pub fn start_all_external() -> Result<(Mgmd, [u32; 3])> {
    let mgmd = Mgmd::start(Lab::star(2)?, &all_external())?;
    let indexes = [
        ifindex(&mgmd, "up0")?,
        ifindex(&mgmd, "rcv1")?,
        ifindex(&mgmd, "rcv2")?,
    ];
    Ok((mgmd, indexes))
}

/// The ifindex mgmd shows for interface `name`.
pub fn ifindex(mgmd: &Mgmd, name: &str) -> Result<u32> {
    let rows = mgmd.interfaces()?;
    Ok(rows
        .iter()
        .find(|r| r.name == name)
        .with_context(|| format!("no interface {name}"))?
        .ifindex)
}

/// (\*,`group`).
pub fn star_g(group: Ipv4Addr) -> ApiSg {
    ApiSg::new(ANY, group)
}

/// An interface without next hop.
pub fn ifid(ifindex: u32) -> ApiIfId {
    ApiIfId::index(ifindex)
}

/// A registered external protocol, called synchronously.
pub struct Protocol {
    rt: tokio::runtime::Runtime,
    /// The client (use [`Protocol::run`] to call it).
    pub client: ProtocolClient,
    /// Events received and not yet matched by [`Protocol::expect`].
    pub backlog: Vec<Event>,
}

impl Protocol {
    /// Registers with every callback, answers due within `deadline_ms`.
    pub fn register(socket: &Path, component_id: u32, deadline_ms: u32) -> Result<Self> {
        Self::try_register(socket, component_id, deadline_ms)?
            .map_err(|e| anyhow::anyhow!("registering: {e}"))
    }

    /// Registers as [`Protocol::register`] does and takes the interfaces `ifids`.
    pub fn register_taking(
        socket: &Path,
        component_id: u32,
        deadline_ms: u32,
        ifids: &[ApiIfId],
    ) -> Result<Self> {
        let mut protocol = Self::register(socket, component_id, deadline_ms)?;
        for &i in ifids {
            protocol
                .run(|c| c.take(i))
                .with_context(|| format!("taking interface {}", i.ifindex))?;
        }
        Ok(protocol)
    }

    /// Registers, returning mgmd's refusal as a value.
    pub fn try_register(
        socket: &Path,
        component_id: u32,
        deadline_ms: u32,
    ) -> Result<Result<Self, ProtocolError>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let options = RegisterOptions {
            answer_deadline_ms: Some(deadline_ms),
            rpf_reject: false,
        };
        let client = rt.block_on(ProtocolClient::register_with(
            socket,
            PROTOCOL_ID,
            component_id,
            &ApiCallback::ALL,
            options,
        ));
        Ok(client.map(|client| Self {
            rt,
            client,
            backlog: Vec::new(),
        }))
    }

    /// Runs one call of the client.
    pub fn run<'a, T, F: Future<Output = T> + 'a>(
        &'a mut self,
        call: impl FnOnce(&'a mut ProtocolClient) -> F,
    ) -> T {
        self.rt.block_on(call(&mut self.client))
    }

    /// Sends a raw request and returns the response as it is.
    pub fn request(&mut self, request: mgm_user::api::proto::Request) -> Result<Response> {
        Ok(self.run(|c| c.call(request))?)
    }

    /// Moves every event already received into the backlog (without waiting for more).
    pub fn drain(&mut self) -> Result<()> {
        loop {
            let ready = self.rt.block_on(async {
                tokio::time::timeout(Duration::ZERO, self.client.next_event()).await
            });
            match ready {
                Ok(event) => self.backlog.push(event.context("the connection failed")?),
                Err(_) => return Ok(()),
            }
        }
    }

    /// The next event, whatever it is (the backlog first).
    pub fn next(&mut self) -> Result<Event> {
        if !self.backlog.is_empty() {
            return Ok(self.backlog.remove(0));
        }
        self.expect("any event", |_| true)
    }

    /// Waits for an event `matches` accepts (events seen before first); others are kept.
    pub fn expect(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Result<Event> {
        if let Some(at) = self.backlog.iter().position(&matches) {
            return Ok(self.backlog.remove(at));
        }
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            let next = self.rt.block_on(async {
                tokio::time::timeout_at(deadline, self.client.next_event()).await
            });
            let event = match next {
                Ok(event) => event.context("the connection failed")?,
                Err(_) => bail!("no {what} within {EVENT_WAIT:?}; got {:?}", self.backlog),
            };
            if matches(&event) {
                return Ok(event);
            }
            self.backlog.push(event);
        }
    }
}

/// The error code of a refused call.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, ProtocolError>) -> Result<u32> {
    match result {
        Err(ProtocolError::Refused { code, .. }) => Ok(code),
        other => bail!("expected a refusal, got {other:?}"),
    }
}

/// The MFE records of a buffer answer.
pub fn mfes(answer: &BufferAnswer) -> Vec<MfeRecord> {
    answer
        .entries
        .iter()
        .filter_map(|r| match r {
            ApiRecord::Mfe(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// An address family of the tests: [`Ipv4Addr`] or [`Ipv6Addr`].
pub trait Family: Copy + std::fmt::Debug {
    /// `addr` if it is of this family.
    fn of(addr: IpAddr) -> Option<Self>;
}

impl Family for Ipv4Addr {
    fn of(addr: IpAddr) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

impl Family for Ipv6Addr {
    fn of(addr: IpAddr) -> Option<Self> {
        match addr {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// (source, group) of the `SOURCE_GROUP_ENTRY` records of family `A` of a buffer answer.
pub fn source_groups<A: Family>(answer: &BufferAnswer) -> Vec<(A, A)> {
    answer
        .entries
        .iter()
        .filter_map(|r| match r {
            ApiRecord::SourceGroup { source, group, .. } => Some((A::of(*source)?, A::of(*group)?)),
            _ => None,
        })
        .collect()
}

/// An example program, built beside the binaries by a `cargo test` of the whole package (a
/// run of one test file alone needs `cargo build -p mgm-user --examples` first).
pub fn example(name: &str) -> Result<std::path::PathBuf> {
    let bin_dir = std::path::Path::new(support::MGMD)
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let path = bin_dir.join("examples").join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build -p mgm-user --examples` first",
        path.display()
    );
    Ok(path)
}

/// Most batches [`walk_groups`] asks for before it calls the walk endless.
const MAX_BATCHES: usize = 1000;

/// Walks the group enumeration `h` in `buffer_size`-byte batches until mgmd says no more
/// items: every batch is `buffer_size` bytes of whole entries, and every batch but the last
/// holds `per_batch` of them (`buffer_size / per_batch` bytes each) with more data to come.
/// The (source, group) keys of family `A` seen, in order.
pub fn walk_groups<A: Family>(
    p: &mut Protocol,
    h: u64,
    buffer_size: u32,
    per_batch: u32,
) -> Result<Vec<(A, A)>> {
    let entry = (buffer_size / per_batch) as usize;
    let mut seen = Vec::new();
    for _ in 0..MAX_BATCHES {
        let a = p.run(|c| c.group_enumeration_get_next(h, buffer_size))?;
        anyhow::ensure!(
            a.buffer_size == buffer_size && a.records.len() == entry * a.num_entries as usize,
            "{a:?}"
        );
        seen.extend(source_groups(&a));
        if a.status == win32::ERROR_NO_MORE_ITEMS {
            return Ok(seen);
        }
        anyhow::ensure!(
            a.status == win32::ERROR_MORE_DATA && a.num_entries == per_batch,
            "{a:?}"
        );
    }
    bail!("no end of the enumeration after {MAX_BATCHES} batches: {seen:?}")
}

/// Starts ALL_SOURCES group enumerations in `family`'s MGM (`open`: those open already)
/// until mgmd refuses one, the first refusal in this mgmd: the refusal is 1003 at 64 open,
/// and counted in `show stats` for that family only. The handles open.
pub fn enumerations_up_to_the_limit(
    mgmd: &Mgmd,
    p: &mut Protocol,
    family: ApiFamily,
    mut open: Vec<u64>,
) -> Result<Vec<u64>> {
    let refused = loop {
        match p.run(|c| c.group_enumeration_start_in(family, 1)) {
            Ok(h) => open.push(h),
            Err(e) => break e,
        }
        anyhow::ensure!(open.len() <= MAX_BATCHES, "no limit on open enumerations");
    };
    let code = refusal::<()>(Err(refused))?;
    anyhow::ensure!(
        open.len() == 64 && code == win32::ERROR_CAN_NOT_COMPLETE,
        "{} open, then {code}",
        open.len()
    );
    let (this, other) = match family {
        ApiFamily::Ipv4 => ("api_enumerations_refused", "api_enumerations6_refused"),
        ApiFamily::Ipv6 => ("api_enumerations6_refused", "api_enumerations_refused"),
    };
    let stats = mgmd.stats()?;
    anyhow::ensure!(
        stats.get(this) == Some(&1) && stats.get(other) == Some(&0),
        "{stats:?}"
    );
    Ok(open)
}

/// Runs the `walk_protocol` example against `mgmd` with `args` (after `--socket`): its
/// stdout and the JSON objects of its lines.
pub fn walk_protocol(mgmd: &Mgmd, args: &[&str]) -> Result<(String, Vec<serde_json::Value>)> {
    let out = std::process::Command::new(example("walk_protocol")?)
        .args(["--socket", support::path_str(&mgmd.socket())?])
        .args(args)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "walk_protocol failed: {text}");
    let lines = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    Ok((text, lines))
}

/// Runs the Python protocol `tests/<script>` against `mgmd` with rcv1's ifindex; it must
/// succeed.
pub fn run_python_protocol(mgmd: &Mgmd, script: &str) -> Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(path)
        .arg(mgmd.socket())
        .arg(ifindex(mgmd, "rcv1")?.to_string())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "the Python protocol {script} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `MgmSetMfe` of (`source`, `group`) to `upstream`, then `MgmGetMfe` shows it.
pub fn set_upstream(
    p: &mut Protocol,
    source: impl Into<IpAddr>,
    group: impl Into<IpAddr>,
    upstream: impl Into<IpAddr>,
) -> Result<()> {
    let (source, group, upstream) = (source.into(), group.into(), upstream.into());
    p.run(|c| c.set_mfe(source, group, upstream))?;
    let a = p.run(|c| c.get_mfe(source, group, 1024))?;
    anyhow::ensure!(
        mfes(&a).first().map(|m| m.head.upstream) == Some(upstream),
        "{a:?}"
    );
    Ok(())
}
