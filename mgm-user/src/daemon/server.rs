//! The API server: accepts connections on the Unix socket, checks who is calling against the
//! access rules ([`super::access`]), and relays requests to the router task. A connection that
//! registers a protocol also receives that protocol's callbacks as events; when it closes, the
//! protocol is deregistered. A connection that sends `monitor` receives the monitor stream (see
//! [`MonitorHub`]) besides its answers.
//!
//! Bounds: at most `api_max_connections` connections, and [`ROOT_RESERVE`] more for root (more are
//! answered with a refusal and closed, counted in `api_refused_busy`); requests of at most
//! [`MAX_REQUEST`] bytes; at most [`MAX_QUEUED`] messages waiting for a client and
//! [`MAX_PENDING_EVENTS`] events of its protocol waiting for the connection's task (a protocol that
//! lets more events pile up in either is disconnected, counted in `api_events_overflow`); each
//! frame must be taken by the client within [`SEND_TIMEOUT`]. The bytes waiting for clients are
//! bounded too ([`backlog`]): a connection's next request waits while [`CONNECTION_BACKLOG`]
//! bytes wait for it (counted in `api_requests_paused`), and an answer over a frame is refused
//! when [`ANSWER_BACKLOG`] bytes would wait for all clients (`api_answers_refused`). A failing
//! accept (e.g. out of file descriptors) is retried with a back-off, logged once per episode and
//! counted in `api_accept_errors`. These counters are added to `show stats`.
use super::{
    access::{self, Access, Peer, Policy},
    api_events::{ConnectionEvents, MonitorHub, MAX_PENDING_EVENTS},
    start_wait::retry_while_held,
};
use crate::{
    api::{
        codec, codec_up_to,
        proto::{Event, MonitorEvent, Request, Response, ServerMessage},
        recv, WireError, MAX_REQUEST,
    },
    config::DaemonConfig,
};
use anyhow::{Context as _, Result};
use std::{
    ops::ControlFlow,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
        Arc, RwLock,
    },
    time::Duration,
};
use tokio::{
    net::{UnixListener, UnixStream},
    sync::{broadcast, mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tracing::{debug, info, warn};

mod backlog;
mod writer;
use backlog::{Backlog, Outgoing, ANSWER_BACKLOG, CONNECTION_BACKLOG};
use writer::{encode, write_loop};

/// How long a refused client has to send its first request, which the refusal answers.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);
/// Messages waiting to be written to one client.
pub const MAX_QUEUED: usize = 1024;
/// How long a client may take to read one frame before it is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections beyond `api_max_connections` that only root may open, so that the operator
/// gets in while other users hold every slot.
pub const ROOT_RESERVE: usize = 4;
/// First and longest pause after a failed accept.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));
/// At most one log line per this interval about connections refused for the cap, and one
/// about connections refused for their caller (each refusal is counted).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Identifies one API connection.
pub type ConnectionId = u64;

/// What a connection asks of the router task.
pub enum Command {
    /// A request, with where to send the answer and where the connection's events go.
    Request {
        /// The connection.
        connection: ConnectionId,
        /// The request.
        request: Request,
        /// Events for this connection (used when it registers).
        events: ConnectionEvents,
        /// The answer.
        reply: oneshot::Sender<Response>,
    },
    /// The connection closed.
    Closed(ConnectionId),
}

/// The `[daemon]` settings the server applies, replaced on SIGHUP.
struct Settings {
    policy: Policy,
    max_connections: usize,
}

/// Counters of refusals and failures, reported in `show stats`.
#[derive(Default)]
struct Counters {
    refused_busy: AtomicU64,
    refused_access: AtomicU64,
    accept_errors: AtomicU64,
    events_overflow: AtomicU64,
    send_failures: AtomicU64,
    /// Monitor events lost by monitors that fell behind.
    monitor_lost: AtomicU64,
    /// Times a connection's request waited for its client to read its backlog.
    requests_paused: AtomicU64,
    /// Answers over a frame refused for the bytes waiting for all clients.
    answers_refused: AtomicU64,
}

impl Counters {
    fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("api_refused_busy", self.refused_busy.load(Relaxed)),
            ("api_refused_access", self.refused_access.load(Relaxed)),
            ("api_accept_errors", self.accept_errors.load(Relaxed)),
            ("api_events_overflow", self.events_overflow.load(Relaxed)),
            ("api_send_failures", self.send_failures.load(Relaxed)),
            ("api_monitor_events_lost", self.monitor_lost.load(Relaxed)),
            ("api_requests_paused", self.requests_paused.load(Relaxed)),
            ("api_answers_refused", self.answers_refused.load(Relaxed)),
        ]
    }
}

