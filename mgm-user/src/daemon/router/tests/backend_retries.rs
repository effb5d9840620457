//! The backoff of a failed backend action holds against the flow's own misses.
use super::*;

#[test]
fn misses_of_an_entry_waiting_for_its_retry_do_not_attempt_the_install_again() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.backend.failing.insert(Op::Install);
    miss(&mut core, UP0, t0);
    assert_eq!(core.counters()["backend_failures"], 1);
    let retry = core.next_timer().expect("a retry is due");
    // The flow's packets keep missing before the retry is due (an install the data plane
    // refuses for good, such as more outgoing interfaces than a set holds, looks the same).
    for ms in 1..50 {
        miss(&mut core, UP0, t0 + Duration::from_millis(ms));
    }
    assert_eq!(
        core.counters()["backend_failures"],
        1,
        "one attempt per backoff step, not one per miss"
    );
    core.tick(retry);
    assert_eq!(core.counters()["backend_failures"], 2);
    core.backend.failing.clear();
    let later = core.next_timer().expect("another retry");
    core.tick(later);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
    assert_eq!(core.counters()["backend_unsynced_now"], 0);
}
