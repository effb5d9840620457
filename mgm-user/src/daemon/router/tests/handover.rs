//! The handover of a new entry from the hold queues to the fast path: the punt marks that let
//! the data plane forward once nothing punted before is left behind, and the end of hold mode.
use super::*;

/// [`frame`] of another flow, (10.0.0.2, 239.7.0.1).
fn other_flow_frame() -> Vec<u8> {
    let mut f = frame();
    f[14 + 15] = 2;
    f
}

#[test]
fn the_punt_mark_covers_a_queue_once_every_frame_punted_there_is_sent() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let slot = core.io.punts[&UP0].0;
    let mark = |core: &Core| core.io.punts_handled.get(&slot).copied();
    core.io.punted.extend([(UP0, frame()), (UP0, frame())]);
    core.drain_punts(t0);
    assert_eq!(mark(&core), Some(0), "both held for their entry");
    miss(&mut core, UP0, t0);
    assert_eq!(mark(&core), Some(2), "both sent when the entry came");

    // A frame of a flow still waiting for its entry holds the mark back, however many of an
    // installed flow are sent on behind it...
    core.io
        .punted
        .extend([(UP0, other_flow_frame()), (UP0, frame()), (UP0, frame())]);
    core.drain_punts(t0 + Duration::from_millis(1));
    assert_eq!(core.counters()["hold_delivered"], 4);
    assert_eq!(mark(&core), Some(2));
    // ...until it leaves the queue (here: aged out).
    core.housekeeping(t0 + Duration::from_secs(4));
    assert_eq!(core.counters()["hold_aged_out"], 1);
    assert_eq!(mark(&core), Some(5));
}

#[test]
fn the_data_plane_learns_how_far_the_packets_of_an_entry_in_hold_mode_were_sent_on() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let slot = core.io.punts[&UP0].0;
    core.io.punted.push((UP0, frame()));
    core.drain_punts(t0);
    miss(&mut core, UP0, t0);
    assert!(
        core.backend.entries[&key_of(sg())].hold,
        "created in hold mode"
    );
    assert_eq!(
        core.backend.held_sent,
        [],
        "a miss sent on moves no entry's mark"
    );
    // Two packets punted in hold mode behind a frame of a flow still waiting for its entry,
    // which holds the queue's mark back: the entry's own mark moves past them.
    core.io.held_flows.insert(sg().into(), 0);
    core.io
        .punted
        .extend([(UP0, other_flow_frame()), (UP0, frame()), (UP0, frame())]);
    core.drain_punts(t0 + Duration::from_millis(1));
    assert_eq!(
        core.io.punts_handled.get(&slot),
        Some(&1),
        "the queue's mark held back"
    );
    assert_eq!(core.backend.held_sent, [(key_of(sg()), 2)]);
}

#[test]
fn the_hold_handover_waits_for_a_quiet_punt_path() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.io.punted.push((UP0, frame()));
    core.drain_punts(t0);
    assert_eq!(core.counters()["hold_queued_now"], 1);
    miss(&mut core, UP0, t0);
    let held = |core: &Core| core.backend.entries[&key_of(sg())].hold;
    assert!(held(&core), "created in hold mode");
    assert_eq!(core.counters()["hold_delivered"], 1);

    // A packet punted 5 ms later (in flight): sent on, and the quiet period starts again.
    core.io.punted.push((UP0, frame()));
    core.drain_punts(t0 + Duration::from_millis(5));
    core.tick(t0 + Duration::from_millis(12));
    assert!(held(&core), "not quiet for 10 ms yet");
    core.tick(t0 + Duration::from_millis(15));
    assert!(!held(&core), "handed over to the fast path");
    assert_eq!(core.counters()["hold_delivered"], 2);
}

#[test]
fn the_hold_handover_happens_after_a_second_however_busy_the_punt_path() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.io.punted.push((UP0, frame()));
    core.drain_punts(t0);
    miss(&mut core, UP0, t0);
    let held = |core: &Core| core.backend.entries[&key_of(sg())].hold;
    let mut t = t0;
    while t < t0 + Duration::from_millis(995) {
        t += Duration::from_millis(5);
        core.io.punted.push((UP0, frame()));
        core.drain_punts(t);
        assert!(held(&core), "still in hold mode at {:?}", t - t0);
    }
    core.io.punted.push((UP0, frame()));
    core.drain_punts(t0 + Duration::from_secs(1));
    assert!(!held(&core));
}

#[test]
fn the_end_of_hold_mode_is_a_handover_deadline_bounded_by_the_hold_limit() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.io.punted.push((UP0, frame()));
    core.drain_punts(t0);
    miss(&mut core, UP0, t0);
    // The creation thread keeps this deadline; the main loop's timers do not include it.
    assert_eq!(core.next_handover(), Some(t0 + HOLD_QUIET));
    assert!(core.next_timer().is_none_or(|t| t > t0 + HOLD_QUIET));
    // A punt path busy until the limit: the deadline follows the last punt, up to the limit.
    let last = t0 + HOLD_MAX - Duration::from_millis(5);
    core.io.punted.push((UP0, frame()));
    core.drain_punts(last);
    assert_eq!(core.next_handover(), Some(t0 + HOLD_MAX));
    core.tick(t0 + HOLD_MAX);
    assert!(!core.backend.entries[&key_of(sg())].hold, "handed over");
    assert_eq!(core.next_handover(), None);
}

#[test]
fn a_burst_faster_than_the_punt_path_waits_in_memory_in_order_rather_than_overflowing_the_ring() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.io.punted.push((UP0, numbered_frame(0)));
    core.drain_punts(t0);
    miss(&mut core, UP0, t0);
    // Packets 1 to 1999 of the flow, in hold mode, arrive two for each one sent on, into a
    // punt ring of 256 frames that is full to start with.
    core.io.ring = 256;
    core.io.arrivals_per_send = 2;
    core.io.arriving = (1..2000).map(|n| (UP0, numbered_frame(n))).collect();
    let first: Vec<_> = core.io.arriving.drain(..256).collect();
    core.io.punted.extend(first);
    let t1 = t0 + Duration::from_millis(1);
    core.drain_punts(t1);
    // One drain deals with a bounded number of frames, and asks for the next at once.
    assert!(core.io.sent.len() <= 1 + DRAIN_MAX);
    assert!(core.next_timer().is_some_and(|due| due <= t1));
    for _ in 0..100 {
        if core.io.sent.len() == 2000 {
            break;
        }
        core.drain_punts(t1);
    }
    assert_eq!(core.io.ring_dropped, 0, "the ring never overflowed");
    let numbers: Vec<u16> = core
        .io
        .sent
        .iter()
        .map(|(_, frame)| u16::from_be_bytes([frame[18], frame[19]]))
        .collect();
    assert_eq!(
        numbers,
        (0..2000).collect::<Vec<u16>>(),
        "every packet, in order"
    );
}
