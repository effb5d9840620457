//! Root lab tests of the three seed scenarios of the MGM API (spec §7.1, §7.2, §4.9–4.15),
//! end to end over mgmd's socket with real IGMP receivers and real traffic: startup (the owner
//! of an IGMP-only interface, taking it inside IGMP's disable/enable bracket as the monitor
//! shows, learning the groups IGMP already had), processing (join alert, RPF, creation alert
//! with a veto, MFE walk, SetMfe) and enumeration with small buffers.
mod api_support;
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use api_support::{
    enumerations_up_to_the_limit, ifid, ifindex, mfes, refusal, set_upstream, source_groups,
    star_g, start_all_external, walk_groups, walk_protocol, Protocol, ANY, HOST, IGMP_ID, SOURCE,
};
use mgm_user::{
    api::{
        client::Client,
        proto::{ApiAnswer, ApiFamily, ApiMasks, ApiSg, Event, MonitorEvent, Request, Response},
    },
    lab::{Host, Lab},
    mgm::win32,
};
use std::{
    io::{BufRead as _, BufReader},
    net::Ipv4Addr,
    process::Stdio,
    sync::mpsc,
    time::Duration,
};
use support::{Mgmd, EXTERNAL, MGMCTL, NO_IGMP};

/// A monitor connection read from the test.
struct Monitor {
    rt: tokio::runtime::Runtime,
    client: Client,
    seen: Vec<MonitorEvent>,
}

impl Monitor {
    /// Subscribes; every MGM callback after this returns is seen.
    fn subscribe(mgmd: &Mgmd) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut client = rt.block_on(Client::connect(mgmd.socket()))?;
        let ok = rt.block_on(client.call(&Request::Monitor))?;
        ensure!(ok == Response::Ok, "{ok:?}");
        Ok(Self {
            rt,
            client,
            seen: Vec::new(),
        })
    }

    /// Reads until `matches` accepts an event; returns its position in the stream.
    fn until(&mut self, what: &str, matches: impl Fn(&MonitorEvent) -> bool) -> Result<usize> {
        if let Some(at) = self.seen.iter().position(&matches) {
            return Ok(at);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let next = self.rt.block_on(async {
                tokio::time::timeout_at(deadline, self.client.next_monitored()).await
            });
            let Ok(event) = next else {
                bail!("the monitor showed no {what}; it showed {:?}", self.seen);
            };
            self.seen.push(event?);
            if matches(self.seen.last().context("empty")?) {
                return Ok(self.seen.len() - 1);
            }
        }
    }
}

