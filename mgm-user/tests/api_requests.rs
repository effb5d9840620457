//! Root lab tests of the MGM API over mgmd's socket: malformed requests get 87 while the
//! connection stays usable, memberships of groups that are not multicast (or of multicast
//! sources) get 87 and are not held, the Python client speaks the documented protocol, and a missed
//! answer deadline is counted and its default applies.
mod api_support;
mod support;

use anyhow::{ensure, Context as _, Result};
use api_support::{all_external, ifid, ifindex, refusal, run_python_protocol, Protocol, SOURCE};
use mgm_user::{
    api::proto::{ApiAnswer, Event},
    lab::{Host, Lab, Stack},
    mgm::win32,
};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 1);

/// Sends raw frames on one connection and returns each response.
fn raw_exchange(mgmd: &Mgmd, frames: &[&str]) -> Result<Vec<serde_json::Value>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use futures::{SinkExt as _, StreamExt as _};
        let stream = tokio::net::UnixStream::connect(mgmd.socket()).await?;
        let mut conn = mgm_user::api::framed(stream);
        let mut out = Vec::new();
        for frame in frames {
            conn.send(bytes::Bytes::from(frame.as_bytes().to_vec()))
                .await?;
            let reply = conn.next().await.context("closed")??;
            out.push(serde_json::from_slice(&reply)?);
        }
        Ok(out)
    })
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn malformed_requests_get_87_and_the_connection_stays_usable() -> Result<()> {
    let mgmd = Mgmd::start(Lab::star(2)?, &all_external())?;
    let bad = [
        "not json",
        "{\"request\":\"no_such_call\"}",
        "{\"request\":\"get_mfe\",\"source\":\"10.0.0.1\"}",
        "{\"request\":\"get_first_mfe\",\"buffer_size\":-1}",
        "{\"request\":\"get_mfe\",\"source\":\"10.0.0\",\"group\":\"239.1.1.1\",\"buffer_size\":1}",
        "{\"request\":\"register\",\"protocol_id\":1,\"component_id\":0,\"callbacks\":[\"nope\"]}",
        "{\"request\":\"register\",\"protocol_id\":1,\"component_id\":0,\"callbacks\":[],\"answer_deadline_ms\":1}",
        "{\"request\":\"group_enumeration_start\",\"enum_type\":1}",
        "{\"request\":\"set_mfe\",\"source\":\"10.0.0.1\",\"group\":\"239.1.1.1\",\"upstream\":\"10.0.0.2\"}",
        "{\"request\":\"add_membership\",\"sg\":{\"source\":\"0.0.0.0\",\"group\":\"239.1.1.1\"},\"ifid\":{\"ifindex\":1},\"flags\":1}",
    ];
    let mut frames: Vec<&str> = Vec::new();
    for b in bad {
        frames.push(b);
        frames.push("{\"request\":\"status\"}");
    }
    let replies = raw_exchange(&mgmd, &frames)?;
    for (i, pair) in replies.chunks(2).enumerate() {
        ensure!(
            pair[0]["response"] == "error" && pair[0]["code"] == 87,
            "{:?} got {}",
            bad[i],
            pair[0]
        );
        ensure!(
            pair[1]["response"] == "status",
            "after {:?}: {}",
            bad[i],
            pair[1]
        );
    }
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn memberships_of_groups_that_are_not_multicast_get_87_and_are_not_held() -> Result<()> {
    let mgmd = Mgmd::start(Lab::star_with(1, Stack::Dual)?, &all_external())?;
    let rcv1 = ifindex(&mgmd, "rcv1")?;
    let membership = |source: &str, group: &str| {
        format!(
            "{{\"request\":\"add_membership\",\"sg\":{{\"source\":\"{source}\",\
             \"group\":\"{group}\"}},\"ifid\":{{\"ifindex\":{rcv1}}},\"flags\":3}}"
        )
    };
    let bad = [
        membership("0.0.0.0", "10.1.1.1"),
        membership("0.0.0.0", "255.255.255.255"),
        membership("239.9.9.9", "239.1.1.1"),
        membership("::", "2001:db8::1"),
        membership("ff0e::9", "ff0e::1"),
    ];
    let mut frames = vec![
        "{\"request\":\"register\",\"protocol_id\":1,\"component_id\":0,\"callbacks\":[]}"
            .to_owned(),
        format!("{{\"request\":\"take_interface\",\"ifid\":{{\"ifindex\":{rcv1}}}}}"),
    ];
    frames.extend(bad.iter().cloned());
    frames.push(membership("10.0.0.1", "239.1.1.1"));
    let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
    let replies = raw_exchange(&mgmd, &frames)?;
    ensure!(replies[1]["response"] == "ok", "take: {}", replies[1]);
    for (request, reply) in bad.iter().zip(&replies[2..]) {
        ensure!(
            reply["response"] == "error"
                && reply["code"] == 87
                && reply["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("multicast")),
            "{request} got {reply}"
        );
    }
    let last = replies.last().context("no reply")?;
    ensure!(last["response"] == "ok", "a valid membership: {last}");
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_python_protocol_speaks_the_documented_protocol() -> Result<()> {
    let mgmd = Mgmd::start(Lab::star(2)?, &all_external())?;
    run_python_protocol(&mgmd, "api_client.py")
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_missed_answer_deadline_is_counted_and_the_default_applies() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(2)?, &all_external())?;
    let (up0, rcv1) = (ifindex(&mgmd, "up0")?, ifindex(&mgmd, "rcv1")?);
    let mut p = Protocol::register_taking(&mgmd.socket(), 4, 100, &[ifid(up0), ifid(rcv1)])?;
    let count = 20;
    let listener = mgmd.listen(Host::Receiver(1), GROUP, count, 6.0)?;
    mgmd.wait_for_igmp_members(GROUP, &["rcv1"])?;
    mgmd.send_in_background(Host::Source, GROUP, count, 50)?;
    // Neither the RPF question nor the creation alert is answered.
    let Event::Rpf { query, iif, .. } = p.expect("rpf", |e| matches!(e, Event::Rpf { .. }))? else {
        unreachable!()
    };
    p.expect("creation alert", |e| {
        matches!(e, Event::CreationAlert { .. })
    })?;
    // The defaults applied: the RIB's interface, every offered interface forwards.
    ensure!(
        listener.finish()?.is_complete(u64::from(count)),
        "rcv1 incomplete"
    );
    wait_for("two missed answers", Duration::from_secs(5), || {
        let rows = mgmd.protocols()?;
        let row = rows
            .iter()
            .find(|r| r.component_id == 4)
            .context("not listed")?;
        Ok((row.missed_answers == 2).then_some(()))
    })?;
    let late = p.run(|c| {
        c.answer(ApiAnswer::Rpf {
            query,
            iif,
            upstream: SOURCE.into(),
            route: None,
            reject: false,
        })
    });
    ensure!(refusal(late)? == win32::ERROR_INVALID_PARAMETER);
    Ok(())
}
