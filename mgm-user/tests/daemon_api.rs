//! Root lab test of mgmd's API socket under misuse and hostile input: garbage, frames that are not
//! JSON or not a request, an oversize frame, a frame cut short, calls that need a registration, a
//! second registration, a protocol acting on another's interface or answering another's question, a
//! question never answered (the default applies after the deadline, a late answer is refused), and
//! clients of other users (a uid in `api_allow_uids` is served). Each gets a clear error (or, for a
//! frame it cannot read, an error and the end of the connection), and mgmd keeps serving everyone
//! else.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::{
    api::{
        proto::{ApiAnswer, ApiCallback, ApiIfEntry, ApiSg, Event},
        protocol::{ProtocolClient, ProtocolError},
        MAX_FRAME,
    },
    lab::{Host, Lab},
};
use serde_json::{json, Value};
use std::{
    io::{Read as _, Write as _},
    net::Ipv4Addr,
    os::unix::{fs::PermissionsExt as _, net::UnixStream, process::CommandExt as _},
    process::Command,
    time::Duration,
};
use support::{path_str, Mgmd, EXTERNAL, MGMCTL, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 1);
/// A group whose creation alert A leaves unanswered.
const SILENT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 2);
/// The uid of `nobody`.
const NOBODY: u32 = 65534;
/// A uid the configuration allows besides root.
const ALLOWED: u32 = 65533;

fn config() -> String {
    format!("api_allow_uids = [{ALLOWED}]\n\n")
        + &support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL)])
}

/// A raw connection to the API socket, speaking the framing by hand.
struct Raw(UnixStream);

impl Raw {
    fn connect(mgmd: &Mgmd) -> Result<Self> {
        let stream = UnixStream::connect(mgmd.socket())?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self(stream))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.0.write_all(bytes)?;
        Ok(())
    }

    /// Writes one frame: 4-byte big-endian length, then `body`.
    fn frame(&mut self, body: &[u8]) -> Result<()> {
        self.write(&u32::try_from(body.len())?.to_be_bytes())?;
        self.write(body)
    }

    /// Reads one message; `None` when mgmd closed the connection.
    fn read(&mut self) -> Result<Option<Value>> {
        let mut len = [0u8; 4];
        match self.0.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let mut body = vec![0u8; usize::try_from(u32::from_be_bytes(len))?];
        self.0.read_exact(&mut body)?;
        Ok(Some(serde_json::from_slice(&body)?))
    }

    /// Sends `request` (any JSON) and returns the response.
    fn call(&mut self, request: &Value) -> Result<Value> {
        self.frame(&serde_json::to_vec(request)?)?;
        self.response()
    }

    fn response(&mut self) -> Result<Value> {
        let message = self.read()?.context("mgmd closed the connection")?;
        ensure!(message["kind"] == "response", "not a response: {message}");
        Ok(message)
    }
}

/// Checks that `response` is an error with `code` whose message mentions `words`.
fn refused(response: &Value, code: u32, words: &str) -> Result<()> {
    ensure!(
        response["response"] == "error"
            && response["code"] == code
            && response["message"]
                .as_str()
                .is_some_and(|m| m.contains(words)),
        "expected error {code} mentioning {words:?}, got {response}"
    );
    Ok(())
}

fn status_ok(response: &Value) -> Result<()> {
    ensure!(response["response"] == "status", "not a status: {response}");
    Ok(())
}

/// Runs mgmctl as `uid`.
fn mgmctl_as(mgmd: &Mgmd, uid: u32) -> Result<std::process::Output> {
    let socket = mgmd.socket();
    Ok(Command::new(MGMCTL)
        .args(["--socket", path_str(&socket)?, "show", "status"])
        .uid(uid)
        .gid(uid)
        .output()?)
}