fn igmp_callback(e: &MonitorEvent, want: &Event) -> bool {
    matches!(e, MonitorEvent::Callback { protocol, event, .. } if protocol == "igmp" && event == want)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn startup_scenario() -> Result<()> {
    let config = support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL), ("rcv2", "")]);
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let (g1, g2) = (Ipv4Addr::new(239, 6, 0, 1), Ipv4Addr::new(239, 6, 0, 2));
    let _l1 = mgmd.listen(Host::Receiver(1), g1, 1, 30.0)?;
    let _l2 = mgmd.listen(Host::Receiver(2), g2, 1, 30.0)?;
    mgmd.wait_for_igmp_members(g1, &["rcv1"])?;
    mgmd.wait_for_igmp_members(g2, &["rcv2"])?;
    let rcv1 = ifindex(&mgmd, "rcv1")?;
    let mut monitor = Monitor::subscribe(&mgmd)?;

    // 1. Register. 2. The owner of rcv1 is IGMP alone.
    let mut p = Protocol::register(&mgmd.socket(), 0, 2000)?;
    let owner = p.run(|c| c.protocol_on_interface(ifid(rcv1)))?;
    ensure!(owner == (IGMP_ID, 0), "{owner:?}");

    // 3. Take it: IGMP is disabled then enabled there, and re-adds its membership, which
    // reaches the new owner as a local join.
    p.run(|c| c.take(ifid(rcv1)))?;
    let disable = Event::DisableIgmp { ifid: ifid(rcv1) };
    let enable = Event::EnableIgmp { ifid: ifid(rcv1) };
    let d = monitor.until("disable_igmp", |e| igmp_callback(e, &disable))?;
    let e = monitor.until("enable_igmp", |e| igmp_callback(e, &enable))?;
    ensure!(d < e, "disable after enable: {:?}", monitor.seen);
    ensure!([p.next()?, p.next()?] == [disable, enable]);
    p.expect(
        "local join",
        |e| matches!(e, Event::LocalJoin { sg, ifid } if sg.group == g1 && ifid.ifindex == rcv1),
    )?;
    monitor.until("the local join", |e| {
        matches!(e, MonitorEvent::Callback { protocol, event: Event::LocalJoin { sg, .. }, .. }
            if protocol.starts_with("external") && sg.group == g1)
    })?;

    // 4. The groups IGMP already had, each once.
    for enum_type in [1, 0] {
        let h = p.run(|c| c.group_enumeration_start(enum_type))?;
        let seen = walk_groups::<Ipv4Addr>(&mut p, h, 16, 1)?;
        p.run(|c| c.group_enumeration_end(h))?;
        for g in [g1, g2] {
            let n = seen.iter().filter(|sg| **sg == (ANY, g)).count();
            ensure!(n == 1, "type {enum_type}: (*,{g}) {n} times in {seen:?}");
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn processing_scenario() -> Result<()> {
    let (mut mgmd, [up0, rcv1, rcv2]) = start_all_external()?;
    let group = Ipv4Addr::new(239, 6, 1, 1);
    let mut monitor = Monitor::subscribe(&mgmd)?;
    let all = [ifid(up0), ifid(rcv1), ifid(rcv2)];
    let mut p = Protocol::register_taking(&mgmd.socket(), 0, 5000, &all)?;
    let mut other = Protocol::register(&mgmd.socket(), 1, 5000)?;
    // A (*,G) join raises a join alert to the other protocol.
    let masks = ApiMasks {
        source_mask: ANY.into(),
        group_mask: HOST.into(),
    };
    p.run(|c| c.add_membership_entry(star_g(group), masks, ifid(rcv1), 1))?;
    other.expect("join alert", |e| {
        *e == Event::JoinAlert {
            sg: star_g(group),
            member_update: true,
        }
    })?;

    // A new source: RPF, then the creation alert, in which rcv2 is vetoed.
    let count = 30;
    let listener1 = mgmd.listen(Host::Receiver(1), group, count, 6.0)?;
    let listener2 = mgmd.listen(Host::Receiver(2), group, count, 4.0)?;
    mgmd.wait_for_igmp_members(group, &["rcv1", "rcv2"])?;
    mgmd.send_in_background(Host::Source, group, count, 20)?;
    let Event::Rpf { query, iif, sg, .. } = p.expect("rpf", |e| matches!(e, Event::Rpf { .. }))?
    else {
        unreachable!()
    };
    ensure!(sg.source == SOURCE && iif.ifindex == up0, "{sg:?} {iif:?}");
    let upstream = Ipv4Addr::new(10, 0, 0, 2);
    p.run(|c| {
        c.answer(ApiAnswer::Rpf {
            query,
            iif,
            upstream: upstream.into(),
            route: None,
            reject: false,
        })
    })?;
    let Event::CreationAlert {
        query, mut entries, ..
    } = p.expect("creation alert", |e| {
        matches!(e, Event::CreationAlert { .. })
    })?
    else {
        unreachable!()
    };
    let mut offered: Vec<u32> = entries.iter().map(|e| e.ifid.ifindex).collect();
    offered.sort_unstable();
    ensure!(offered == [rcv1, rcv2], "offered {offered:?}");
    for e in &mut entries {
        e.enabled = e.ifid.ifindex != rcv2;
    }
    p.run(|c| c.answer(ApiAnswer::CreationAlert { query, entries }))?;
    ensure!(
        listener1.finish()?.is_complete(u64::from(count)),
        "rcv1 incomplete"
    );
    let got2 = listener2.finish()?;
    ensure!(got2.seqs.is_empty(), "the vetoed rcv2 got {:?}", got2.seqs);
    monitor.until("the MFE's creation", |e| {
        matches!(e, MonitorEvent::Mfe { change, sg, oifs, .. }
            if change == "created" && sg.group == group && *oifs == [rcv1])
    })?;

    // The MFE walk: first (too small, then one entry), next, to no-more-items.
    let a = p.run(|c| c.get_first_mfe(60))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == 76,
        "{a:?}"
    );
    let a = p.run(|c| c.get_first_mfe(a.buffer_size))?;
    ensure!(
        a.num_entries == 1 && mfes(&a)[0].head.upstream == upstream,
        "{a:?}"
    );
    let (s, g) = a.last_mfe().context("no key")?;
    let a = p.run(|c| c.get_next_mfe(s, g, 76))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.num_entries == 0,
        "{a:?}"
    );

    // SetMfe changes the upstream neighbour; GetMfe shows it.
    let new_upstream = Ipv4Addr::new(10, 0, 0, 3);
    set_upstream(&mut p, SOURCE, group, new_upstream)?;

    // The walk_protocol example walks the groups and the MFEs from a 16-byte buffer.
    let (text, lines) = walk_protocol(&mgmd, &["--buffer", "16"])?;
    let mfe_lines: Vec<_> = lines.iter().filter(|l| l["record"] == "mfe").collect();
    ensure!(
        mfe_lines.len() == 1 && mfe_lines[0]["upstream"] == new_upstream.to_string(),
        "{text}"
    );
    ensure!(
        lines
            .iter()
            .any(|l| l["call"] == "get_first_mfe" && l["status"] == 122 && l["buffer_size"] == 76),
        "{text}"
    );
    ensure!(
        lines
            .iter()
            .any(|l| l["record"] == "source_group" && l["group"] == group.to_string()),
        "{text}"
    );
    ensure!(lines.last().is_some_and(|l| l["done"] == true), "{text}");
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn enumeration_scenario() -> Result<()> {
    let config = support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL), ("rcv2", "")]);
    let mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let rcv1 = ifindex(&mgmd, "rcv1")?;
    let mut p = Protocol::register_taking(&mgmd.socket(), 0, 1000, &[ifid(rcv1)])?;
    let groups: Vec<Ipv4Addr> = (1..=25).map(|i| Ipv4Addr::new(239, 6, 2, i)).collect();
    let mut keys: Vec<(Ipv4Addr, Ipv4Addr)> = groups.iter().map(|g| (ANY, *g)).collect();
    keys.push((SOURCE, groups[0]));
    for &(source, group) in &keys {
        let sg = ApiSg::new(source, group);
        p.run(|c| c.add_membership(sg, rcv1, 1))?;
    }

    let h = p.run(|c| c.group_enumeration_start(1))?;
    // A buffer smaller than one entry: 122 with the size of one entry, cursor unmoved.
    let a = p.run(|c| c.group_enumeration_get_next(h, 10))?;
    ensure!(
        a.status == win32::ERROR_INSUFFICIENT_BUFFER && a.buffer_size == 16,
        "{a:?}"
    );
    ensure!(a.num_entries == 0 && a.records.is_empty(), "{a:?}");
    // A loop to no-more-items with room for three entries returns every key exactly once.
    let seen = walk_groups::<Ipv4Addr>(&mut p, h, 48, 3)?;
    for key in &keys {
        let n = seen.iter().filter(|k| *k == key).count();
        ensure!(n == 1, "{key:?} seen {n} times in {seen:?}");
    }
    // After the end, no more; End invalidates the handle.
    let a = p.run(|c| c.group_enumeration_get_next(h, 48))?;
    ensure!(
        a.status == win32::ERROR_NO_MORE_ITEMS && a.num_entries == 0,
        "{a:?}"
    );
    p.run(|c| c.group_enumeration_end(h))?;
    let a = p.run(|c| c.group_enumeration_get_next(h, 48))?;
    ensure!(a.status == win32::ERROR_INVALID_PARAMETER, "{a:?}");
    ensure!(refusal(p.run(|c| c.group_enumeration_end(h)))? == win32::ERROR_INVALID_PARAMETER);
    // Another protocol cannot use someone else's handle.
    let h = p.run(|c| c.group_enumeration_start(0))?;
    let mut q = Protocol::register(&mgmd.socket(), 1, 1000)?;
    let a = q.run(|c| c.group_enumeration_get_next(h, 48))?;
    ensure!(a.status == win32::ERROR_INVALID_PARAMETER, "{a:?}");
    // ANY_SOURCE: one entry per group.
    let a = p.run(|c| c.group_enumeration_get_next(h, 16 * 100))?;
    ensure!(a.status == win32::ERROR_NO_MORE_ITEMS, "{a:?}");
    for g in &groups {
        let n = source_groups(&a)
            .iter()
            .filter(|k| **k == (ANY, *g))
            .count();
        ensure!(n == 1, "{g} {n} times");
    }
    // At most 64 open enumerations per protocol: one more is 1003, counted; ending one frees
    // a place.
    let open = enumerations_up_to_the_limit(&mgmd, &mut p, ApiFamily::Ipv4, vec![h])?;
    p.run(|c| c.group_enumeration_end(open[0]))?;
    p.run(|c| c.group_enumeration_start(1))?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmctl_monitor_shows_igmp_disabled_then_enabled() -> Result<()> {
    let config = support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL), ("rcv2", "")]);
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let rcv1 = ifindex(&mgmd, "rcv1")?;
    let socket = mgmd.socket();
    let mut child = std::process::Command::new(MGMCTL)
        .args(["--socket", support::path_str(&socket)?, "monitor"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    mgmd.lab.adopt(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut p = Protocol::register(&socket, 0, 1000)?;
    // The monitor subscribes asynchronously: take and release until it shows a bracket.
    let want = [
        "callback igmp/0: disable_igmp rcv1".to_owned(),
        "callback igmp/0: enable_igmp rcv1".to_owned(),
    ];
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..50 {
        p.run(|c| c.take(ifid(rcv1)))?;
        p.run(|c| c.release(ifid(rcv1)))?;
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        if let Some(at) = seen.iter().position(|l| *l == want[0]) {
            ensure!(seen.get(at + 1) == Some(&want[1]), "{seen:?}");
            return Ok(());
        }
    }
    bail!("mgmctl monitor printed {seen:?}")
}
