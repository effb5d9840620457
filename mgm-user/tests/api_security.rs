//! Root lab tests of the API under hostile local users and clients: access as configured (the
//! socket's group and mode, read-only versus control, SIGHUP applying changes) for a user made by
//! the test; refused callers counted each and logged once; a connection cap and an exhausted
//! descriptor limit (mgmd keeps a small log and answers again, mgmctl times out with exit 3);
//! memory bounded under connections holding partial frames, and under clients that do not read
//! their answers; answers larger than a frame (20 000 memberships) arriving complete.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::{
    api::{
        proto::{ApiCallback, ApiSg},
        protocol::{ProtocolClient, ProtocolError},
        MAX_FRAME, MAX_REQUEST,
    },
    lab::Lab,
};
use std::{
    io::Write as _,
    net::Ipv4Addr,
    os::unix::{
        fs::{MetadataExt as _, PermissionsExt as _},
        net::UnixStream,
    },
    process::Output,
    time::Duration,
};
use support::{path_str, test_user::TestUser, wait_for, Mgmd, EXTERNAL, MGMCTL, NO_IGMP};

/// `[daemon]` keys, then the lab's two interfaces.
fn config(daemon_keys: &str, rcv1: &str) -> String {
    format!("{daemon_keys}\n\n") + &support::interfaces(&[("up0", NO_IGMP), ("rcv1", rcv1)])
}

/// mgmctl as `user` against `mgmd`.
fn mgmctl_as(user: &TestUser, mgmd: &Mgmd, args: &[&str]) -> Result<Output> {
    let socket = mgmd.socket();
    let mut argv = vec!["--socket", path_str(&socket)?, "--timeout", "5"];
    argv.extend_from_slice(args);
    user.run(MGMCTL, &argv)
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}, stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn exits(out: &Output, code: i32, words: &str) -> bool {
    out.status.code() == Some(code) && String::from_utf8_lossy(&out.stderr).contains(words)
}

