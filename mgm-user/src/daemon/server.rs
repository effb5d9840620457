//! The API server: accepts connections on the Unix socket, checks who is calling (SO_PEERCRED
//! against root and the configured allow-list), and relays requests to the router task. A
//! connection that registers a protocol also receives that protocol's callbacks as events; when
//! it closes, the protocol is deregistered. A connection that sends `monitor` receives the
//! monitor stream (see [`MonitorHub`]) besides its answers.
use super::api_events::MonitorHub;
use crate::api::{
    framed,
    proto::{Event, MonitorEvent, Request, Response, ServerMessage},
    recv, send, WireError, MAX_FRAME,
};
use anyhow::{Context as _, Result};
use std::{os::unix::fs::PermissionsExt as _, path::Path};
use tokio::{
    net::{UnixListener, UnixStream},
    sync::{broadcast, mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{debug, warn};

/// How long a refused client has to send its first request, which the refusal answers.
const REFUSAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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
        events: mpsc::UnboundedSender<Event>,
        /// The answer.
        reply: oneshot::Sender<Response>,
    },
    /// The connection closed.
    Closed(ConnectionId),
}

/// Binds the API socket (mode 0660, owner root) and serves it on a background task.
pub fn serve(
    path: &Path,
    allowed_uids: Vec<u32>,
    commands: mpsc::Sender<Command>,
    monitor: MonitorHub,
) -> Result<JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(tokio::spawn(async move {
        let mut next_id: ConnectionId = 0;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    next_id += 1;
                    let id = next_id;
                    let commands = commands.clone();
                    let allowed = allowed_uids.clone();
                    let monitor = monitor.clone();
                    tokio::spawn(async move {
                        let ended = connection(id, stream, &allowed, commands.clone(), monitor);
                        if let Err(e) = ended.await {
                            debug!(connection = id, error = %e, "API connection ended");
                        }
                        let _ = commands.send(Command::Closed(id)).await;
                    });
                }
                Err(e) => warn!(error = %e, "API accept failed"),
            }
        }
    }))
}

async fn connection(
    id: ConnectionId,
    stream: UnixStream,
    allowed: &[u32],
    commands: mpsc::Sender<Command>,
    hub: MonitorHub,
) -> Result<(), WireError> {
    let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
    let mut conn = framed(stream);
    if uid != 0 && !allowed.contains(&uid) {
        warn!(uid, "API connection refused: uid not allowed");
        // The refusal answers the client's first request: closing before it arrives would
        // fail the client's write (EPIPE) and it would never read why.
        let _ = tokio::time::timeout(REFUSAL_WAIT, recv::<serde_json::Value>(&mut conn)).await;
        let refusal = Response::error(5, format!("uid {uid} may not use mgmd's API"));
        send(&mut conn, &ServerMessage::Response(refusal)).await?;
        return Ok(());
    }
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut monitor: Option<broadcast::Receiver<MonitorEvent>> = None;
    loop {
        tokio::select! {
            request = recv::<Request>(&mut conn) => {
                let response = match request {
                    Ok(Request::Monitor) => {
                        monitor.get_or_insert_with(|| hub.subscribe());
                        Response::Ok
                    }
                    Ok(request) => {
                        let (reply, answer) = oneshot::channel();
                        let command = Command::Request { connection: id, request, events: events_tx.clone(), reply };
                        if commands.send(command).await.is_err() {
                            return Err(WireError::Closed);
                        }
                        answer.await.unwrap_or_else(|_| Response::error(1003, "mgmd is stopping"))
                    }
                    Err(WireError::Json(e)) => Response::error(87, format!("malformed request: {e}")),
                    Err(WireError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                        // A length over the limit (garbage reads as one too): the stream cannot
                        // be framed any more, so say why and close.
                        let refusal = Response::error(
                            87,
                            format!("unreadable frame ({e}): frames are at most {MAX_FRAME} bytes; closing"),
                        );
                        send(&mut conn, &ServerMessage::Response(refusal)).await?;
                        return Err(WireError::Io(e));
                    }
                    Err(e) => return Err(e),
                };
                // The callbacks the request caused go first, so a protocol sees them before
                // the answer (Disable-IGMP ... Enable-IGMP, then `ok`).
                while let Ok(event) = events_rx.try_recv() {
                    send(&mut conn, &ServerMessage::Event(event)).await?;
                }
                send(&mut conn, &ServerMessage::Response(response)).await?;
            }
            Some(event) = events_rx.recv() => {
                send(&mut conn, &ServerMessage::Event(event)).await?;
            }
            event = next_monitored(&mut monitor) => {
                if let MonitorEvent::Lagged { missed } = &event {
                    warn!(connection = id, missed, "a monitor fell behind and lost events");
                }
                send(&mut conn, &ServerMessage::Monitor(event)).await?;
            }
        }
    }
}

/// The next event for a monitoring connection (never, for others); a monitor that fell behind
/// gets a `lagged` event with the number lost.
async fn next_monitored(monitor: &mut Option<broadcast::Receiver<MonitorEvent>>) -> MonitorEvent {
    let Some(rx) = monitor else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(event) => event,
        Err(broadcast::error::RecvError::Lagged(missed)) => MonitorEvent::Lagged { missed },
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::proto::ApiSg;
    use crate::daemon::api_events::MONITOR_BACKLOG;

    #[test]
    fn a_monitor_that_falls_behind_is_told_how_many_events_it_lost() {
        let hub = MonitorHub::default();
        let mut monitor = Some(hub.subscribe());
        let event = |n: u32| MonitorEvent::Mfe {
            change: "created".into(),
            sg: ApiSg {
                source: std::net::Ipv4Addr::from(n),
                group: std::net::Ipv4Addr::new(239, 1, 1, 1),
            },
            iif: 1,
            oifs: Vec::new(),
        };
        let extra = 10;
        for n in 0..(MONITOR_BACKLOG + extra) as u32 {
            hub.publish(|| event(n));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let lagged = rt.block_on(next_monitored(&mut monitor));
        assert_eq!(
            lagged,
            MonitorEvent::Lagged {
                missed: extra as u64
            }
        );
        // Then the oldest event still held, and so on.
        let next = rt.block_on(next_monitored(&mut monitor));
        assert_eq!(next, event(extra as u32));
    }
}