/// Receiver 1 joins `group` (on rcv1, which `a` owns) and the source sends it 3 packets: returns
/// the receiver and the creation alert `a` gets (its query and entries).
fn start_flow(
    mgmd: &mut Mgmd,
    runtime: &tokio::runtime::Runtime,
    a: &mut ProtocolClient,
    group: Ipv4Addr,
) -> Result<(support::Listener, u64, Vec<ApiIfEntry>)> {
    let listener = mgmd.listen(Host::Receiver(1), group, 3, 30.0)?;
    mgmd.wait_for_igmp_members(group, &["rcv1"])?;
    mgmd.send(Host::Source, group, 3, 10)?;
    let event = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), a.next_event()).await })
        .with_context(|| format!("no creation alert for {group}"))??;
    let Event::CreationAlert { query, entries, .. } = event else {
        bail!("unexpected event {event:?}");
    };
    Ok((listener, query, entries))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_api_refuses_misuse_and_hostile_input_and_keeps_serving() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config())?;
    let status = json!({"request": "status"});

    // Frames that are not requests: an error each, and the connection stays usable.
    let mut raw = Raw::connect(&mgmd)?;
    raw.frame(b"{not json")?;
    refused(&raw.response()?, 87, "malformed request")?;
    raw.frame(b"")?;
    refused(&raw.response()?, 87, "malformed request")?;
    refused(
        &raw.call(&json!({"request": "format_disk"}))?,
        87,
        "format_disk",
    )?;
    refused(&raw.call(&json!([1, 2, 3]))?, 87, "malformed request")?;
    status_ok(&raw.call(&status)?)?;

    // Calls that need a registration, and a registration asking for nonsense.
    let take = json!({"request": "take_interface", "ifid": {"ifindex": 2}});
    refused(&raw.call(&take)?, 87, "register first")?;
    let answer =
        json!({"request": "answer", "callback": "prune_alert", "query": 7, "timeout_s": 1});
    refused(&raw.call(&answer)?, 87, "register first")?;
    let register = |callbacks: Value| json!({"request": "register", "protocol_id": 0x0137_0077, "component_id": 0, "callbacks": callbacks});
    refused(&raw.call(&register(json!(["teleport"])))?, 87, "teleport")?;
    let registered = raw.call(&register(json!([])))?;
    ensure!(registered["response"] == "registered", "{registered}");
    refused(&raw.call(&register(json!([])))?, 183, "registered already")?;
    status_ok(&raw.call(&status)?)?;

    // Garbage that is not a frame at all reads as an oversize length: an error, then the end.
    let mut garbage = Raw::connect(&mgmd)?;
    garbage.write(b"GET / HTTP/1.1\r\nHost: mgmd\r\n\r\n")?;
    refused(&garbage.response()?, 87, "frame")?;
    ensure!(garbage.read()?.is_none(), "the connection stays open");
    // An oversize length: refused before mgmd reads (or allocates) the body.
    let mut big = Raw::connect(&mgmd)?;
    big.write(&u32::try_from(MAX_FRAME + 1)?.to_be_bytes())?;
    refused(&big.response()?, 87, "frame")?;
    ensure!(big.read()?.is_none(), "the connection stays open");
    // A frame cut short by the client.
    let mut short = Raw::connect(&mgmd)?;
    short.write(&[0, 0, 0, 100, b'{'])?;
    drop(short);
    status_ok(&raw.call(&status)?)?;

    // Two protocols: B may not act on A's interface nor answer A's question.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = mgmd.socket();
    let (mut a, mut b) = runtime.block_on(async {
        let a = ProtocolClient::register(&socket, 0x0137_0081, 0, &[ApiCallback::CreationAlert])
            .await?;
        let b = ProtocolClient::register(&socket, 0x0137_0082, 0, &[]).await?;
        anyhow::Ok((a, b))
    })?;
    let rcv1 = runtime.block_on(a.interface_index("rcv1"))?;
    runtime.block_on(a.take_interface(rcv1))?;
    let sg = ApiSg::new(Ipv4Addr::UNSPECIFIED, GROUP);
    let code = |result: Result<(), ProtocolError>| match result {
        Err(ProtocolError::Refused { code, .. }) => Some(code),
        _ => None,
    };
    ensure!(code(runtime.block_on(b.take_interface(rcv1))) == Some(183));
    ensure!(code(runtime.block_on(b.release_interface(rcv1))) == Some(87));
    ensure!(code(runtime.block_on(b.add_membership(sg, rcv1, 1))) == Some(87));

    let (listener, query, entries) = start_flow(&mut mgmd, &runtime, &mut a, GROUP)?;
    let theirs = ApiAnswer::CreationAlert {
        query,
        entries: entries.clone(),
    };
    ensure!(
        code(runtime.block_on(b.answer(theirs.clone()))) == Some(87),
        "B answered A's question"
    );
    runtime.block_on(a.answer(theirs))?;
    ensure!(
        code(runtime.block_on(a.answer(ApiAnswer::CreationAlert { query, entries }))) == Some(87),
        "a question is answered once"
    );
    ensure!(
        listener.finish()?.is_complete(3),
        "A's answer let the flow through"
    );

    // A question left unanswered: after the deadline the documented default (forward on every
    // offered interface) applies, and a late answer is refused.
    let (listener, query, entries) = start_flow(&mut mgmd, &runtime, &mut a, SILENT_GROUP)?;
    ensure!(
        listener.finish()?.is_complete(3),
        "the default did not let the flow through"
    );
    let late = runtime.block_on(a.answer(ApiAnswer::CreationAlert { query, entries }));
    ensure!(
        matches!(&late, Err(ProtocolError::Refused { code: 87, message }) if message.contains("no open question")),
        "a late answer: {late:?}"
    );

    // Other users: the socket's mode keeps them out; with the mode opened up, mgmd's
    // SO_PEERCRED check still refuses them by uid, and serves the uids the configuration allows.
    let out = mgmctl_as(&mgmd, NOBODY)?;
    ensure!(
        out.status.code() == Some(3),
        "nobody reached mgmd through a 0660 socket: {out:?}"
    );
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
    let out = mgmctl_as(&mgmd, NOBODY)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && stderr.contains("uid 65534 may not use mgmd's API"),
        "nobody was not refused by uid: {out:?}"
    );
    let out = mgmctl_as(&mgmd, ALLOWED)?;
    ensure!(
        out.status.success(),
        "uid {ALLOWED} is in api_allow_uids: {out:?}"
    );

    // Through all of it mgmd kept serving.
    status_ok(&raw.call(&status)?)?;
    mgmd.mgmctl_ok(&["show", "status"])?;
    Ok(())
}