const ADD: [&str; 5] = ["add", "up0", "10.0.0.1", "239.3.3.3", "rcv1"];
const REMOVE: [&str; 5] = ["remove", "up0", "10.0.0.1", "239.3.3.3", "rcv1"];

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn access_is_as_configured_and_sighup_applies_it() -> Result<()> {
    let user = TestUser::create()?;
    let (uid, gid) = (user.uid, user.gid);
    let mgmd = Mgmd::start(
        Lab::star(1)?,
        &config(
            &format!("api_group = {:?}\napi_read_uids = [{uid}]", user.name),
            NO_IGMP,
        ),
    )?;
    let socket = std::fs::metadata(mgmd.socket())?;
    ensure!(
        (socket.gid(), socket.permissions().mode() & 0o777) == (gid, 0o660),
        "socket group {} mode {:o}",
        socket.gid(),
        socket.permissions().mode()
    );

    // Read-only: show works, a change is refused with "permission denied" (code 5).
    let out = mgmctl_as(&user, &mgmd, &["show", "status"])?;
    ensure!(out.status.success(), "read-only show: {}", describe(&out));
    let out = mgmctl_as(&user, &mgmd, &ADD)?;
    ensure!(
        exits(&out, 1, "permission denied") && exits(&out, 1, "(code 5)"),
        "read-only add: {}",
        describe(&out)
    );

    // SIGHUP: control by group, then the change goes through.
    mgmd.reload(&config(
        &format!("api_group = {gid}\napi_allow_gids = [{gid}]"),
        NO_IGMP,
    ))?;
    wait_for(
        "control access after SIGHUP",
        Duration::from_secs(10),
        || {
            Ok(mgmctl_as(&user, &mgmd, &ADD)?
                .status
                .success()
                .then_some(()))
        },
    )?;
    ensure!(mgmd.mgmctl_ok(&["show", "routes"])?.contains("239.3.3.3"));
    let out = mgmctl_as(&user, &mgmd, &REMOVE)?;
    ensure!(out.status.success(), "control remove: {}", describe(&out));

    // SIGHUP: the socket's group back to root's: the mode keeps the user out (exit 3).
    mgmd.reload(&config(&format!("api_allow_uids = [{uid}]"), NO_IGMP))?;
    wait_for(
        "the socket closed to the user",
        Duration::from_secs(10),
        || {
            let out = mgmctl_as(&user, &mgmd, &["show", "status"])?;
            Ok(exits(&out, 3, "Permission denied").then_some(()))
        },
    )?;

    // SIGHUP: the user's group again but no access: refused by uid (exit 1, code 5).
    mgmd.reload(&config(&format!("api_group = {gid}"), NO_IGMP))?;
    wait_for("the user refused by uid", Duration::from_secs(10), || {
        let out = mgmctl_as(&user, &mgmd, &["show", "status"])?;
        Ok(exits(&out, 1, &format!("uid {uid} may not use mgmd's API")).then_some(()))
    })?;
    let refused = mgmd.stats()?.get("api_refused_access").copied();
    ensure!(
        refused.is_some_and(|n| n >= 2),
        "api_refused_access {refused:?}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn refused_callers_are_counted_each_and_logged_once() -> Result<()> {
    // The user may connect (the socket's group) but not use the API.
    refusals_are_counted_each_and_logged_once(
        |user| format!("api_group = {}", user.gid),
        &["show", "status"],
        "may not use mgmd's API",
        "API connection refused: uid not allowed",
    )
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn changes_refused_to_a_read_only_caller_are_counted_each_and_logged_once() -> Result<()> {
    refusals_are_counted_each_and_logged_once(
        |user| format!("api_group = {}\napi_read_uids = [{}]", user.gid, user.uid),
        &ADD,
        "permission denied",
        "API change refused: uid has read-only access",
    )
}

/// Makes a user, starts mgmd with the `[daemon]` keys `keys` gives for it, runs mgmctl `args`
/// as the user 20 times, and checks that each is refused (mgmctl's stderr has `refusal`) and
/// counted in `api_refused_access`, and that mgmd logs `logged` (with the user's uid) once per
/// 10 s at most.
fn refusals_are_counted_each_and_logged_once(
    keys: impl Fn(&TestUser) -> String,
    args: &[&str],
    refusal: &str,
    logged: &str,
) -> Result<()> {
    let user = TestUser::create()?;
    let mgmd = Mgmd::start_logged(Lab::star(1)?, &config(&keys(&user), NO_IGMP))?;
    const ATTEMPTS: u64 = 20;
    let started = std::time::Instant::now();
    for _ in 0..ATTEMPTS {
        let out = mgmctl_as(&user, &mgmd, args)?;
        ensure!(exits(&out, 1, refusal), "{}", describe(&out));
    }
    let refused = mgmd.stats()?.get("api_refused_access").copied();
    ensure!(refused == Some(ATTEMPTS), "api_refused_access {refused:?}");
    // One line per 10 s at most, however slow the machine made the attempts.
    let allowed = 1 + started.elapsed().as_secs() / 10;
    let lines = mgmd.log_lines(logged)? as u64;
    ensure!(
        (1..=allowed).contains(&lines),
        "{lines} log lines for {ATTEMPTS} refusals"
    );
    let uid = format!("uid={}", user.uid);
    let named = mgmd.log_lines(logged)? == mgmd.log_lines_with(&[logged, &uid])?;
    ensure!(named, "the log line names uid {}", user.uid);
    Ok(())
}

/// Sends a status request in the API's framing and returns the answer's text (a refusal
/// may arrive without the request being read: a failed write is ignored).
fn status_call(stream: &mut UnixStream) -> Result<String> {
    use std::io::Read as _;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = br#"{"request":"status"}"#;
    let _ = stream
        .write_all(&u32::try_from(request.len())?.to_be_bytes())
        .and_then(|()| stream.write_all(request));
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; usize::try_from(u32::from_be_bytes(len))?];
    stream.read_exact(&mut body)?;
    Ok(String::from_utf8(body)?)
}

/// Open descriptors of `pid`.
fn open_fds(pid: u32) -> Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// Connects to `path` as `user`, from a thread whose credentials alone are changed (raw
/// syscalls; the C library's wrappers would change every thread's).
fn connect_as(user: &TestUser, path: &std::path::Path) -> Result<UnixStream> {
    let (uid, gid) = (user.uid, user.gid);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: plain credential syscalls on this thread, which ends right after.
                let changed = unsafe {
                    libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) == 0
                        && libc::syscall(libc::SYS_setresgid, gid, gid, gid) == 0
                        && libc::syscall(libc::SYS_setresuid, uid, uid, uid) == 0
                };
                ensure!(changed, "setresuid: {}", std::io::Error::last_os_error());
                Ok(UnixStream::connect(path)?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the connecting thread panicked"))?
    })
}

