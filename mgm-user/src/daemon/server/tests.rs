//! The connection's bounds on what waits for a client: events, the monitor stream, the bytes of
//! its answers and of all connections'.
use super::*;
use crate::api::{
    proto::{ApiIfId, ApiSg},
    MAX_FRAME,
};
use crate::daemon::{api_events::MONITOR_BACKLOG, router::EventSink};
use futures::StreamExt as _;

#[test]
fn a_protocol_whose_events_pile_up_while_its_call_is_served_is_disconnected() {
    runtime().block_on(async {
        let shared = Arc::new(Shared::new(&daemon_for_me()));
        let (client, connection, mut router) = serve(&shared);
        // The router queues more events than the bound while it serves the call.
        let router = tokio::spawn(async move {
            let Some(Command::Request { events, reply, .. }) = router.recv().await else {
                panic!("no request");
            };
            let event = || Event::EnableIgmp {
                ifid: ApiIfId::index(7),
            };
            let queued = (0..=MAX_PENDING_EVENTS)
                .filter(|_| events.send(event()))
                .count();
            let _ = reply.send(Response::Ok);
            queued
        });
        let (read, mut write) = client.into_split();
        let request = br#"{"request":"status"}"#;
        tokio::io::AsyncWriteExt::write_all(&mut write, &(request.len() as u32).to_be_bytes())
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut write, request)
            .await
            .unwrap();
        // The client reads all it gets, until mgmd closes.
        let frames = FramedRead::new(read, codec()).count().await;
        assert_eq!(
            router.await.unwrap(),
            MAX_PENDING_EVENTS,
            "queued up to the bound"
        );
        assert!(matches!(connection.await.unwrap(), Err(WireError::Closed)));
        assert_eq!(shared.counters.events_overflow.load(Relaxed), 1, "counted");
        assert!(frames <= MAX_PENDING_EVENTS + 1, "{frames} frames");
    });
}