/// Lets one kind of log line through at most once per [`REFUSAL_LOG_INTERVAL`].
#[derive(Default)]
struct LogThrottle(std::sync::Mutex<Option<Instant>>);

impl LogThrottle {
    /// Whether a line is due now (the next one then only after the interval).
    fn due(&self) -> bool {
        let Ok(mut last) = self.0.lock() else {
            return false;
        };
        if last.is_some_and(|t| t.elapsed() < REFUSAL_LOG_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// State shared by the accept loop and the connections.
struct Shared {
    settings: RwLock<Settings>,
    counters: Counters,
    open: AtomicUsize,
    /// Log lines about connections refused for the cap, for their caller, and about changes
    /// refused to read-only callers.
    busy_log: LogThrottle,
    access_log: LogThrottle,
    change_log: LogThrottle,
    /// Log lines about monitors that fell behind.
    lag_log: LogThrottle,
    /// Log lines about requests paused for their connection's backlog, and about answers
    /// refused for all connections'.
    pause_log: LogThrottle,
    refusal_log: LogThrottle,
    /// Bytes waiting to be written to all clients.
    waiting: AtomicUsize,
}

impl Shared {
    fn new(daemon: &DaemonConfig) -> Self {
        Shared {
            settings: RwLock::new(settings(daemon)),
            counters: Counters::default(),
            open: AtomicUsize::new(0),
            busy_log: LogThrottle::default(),
            access_log: LogThrottle::default(),
            change_log: LogThrottle::default(),
            lag_log: LogThrottle::default(),
            pause_log: LogThrottle::default(),
            refusal_log: LogThrottle::default(),
            waiting: AtomicUsize::new(0),
        }
    }

    fn access(&self, peer: &Peer) -> Access {
        self.settings
            .read()
            .map_or(Access::Denied, |s| s.policy.access(peer))
    }
}

/// The running API server.
pub struct ApiServer {
    path: PathBuf,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Refuses to start beside another mgmd that serves `path` (it accepts connections there
/// for [`RELEASE_WAIT`]): both would drive the same interfaces and pins, and this one would
/// take the socket over. A socket file nobody listens on (left by a killed mgmd, once its
/// threads are gone) is no obstacle.
pub async fn refuse_if_served(path: &Path) -> Result<()> {
    let served = retry_while_held(|| async {
        match UnixStream::connect(path).await {
            Ok(stream) => ControlFlow::Continue(stream),
            Err(_) => ControlFlow::Break(()),
        }
    })
    .await;
    let ControlFlow::Continue(stream) = served else {
        return Ok(());
    };
    let pid = stream
        .peer_cred()
        .ok()
        .and_then(|c| c.pid())
        .map_or_else(|| "?".to_owned(), |pid| pid.to_string());
    anyhow::bail!(
        "another mgmd (pid {pid}) serves the API socket {}: stop it first, or give this one \
         an api_socket of its own",
        path.display()
    )
}

/// Binds the API socket (owner root, group and mode as configured) and serves it on a
/// background task.
pub fn serve(
    path: &Path,
    daemon: &DaemonConfig,
    commands: mpsc::Sender<Command>,
    monitor: MonitorHub,
) -> Result<ApiServer> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    access::set_socket_permissions(path, daemon)
        .with_context(|| format!("setting the group and mode of {}", path.display()))?;
    warn_if_too_few_descriptors(daemon.api_max_connections);
    let shared = Arc::new(Shared::new(daemon));
    let task = tokio::spawn(accept_loop(listener, shared.clone(), commands, monitor));
    Ok(ApiServer {
        path: path.to_owned(),
        shared,
        task,
    })
}

fn settings(daemon: &DaemonConfig) -> Settings {
    Settings {
        policy: Policy::new(daemon),
        max_connections: daemon.api_max_connections as usize,
    }
}

impl ApiServer {
    /// Applies reloaded `[daemon]` access settings: the socket's group and mode, who may do
    /// what (for open connections too, from their next request), the connection cap. The
    /// socket's path changes only with a restart.
    pub fn reconfigure(&self, daemon: &DaemonConfig) {
        if daemon.api_socket_path() != self.path {
            warn!(
                socket = %self.path.display(),
                "SIGHUP: api_socket changes take effect at the next start"
            );
        }
        if let Err(e) = access::set_socket_permissions(&self.path, daemon) {
            warn!(error = %e, "SIGHUP: cannot set the API socket's group and mode");
        }
        warn_if_too_few_descriptors(daemon.api_max_connections);
        if let Ok(mut s) = self.shared.settings.write() {
            *s = settings(daemon);
        }
        info!("SIGHUP: API access settings applied");
    }

    /// Stops serving and removes the socket file.
    pub fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Warns when the descriptor limit is too low for the connection cap (each connection holds
/// one; the data plane, IGMP and netlink need some more).
fn warn_if_too_few_descriptors(max_connections: u32) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
        && limit.rlim_cur < u64::from(max_connections) + 64
    {
        warn!(
            limit = limit.rlim_cur,
            api_max_connections = max_connections,
            "the file descriptor limit leaves too few for api_max_connections: accepts will \
             fail (and back off) before the cap refuses; lower the cap or raise LimitNOFILE"
        );
    }
}

async fn accept_loop(
    listener: UnixListener,
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    hub: MonitorHub,
) {
    let mut next_id: ConnectionId = 0;
    let mut failures: u64 = 0;
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                shared.counters.accept_errors.fetch_add(1, Relaxed);
                if failures == 0 {
                    warn!(
                        error = %e,
                        "API accept failed: retrying with back-off (up to 1 s); further \
                         failures are counted in api_accept_errors"
                    );
                }
                failures += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        if failures > 0 {
            warn!(failures, "API accept works again");
            failures = 0;
            backoff = ACCEPT_BACKOFF.0;
        }
        let max = shared.settings.read().map_or(0, |s| s.max_connections);
        let root = stream.peer_cred().is_ok_and(|c| c.uid() == 0);
        let limit = if root { max + ROOT_RESERVE } else { max };
        if shared.open.load(Relaxed) >= limit {
            shared.counters.refused_busy.fetch_add(1, Relaxed);
            if shared.busy_log.due() {
                warn!(
                    api_max_connections = max,
                    refused = shared.counters.refused_busy.load(Relaxed),
                    "API connection refused: too many open (counted in api_refused_busy)"
                );
            }
            refuse_busy(&stream, max, root);
            continue;
        }
        next_id += 1;
        let id = next_id;
        let open = OpenConnection::new(shared.clone());
        let commands = commands.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(id, stream, &open.0, commands.clone(), hub).await {
                debug!(connection = id, error = %e, "API connection ended");
            }
            let _ = commands.send(Command::Closed(id)).await;
            drop(open);
        });
    }
}

/// Counts an open connection for as long as it lives.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn new(shared: Arc<Shared>) -> Self {
        shared.open.fetch_add(1, Relaxed);
        Self(shared)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// Answers a connection over the cap with a refusal (written without waiting: it fits the
/// socket's buffer) and closes it. `root`: the caller is root, refused once the connections
/// kept for root are taken too.
fn refuse_busy(stream: &UnixStream, max: usize, root: bool) {
    let message = if root {
        format!(
            "mgmd has {} API connections open ({max}, api_max_connections, and the \
             {ROOT_RESERVE} kept for root): try again later",
            max + ROOT_RESERVE
        )
    } else {
        format!("mgmd has {max} API connections open (api_max_connections): try again later")
    };
    let refusal = ServerMessage::Response(Response::error(1003, message));
    if let Ok(body) = serde_json::to_vec(&refusal) {
        let mut frame = u32::try_from(body.len())
            .unwrap_or(0)
            .to_be_bytes()
            .to_vec();
        frame.extend(body);
        let _ = stream.try_write(&frame);
    }
}

async fn connection(
    id: ConnectionId,
    stream: UnixStream,
    shared: &Arc<Shared>,
    commands: mpsc::Sender<Command>,
    hub: MonitorHub,
) -> Result<(), WireError> {
    let peer = Peer::of(&stream)?;
    let (read, write) = stream.into_split();
    let mut requests = FramedRead::new(read, codec_up_to(MAX_REQUEST));
    let (out, queued) = mpsc::channel(MAX_QUEUED);
    let backlog = Backlog::new(shared.clone());
    let writer = tokio::spawn(write_loop(
        id,
        FramedWrite::new(write, codec()),
        queued,
        shared.clone(),
    ));
    let result = serve_requests(
        id,
        &peer,
        &mut requests,
        &out,
        &backlog,
        &writer,
        shared,
        commands,
        &hub,
    )
    .await;
    drop(out);
    let _ = writer.await;
    result
}

/// Reads requests and queues their answers (and the connection's events and monitor stream)
/// for the writer, which is stopped at once when the client lets its events pile up.
#[allow(clippy::too_many_arguments)]
async fn serve_requests(
    id: ConnectionId,
    peer: &Peer,
    requests: &mut Requests,
    out: &mpsc::Sender<Outgoing>,
    backlog: &Arc<Backlog>,
    writer: &JoinHandle<()>,
    shared: &Shared,
    commands: mpsc::Sender<Command>,
    hub: &MonitorHub,
) -> Result<(), WireError> {
    let uid = peer.uid;
    let (events_tx, mut events) = ConnectionEvents::new();
    let mut monitor: Option<broadcast::Receiver<Arc<MonitorEvent>>> = None;
    let queue = |message: ServerMessage| async move {
        let text = encode(&message)?;
        out.send(backlog.hold(text))
            .await
            .map_err(|_| WireError::Closed)
    };
    // A protocol that lets its events pile up (in the router's queue or the client's) is
    // disconnected.
    let overflowed = || {
        shared.counters.events_overflow.fetch_add(1, Relaxed);
        warn!(
            connection = id,
            uid,
            queued = MAX_QUEUED,
            pending = MAX_PENDING_EVENTS,
            "API client does not read its events: disconnected (and deregistered; counted in \
             api_events_overflow)"
        );
        writer.abort();
        Err(WireError::Closed)
    };
    // An event is queued without waiting.
    let queue_event = |event: Event| {
        let text = encode(&ServerMessage::Event(event))?;
        if out.try_send(backlog.hold(text)).is_ok() {
            return Ok(());
        }
        overflowed()
    };
    // Whether the request held back by the current pause was counted.
    let mut noted = false;
    loop {
        let denied = shared.access(peer) == Access::Denied;
        let paused = backlog.full();
        noted &= paused;
        let request = tokio::select! {
            read = read(requests, paused), if !(paused && noted) => match read {
                Read::Request(request) => request,
                Read::Waiting => {
                    noted = true;
                    note_pause(id, uid, shared);
                    continue;
                }
            },
            () = backlog.drained(), if paused => continue,
            // A caller without access gets its refusal after REFUSAL_WAIT at the latest.
            _ = tokio::time::sleep(REFUSAL_WAIT), if denied => Err(WireError::Closed),
            Some(event) = events.recv() => {
                queue_event(event)?;
                continue;
            }
            () = events_tx.overflowed() => return overflowed(),
            event = next_monitored(&mut monitor) => {
                if let MonitorEvent::Lagged { missed } = &event {
                    let lost = shared.counters.monitor_lost.fetch_add(*missed, Relaxed) + missed;
                    if shared.lag_log.due() {
                        warn!(
                            connection = id,
                            missed,
                            lost,
                            "a monitor fell behind and lost events (counted in \
                             api_monitor_events_lost; logged at most every 10 s)"
                        );
                    }
                }
                queue(ServerMessage::Monitor(event)).await?;
                continue;
            }
            _ = out.closed() => return Err(WireError::Closed),
        };
        if shared.access(peer) == Access::Denied {
            shared.counters.refused_access.fetch_add(1, Relaxed);
            if shared.access_log.due() {
                warn!(
                    uid,
                    refused = shared.counters.refused_access.load(Relaxed),
                    "API connection refused: uid not allowed (counted in api_refused_access; \
                     logged at most every 10 s)"
                );
            }
            let refusal = Response::error(5, format!("uid {uid} may not use mgmd's API"));
            return queue(ServerMessage::Response(refusal)).await;
        }
        // A table's answer while no answer over a frame could wait: refused before it is made.
        let crowded = request
            .as_ref()
            .ok()
            .filter(|r| r.lists_a_table())
            .and_then(|_| backlog::room_for_a_table(shared).err());
        let response = match (request, crowded) {
            (_, Some(refused)) => refuse_answer(id, uid, shared, refused),
            (Ok(request), None)
                if !request.is_read_only() && shared.access(peer) != Access::Control =>
            {
                shared.counters.refused_access.fetch_add(1, Relaxed);
                let name = serde_json::to_value(&request)
                    .ok()
                    .and_then(|v| v["request"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if shared.change_log.due() {
                    warn!(
                        uid,
                        request = name,
                        refused = shared.counters.refused_access.load(Relaxed),
                        "API change refused: uid has read-only access (counted in \
                         api_refused_access; logged at most every 10 s)"
                    );
                }
                Response::error(
                    5,
                    format!(
                        "permission denied: uid {uid} has read-only access to mgmd's API; \
                         {name} needs control access (api_allow_uids, api_allow_gids)"
                    ),
                )
            }
            (Ok(Request::Monitor), None) => {
                monitor.get_or_insert_with(|| hub.subscribe());
                Response::Ok
            }

            (Ok(request), None) => {
                let stats = matches!(request, Request::Stats);
                let (reply, answer) = oneshot::channel();
                let command = Command::Request {
                    connection: id,
                    request,
                    events: events_tx.clone(),
                    reply,
                };
                if commands.send(command).await.is_err() {
                    return Err(WireError::Closed);
                }
                let mut response = answer
                    .await
                    .unwrap_or_else(|_| Response::error(1003, "mgmd is stopping"));
                if let (true, Response::Stats { counters }) = (stats, &mut response) {
                    counters.extend(
                        shared
                            .counters
                            .named()
                            .map(|(name, value)| (name.to_owned(), value)),
                    );
                }
                response
            }
            (Err(WireError::Json(e)), _) => Response::error(87, format!("malformed request: {e}")),
            (Err(WireError::Io(e)), _) if e.kind() == std::io::ErrorKind::InvalidData => {
                // A length over the limit (garbage reads as one too): the stream cannot be
                // framed any more, so say why and close.
                let refusal = Response::error(
                    87,
                    format!(
                        "unreadable frame ({e}): requests are at most {MAX_REQUEST} bytes; closing"
                    ),
                );
                queue(ServerMessage::Response(refusal)).await?;
                return Err(WireError::Io(e));
            }
            (Err(e), _) => return Err(e),
        };
        // The callbacks the request caused go first, so a protocol sees them before the
        // answer (Disable-IGMP ... Enable-IGMP, then `ok`).
        while let Ok(event) = events.try_recv() {
            queue_event(event)?;
        }
        let answer = match backlog.admit(encode(&ServerMessage::Response(response))?) {
            Ok(answer) => answer,
            Err(refused) => backlog.hold(encode(&ServerMessage::Response(refuse_answer(
                id, uid, shared, refused,
            )))?),
        };
        out.send(answer).await.map_err(|_| WireError::Closed)?;
    }
}

/// The reading side of a connection.
type Requests = FramedRead<tokio::net::unix::OwnedReadHalf, LengthDelimitedCodec>;

/// What the reading side has: a request, or, while the connection is paused, word that one
/// waits to be read (or that the client closed).
enum Read {
    Request(Result<Request, WireError>),
    Waiting,
}

async fn read(requests: &mut Requests, paused: bool) -> Read {
    if !paused {
        return Read::Request(recv(requests).await);
    }
    if requests.read_buffer().is_empty() {
        let _ = requests.get_ref().readable().await;
    }
    Read::Waiting
}

/// Counts (and logs, at most every 10 s) a request that waits for its client to read.
fn note_pause(id: ConnectionId, uid: u32, shared: &Shared) {
    let paused = shared.counters.requests_paused.fetch_add(1, Relaxed) + 1;
    if shared.pause_log.due() {
        warn!(
            connection = id,
            uid,
            paused,
            backlog = CONNECTION_BACKLOG,
            "API client does not take its answers as fast as it asks: its next request \
             waits until they drain (counted in api_requests_paused; logged at most every 10 s)"
        );
    }
}

/// Counts and logs (at most every 10 s) an answer refused for the bytes waiting for all
/// clients, and says why to its client.
fn refuse_answer(
    id: ConnectionId,
    uid: u32,
    shared: &Shared,
    backlog::Refused { len, waiting }: backlog::Refused,
) -> Response {
    let count = shared.counters.answers_refused.fetch_add(1, Relaxed) + 1;
    if shared.refusal_log.due() {
        warn!(
            connection = id,
            uid,
            len,
            waiting,
            refused = count,
            "API answer refused: too many bytes wait for clients that do not read (counted in \
             api_answers_refused; logged at most every 10 s)"
        );
    }
    let this = match len {
        Some(len) => format!("this answer of {len} bytes"),
        None => "an answer over a frame".to_owned(),
    };
    Response::error(
        1003,
        format!(
            "mgmd is busy: {waiting} bytes of answers wait for clients to read them, and {this} \
             would take them over {ANSWER_BACKLOG}; try again later"
        ),
    )
}

/// The next event for a monitoring connection (never, for others); a monitor that fell behind
/// gets a `lagged` event with the number lost.
async fn next_monitored(
    monitor: &mut Option<broadcast::Receiver<Arc<MonitorEvent>>>,
) -> MonitorEvent {
    let Some(rx) = monitor else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(event) => Arc::unwrap_or_clone(event),
        Err(broadcast::error::RecvError::Lagged(missed)) => MonitorEvent::Lagged { missed },
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