/// Opens connections with `connect` until `count` are served (one that is refused because a
/// connection that is closing still holds a slot is retried), and returns them.
fn hold_served(
    count: usize,
    mut connect: impl FnMut() -> Result<UnixStream>,
) -> Result<Vec<UnixStream>> {
    let mut held = Vec::new();
    wait_for("connections served", Duration::from_secs(10), || {
        let mut stream = connect()?;
        if status_call(&mut stream)?.contains("\"status\"") {
            held.push(stream);
        }
        Ok((held.len() == count).then_some(()))
    })?;
    Ok(held)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn connections_are_capped_and_an_exhausted_descriptor_limit_backs_off() -> Result<()> {
    let user = TestUser::create()?;
    let keys = format!(
        "api_max_connections = 8\napi_group = {}\napi_read_uids = [{}]",
        user.gid, user.uid
    );
    let mgmd = Mgmd::start_logged(Lab::star(1)?, &config(&keys, NO_IGMP))?;
    let socket = mgmd.socket();

    // A user holds every slot: its next connection is refused at once with a clear answer.
    let held = hold_served(8, || connect_as(&user, &socket))?;
    let answer = status_call(&mut connect_as(&user, &socket)?)?;
    ensure!(
        answer.contains("api_max_connections"),
        "over the cap: {answer}"
    );
    // Root still gets in, on the slots reserved for it, until those are taken too.
    let mut held_by_root = hold_served(4, || Ok(UnixStream::connect(&socket)?))?;
    for _ in 0..12 {
        let answer = status_call(&mut UnixStream::connect(&socket)?)?;
        ensure!(
            answer.contains("has 12 API connections open")
                && answer.contains("the 4 kept for root"),
            "over the cap and the root reserve (8 + 4 held): {answer}"
        );
    }
    let out = mgmd.mgmctl(&["--timeout", "5", "show", "status"])?;
    ensure!(
        exits(&out, 1, "api_max_connections"),
        "over the cap: {}",
        describe(&out)
    );
    held_by_root.pop();
    let refused = wait_for("a free slot", Duration::from_secs(10), || {
        Ok(mgmd
            .stats()
            .ok()
            .and_then(|s| s.get("api_refused_busy").copied()))
    })?;
    ensure!(refused >= 14, "api_refused_busy {refused}");
    drop((held, held_by_root));

    // A descriptor limit below the cap: accept fails with EMFILE; mgmd backs off and logs once,
    // mgmctl gives up after its timeout, and once connections close mgmd answers again.
    mgmd.reload(&config("api_max_connections = 100000", NO_IGMP))?;
    wait_for("the new cap", Duration::from_secs(10), || {
        let mut open = Vec::new();
        for _ in 0..9 {
            let mut stream = UnixStream::connect(&socket)?;
            let served = status_call(&mut stream)?.contains("\"status\"");
            open.push(stream);
            if !served {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })?;
    let pid = mgmd.pid();
    let limit = open_fds(pid)? + 8;
    let out = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .output()?;
    ensure!(out.status.success(), "prlimit: {}", describe(&out));
    let held = (0..40)
        .map(|_| UnixStream::connect(&socket))
        .collect::<std::io::Result<Vec<_>>>()?;
    wait_for("accept failing", Duration::from_secs(10), || {
        Ok((mgmd.log_lines("API accept failed")? >= 1).then_some(()))
    })?;
    let out = mgmd.mgmctl(&["--timeout", "2", "show", "status"])?;
    ensure!(
        exits(&out, 3, "did not answer within 2 s"),
        "while out of descriptors: {}",
        describe(&out)
    );
    drop(held);
    wait_for("mgmd answering again", Duration::from_secs(10), || {
        Ok(mgmd
            .mgmctl(&["show", "status"])?
            .status
            .success()
            .then_some(()))
    })?;
    // One line when accepts start failing and one when they work again, per episode (the
    // held connections closing may let a few accepts through between failures, and the last
    // episode's recovery is logged at the next accept that works: each probe makes one).
    let (failures, recoveries) = wait_for(
        "every episode's recovery logged",
        Duration::from_secs(10),
        || {
            mgmd.mgmctl(&["show", "status"])?;
            let failures = mgmd.log_lines("API accept failed")?;
            let recoveries = mgmd.log_lines("API accept works again")?;
            Ok((failures == recoveries).then_some((failures, recoveries)))
        },
    )?;
    let log = std::fs::metadata(mgmd.log_path().context("no log")?)?.len();
    ensure!(
        failures == recoveries && (1..=5).contains(&failures) && log < 64 << 10,
        "{failures} accept failures, {recoveries} recoveries logged, log {log} bytes"
    );
    let errors = mgmd.stats()?.get("api_accept_errors").copied();
    ensure!(
        // With the back-off (at most one retry a second once it has grown) the few seconds
        // out of descriptors cost tens of failed accepts; spinning would cost millions.
        errors.is_some_and(|n| (1..1000).contains(&n)),
        "api_accept_errors {errors:?}"
    );
    Ok(())
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?)
}

/// Bytes written on `stream` that its peer has not read yet.
fn unread(stream: &UnixStream) -> Result<i32> {
    use std::os::fd::AsRawFd as _;
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int.
    if unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(queued)
}

/// Opens `count` connections, each sending a frame header declaring `declared` bytes and then
/// `declared - 1` bytes of it (errors ignored: mgmd may refuse and close).
fn partial_frames(mgmd: &Mgmd, count: usize, declared: usize) -> Result<Vec<UnixStream>> {
    let body = vec![b' '; declared - 1];
    (0..count)
        .map(|_| {
            let mut stream = UnixStream::connect(mgmd.socket())?;
            stream.set_write_timeout(Some(Duration::from_secs(5)))?;
            let _ = stream.write_all(&u32::try_from(declared)?.to_be_bytes());
            let _ = stream.write_all(&body);
            Ok(stream)
        })
        .collect()
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn connections_holding_partial_frames_use_bounded_memory() -> Result<()> {
    let mgmd = Mgmd::start(Lab::star(1)?, &config("api_max_connections = 400", NO_IGMP))?;
    let pid = mgmd.pid();
    let before = rss_kib(pid)?;
    // 1 MiB frames are over the request limit: refused before anything is buffered.
    let refused = partial_frames(&mgmd, 300, MAX_FRAME)?;
    mgmd.mgmctl_ok(&["show", "status"])?;
    let after_big = rss_kib(pid)?;
    drop(refused);
    // Frames one byte short of the request limit: each buffered, within the bound.
    let held = partial_frames(&mgmd, 300, MAX_REQUEST)?;
    wait_for(
        "mgmd to read every partial frame",
        Duration::from_secs(20),
        || {
            let mut pending = 0;
            for stream in &held {
                pending += unread(stream)?;
            }
            Ok((pending == 0).then_some(()))
        },
    )?;
    let peak = rss_kib(pid)?;
    drop(held);
    mgmd.mgmctl_ok(&["show", "status"])?;
    eprintln!("mgmd RSS: {before} KiB at start, {after_big} KiB after 300 × 1 MiB frames, {peak} KiB with 300 × 64 KiB held");
    ensure!(
        after_big < before + 16 * 1024,
        "1 MiB frames grew RSS from {before} to {after_big} KiB"
    );
    ensure!(
        peak < before + 64 * 1024,
        "300 partial requests grew RSS from {before} to {peak} KiB"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn interface_indexes_0_and_0xffffffff_are_refused() -> Result<()> {
    let mgmd = Mgmd::start(Lab::star(1)?, &config("", EXTERNAL))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = mgmd.socket();
    runtime.block_on(async {
        let mut p = ProtocolClient::register(&socket, 0x0137_0092, 0, &[]).await?;
        let sg = ApiSg::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(239, 9, 0, 2));
        for bad in [0, u32::MAX] {
            let take = p.take_interface(bad).await;
            ensure!(
                matches!(take, Err(ProtocolError::Refused { code: 87, .. })),
                "take_interface({bad}): {take:?}"
            );
            let add = p.add_membership(sg, bad, 1).await;
            ensure!(
                matches!(add, Err(ProtocolError::Refused { code: 87, .. })),
                "add_membership on {bad}: {add:?}"
            );
        }
        anyhow::Ok(())
    })
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_protocol_that_does_not_read_its_events_is_disconnected() -> Result<()> {
    const GROUPS: u32 = 20_000;
    let mgmd = Mgmd::start(Lab::star(1)?, &config("", EXTERNAL))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = mgmd.socket();
    let deaf_id = 0x0137_0093;
    // `deaf` asks for join alerts and never reads; each new group `busy` joins sends it one
    // (rule W1), far more than the socket buffers and mgmd's queue hold.
    let (_deaf, busy) = runtime.block_on(async {
        let deaf = ProtocolClient::register(&socket, deaf_id, 0, &[ApiCallback::JoinAlert]).await?;
        let mut busy = ProtocolClient::register(&socket, 0x0137_0094, 0, &[]).await?;
        let rcv1 = busy.interface_index("rcv1").await?;
        busy.take_interface(rcv1).await?;
        for n in 0..GROUPS {
            let [_, _, hi, lo] = n.to_be_bytes();
            let sg = ApiSg::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(239, 10, hi, lo));
            busy.add_membership(sg, rcv1, 1).await?;
        }
        anyhow::Ok((deaf, busy))
    })?;
    wait_for(
        "the deaf protocol deregistered",
        Duration::from_secs(10),
        || {
            let protocols = mgmd.protocols()?;
            Ok((!protocols.iter().any(|p| p.protocol_id == deaf_id)).then_some(()))
        },
    )?;
    let overflows = mgmd.stats()?.get("api_events_overflow").copied();
    ensure!(overflows == Some(1), "api_events_overflow {overflows:?}");
    drop(busy);
    Ok(())
}

/// A protocol that holds `count` memberships of 239.9.0.1 on rcv1 (from 10.9.0.0 on) for as
/// long as it is kept; `show groups` then answers with more than a frame.
fn memberships(mgmd: &Mgmd, count: u32) -> Result<(tokio::runtime::Runtime, ProtocolClient)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = mgmd.socket();
    let protocol = runtime.block_on(async {
        let mut p =
            ProtocolClient::register(&socket, 0x0137_0091, 0, &[ApiCallback::JoinAlert]).await?;
        let rcv1 = p.interface_index("rcv1").await?;
        p.take_interface(rcv1).await?;
        for n in 0..count {
            let [_, _, hi, lo] = n.to_be_bytes();
            let sg = ApiSg::new(Ipv4Addr::new(10, 9, hi, lo), Ipv4Addr::new(239, 9, 0, 1));
            p.add_membership(sg, rcv1, 1).await?;
        }
        anyhow::Ok(p)
    })?;
    Ok((runtime, protocol))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn answers_over_a_frame_arrive_complete() -> Result<()> {
    const MEMBERSHIPS: u32 = 20_000;
    let mgmd = Mgmd::start(Lab::star(1)?, &config("", EXTERNAL))?;
    let _protocol = memberships(&mgmd, MEMBERSHIPS)?;
    let json = mgmd.mgmctl_ok(&["--json", "show", "groups"])?;
    ensure!(
        json.len() > MAX_FRAME,
        "the answer fits a frame: {}",
        json.len()
    );
    let answer: serde_json::Value = serde_json::from_str(&json)?;
    let rows = answer["rows"].as_array().context("no rows")?;
    let ours = rows
        .iter()
        .filter(|r| r["group"] == "239.9.0.1" && r["iface"] == "rcv1")
        .count();
    ensure!(ours == MEMBERSHIPS as usize, "{ours} of {MEMBERSHIPS} rows");
    let table = mgmd.mgmctl_ok(&["show", "groups"])?;
    let lines = table.lines().filter(|l| l.contains("239.9.0.1")).count();
    ensure!(lines == MEMBERSHIPS as usize, "{lines} table lines");
    Ok(())
}

/// Peak resident memory of `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn clients_that_do_not_read_their_answers_hold_bounded_memory() -> Result<()> {
    const CONNECTIONS: usize = 40;
    const REQUESTS: usize = 4;
    let user = TestUser::create()?;
    let keys = format!("api_group = {}\napi_read_uids = [{}]", user.gid, user.uid);
    let mgmd = Mgmd::start_logged(Lab::star(1)?, &config(&keys, EXTERNAL))?;
    let _protocol = memberships(&mgmd, 20_000)?;
    let pid = mgmd.pid();
    let answer = mgmd.mgmctl_ok(&["--json", "show", "groups"])?.len();
    let before = rss_kib(pid)?;
    // A read-only user pipelines `show groups` on every connection and reads nothing.
    let request = br#"{"request":"show_groups"}"#;
    let mut frame = u32::try_from(request.len())?.to_be_bytes().to_vec();
    frame.extend_from_slice(request);
    let flood = (0..CONNECTIONS)
        .map(|_| {
            let mut stream = connect_as(&user, &mgmd.socket())?;
            stream.write_all(&frame.repeat(REQUESTS))?;
            Ok(stream)
        })
        .collect::<Result<Vec<_>>>()?;
    // Each connection holds one answer and pauses, until the answers it holds reach the bound;
    // the others' answers are refused.
    let (paused, refused) = wait_for(
        "every flooding connection served",
        Duration::from_secs(20),
        || {
            let stats = mgmd.stats()?;
            let paused = stats.get("api_requests_paused").copied().unwrap_or(0);
            let refused = stats.get("api_answers_refused").copied().unwrap_or(0);
            Ok(
                (paused > 0 && refused > 0 && paused + refused >= CONNECTIONS as u64)
                    .then_some((paused, refused)),
            )
        },
    )?;
    // Another client gets its answers meanwhile.
    let status = mgmd.mgmctl(&["--timeout", "5", "show", "status"])?;
    ensure!(
        status.status.success(),
        "show status: {}",
        describe(&status)
    );
    let peak = peak_rss_kib(pid)?;
    eprintln!(
        "mgmd RSS: {before} KiB before, peak {peak} KiB with {CONNECTIONS} × {REQUESTS} \
         unread answers of {answer} bytes; {paused} requests paused, {refused} answers refused"
    );
    ensure!(
        peak < before + 256 * 1024,
        "unread answers grew RSS from {before} to {peak} KiB"
    );
    // Logged, at most every 10 s: fewer lines than the pauses and refusals counted.
    for (words, count) in [
        ("api_requests_paused", paused),
        ("api_answers_refused", refused),
    ] {
        let lines = mgmd.log_lines(words)?;
        ensure!(
            (1..count as usize).contains(&lines),
            "{words}: {lines} log lines for {count}"
        );
    }
    drop(flood);
    Ok(())
}