#[test]
fn a_monitor_that_falls_behind_is_told_how_many_events_it_lost() {
    let hub = MonitorHub::default();
    let mut monitor = Some(hub.subscribe());
    let event = |n: u32| MonitorEvent::Mfe {
        change: "created".into(),
        sg: ApiSg::new(
            std::net::Ipv4Addr::from(n),
            std::net::Ipv4Addr::new(239, 1, 1, 1),
        )
        .into(),
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

/// A runtime for one test, timers and I/O enabled.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A connection served as mgmd serves one: the client's end, the task serving it, and the
/// commands it sends the router.
fn serve(
    shared: &Arc<Shared>,
) -> (
    UnixStream,
    tokio::task::JoinHandle<Result<(), WireError>>,
    mpsc::Receiver<Command>,
) {
    let (client, served) = UnixStream::pair().unwrap();
    let (commands, router) = mpsc::channel(1);
    let connection = tokio::spawn({
        let shared = shared.clone();
        async move { connection(1, served, &shared, commands, MonitorHub::default()).await }
    });
    (client, connection, router)
}

/// A daemon configuration that lets this test's user in.
fn daemon_for_me() -> DaemonConfig {
    DaemonConfig {
        // SAFETY: geteuid has no preconditions.
        api_allow_uids: vec![unsafe { libc::geteuid() }],
        ..DaemonConfig::default()
    }
}

#[test]
fn a_client_that_does_not_read_its_answers_pauses_only_its_own_requests() {
    const REQUESTS: usize = 8;
    runtime().block_on(async {
        let shared = Arc::new(Shared::new(&daemon_for_me()));
        let (client, connection, mut router) = serve(&shared);
        // Every answer is over a frame, far more than the socket's buffer holds.
        let big = "x".repeat(2 * MAX_FRAME);
        let answered = Arc::new(AtomicUsize::new(0));
        tokio::spawn({
            let answered = answered.clone();
            async move {
                while let Some(Command::Request { reply, .. }) = router.recv().await {
                    answered.fetch_add(1, Relaxed);
                    let _ = reply.send(Response::error(1, big.clone()));
                }
            }
        });
        let (read, mut write) = client.into_split();
        let request = br#"{"request":"status"}"#;
        for _ in 0..REQUESTS {
            tokio::io::AsyncWriteExt::write_all(&mut write, &(request.len() as u32).to_be_bytes())
                .await
                .unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut write, request)
                .await
                .unwrap();
        }
        // The client reads nothing: its second request waits for the first answer to drain.
        while shared.counters.requests_paused.load(Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            answered.load(Relaxed),
            1,
            "answers made before the first drained"
        );
        let waiting = shared.waiting.load(Relaxed);
        assert!(waiting <= 3 * MAX_FRAME, "{waiting} bytes wait");
        // Once it reads, it gets every answer, whole (each next request waiting for the one
        // before to drain).
        let mut frames = FramedRead::new(read, codec());
        let mut answers = 0;
        while answers < REQUESTS {
            let frame = frames.next().await.unwrap().unwrap();
            match serde_json::from_slice(&frame).unwrap() {
                ServerMessage::Part { last: true, .. } => answers += 1,
                ServerMessage::Part { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(answered.load(Relaxed), REQUESTS);
        let paused = shared.counters.requests_paused.load(Relaxed);
        assert_eq!(
            paused,
            REQUESTS as u64 - 1,
            "each request after the first waited"
        );
        drop((frames, write));
        assert!(matches!(connection.await.unwrap(), Err(WireError::Closed)));
        assert_eq!(
            shared.waiting.load(Relaxed),
            0,
            "nothing waits after the close"
        );
    });
}

#[test]
fn answers_over_a_frame_are_refused_beyond_the_bytes_waiting_for_all_clients() {
    let shared = Arc::new(Shared::new(&daemon_for_me()));
    let (one, other) = (Backlog::new(shared.clone()), Backlog::new(shared.clone()));
    let half = "x".repeat(ANSWER_BACKLOG / 2 + 1);
    let held = one.admit(half.clone()).ok().unwrap();
    assert!(one.full() && !other.full());
    let refused = other.admit(half.clone()).err().unwrap();
    assert_eq!(
        (refused.len, refused.waiting),
        (Some(half.len()), half.len())
    );
    // Answers within a frame still go.
    let small = other.admit("y".repeat(MAX_FRAME)).ok().unwrap();
    assert_eq!(shared.waiting.load(Relaxed), half.len() + MAX_FRAME);
    drop(held);
    assert!(!one.full());
    let admitted = other.admit(half.clone()).ok().unwrap();
    drop((small, admitted));
    assert_eq!(shared.waiting.load(Relaxed), 0);
}

#[test]
fn tables_are_refused_unmade_while_no_answer_over_a_frame_could_wait() {
    runtime().block_on(async {
        let shared = Arc::new(Shared::new(&daemon_for_me()));
        let (client, connection, mut router) = serve(&shared);
        // Clients that do not read hold the bytes an answer over a frame would need.
        shared.waiting.store(ANSWER_BACKLOG, Relaxed);
        let (read, mut write) = client.into_split();
        let mut frames = FramedRead::new(read, codec());
        let mut ask = async |request: &[u8]| {
            tokio::io::AsyncWriteExt::write_all(&mut write, &(request.len() as u32).to_be_bytes())
                .await
                .unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut write, request)
                .await
                .unwrap();
        };
        ask(br#"{"request":"show_groups"}"#).await;
        // Answered at once, by the connection (the router here answers nothing unasked).
        let frame = tokio::time::timeout(Duration::from_secs(5), frames.next())
            .await
            .expect("an answer without the router")
            .unwrap()
            .unwrap();
        match serde_json::from_slice(&frame).unwrap() {
            ServerMessage::Response(Response::Error {
                code: 1003,
                message,
            }) => {
                assert!(message.contains("mgmd is busy"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(router.try_recv().is_err(), "the table was not made");
        assert_eq!(shared.counters.answers_refused.load(Relaxed), 1);
        // Anything else still goes to the router.
        ask(br#"{"request":"status"}"#).await;
        let Some(Command::Request { request, reply, .. }) = router.recv().await else {
            panic!("no request");
        };
        assert_eq!(request, Request::Status);
        let _ = reply.send(Response::Ok);
        frames.next().await.unwrap().unwrap();
        drop((frames, write));
        shared.waiting.store(0, Relaxed);
        assert!(matches!(connection.await.unwrap(), Err(WireError::Closed)));
    });
}
