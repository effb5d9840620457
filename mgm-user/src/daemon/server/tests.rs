//! The connection's bounds on what waits for a client: events and the monitor stream.
use super::*;
use crate::api::proto::{ApiIfId, ApiSg};
use crate::daemon::{api_events::MONITOR_BACKLOG, router::EventSink};
use futures::StreamExt as _;

#[test]
fn a_protocol_whose_events_pile_up_while_its_call_is_served_is_disconnected() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let daemon = DaemonConfig {
            // SAFETY: geteuid has no preconditions.
            api_allow_uids: vec![unsafe { libc::geteuid() }],
            ..DaemonConfig::default()
        };
        let shared = Arc::new(Shared::new(&daemon));
        let (client, served) = UnixStream::pair().unwrap();
        let (commands, mut router) = mpsc::channel(1);
        let connection = tokio::spawn({
            let shared = shared.clone();
            async move { connection(1, served, &shared, commands, MonitorHub::default()).await }
        });
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
